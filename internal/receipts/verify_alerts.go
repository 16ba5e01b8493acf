package receipts

import (
	"bytes"
	"time"

	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// alertCheck verifies alert receipts against their embedded records and obs_alert_resolved against the
// obs_alert_fired it closes, earlier in the same scroll (docs/receipts.md §5, "Alerts and aggregates").
type alertCheck struct {
	fired map[string]*Receipt // obs_alert_fired by id, in the lines so far
}

func newAlertCheck() *alertCheck { return &alertCheck{fired: map[string]*Receipt{}} }

// isAlert reports whether a receipt's one leaf is its embedded record.
func isAlert(typ string) bool { return typ == TypeAlertFired || typ == TypeAlertResolved }

func (c *alertCheck) check(r *Receipt, ln int) error {
	sum := merkle.Sum(r.Record)
	if want, _ := ParseHash(r.ContentHash); !bytes.Equal(sum[:], want) {
		return fail(ReceiptsFile, ln, 0, "embedded record does not match content_hash")
	}
	if want, _ := ParseHash(r.MerkleRoot); !bytes.Equal(merkle.BLAKE3.HashLeaf(r.Record), want) {
		return fail(ReceiptsFile, ln, 0, "embedded record does not match merkle_root")
	}
	ev, err := DecodeAlertEvent(r.Record)
	if err != nil {
		return fail(ReceiptsFile, ln, 0, "%s: embedded record is not one log record: %v", r.ID, err)
	}
	if r.Type == TypeAlertFired {
		if ev.Name != r.Name || ev.Severity != r.Severity || ev.Node != r.Node || ev.Service != r.Service || eventTime(ev) != r.EventTime {
			return fail(ReceiptsFile, ln, 0, "%s: name %q severity %q node %q service %q event_time %q are not the embedded event's (%q %q %q %q %q)",
				r.ID, r.Name, r.Severity, r.Node, r.Service, r.EventTime, ev.Name, ev.Severity, ev.Node, ev.Service, eventTime(ev))
		}
		c.fired[r.ID] = r
		return nil
	}
	f := c.fired[r.AlertID]
	if f == nil {
		return fail(ReceiptsFile, ln, -1, "%s: alert_id %s is no obs_alert_fired earlier in the scroll", r.ID, r.AlertID)
	}
	if r.Name != f.Name || r.Severity != f.Severity || r.Node != f.Node || r.Service != f.Service {
		return fail(ReceiptsFile, ln, -1, "%s: name, severity, node or service differ from those of %s", r.ID, f.ID)
	}
	if r.FiredAt != firedAt(f) {
		return fail(ReceiptsFile, ln, -1, "%s: fired_at %s, want %s (the event_time of %s)", r.ID, r.FiredAt, firedAt(f), f.ID)
	}
	if ev.Name != r.ResolvedBy || eventTime(ev) != r.EventTime {
		return fail(ReceiptsFile, ln, 0, "%s: resolved_by %q and event_time %q are not the embedded event's (%q %q)",
			r.ID, r.ResolvedBy, r.EventTime, ev.Name, eventTime(ev))
	}
	return nil
}

func eventTime(ev *AlertEvent) string {
	if ev.Time == 0 {
		return ""
	}
	return FormatTime(time.Unix(0, ev.Time))
}

// firedAt is when an alert fired: its event's time, else when it was receipted.
func firedAt(f *Receipt) string {
	if f.EventTime != "" {
		return f.EventTime
	}
	return f.Timestamp
}

// FiredAt is firedAt for the exporter.
func FiredAt(f *Receipt) string { return firedAt(f) }

// verifyAggregates recomputes an obs_metric_snapshot's aggregates from its batch file's leaves.
func verifyAggregates(r *Receipt, leaves [][]byte, ln int) error {
	specs := make(map[string]AggregateSpec, len(r.Aggregates))
	for name, a := range r.Aggregates {
		specs[name] = AggregateSpec{Metric: a.Metric, Attributes: a.Attributes}
	}
	got, err := ComputeAggregates(leaves, specs)
	if err != nil {
		if re, ok := err.(*RecordError); ok {
			return fail(r.StoragePath, 0, re.Index, "aggregates of receipt line %d (%s): %v", ln, r.ID, re.Err)
		}
		return fail(r.StoragePath, 0, -1, "%v", err)
	}
	for name, a := range r.Aggregates {
		g := got[name]
		if g.Points != a.Points || !equalDecimal(g.Avg, a.Avg) || !equalDecimal(g.Min, a.Min) || !equalDecimal(g.Max, a.Max) {
			return fail(ReceiptsFile, ln, -1, "%s: aggregates[%q]: the batch file gives points %d avg %s min %s max %s", r.ID, name,
				g.Points, decStr(g.Avg), decStr(g.Min), decStr(g.Max))
		}
	}
	return nil
}

func decStr(d *Decimal) string {
	if d == nil {
		return "-"
	}
	return d.String()
}
