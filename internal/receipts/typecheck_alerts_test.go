package receipts

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Fields of obs_alert_resolved and aggregates are refused on other types.
func TestAlertResolvedFieldsAndAggregatesStayOnTheirTypes(t *testing.T) {
	parse := func(r *Receipt) error {
		line, err := r.Marshal()
		require.NoError(t, err)
		_, err = ParseReceipt(line)
		return err
	}
	zero := FormatHash(make([]byte, 32))
	ev := serviceEvent(t, "degraded", alertBase)
	fired := alertReceiptOf(TypeAlertFired, AlertID(ev.Leaf), ev, alertBase)
	fired.Name, fired.Severity, fired.PrevHash = "ServiceDegraded", "critical", zero
	require.NoError(t, parse(fired))
	withResolved := *fired
	withResolved.AlertID = "alert-2"
	require.ErrorContains(t, parse(&withResolved), "has obs_alert_resolved fields")

	start := alertBase.Truncate(time.Hour)
	batch := func(typ, signal string) *Receipt {
		return &Receipt{Type: typ, ID: BatchID(signal, start), Timestamp: FormatTime(start.Add(time.Hour + time.Second)),
			Workspace: "ws", Period: &Period{Start: FormatTime(start), End: FormatTime(start.Add(time.Hour))},
			StoragePath: BatchPath(signal, start, time.Hour), ContentHash: zero, MerkleRoot: zero, LeafCount: 2,
			PrevHash: zero, Tags: []string{"observability"}}
	}
	logs := batch(TypeLogBatch, SignalLogs)
	logs.LogCounts = &LogCounts{Info: 2}
	require.NoError(t, parse(logs))
	logs.Aggregates = map[string]*Aggregate{"a": {Metric: "m"}}
	require.ErrorContains(t, parse(logs), "only obs_metric_snapshot has")

	snap := batch(TypeMetricSnapshot, SignalMetrics)
	snap.MetricsCollected, snap.MetricNames, snap.DataPointTypes = 2, 1, map[string]uint64{"gauge": 2}
	require.NoError(t, parse(snap))
	one, two, three, half := dec(t, "1"), dec(t, "2"), dec(t, "3"), dec(t, "1.5")
	snap.Aggregates = map[string]*Aggregate{"a": {Metric: "m", Points: 2, Avg: one}}
	require.ErrorContains(t, parse(snap), "avg, min and max are set exactly when points > 0")
	snap.Aggregates = map[string]*Aggregate{"a": {Metric: "m", Points: 2, Avg: three, Min: one, Max: two}}
	require.ErrorContains(t, parse(snap), "min <= avg <= max")
	snap.Aggregates = map[string]*Aggregate{"a": {Metric: "m", Points: 2, Avg: half, Min: one, Max: two}}
	require.NoError(t, parse(snap))
}

func dec(t *testing.T, s string) *Decimal {
	d, err := ParseDecimal(s)
	require.NoError(t, err)
	return &d
}
