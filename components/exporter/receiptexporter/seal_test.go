package receiptexporter

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/receipts"
)

// Many windows due at one tick are sealed concurrently; the windows of one scroll stay in order.
func TestManyDueWindowsSealConcurrentlyInOrder(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	cfg := testConfig(dir)
	cfg.SealConcurrency = 8
	e := startExporter(t, cfg, clock)
	const n = 120
	for i := range n {
		require.NoError(t, lg.logs(e, makeLogs(fmt.Sprintf("ws-%d", i), 3, base, 9)))
	}
	// One workspace with three windows in the same tick: logs, metrics, traces.
	require.NoError(t, lg.logs(e, makeLogs("multi", 2, base, 9)))
	require.NoError(t, lg.metrics(e, makeMetrics("multi", 2, base)))
	require.NoError(t, lg.traces(e, makeTrace("multi", 1, base, time.Millisecond, 2, false)))
	clock.Set(base.Add(2 * time.Minute))
	for i := range n {
		rs := waitReceipts(t, filepath.Join(dir, receipts.WorkspaceDir(fmt.Sprintf("ws-%d", i))), 1)
		require.Equal(t, uint64(3), rs[0].LeafCount)
	}
	rs := waitReceipts(t, filepath.Join(dir, "multi"), 3)
	require.Equal(t, []string{receipts.TypeLogBatch, receipts.TypeMetricSnapshot, receipts.TypeTraceBatch},
		[]string{rs[0].Type, rs[1].Type, rs[2].Type})
	require.Eventually(t, func() bool { return len(lg.stream.heldSeqs()) == 0 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, e.shutdown(context.Background()))
	require.Equal(t, uint64(n*3+2+3+2), verifyAll(t, dir))
}

// slowSeals makes every window seal take d (at the spool fsync step) and counts the seals started.
func slowSeals(d time.Duration, started *atomic.Int64) func(*engine) {
	return func(en *engine) {
		en.crashAt = func(step string) bool {
			if step == "after-spool-sync" {
				started.Add(1)
				time.Sleep(d)
			}
			return false
		}
	}
}

// A consumer call made during a burst of seals is applied between chunks, not after the burst.
func TestConsumeIsNotBlockedBehindASealBurst(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	cfg := testConfig(dir)
	cfg.SealConcurrency = 1
	var started atomic.Int64
	e := startExporter(t, cfg, clock, slowSeals(5*time.Millisecond, &started))
	const n = 200 // 1 s of sealing one after another
	for i := range n {
		require.NoError(t, lg.logs(e, makeLogs(fmt.Sprintf("ws-%d", i), 1, base, 9)))
	}
	clock.Set(base.Add(2 * time.Minute))
	require.Eventually(t, func() bool { return started.Load() > 0 }, 5*time.Second, time.Millisecond)
	t0 := time.Now()
	require.NoError(t, lg.logs(e, makeLogs("late", 1, base.Add(2*time.Minute), 9)))
	require.Less(t, time.Since(t0), 500*time.Millisecond)
	require.Less(t, started.Load(), int64(n/2), "the call waited for the burst")
	for i := range n {
		waitReceipts(t, filepath.Join(dir, receipts.WorkspaceDir(fmt.Sprintf("ws-%d", i))), 1)
	}
	require.NoError(t, e.shutdown(context.Background()))
}

// A graceful stop during a burst of seals does not wait for the burst; the next start seals the rest, each
// window exactly once.
func TestShutdownDuringSealBurstStopsSealing(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	cfg := testConfig(dir)
	cfg.SealConcurrency = 2
	var started atomic.Int64
	e := startExporter(t, cfg, clock, slowSeals(10*time.Millisecond, &started))
	const n = 200 // 1 s of sealing at 2 at once
	for i := range n {
		require.NoError(t, lg.logs(e, makeLogs(fmt.Sprintf("ws-%d", i), 2, base, 9)))
	}
	clock.Set(base.Add(2 * time.Minute))
	require.Eventually(t, func() bool { return started.Load() > 0 }, 5*time.Second, time.Millisecond)
	t0 := time.Now()
	require.NoError(t, e.shutdown(context.Background()))
	require.Less(t, time.Since(t0), 300*time.Millisecond)
	require.Less(t, started.Load(), int64(n/2))

	lg.restart()
	e2 := startExporter(t, cfg, clock)
	require.NoError(t, lg.redeliver(e2, 1))
	for i := range n {
		rs := waitReceipts(t, filepath.Join(dir, receipts.WorkspaceDir(fmt.Sprintf("ws-%d", i))), 1)
		require.Len(t, rs, 1)
		require.Equal(t, uint64(2), rs[0].LeafCount)
	}
	require.NoError(t, e2.shutdown(context.Background()))
	require.Equal(t, uint64(n*2), verifyAll(t, dir))
}
