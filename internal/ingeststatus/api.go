package ingeststatus

import "time"

// The JSON documents of the status endpoints (docs/operations.md, Ingest status). tfocol status decodes them.

// Report is GET /v1/ingest-status: the last Hours hours, per workspace, plus the agents and the upstream.
type Report struct {
	GeneratedAt time.Time `json:"generated_at"`
	// From is the start of the oldest hour counted; the current hour is partial.
	From  time.Time `json:"from"`
	Hours int       `json:"hours"`
	// CountingSince is when this gateway's status first counted (kept across restarts).
	CountingSince time.Time `json:"counting_since"`
	// Scope is "all" (admin) or "workspace" (a workspace credential: only its workspaces and their agents).
	Scope         string            `json:"scope"`
	Totals        Totals            `json:"totals"`
	Workspaces    []WorkspaceStatus `json:"workspaces"`
	Agents        []Agent           `json:"agents"`
	AgentsByState map[string]int    `json:"agents_by_state"`
	// Instances are the server instances (Sirveo) of the scope's workspaces, from their InstanceLifecycle events.
	Instances  []Instance `json:"instances"`
	Upstream   Upstream   `json:"upstream"`
	Accounting Accounting `json:"accounting"`
}

// Scope values.
const (
	ScopeAll       = "all"
	ScopeWorkspace = "workspace"
)

// Totals are sums over the last Hours hours.
type Totals struct {
	// Batches are accepted requests (each one durable log entry); Records their spans, data points and log records.
	Batches uint64 `json:"batches"`
	Records uint64 `json:"records"`
	// Events are log records with an event type; Rejections those that broke their contract.
	Events     uint64 `json:"events"`
	Rejections uint64 `json:"rejections"`
	// Duplicates are requests absorbed by their Idempotency-Key (answered 2xx, not stored again).
	Duplicates uint64 `json:"duplicates"`
	Heartbeats uint64 `json:"heartbeats"`
	// ReceiptsSealed are batch windows sealed into receipts; WindowsPending the windows open now (not summed
	// over hours: the receipt exporter's current state).
	ReceiptsSealed uint64 `json:"receipts_sealed"`
	WindowsPending int    `json:"windows_pending"`
}

// WorkspaceStatus is one workspace.
type WorkspaceStatus struct {
	Workspace string `json:"workspace"`
	Totals
	BatchesBySignal    map[string]uint64     `json:"batches_by_signal"`
	RecordsBySignal    map[string]uint64     `json:"records_by_signal"`
	DuplicatesBySignal map[string]uint64     `json:"duplicates_by_signal"`
	SealedBySignal     map[string]uint64     `json:"receipts_sealed_by_signal"`
	EventsByType       map[string]uint64     `json:"events_by_type"`
	RejectionsByType   map[string]Rejections `json:"rejections_by_type"`
	LastBatchAt        *time.Time            `json:"last_batch_at,omitempty"`
	// Hourly lists the hours with any count, oldest first.
	Hourly []Hour `json:"hourly"`
}

// Rejections are one event type's contract rejections, by reason (at most 16 reasons per type and hour;
// further ones count as "(other)").
type Rejections struct {
	Total   uint64            `json:"total"`
	Reasons map[string]uint64 `json:"reasons"`
}

// Hour is one hour of one workspace.
type Hour struct {
	Start          time.Time `json:"start"`
	Batches        uint64    `json:"batches"`
	Records        uint64    `json:"records"`
	Events         uint64    `json:"events"`
	Rejections     uint64    `json:"rejections"`
	Duplicates     uint64    `json:"duplicates"`
	Heartbeats     uint64    `json:"heartbeats"`
	ReceiptsSealed uint64    `json:"receipts_sealed"`
}

// Agent is one agent instance, from its HostHeartbeats.
type Agent struct {
	Workspace       string     `json:"workspace"`
	InstanceID      string     `json:"instance_id"`
	AgentID         string     `json:"agent_id,omitempty"`
	HostName        string     `json:"host_name,omitempty"`
	AgentVersion    string     `json:"agent_version,omitempty"`
	FirstSeenAt     time.Time  `json:"first_seen_at"`
	LastHeartbeatAt time.Time  `json:"last_heartbeat_at"`
	LastReason      string     `json:"last_reason"`
	IntervalSeconds int64      `json:"interval_seconds"`
	State           string     `json:"state"`
	SilentSince     *time.Time `json:"silent_since,omitempty"`
}

// Instance is one server instance (a Sirveo server), from the last InstanceLifecycle event that passed its
// contract. There is no silence detection: instances announce no interval.
type Instance struct {
	Workspace  string `json:"workspace"`
	InstanceID string `json:"instance_id"`
	// Service is the sender's service.name (sirveo for the edge receiver's Sirveo endpoint).
	Service  string `json:"service,omitempty"`
	CustomID string `json:"custom_id,omitempty"`
	// FirstSeenAt and LastSeenAt are the gateway's arrival times of the first and the last event.
	FirstSeenAt time.Time `json:"first_seen_at"`
	LastSeenAt  time.Time `json:"last_seen_at"`
	// LastPhase is begin, update or end (a stopped instance); LastReason as the instance sent it (begin, update,
	// license-state-change, end).
	LastPhase  string        `json:"last_phase"`
	LastReason string        `json:"last_reason"`
	Build      InstanceBuild `json:"build"`
	// LicenseValid is whether the instance reported its licence valid (absent when it never said).
	LicenseValid *bool `json:"license_valid,omitempty"`
	// ChecksumStatus is what the edge receiver could verify of the last event: consistent, unverified, mismatch.
	ChecksumStatus string `json:"checksum_status,omitempty"`
}

// InstanceBuild is an instance's build as it reported it.
type InstanceBuild struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Time    string `json:"time,omitempty"`
	Mode    string `json:"mode,omitempty"`
	OS      string `json:"os,omitempty"`
	Arch    string `json:"arch,omitempty"`
}

// Upstream is the durable log's consumers: the forward consumer's lag is what the upstream has not acknowledged
// yet ("pending"), its failed deliveries the "failed" (each is retried from the log; nothing is dropped).
type Upstream struct {
	PendingEntries uint64     `json:"pending_entries"`
	PendingBytes   int64      `json:"pending_bytes"`
	Failures       uint64     `json:"failures"`
	Consumers      []Consumer `json:"consumers"`
	Log            *LogState  `json:"log,omitempty"`
}

// Consumer is one cursor on the durable log.
type Consumer struct {
	Name       string `json:"name"`
	Upstream   bool   `json:"upstream"`
	LagEntries uint64 `json:"lag_entries"`
	LagBytes   int64  `json:"lag_bytes"`
	// Failures are failed deliveries to the consumer's pipelines in the last Hours hours.
	Failures     uint64     `json:"failures"`
	FailingSince *time.Time `json:"failing_since,omitempty"`
}

// LogState is the durable log's fill.
type LogState struct {
	Bytes    int64 `json:"bytes"`
	MaxBytes int64 `json:"max_bytes"`
	Refusing bool  `json:"refusing"`
}

// Accounting tells how the numbers were obtained.
type Accounting struct {
	// NextSeq is the first durable log entry not counted yet: everything before it is in the counts, recounted
	// from the log after a crash.
	NextSeq     uint64     `json:"next_seq"`
	PersistedAt *time.Time `json:"persisted_at,omitempty"`
	// Evicted workspaces and agents: beyond max_workspaces / max_agents the least recently active is dropped.
	EvictedWorkspaces uint64 `json:"evicted_workspaces"`
	EvictedAgents     uint64 `json:"evicted_agents"`
	EvictedInstances  uint64 `json:"evicted_instances"`
	// Undecodable entries could not be decoded (never expected) and are not in the counts.
	Undecodable uint64 `json:"undecodable"`
}

// EngineStatus is GET /.well-known/engine-status.
type EngineStatus struct {
	// Status is ready, degraded (Reasons say why), starting (pipelines not yet running) or stopping.
	Status        string    `json:"status"`
	Engine        string    `json:"engine"`
	Version       string    `json:"version"`
	Build         Build     `json:"build"`
	InstanceID    string    `json:"instance_id"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	Reasons       []Reason  `json:"reasons"`
}

// Engine status values.
const (
	EngineReady    = "ready"
	EngineDegraded = "degraded"
	EngineStarting = "starting"
	EngineStopping = "stopping"
)

// Build is the binary's build identity (internal/buildinfo).
type Build struct {
	Commit string `json:"commit"`
	Time   string `json:"time"`
}

// Reason is one component in an error state.
type Reason struct {
	Component string    `json:"component"`
	Kind      string    `json:"kind"`
	Pipelines []string  `json:"pipelines,omitempty"`
	Status    string    `json:"status"`
	Error     string    `json:"error,omitempty"`
	Since     time.Time `json:"since"`
}
