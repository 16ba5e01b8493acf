package receiptexporter

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/receipts"
)

// Issue 16: a trace that becomes significant late — its error span arrives after the trace went idle and after
// the window batch of its first spans was sealed — is receipted with all its spans, also across a restart.
func TestTraceThatBecomesSignificantLateKeepsItsEarlierSpans(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	cfg := testConfig(dir)
	cfg.TraceLinger = 3 * time.Minute
	e := startExporter(t, cfg, clock)
	ctx := context.Background()
	scroll := filepath.Join(dir, "ws")
	first := makeTrace("ws", 1, base, 10*time.Millisecond, 2, false) // fast, no error: not significant
	require.NoError(t, lg.traces(e, first))
	// Idle, and the window of its spans is sealed (interval 1m, grace 5s).
	clock.Set(base.Add(70 * time.Second))
	rs := waitReceipts(t, scroll, 1)
	require.Equal(t, receipts.TypeTraceBatch, rs[0].Type)
	require.NoError(t, e.shutdown(ctx))

	// A restart in between: the log entry of the first spans is delivered again.
	from := lg.resume()
	lg.restart()
	e = startExporter(t, cfg, clock)
	require.NoError(t, lg.redeliver(e, from))
	clock.Set(base.Add(80 * time.Second))
	late := makeTrace("ws", 1, base.Add(75*time.Second), 10*time.Millisecond, 1, true)
	late.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetSpanID([8]byte{9})
	require.NoError(t, lg.traces(e, late))
	clock.Set(base.Add(85 * time.Second))
	rs = waitReceipts(t, scroll, 2)
	requireSealedTrace(t, scroll, rs[1], "trace-01010203000000000000000000000000", leavesOf(t, first, late))
	require.Equal(t, "error", rs[1].Status)
	require.Equal(t, "op-0", rs[1].Name, "the root span's name, from the earlier spans")
	require.NoError(t, e.shutdown(ctx))
	verifyAll(t, dir)
}

// Lingering traces count toward trace_max_open and are the first to go: an open trace is never completed early
// while a lingering one could make room.
func TestLingeringTracesGoFirstAtTraceMaxOpen(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	cfg := testConfig(dir)
	cfg.TraceLinger = time.Hour
	cfg.TraceMaxOpen = 2
	var mu sync.Mutex
	var open, lingering int
	e := startExporter(t, cfg, clock, func(en *engine) {
		// Runs on the engine loop before each commit: the traces left by the previous one and by the ticks.
		en.beforeCommit = func() {
			mu.Lock()
			open, lingering = len(en.traceHeap), len(en.lingerHeap)
			mu.Unlock()
		}
	})
	counts := func() (int, int) {
		require.NoError(t, lg.logs(e, makeLogs("other", 1, clock.Now(), 9))) // a commit, to look
		mu.Lock()
		defer mu.Unlock()
		return open, lingering
	}
	require.NoError(t, lg.traces(e, makeTrace("ws", 1, base, time.Millisecond, 1, false)))
	clock.Set(base.Add(4 * time.Second)) // trace 1 idle, not significant: it lingers
	require.Eventually(t, func() bool { o, l := counts(); return o == 0 && l == 1 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, lg.traces(e, makeTrace("ws", 2, base.Add(4*time.Second), time.Millisecond, 1, true)))
	require.NoError(t, lg.traces(e, makeTrace("ws", 3, base.Add(4*time.Second), time.Millisecond, 1, true)))
	o, l := counts()
	require.Equal(t, [2]int{2, 0}, [2]int{o, l}, "trace 1 made room")
	require.Empty(t, readReceipts(t, filepath.Join(dir, "ws")), "traces 2 and 3 were not completed early")
	require.NoError(t, e.shutdown(context.Background()))
}
