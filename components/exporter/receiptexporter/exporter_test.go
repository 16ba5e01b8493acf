package receiptexporter

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/internal/receipts"
)

func TestWindowsSealPerWorkspaceAndSignal(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(10 * time.Second)}
	lg := newTestLog(clock)
	e := startExporter(t, testConfig(dir), clock)
	ctx := context.Background()

	require.NoError(t, lg.logs(e, makeLogs("ws-a", 5, base.Add(time.Second), plog.SeverityNumberInfo)))
	require.NoError(t, lg.logs(e, makeLogs("ws-a", 2, base.Add(2*time.Second), plog.SeverityNumberError)))
	require.NoError(t, lg.logs(e, makeLogs("ws-b", 3, base.Add(3*time.Second), plog.SeverityNumberWarn)))
	require.NoError(t, lg.metrics(e, makeMetrics("ws-a", 4, base.Add(4*time.Second))))
	require.NoError(t, lg.traces(e, makeTrace("ws-a", 1, base.Add(5*time.Second), 10*time.Millisecond, 3, false)))

	// Nothing is sealed before window end + grace.
	clock.Set(base.Add(time.Minute + 4*time.Second))
	time.Sleep(50 * time.Millisecond)
	require.Empty(t, readReceipts(t, filepath.Join(dir, "ws-a")))

	clock.Set(base.Add(time.Minute + 5*time.Second))
	ra := waitReceipts(t, filepath.Join(dir, "ws-a"), 3)
	rb := waitReceipts(t, filepath.Join(dir, "ws-b"), 1)

	byType := map[string]*receipts.Receipt{}
	for _, r := range ra {
		byType[r.Type] = r
		require.Equal(t, "ws-a", r.Workspace)
		require.Equal(t, "2025-12-06T14:00:00Z", r.Period.Start)
		require.Equal(t, "2025-12-06T14:01:00Z", r.Period.End)
	}
	logs := byType[receipts.TypeLogBatch]
	require.NotNil(t, logs)
	require.Equal(t, uint64(7), logs.LeafCount)
	require.Equal(t, receipts.LogCounts{Info: 5, Error: 2}, *logs.LogCounts)
	require.Equal(t, []string{"guardian"}, logs.ServicesReporting)
	require.Equal(t, []string{"brick-01"}, logs.NodesReporting)
	require.Equal(t, "telemetry/logs/2025-12-06/hour-14-00-00.binpb", logs.StoragePath)
	require.Equal(t, "logs-2025-12-06T14:00:00Z", logs.ID)

	m := byType[receipts.TypeMetricSnapshot]
	require.NotNil(t, m)
	require.Equal(t, uint64(5), m.MetricsCollected)
	require.Equal(t, uint64(2), m.MetricNames)
	require.Equal(t, map[string]uint64{"gauge": 4, "sum": 1}, m.DataPointTypes)

	tr := byType[receipts.TypeTraceBatch]
	require.NotNil(t, tr)
	require.Equal(t, uint64(3), tr.SpanCount)
	require.Equal(t, uint64(1), tr.TraceCount)

	require.Equal(t, uint64(3), rb[0].LogCounts.Warn)
	require.Equal(t, receipts.ZeroHash, ra[0].PrevHash)
	require.Equal(t, uint64(7+5+3+3), verifyAll(t, dir))
	require.NoError(t, e.shutdown(ctx))
}

func TestLateRecordsBeyondGraceGoToArrivalWindow(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(10 * time.Second)}
	lg := newTestLog(clock)
	e := startExporter(t, testConfig(dir), clock)
	ctx := context.Background()
	require.NoError(t, lg.logs(e, makeLogs("ws", 1, base, plog.SeverityNumberInfo)))
	clock.Set(base.Add(time.Minute + 5*time.Second))
	waitReceipts(t, filepath.Join(dir, "ws"), 1)
	// A record stamped in the sealed window lands in the window it arrived in.
	require.NoError(t, lg.logs(e, makeLogs("ws", 1, base.Add(time.Second), plog.SeverityNumberInfo)))
	// Within grace a record still joins its own (previous) window.
	clock.Set(base.Add(2*time.Minute + 2*time.Second))
	require.NoError(t, lg.logs(e, makeLogs("ws", 1, base.Add(time.Minute+59*time.Second), plog.SeverityNumberInfo)))
	clock.Set(base.Add(3*time.Minute + 5*time.Second))
	rs := waitReceipts(t, filepath.Join(dir, "ws"), 2)
	require.Equal(t, "logs-2025-12-06T14:01:00Z", rs[1].ID)
	require.Equal(t, uint64(2), rs[1].LeafCount)
	verifyAll(t, dir)
	require.NoError(t, e.shutdown(ctx))
}

func TestSignificantTracesGetTraceCompleteReceipts(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	e := startExporter(t, testConfig(dir), clock)
	ctx := context.Background()
	require.NoError(t, lg.traces(e, makeTrace("ws", 1, base, 100*time.Millisecond, 2, true))) // error
	require.NoError(t, lg.traces(e, makeTrace("ws", 2, base, 6*time.Second, 2, false)))       // slow
	require.NoError(t, lg.traces(e, makeTrace("ws", 3, base, 50*time.Millisecond, 2, false))) // neither
	// More spans of trace 1 keep it open.
	clock.Set(base.Add(2 * time.Second))
	require.NoError(t, lg.traces(e, makeTrace("ws", 1, base, 100*time.Millisecond, 4, true)))
	clock.Set(base.Add(3500 * time.Millisecond))
	rs := waitReceipts(t, filepath.Join(dir, "ws"), 1)
	require.Equal(t, "trace-02010203000000000000000000000000", rs[0].ID)
	require.Equal(t, uint64(6000), uint64(rs[0].DurationMs))
	require.Equal(t, "ok", rs[0].Status)
	clock.Set(base.Add(4500 * time.Millisecond))
	rs = waitReceipts(t, filepath.Join(dir, "ws"), 2)
	require.Equal(t, receipts.TypeTraceComplete, rs[1].Type)
	require.Equal(t, "error", rs[1].Status)
	require.Equal(t, uint64(6), rs[1].SpanCount)
	require.Equal(t, "op-0", rs[1].Name)
	clock.Set(base.Add(2 * time.Minute))
	rs = waitReceipts(t, filepath.Join(dir, "ws"), 3)
	require.Equal(t, receipts.TypeTraceBatch, rs[2].Type)
	require.Equal(t, uint64(10), rs[2].SpanCount)
	verifyAll(t, dir)
	require.NoError(t, e.shutdown(ctx))
}

func TestTraceLargerThanMaxSpansGetsNoTraceReceiptButIsSealed(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	cfg := testConfig(dir)
	cfg.TraceMaxSpans = 3
	e := startExporter(t, cfg, clock)
	ctx := context.Background()
	require.NoError(t, lg.traces(e, makeTrace("ws", 1, base, time.Millisecond, 5, true))) // error in span 5
	require.NoError(t, lg.traces(e, makeTrace("ws", 2, base, time.Millisecond, 2, true)))
	clock.Set(base.Add(2 * time.Minute))
	rs := waitReceipts(t, filepath.Join(dir, "ws"), 2)
	ids := map[string]*receipts.Receipt{rs[0].ID: rs[0], rs[1].ID: rs[1]}
	require.Contains(t, ids, "trace-02010203000000000000000000000000")
	require.NotContains(t, ids, "trace-01010203000000000000000000000000")
	require.Equal(t, uint64(7), ids["traces-2025-12-06T14:00:00Z"].SpanCount)
	require.NoError(t, e.shutdown(ctx))
}
