package requestcontract

// Attributes of the tfo.* namespace that components stamp and others read. The gateway owns them: it sets them
// and drops client-sent values it cannot vouch for.
const (
	// AttrWorkspaceID is the canonical workspace id (resource attribute, workspace processor).
	AttrWorkspaceID = "tfo.workspace.id"
	// AttrCorrelationID follows a request through the pipelines (resource attribute, workspace processor).
	AttrCorrelationID = "tfo.correlation.id"
	// AttrSchemaID is the schema an event was validated against (event_router).
	AttrSchemaID = "tfo.schema.id"
	// AttrRejectionReason says why event_router rejected an event.
	AttrRejectionReason = "tfo.schema.rejection.reason"
	// AttrContractVersion is the version of the event contract a log record was written in (edge, heartbeat).
	AttrContractVersion = "tfo.event.contract_version"
)
