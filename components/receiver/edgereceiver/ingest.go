package edgereceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"

	"github.com/tfocol/tfocol/components/receiver/edgereceiver/internal/metadata"
	"github.com/tfocol/tfocol/internal/principal"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// batch is the body of POST /api/v1/events/ingest (docs/events.md, "Edge API batches").
type batch struct {
	Agent  *agentRef         `json:"agent"`
	Host   *hostRef          `json:"host"`
	Events []json.RawMessage `json:"events"`
}

type agentRef struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

type hostRef struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// edgeEvent is one event of a batch; host and agent override the batch's.
type edgeEvent struct {
	Type            string          `json:"type"`
	ID              string          `json:"id"`
	Time            string          `json:"time"`
	Severity        string          `json:"severity"`
	ContractVersion string          `json:"contractVersion"`
	Host            *hostRef        `json:"host"`
	Agent           *agentRef       `json:"agent"`
	Payload         json.RawMessage `json:"payload"`
}

// defaultContractVersion is the tfo.event.contract_version of an event that names none: the version Anchor
// agents are built for.
const defaultContractVersion = "1"

// Event outcomes (metrics and answers).
const (
	outcomeAccepted = "accepted" // kept its contract; in the log
	outcomeRejected = "rejected" // broke its contract; in the log, annotated by the event_router
	outcomeInvalid  = "invalid"  // not an event (no known type, no time, not JSON); not kept
)

type eventResult struct {
	Index    int    `json:"index"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
	SchemaID string `json:"schema_id,omitempty"`
}

type ingestAnswer struct {
	WorkspaceID string        `json:"workspace_id"`
	Accepted    int           `json:"accepted"`
	Rejected    int           `json:"rejected"`
	Invalid     int           `json:"invalid"`
	Events      []eventResult `json:"events"`
}

func (r *edgeReceiver) handleIngest(w http.ResponseWriter, req *http.Request) *refusal {
	ctx, f := r.authenticate(req, nil)
	if f != nil {
		return f
	}
	p, _ := principal.FromContext(ctx)
	ws, f := workspaceOf(req.Header, p)
	if f != nil {
		return f
	}
	if r.cfg.Ingest.RequireIdempotencyKey && len(req.Header.Values(requestcontract.HeaderIdempotencyKey)) == 0 {
		return refuse(codes.InvalidArgument, "missing_idempotency_key", "missing Idempotency-Key header: a retried batch must carry the key of its first attempt")
	}
	body, f := readJSON(req)
	if f != nil {
		return f
	}
	var b batch
	if err := decodeStrict(body, &b); err != nil {
		return refuse(codes.InvalidArgument, "bad_json", "request body: "+err.Error())
	}
	switch n := len(b.Events); {
	case n == 0:
		return refuse(codes.InvalidArgument, "no_events", "the batch has no events")
	case n > r.cfg.Ingest.MaxEvents:
		return refuse(codes.InvalidArgument, "too_many_events",
			fmt.Sprintf("the batch has %d events; at most %d", n, r.cfg.Ingest.MaxEvents)).withHTTP(http.StatusRequestEntityTooLarge)
	}

	ld, sl := newEventLogs(b.Host)
	ans := ingestAnswer{WorkspaceID: ws, Events: make([]eventResult, len(b.Events))}
	agentID := ""
	if p != nil {
		agentID = p.AgentID
	}
	for i, raw := range b.Events {
		res := &ans.Events[i]
		res.Index = i
		lr, typ := r.eventRecord(raw, b, agentID, res)
		if res.Status == outcomeInvalid {
			continue
		}
		c := r.contracts[typ]
		if reason := c.Check(lr); reason != "" {
			res.Status, res.Reason, res.SchemaID = outcomeRejected, reason, c.ID()
		} else {
			res.Status = outcomeAccepted
		}
		lr.MoveTo(sl.LogRecords().AppendEmpty())
	}
	for _, res := range ans.Events {
		switch res.Status {
		case outcomeAccepted:
			ans.Accepted++
		case outcomeRejected:
			ans.Rejected++
		default:
			ans.Invalid++
		}
	}
	if sl.LogRecords().Len() > 0 {
		if err := r.deliver(ctx, req, ws, true, ld); err != nil {
			return fromError(err, "pipeline_")
		}
	}
	for _, res := range ans.Events {
		r.countEvent(ctx, epIngest, res.Type, res.Status)
	}
	r.writeJSON(ctx, w, epIngest, http.StatusOK, "accepted", ans)
	return nil
}

// newEventLogs starts the request: one resource (the batch's host, as OTel SDK records carry it) and one scope.
func newEventLogs(host *hostRef) (plog.Logs, plog.ScopeLogs) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	if host != nil && host.Name != "" {
		rl.Resource().Attributes().PutStr("host.name", host.Name)
	}
	if host != nil && host.ID != "" {
		rl.Resource().Attributes().PutStr("host.id", host.ID)
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	return ld, sl
}

// eventRecord maps one event to the log record docs/events.md describes, or marks res invalid. Everything the
// contract can judge (id, severity, host, agent, payload) is mapped as sent and left to it, so the reasons are the
// event_router's; only what makes a record an event at all is checked here: a known type and a time.
func (r *edgeReceiver) eventRecord(raw json.RawMessage, b batch, agentID string, res *eventResult) (plog.LogRecord, string) {
	var ev edgeEvent
	if err := decodeStrict(raw, &ev); err != nil {
		res.Status, res.Reason = outcomeInvalid, "event: "+err.Error()
		return plog.LogRecord{}, ""
	}
	res.ID, res.Type = ev.ID, ev.Type
	if _, ok := r.contracts[ev.Type]; !ok {
		res.Status, res.Reason = outcomeInvalid, fmt.Sprintf("type: %q is not an event type; want one of %s", ev.Type, strings.Join(r.typeNames, ", "))
		return plog.LogRecord{}, ""
	}
	at, err := time.Parse(time.RFC3339Nano, ev.Time)
	if err != nil {
		res.Status, res.Reason = outcomeInvalid, "time: want an RFC 3339 date-time, e.g. 2026-01-01T01:17:42Z"
		return plog.LogRecord{}, ""
	}
	lr := plog.NewLogRecord()
	if len(ev.Payload) > 0 {
		if err := decodeInto(ev.Payload, lr.Body()); err != nil {
			res.Status, res.Reason = outcomeInvalid, "payload: "+err.Error()
			return plog.LogRecord{}, ""
		}
	}
	lr.SetEventName(ev.Type)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
	setSeverity(lr, ev.Severity)
	a := lr.Attributes()
	version := ev.ContractVersion
	if version == "" {
		version = defaultContractVersion
	}
	a.PutStr(requestcontract.AttrContractVersion, version)
	putNonEmpty(a, "event.id", ev.ID)
	putNonEmpty(a, "event.severity", ev.Severity)
	host, agent := b.Host, b.Agent
	if ev.Host != nil {
		host = ev.Host
	}
	if ev.Agent != nil {
		agent = ev.Agent
	}
	if host != nil {
		putNonEmpty(a, "host.name", host.Name)
		putNonEmpty(a, "host.id", host.ID)
	}
	if agent != nil && agent.ID != "" {
		agentID = agent.ID
	}
	putNonEmpty(a, "agent.id", agentID)
	if agent != nil {
		putNonEmpty(a, "agent.version", agent.Version)
	}
	return lr, ev.Type
}

func putNonEmpty(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}

// setSeverity sets the OTLP severity of the event's severity (seed contracts: info, warning, error, critical).
func setSeverity(lr plog.LogRecord, s string) {
	num := map[string]plog.SeverityNumber{"info": plog.SeverityNumberInfo, "warning": plog.SeverityNumberWarn,
		"error": plog.SeverityNumberError, "critical": plog.SeverityNumberFatal}[s]
	if num != plog.SeverityNumberUnspecified {
		lr.SetSeverityNumber(num)
		lr.SetSeverityText(strings.ToUpper(s))
	}
}

func (r *edgeReceiver) countEvent(ctx context.Context, endpoint, typ, outcome string) {
	if _, ok := r.contracts[typ]; !ok {
		typ = "unknown"
	}
	r.tel.TfocolEdgeEvents.Add(ctx, 1, metric.WithAttributes(attribute.String("endpoint", endpoint),
		attribute.String("event_type", typ), attribute.String("outcome", outcome)))
}
