package receiptexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/receipts"
)

// sealedRoots maps every receipt of every scroll in dir to its content hash and Merkle root.
func sealedRoots(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	scrolls, err := receipts.FindScrolls(dir)
	if err != nil {
		return out // no scroll yet
	}
	for _, s := range scrolls {
		lines, err := receipts.ScrollLines(s)
		require.NoError(t, err)
		for _, l := range lines {
			r, err := receipts.ParseReceipt(l)
			require.NoError(t, err)
			k := filepath.Base(s) + "/" + r.ID
			require.NotContains(t, out, k, "sealed twice")
			out[k] = r.ContentHash + " " + r.MerkleRoot
		}
	}
	return out
}

// feedTwoWindows delivers entries to two windows of two workspaces and three signals; one entry carries records of
// both windows (one stamped in the first window, arriving within its grace).
func feedTwoWindows(t *testing.T, e *receiptExporter, lg *testLog, clock *fakeClock) {
	t.Helper()
	clock.Set(base.Add(10 * time.Second))
	require.NoError(t, lg.logs(e, realisticLogs(50, base)))
	require.NoError(t, lg.metrics(e, makeMetrics("ws", 7, base)))
	require.NoError(t, lg.traces(e, makeTrace("ws", 9, base, time.Millisecond, 5, false)))
	require.NoError(t, lg.logs(e, makeLogs("ws-b", 4, base.Add(time.Second), 9)))
	clock.Set(base.Add(time.Minute + 2*time.Second))
	mixed := makeLogs("ws", 2, base.Add(59*time.Second), 9)
	makeLogs("ws", 3, base.Add(time.Minute+time.Second), 13).ResourceLogs().MoveAndAppendTo(mixed.ResourceLogs())
	require.NoError(t, lg.logs(e, mixed))
	require.NoError(t, lg.traces(e, makeTrace("ws", 3, base.Add(time.Minute), 7*time.Second, 2, false)))
	clock.Set(base.Add(time.Minute + 20*time.Second))
	require.NoError(t, lg.logs(e, makeLogs("ws-b", 6, base.Add(time.Minute+20*time.Second), 9)))
	require.NoError(t, lg.metrics(e, makeMetrics("ws", 2, base.Add(time.Minute+20*time.Second))))
}

// A crash (the exporter stops without sealing) loses nothing and seals nothing twice: a new exporter fed again
// from the lowest held entry seals every window exactly once, with the content and roots of an uncrashed run.
func TestCrashReplayFromLowestHoldMatchesUncrashedRun(t *testing.T) {
	ctx := context.Background()
	live := t.TempDir()
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	e := startExporter(t, testConfig(live), clock)
	feedTwoWindows(t, e, lg, clock)
	clock.Set(base.Add(3 * time.Minute))
	require.Eventually(t, func() bool { return len(sealedRoots(t, live)) == 10 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, e.shutdown(ctx))
	require.Empty(t, lg.stream.heldSeqs())
	want := sealedRoots(t, live)

	for _, someSealed := range []bool{true, false} {
		t.Run(fmt.Sprint("some_sealed=", someSealed), func(t *testing.T) {
			dir := t.TempDir()
			clock := &fakeClock{now: base}
			lg := newTestLog(clock)
			if !someSealed {
				lg.stream.setWatermark(base) // the receiver is behind: nothing seals before the crash
			}
			e := startExporter(t, testConfig(dir), clock)
			feedTwoWindows(t, e, lg, clock)
			clock.Set(base.Add(90 * time.Second))
			if someSealed {
				// The first windows seal and the slow trace completes; the second windows are open when the process dies.
				require.Eventually(t, func() bool { return len(sealedRoots(t, dir)) == 6 }, 10*time.Second, 10*time.Millisecond)
			} else {
				time.Sleep(50 * time.Millisecond)
				require.Empty(t, sealedRoots(t, dir))
			}
			require.NoError(t, e.shutdown(ctx))
			from := lg.resume()
			if someSealed {
				require.Equal(t, uint64(5), from, "the entries of the sealed windows were released")
			} else {
				require.Equal(t, uint64(1), from)
			}

			lg.restart()
			e = startExporter(t, testConfig(dir), clock)
			require.NoError(t, lg.redeliver(e, from))
			clock.Set(base.Add(3 * time.Minute))
			require.Eventually(t, func() bool { return len(sealedRoots(t, dir)) == 10 }, 10*time.Second, 10*time.Millisecond)
			require.Eventually(t, func() bool { return len(lg.stream.heldSeqs()) == 0 }, 5*time.Second, 10*time.Millisecond)
			require.NoError(t, e.shutdown(ctx))
			require.Equal(t, want, sealedRoots(t, dir))
			verifyAll(t, dir)
		})
	}
}

// A crash after windows were sealed (and their entries released) but before the receiver committed its cursor:
// the receiver delivers every entry again, and nothing is receipted a second time or held.
func TestCrashAfterSealBeforeCursorMovedDoesNotSealTwice(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	e := startExporter(t, testConfig(dir), clock)
	feedTwoWindows(t, e, lg, clock)
	clock.Set(base.Add(3 * time.Minute))
	require.Eventually(t, func() bool { return len(sealedRoots(t, dir)) == 10 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, e.shutdown(ctx))
	want := sealedRoots(t, dir)

	lg.restart()
	e = startExporter(t, testConfig(dir), clock)
	require.NoError(t, lg.redeliver(e, 1))
	clock.Set(base.Add(10 * time.Minute))
	// Spans of traces that were not significant open their trace again, which completes on the next tick.
	require.Eventually(t, func() bool { return len(lg.stream.heldSeqs()) == 0 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond) // several ticks
	require.NoError(t, e.shutdown(ctx))
	require.Equal(t, want, sealedRoots(t, dir))
	verifyAll(t, dir)
}

func TestCrashBetweenSealStepsSealsExactlyOnce(t *testing.T) {
	for _, step := range []string{"after-spool-sync", "after-rename"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			clock := &fakeClock{now: base}
			lg := newTestLog(clock)
			ctx := context.Background()
			crashed := make(chan struct{})
			e := startExporter(t, testConfig(dir), clock, func(en *engine) {
				en.crashAt = func(s string) bool {
					if s == step {
						close(crashed)
						return true
					}
					return false
				}
			})
			require.NoError(t, lg.logs(e, makeLogs("ws", 9, base, 9)))
			clock.Set(base.Add(2 * time.Minute))
			<-crashed
			require.NoError(t, e.shutdown(ctx))
			require.Empty(t, readReceipts(t, filepath.Join(dir, "ws")))
			require.Equal(t, []uint64{1}, lg.stream.heldSeqs())

			lg.restart()
			e2 := startExporter(t, testConfig(dir), clock)
			require.NoError(t, lg.redeliver(e2, 1))
			rs := waitReceipts(t, filepath.Join(dir, "ws"), 1)
			require.Equal(t, uint64(9), rs[0].LeafCount)
			require.Equal(t, uint64(9), verifyAll(t, dir))
			require.Eventually(t, func() bool { return len(lg.stream.heldSeqs()) == 0 }, 5*time.Second, 10*time.Millisecond)
			require.NoError(t, e2.shutdown(ctx))
			// Another restart, fed the entry again, seals nothing twice.
			lg.restart()
			e3 := startExporter(t, testConfig(dir), clock)
			require.NoError(t, lg.redeliver(e3, 1))
			require.NoError(t, e3.shutdown(ctx))
			require.Len(t, readReceipts(t, filepath.Join(dir, "ws")), 1)
		})
	}
}

// The receiver's cursor is kept before every entry with records in an open window or trace: each window and
// trace holds its oldest entry (once per entry, however many windows and traces share it), and releases it when
// it is sealed or forgotten.
func TestHoldsAreReleasedWhenWindowsAndTracesAreSealed(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(10 * time.Second)}
	lg := newTestLog(clock)
	cfg := testConfig(dir)
	cfg.TraceIdle = 2 * time.Minute // the trace outlives its window
	e := startExporter(t, cfg, clock)
	ctx := context.Background()
	require.NoError(t, lg.logs(e, makeLogs("ws", 3, base.Add(10*time.Second), 9)))                            // 1
	require.NoError(t, lg.logs(e, makeLogs("ws", 2, base.Add(11*time.Second), 9)))                            // 2
	require.NoError(t, lg.traces(e, makeTrace("ws", 1, base.Add(10*time.Second), time.Millisecond, 3, true))) // 3
	clock.Set(base.Add(50 * time.Second))
	require.NoError(t, lg.logs(e, makeLogs("ws-b", 1, base.Add(50*time.Second), 9))) // 4
	// ws logs: 1 (2 is younger); ws traces window and the trace: 3; ws-b logs: 4.
	require.Equal(t, []uint64{1, 3, 4}, lg.stream.heldSeqs())
	require.Equal(t, 1, lg.stream.maxHoldsPerSeq(), "one Hold per entry, however many windows and traces")
	// An entry older than those a window holds (a late retry) is held too.
	require.NoError(t, lg.redeliverOne(e, 2, makeLogs("ws-b", 1, base.Add(50*time.Second), 9)))
	require.Equal(t, []uint64{1, 2, 3, 4}, lg.stream.heldSeqs())

	// The windows seal: their entries go, except the trace's.
	clock.Set(base.Add(time.Minute + 5*time.Second))
	waitReceipts(t, filepath.Join(dir, "ws"), 2)
	waitReceipts(t, filepath.Join(dir, "ws-b"), 1)
	require.Eventually(t, func() bool { return len(lg.stream.heldSeqs()) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, []uint64{3}, lg.stream.heldSeqs())

	// The trace completes (trace_idle after its entry's arrival) and is sealed: nothing is held.
	clock.Set(base.Add(2*time.Minute + 10*time.Second))
	rs := waitReceipts(t, filepath.Join(dir, "ws"), 3)
	require.Equal(t, receipts.TypeTraceComplete, rs[2].Type)
	require.Eventually(t, func() bool { return len(lg.stream.heldSeqs()) == 0 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, e.shutdown(ctx))
}

// Sealing and trace completion follow the stream's watermark, not the wall clock alone: while the receiver is
// behind the log (entries of the window may still come), nothing is sealed.
func TestWatermarkBehindNowDelaysSealing(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(10 * time.Second)}
	lg := newTestLog(clock)
	e := startExporter(t, testConfig(dir), clock)
	ctx := context.Background()
	lg.stream.setWatermark(base.Add(10 * time.Second))
	require.NoError(t, lg.logs(e, makeLogs("ws", 3, base.Add(10*time.Second), 9)))
	require.NoError(t, lg.traces(e, makeTrace("ws", 1, base.Add(10*time.Second), time.Millisecond, 2, true)))
	clock.Set(base.Add(5 * time.Minute))
	time.Sleep(100 * time.Millisecond) // several ticks
	require.Empty(t, readReceipts(t, filepath.Join(dir, "ws")))

	// The watermark passes trace_idle after the trace's arrival: the trace completes, the windows stay open.
	lg.stream.setWatermark(base.Add(13 * time.Second))
	rs := waitReceipts(t, filepath.Join(dir, "ws"), 1)
	require.Equal(t, receipts.TypeTraceComplete, rs[0].Type)
	lg.stream.setWatermark(base.Add(time.Minute + 4*time.Second))
	time.Sleep(100 * time.Millisecond)
	require.Len(t, readReceipts(t, filepath.Join(dir, "ws")), 1)
	lg.stream.setWatermark(base.Add(time.Minute + 5*time.Second))
	waitReceipts(t, filepath.Join(dir, "ws"), 3)
	require.NoError(t, e.shutdown(ctx))
}

// Several cursors feed the exporter: the earliest watermark bounds the present.
func TestSlowestStreamBoundsSealing(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(10 * time.Second)}
	logs, traces := newTestLog(clock), newTestLog(clock)
	e := startExporter(t, testConfig(dir), clock)
	require.NoError(t, logs.logs(e, makeLogs("ws", 3, base.Add(10*time.Second), 9)))
	require.NoError(t, traces.traces(e, makeTrace("ws", 1, base.Add(10*time.Second), time.Millisecond, 2, false)))
	traces.stream.setWatermark(base.Add(20 * time.Second))
	clock.Set(base.Add(5 * time.Minute))
	time.Sleep(100 * time.Millisecond)
	require.Empty(t, readReceipts(t, filepath.Join(dir, "ws")))
	traces.stream.follow()
	waitReceipts(t, filepath.Join(dir, "ws"), 2)
	require.NoError(t, e.shutdown(context.Background()))
}

func TestRootBehindIsRebuiltAndTornReceiptLineCut(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	ctx := context.Background()
	e := startExporter(t, testConfig(dir), clock)
	scroll := filepath.Join(dir, "ws")
	require.NoError(t, lg.logs(e, makeLogs("ws", 3, base, 9)))
	clock.Set(base.Add(2 * time.Minute))
	waitReceipts(t, scroll, 1)
	oldRoot, err := os.ReadFile(filepath.Join(scroll, receipts.RootFile))
	require.NoError(t, err)
	require.NoError(t, lg.logs(e, makeLogs("ws", 4, base.Add(2*time.Minute), 9)))
	clock.Set(base.Add(4 * time.Minute))
	waitReceipts(t, scroll, 2)
	require.NoError(t, e.shutdown(ctx))

	// Crash after the receipt append but before ROOT was rewritten, and a torn line from a later append.
	require.NoError(t, os.WriteFile(filepath.Join(scroll, receipts.RootFile), oldRoot, 0o644))
	f, err := os.OpenFile(filepath.Join(scroll, receipts.ReceiptsFile), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"type":"obs_log_batch","id":"logs-2025-12`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = receipts.VerifyScroll(scroll, receipts.VerifyOptions{})
	require.Error(t, err)

	e2 := startExporter(t, testConfig(dir), clock)
	require.NoError(t, e2.shutdown(ctx))
	require.Equal(t, uint64(7), verifyAll(t, dir))
	aside, _ := filepath.Glob(filepath.Join(scroll, receipts.ReceiptsFile) + ".torn-*")
	require.Len(t, aside, 1)
}

func TestRootAheadOfReceiptsRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	ctx := context.Background()
	e := startExporter(t, testConfig(dir), clock)
	scroll := filepath.Join(dir, "ws")
	require.NoError(t, lg.logs(e, makeLogs("ws", 3, base, 9)))
	clock.Set(base.Add(2 * time.Minute))
	waitReceipts(t, scroll, 1)
	require.NoError(t, lg.logs(e, makeLogs("ws", 3, base.Add(2*time.Minute), 9)))
	clock.Set(base.Add(4 * time.Minute))
	waitReceipts(t, scroll, 2)
	require.NoError(t, e.shutdown(ctx))

	// Lose the last receipt line: ROOT now claims more than the log holds.
	p := filepath.Join(scroll, receipts.ReceiptsFile)
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(data), "\n")
	require.NoError(t, os.WriteFile(p, []byte(lines[0]), 0o644))

	e2 := newReceiptExporter(testConfig(dir), e.set)
	e2.now = clock.Now
	err = e2.start(ctx, nil)
	require.ErrorIs(t, err, receipts.ErrRootAhead)
}

func TestDirectoryIsExclusive(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	e := startExporter(t, testConfig(dir), clock)
	e2 := newReceiptExporter(testConfig(dir), e.set)
	err := e2.start(context.Background(), nil)
	require.ErrorContains(t, err, "in use")
	require.NoError(t, e.shutdown(context.Background()))
	e3 := startExporter(t, testConfig(dir), clock)
	require.NoError(t, e3.shutdown(context.Background()))
}

// When ROOT cannot be rewritten the receipt still counts as written: the window is not sealed again, and ROOT
// is rebuilt on restart.
func TestRootWriteFailureDoesNotSealTwice(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	ctx := context.Background()
	e := startExporter(t, testConfig(dir), clock)
	scroll := filepath.Join(dir, "ws")
	require.NoError(t, lg.logs(e, makeLogs("ws", 3, base, 9)))
	clock.Set(base.Add(2 * time.Minute))
	waitReceipts(t, scroll, 1)

	// Make the ROOT rename fail: a non-empty directory sits where ROOT goes.
	root := filepath.Join(scroll, receipts.RootFile)
	require.NoError(t, os.Remove(root))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "blocker"), 0o755))
	require.NoError(t, lg.logs(e, makeLogs("ws", 4, base.Add(2*time.Minute), 9)))
	clock.Set(base.Add(4 * time.Minute))
	require.Eventually(t, func() bool { return len(readReceipts(t, scroll)) == 2 }, 5*time.Second, 10*time.Millisecond)
	clock.Set(base.Add(5 * time.Minute))
	time.Sleep(300 * time.Millisecond) // several ticks: no retry may append again
	require.Len(t, readReceipts(t, scroll), 2)
	require.NoError(t, e.shutdown(ctx))

	require.NoError(t, os.RemoveAll(root))
	e2 := startExporter(t, testConfig(dir), clock)
	require.NoError(t, e2.shutdown(ctx))
	require.Len(t, readReceipts(t, scroll), 2)
	require.Equal(t, uint64(7), verifyAll(t, dir))
}
