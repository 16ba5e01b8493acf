package receipts

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// AlertEvent is one log record of an alert receipt (obs_alert_fired, obs_alert_resolved) decoded from its leaf,
// with the facts the receipt states about it (docs/receipts.md §5, obs_alert_fired).
type AlertEvent struct {
	Name string
	// Severity is the event's contract field event.severity when it has one, else the level of its OTLP severity
	// number (SeverityName).
	Severity string
	// Node is the record attribute host.name (the contract's "host the event is about"), else the resource's.
	Node string
	// Service is the body's serviceName (ServiceDegraded's contract field), else the resource's service.name.
	Service string
	// Time is the record's timestamp, else its observed timestamp (Unix ns, 0 when it has neither).
	Time int64

	record   plog.LogRecord
	resource pcommon.Resource
}

// DecodeAlertEvent decodes the leaf of one log record (§3).
func DecodeAlertEvent(leaf []byte) (*AlertEvent, error) {
	ld, err := logsUnmarshaler.UnmarshalLogs(leaf)
	if err != nil {
		return nil, err
	}
	if ld.LogRecordCount() != 1 {
		return nil, fmt.Errorf("leaf holds %d log records, want 1", ld.LogRecordCount())
	}
	rl := ld.ResourceLogs().At(0)
	lr := rl.ScopeLogs().At(0).LogRecords().At(0)
	ev := &AlertEvent{Name: EventNameOf(lr), record: lr, resource: rl.Resource()}
	ev.Time = int64(lr.Timestamp())
	if ev.Time == 0 {
		ev.Time = int64(lr.ObservedTimestamp())
	}
	ev.Severity = SeverityName(int32(lr.SeverityNumber()))
	if v, ok := lr.Attributes().Get("event.severity"); ok && v.Type() == pcommon.ValueTypeStr && IsAlertSeverity(v.Str()) {
		ev.Severity = v.Str()
	}
	ev.Node, _ = ev.Field("host.name")
	if v, ok := ev.Field("body.serviceName"); ok && v != "" {
		ev.Service = v
	} else if v, ok := rl.Resource().Attributes().Get("service.name"); ok {
		ev.Service = v.AsString()
	}
	return ev, nil
}

// Field is the value of a field of the event as a string: "body.<key>[.<key>…]" is a member of the map body,
// anything else a record attribute, else a resource attribute of that name. ok is false when it has none.
func (ev *AlertEvent) Field(path string) (string, bool) {
	if rest, ok := strings.CutPrefix(path, "body."); ok {
		v := ev.record.Body()
		for _, k := range strings.Split(rest, ".") {
			if v.Type() != pcommon.ValueTypeMap {
				return "", false
			}
			if v, ok = v.Map().Get(k); !ok {
				return "", false
			}
		}
		return v.AsString(), true
	}
	if v, ok := ev.record.Attributes().Get(path); ok {
		return v.AsString(), true
	}
	if v, ok := ev.resource.Attributes().Get(path); ok {
		return v.AsString(), true
	}
	return "", false
}

// SeverityName is the level of an OTLP severity number: trace, debug, info, warn, error, fatal or unspecified.
func SeverityName(sev int32) string {
	var c LogCounts
	c.Add(sev)
	switch {
	case c.Fatal > 0:
		return "fatal"
	case c.Error > 0:
		return "error"
	case c.Warn > 0:
		return "warn"
	case c.Info > 0:
		return "info"
	case c.Debug > 0:
		return "debug"
	case c.Trace > 0:
		return "trace"
	}
	return "unspecified"
}
