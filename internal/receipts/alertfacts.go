package receipts

import "strings"

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

	record   logRecord
	resource attributes
}

// DecodeAlertEvent decodes the leaf of one log record (§3).
func DecodeAlertEvent(leaf []byte) (*AlertEvent, error) {
	p, err := splitLeaf(SignalLogs, leaf)
	if err != nil {
		return nil, err
	}
	svc, _, res := resourceFacts(p.resource)
	lr := readLogRecord(p.record)
	ev := &AlertEvent{Name: lr.eventNameOf(), record: lr, resource: res}
	ev.Time = lr.time
	if ev.Time == 0 {
		ev.Time = lr.observed
	}
	ev.Severity = SeverityName(lr.severity)
	if v, ok := lr.attrs.get("event.severity"); ok && v.kind == valueStr && IsAlertSeverity(v.str) {
		ev.Severity = v.str
	}
	ev.Node, _ = ev.Field("host.name")
	if v, ok := ev.Field("body.serviceName"); ok && v != "" {
		ev.Service = v
	} else {
		ev.Service = svc
	}
	return ev, nil
}

// Field is the value of a field of the event as a string: "body.<key>[.<key>…]" is a member of the map body,
// anything else a record attribute, else a resource attribute of that name. ok is false when it has none.
func (ev *AlertEvent) Field(path string) (string, bool) {
	if rest, ok := strings.CutPrefix(path, "body."); ok {
		v := ev.record.body
		for _, k := range strings.Split(rest, ".") {
			if v.kind != valueMap {
				return "", false
			}
			if v, ok = v.kvs.get(k); !ok {
				return "", false
			}
		}
		return v.asString(), true
	}
	if v, ok := ev.record.attrs.get(path); ok {
		return v.asString(), true
	}
	if v, ok := ev.resource.get(path); ok {
		return v.asString(), true
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
