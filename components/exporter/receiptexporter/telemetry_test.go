package receiptexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
)

// An operator reads WAL commit and alert append latencies off tfocol_receipt_fsync_latency: the buckets must
// resolve milliseconds (a histogram with the SDK's default buckets, 0..10000, put every fsync into its first bucket).
func TestFsyncLatencyHistogramResolvesMilliseconds(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	ctx := context.Background()
	for _, mode := range []Mode{ModeBatch, ModeAlerts} {
		cfg := testConfig(t.TempDir())
		cfg.Mode = mode
		set := exportertest.NewNopSettings(metadata.Type)
		set.TelemetrySettings = tel.NewTelemetrySettings()
		e := newReceiptExporter(cfg, set)
		e.now = (&fakeClock{now: base}).Now
		require.NoError(t, e.startWith(ctx, componenttest.NewNopHost()))
		ld := makeLogs("ws", 3, base, plog.SeverityNumberError)
		ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).SetEventName("BackupFailure")
		require.NoError(t, e.pushLogs(ctx, ld))
		require.NoError(t, e.shutdown(ctx))
	}

	m, err := tel.GetMetric("tfocol_receipt_fsync_latency")
	require.NoError(t, err)
	require.Equal(t, "s", m.Unit)
	hist, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok)
	ops := map[string]metricdata.HistogramDataPoint[float64]{}
	for _, dp := range hist.DataPoints {
		op, _ := dp.Attributes.Value(attribute.Key("operation"))
		ops[op.AsString()] = dp
	}
	require.Len(t, ops, 2, "WAL commits and alert appends are told apart")
	for op, dp := range ops {
		require.EqualValues(t, 1, dp.Count, op)
		require.Less(t, dp.Bounds[0], 0.001, "%s: sub-millisecond resolution", op)
		require.LessOrEqual(t, dp.Bounds[len(dp.Bounds)-1], 10.0, "%s: bounds are seconds", op)
		// The one write took well under a second, so it lands in a bucket below 1 s, not the overflow.
		var below int
		for i, ub := range dp.Bounds {
			if ub <= 1 {
				below += int(dp.BucketCounts[i])
			}
		}
		require.Equal(t, 1, below, "%s: %v s in buckets %v → %v", op, dp.Sum, dp.Bounds, dp.BucketCounts)
		require.Less(t, dp.Sum, 1.0)
	}
}
