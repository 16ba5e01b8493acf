package ingeststatus

import (
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/internal/durablelog/loghost"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// Attributes the status reads from what the gateway logged: the workspace processor's workspace stamp and
// event_router's event type and rejection annotation (components/connector/eventrouterconnector).
const (
	AttrWorkspace       = requestcontract.AttrWorkspaceID
	AttrEventName       = "event.name"
	AttrRejectionReason = requestcontract.AttrRejectionReason
	// HeartbeatEvent is the event type of agent heartbeats (docs/events.md#hostheartbeat).
	HeartbeatEvent = "HostHeartbeat"
	// NoWorkspace names data that carried no workspace (a gateway with require_workspace: false).
	NoWorkspace = "none"
)

// Summary is what one durable log entry (one accepted request) adds to the status.
type Summary struct {
	Signal int
	// Workspace is the request's workspace: that of its first resource.
	Workspace string
	// Records counts spans, data points or log records by workspace.
	Records map[string]uint64
	Events  []Event
	// Heartbeats are the request's HostHeartbeat events that passed their contract.
	Heartbeats []Heartbeat
	// Lifecycles are the request's InstanceLifecycle events that passed their contract.
	Lifecycles []Lifecycle
}

// Event is one log record with an event type.
type Event struct {
	Workspace, Type string
	// Reason is the contract violation event_router annotated it with, "" for a valid event.
	Reason string
}

// Heartbeat is one agent heartbeat (HostHeartbeat body and attributes).
type Heartbeat struct {
	Workspace    string
	InstanceID   string // body.instanceId; for contract v1 events agent.id
	AgentID      string
	HostName     string
	AgentVersion string
	Reason       string // begin, update, credential-state-change, end (v1 events: update)
	Interval     time.Duration
}

// Summarize decodes a durable log entry of type typ (loghost.Signal*) and counts what it holds.
func Summarize(typ uint8, payload []byte) (*Summary, error) {
	s := &Summary{Records: map[string]uint64{}}
	switch typ {
	case loghost.SignalTraces:
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(payload)
		if err != nil {
			return nil, err
		}
		s.Signal = sigTraces
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			n := 0
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				n += rs.ScopeSpans().At(j).Spans().Len()
			}
			s.add(rs.Resource(), n)
		}
	case loghost.SignalMetrics:
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(payload)
		if err != nil {
			return nil, err
		}
		s.Signal = sigMetrics
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			n := 0
			for j := 0; j < rm.ScopeMetrics().Len(); j++ {
				ms := rm.ScopeMetrics().At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					n += dataPoints(ms.At(k))
				}
			}
			s.add(rm.Resource(), n)
		}
	case loghost.SignalLogs:
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(payload)
		if err != nil {
			return nil, err
		}
		s.Signal = sigLogs
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			ws := s.add(rl.Resource(), 0)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				s.Records[ws] += uint64(lrs.Len())
				for k := 0; k < lrs.Len(); k++ {
					s.addLogRecord(ws, rl.Resource(), lrs.At(k))
				}
			}
		}
	default:
		return nil, fmt.Errorf("unknown durable log entry type %d", typ)
	}
	if s.Workspace == "" {
		s.Workspace = NoWorkspace
	}
	return s, nil
}

// add counts n records of a resource and returns its workspace.
func (s *Summary) add(res pcommon.Resource, n int) string {
	ws := NoWorkspace
	if v, ok := res.Attributes().Get(AttrWorkspace); ok && v.Str() != "" {
		ws = strings.ToLower(v.Str())
	}
	if s.Workspace == "" {
		s.Workspace = ws
	}
	s.Records[ws] += uint64(n)
	return ws
}

func (s *Summary) addLogRecord(ws string, res pcommon.Resource, lr plog.LogRecord) {
	typ := lr.EventName()
	if typ == "" {
		if v, ok := lr.Attributes().Get(AttrEventName); ok {
			typ = v.AsString()
		}
	}
	if typ == "" {
		return
	}
	ev := Event{Workspace: ws, Type: typ}
	if v, ok := lr.Attributes().Get(AttrRejectionReason); ok {
		ev.Reason = v.AsString()
		if ev.Reason == "" {
			ev.Reason = "rejected"
		}
	}
	s.Events = append(s.Events, ev)
	if ev.Reason != "" {
		return
	}
	switch typ {
	case HeartbeatEvent:
		if hb, ok := heartbeatOf(ws, lr); ok {
			s.Heartbeats = append(s.Heartbeats, hb)
		}
	case LifecycleEvent:
		if l, ok := lifecycleOf(ws, res, lr); ok {
			s.Lifecycles = append(s.Lifecycles, l)
		}
	}
}

// heartbeatOf reads an agent's identity and lifecycle from a HostHeartbeat that passed its contract.
func heartbeatOf(ws string, lr plog.LogRecord) (Heartbeat, bool) {
	attr := func(k string) string { return str(lr.Attributes(), k) }
	hb := Heartbeat{Workspace: ws, AgentID: attr("agent.id"), HostName: attr("host.name"), AgentVersion: attr("agent.version"), Reason: "update"}
	if lr.Body().Type() == pcommon.ValueTypeMap {
		body := lr.Body().Map()
		hb.InstanceID = str(body, "instanceId")
		if r := str(body, "reason"); r != "" {
			hb.Reason = r
		}
		if hb.AgentVersion == "" {
			hb.AgentVersion = str(body, "buildVersion")
		}
		if v, ok := body.Get("intervalSeconds"); ok {
			switch v.Type() {
			case pcommon.ValueTypeInt:
				hb.Interval = time.Duration(v.Int()) * time.Second
			case pcommon.ValueTypeDouble:
				hb.Interval = time.Duration(v.Double() * float64(time.Second))
			}
		}
	}
	if hb.InstanceID == "" {
		hb.InstanceID = hb.AgentID
	}
	return hb, hb.InstanceID != "" && hb.Interval > 0
}

// str is m[k] as a string, "" when absent.
func str(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok {
		return v.AsString()
	}
	return ""
}

func dataPoints(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}
