package receipts

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// Conformance vectors for obs_alert_fired facts, obs_alert_resolved and obs_metric_snapshot aggregates:
// testdata/conformance/alerts/<name>/ is a scroll and EXPECT says "ok" or "fail: <text the failure names>"
// (as testdata/conformance/derived). -update-alert-vectors writes them again.
var updateAlertVectors = flag.Bool("update-alert-vectors", false, "rewrite testdata/conformance/alerts")

const alertVectorsDir = "testdata/conformance/alerts"

var alertBase = time.Date(2025, 12, 6, 14, 35, 0, 0, time.UTC)

// alertScroll builds a scroll: a ServiceDegraded alert, a metric snapshot, then what the vector adds.
type alertScroll struct {
	t     *testing.T
	s     *Scroll
	fired *Receipt
}

func serviceEvent(t *testing.T, status string, at time.Time) Record {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("tfo.workspace.id", "ws")
	rl.Resource().Attributes().PutStr("host.name", "sdk-host")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName("ServiceDegraded")
	lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.Attributes().PutStr("event.severity", "critical")
	lr.Attributes().PutStr("host.name", "brick-02")
	body := lr.Body().SetEmptyMap()
	body.PutStr("serviceName", "ledger")
	body.PutStr("indicator", "latency")
	body.PutStr("status", status)
	var out Record
	require.NoError(t, EncodeLogs(ld, "tfo.workspace.id", func(r Record) error { out = r; return nil }))
	return out
}

func alertReceiptOf(typ, id string, rec Record, at time.Time) *Receipt {
	sum := merkle.Sum(rec.Leaf)
	return &Receipt{Type: typ, ID: id, Timestamp: FormatTime(at.Add(time.Second)), Workspace: "ws", Record: rec.Leaf,
		ContentHash: FormatHash(sum[:]), MerkleRoot: FormatHash(merkle.BLAKE3.HashLeaf(rec.Leaf)), LeafCount: 1,
		EventTime: FormatTime(at), Tags: []string{"observability", "alert"}}
}

func newAlertScroll(t *testing.T, dir string, mutateFired func(*Receipt)) *alertScroll {
	s, _, err := OpenScroll(dir, DefaultOriginPrefix+"/ws", nil)
	require.NoError(t, err)
	a := &alertScroll{t: t, s: s}
	ev := serviceEvent(t, "degraded", alertBase)
	f := alertReceiptOf(TypeAlertFired, AlertID(ev.Leaf), ev, alertBase)
	f.Name, f.Severity, f.Node, f.Service = "ServiceDegraded", "critical", "brick-02", "ledger"
	if mutateFired != nil {
		mutateFired(f)
	}
	require.NoError(t, s.Append(f))
	a.fired = f
	return a
}

// resolved is the correct obs_alert_resolved of the alert, by a recovering event 35 minutes 20 seconds later.
func (a *alertScroll) resolved(mutate func(*Receipt)) {
	at := alertBase.Add(35*time.Minute + 20*time.Second)
	r := alertReceiptOf(TypeAlertResolved, AlertResolvedID(a.fired.ID), serviceEvent(a.t, "recovering", at), at)
	minutes := DurationMinutes(alertBase, at)
	r.Name, r.Severity, r.Node, r.Service = a.fired.Name, a.fired.Severity, a.fired.Node, a.fired.Service
	r.AlertID, r.FiredAt, r.DurationMinutes, r.ResolvedBy = a.fired.ID, FormatTime(alertBase), &minutes, "ServiceDegraded"
	if mutate != nil {
		mutate(r)
	}
	require.NoError(a.t, a.s.Append(r))
}

// snapshot seals a metric window of cpu utilization of two hosts, with its aggregates.
func (a *alertScroll) snapshot(mutate func(map[string]*Aggregate)) {
	t := a.t
	start := alertBase.Truncate(time.Hour)
	md := pmetric.NewMetrics()
	for i, host := range []string{"brick-01", "brick-02"} {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("host.name", host)
		g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		g.SetName("system.cpu.utilization")
		dps := g.SetEmptyGauge().DataPoints()
		for j, state := range []string{"user", "idle"} {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Minute)))
			dp.Attributes().PutStr("state", state)
			dp.SetDoubleValue(0.125*float64(i+1) + 0.5*float64(j))
		}
	}
	var leaves [][]byte
	require.NoError(t, EncodeMetrics(md, "tfo.workspace.id", func(r Record) error { leaves = append(leaves, r.Leaf); return nil }))
	aggs, err := ComputeAggregates(leaves, map[string]AggregateSpec{
		"cpu_user": {Metric: "system.cpu.utilization", Attributes: map[string]string{"state": "user"}},
		"load":     {Metric: "system.cpu.load_average.1m"},
	})
	require.NoError(t, err)
	if mutate != nil {
		mutate(aggs)
	}
	r := &Receipt{Type: TypeMetricSnapshot, ID: BatchID(SignalMetrics, start), Timestamp: FormatTime(start.Add(time.Hour)),
		Workspace: "ws", Period: &Period{Start: FormatTime(start), End: FormatTime(start.Add(time.Hour))},
		MetricsCollected: 4, MetricNames: 1, DataPointTypes: map[string]uint64{"gauge": 4}, Aggregates: aggs,
		NodesReporting: []string{"brick-01", "brick-02"}, Tags: []string{"observability", "metrics"}}
	require.NoError(t, a.s.SealFile(BatchPath(SignalMetrics, start, time.Hour), leaves, r))
}

var alertVectors = map[string]struct {
	expect string
	build  func(t *testing.T, dir string)
}{
	"valid-alert-resolved": {"ok", func(t *testing.T, dir string) {
		a := newAlertScroll(t, dir, nil)
		a.snapshot(nil)
		a.resolved(nil)
	}},
	"alert-fired-severity-not-the-events": {"fail: are not the embedded event's", func(t *testing.T, dir string) {
		newAlertScroll(t, dir, func(r *Receipt) { r.Severity, r.Node = "info", "sdk-host" })
	}},
	"alert-resolved-without-its-alert": {"fail: is no obs_alert_fired earlier in the scroll", func(t *testing.T, dir string) {
		newAlertScroll(t, dir, nil).resolved(func(r *Receipt) {
			r.AlertID = "alert-ffffffffffffffffffffffffffffffff"
			r.ID = AlertResolvedID(r.AlertID)
		})
	}},
	"alert-resolved-duration-changed": {"fail: duration_minutes 5, want 35", func(t *testing.T, dir string) {
		newAlertScroll(t, dir, nil).resolved(func(r *Receipt) { five := uint64(5); r.DurationMinutes = &five })
	}},
	"alert-resolved-fired-at-moved": {"fail: fired_at 2025-12-06T14:30:00Z, want 2025-12-06T14:35:00Z", func(t *testing.T, dir string) {
		newAlertScroll(t, dir, nil).resolved(func(r *Receipt) {
			r.FiredAt = "2025-12-06T14:30:00Z"
			m := uint64(40)
			r.DurationMinutes = &m
		})
	}},
	"alert-resolved-before-it-fired": {"fail: resolved before it fired", func(t *testing.T, dir string) {
		newAlertScroll(t, dir, nil).resolved(func(r *Receipt) { r.FiredAt = "2025-12-06T15:30:00Z" })
	}},
	"alert-resolved-by-another-event": {"fail: resolved_by \"BackupSucceeded\"", func(t *testing.T, dir string) {
		newAlertScroll(t, dir, nil).resolved(func(r *Receipt) { r.ResolvedBy = "BackupSucceeded" })
	}},
	"metric-aggregate-max-changed": {"fail: aggregates[\"cpu_user\"]: the batch file gives points 2 avg 0.1875 min 0.125 max 0.25", func(t *testing.T, dir string) {
		newAlertScroll(t, dir, nil).snapshot(func(m map[string]*Aggregate) { v := DecimalOf(0.3); m["cpu_user"].Max = &v })
	}},
	"metric-aggregate-points-of-a-metric-it-lacks": {"fail: aggregates[\"load\"]: the batch file gives points 0", func(t *testing.T, dir string) {
		newAlertScroll(t, dir, nil).snapshot(func(m map[string]*Aggregate) {
			v := DecimalOf(1.5)
			m["load"] = &Aggregate{Metric: "system.cpu.load_average.1m", Points: 1, Avg: &v, Min: &v, Max: &v}
		})
	}},
}

func TestAlertConformanceVectors(t *testing.T) {
	runScrollVectors(t, alertVectorsDir, *updateAlertVectors, "TestAlertConformanceVectors -update-alert-vectors", alertVectors,
		func(t *testing.T, dir string, build func(*testing.T, string)) {
			require.NoError(t, os.RemoveAll(dir))
			build(t, dir)
		})
}

// backupFailureLeaf is the leaf of a BackupFailure record without time, host or service (OTLP severity ERROR).
func backupFailureLeaf(t *testing.T) []byte {
	t.Helper()
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName("BackupFailure")
	lr.SetSeverityNumber(plog.SeverityNumberError)
	lr.Body().SetStr("backup failed")
	var leaf []byte
	require.NoError(t, EncodeLogs(ld, "tfo.workspace.id", func(r Record) error { leaf = r.Leaf; return nil }))
	return leaf
}
