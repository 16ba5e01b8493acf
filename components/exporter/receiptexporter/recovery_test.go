package receiptexporter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/receipts"
)

func walFiles(t *testing.T, dir string) []string {
	m, err := filepath.Glob(filepath.Join(dir, walDir, "*.wal"))
	require.NoError(t, err)
	return m
}

func TestTornWALTailIsCutAndAckedRecordsSealed(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	ctx := context.Background()
	e := startExporter(t, testConfig(dir), clock)
	require.NoError(t, e.pushLogs(ctx, makeLogs("ws", 7, base, 9)))
	require.NoError(t, e.pushLogs(ctx, makeLogs("ws", 5, base, 9)))
	require.NoError(t, e.shutdown(ctx))

	// A crash mid-write leaves half a frame at the end of the last segment.
	segs := walFiles(t, dir)
	last := segs[len(segs)-1]
	for _, s := range segs {
		if fi, _ := os.Stat(s); fi.Size() > 0 {
			last = s
		}
	}
	f, err := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 'p', 'a', 'r'})
	require.NoError(t, err)
	require.NoError(t, f.Close())

	clock.Set(base.Add(2 * time.Minute))
	e2 := startExporter(t, testConfig(dir), clock)
	rs := waitReceipts(t, filepath.Join(dir, "ws"), 1)
	require.Equal(t, uint64(12), rs[0].LeafCount)
	aside, _ := filepath.Glob(last + ".torn-*")
	require.Len(t, aside, 1)
	torn, err := os.ReadFile(aside[0])
	require.NoError(t, err)
	require.Len(t, torn, 11)
	require.Equal(t, uint64(12), verifyAll(t, dir))
	require.NoError(t, e2.shutdown(ctx))
}

func TestCrashBetweenSealStepsSealsExactlyOnce(t *testing.T) {
	for _, step := range []string{"after-spool-sync", "after-rename"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			clock := &fakeClock{now: base}
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
			require.NoError(t, e.pushLogs(ctx, makeLogs("ws", 9, base, 9)))
			clock.Set(base.Add(2 * time.Minute))
			<-crashed
			require.NoError(t, e.shutdown(ctx))
			require.Empty(t, readReceipts(t, filepath.Join(dir, "ws")))

			e2 := startExporter(t, testConfig(dir), clock)
			rs := waitReceipts(t, filepath.Join(dir, "ws"), 1)
			require.Equal(t, uint64(9), rs[0].LeafCount)
			require.Equal(t, uint64(9), verifyAll(t, dir))
			require.NoError(t, e2.shutdown(ctx))
			// Another restart seals nothing twice.
			e3 := startExporter(t, testConfig(dir), clock)
			require.NoError(t, e3.shutdown(ctx))
			require.Len(t, readReceipts(t, filepath.Join(dir, "ws")), 1)
		})
	}
}

func TestRootBehindIsRebuiltAndTornReceiptLineCut(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	ctx := context.Background()
	e := startExporter(t, testConfig(dir), clock)
	scroll := filepath.Join(dir, "ws")
	require.NoError(t, e.pushLogs(ctx, makeLogs("ws", 3, base, 9)))
	clock.Set(base.Add(2 * time.Minute))
	waitReceipts(t, scroll, 1)
	oldRoot, err := os.ReadFile(filepath.Join(scroll, receipts.RootFile))
	require.NoError(t, err)
	require.NoError(t, e.pushLogs(ctx, makeLogs("ws", 4, base.Add(2*time.Minute), 9)))
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
	ctx := context.Background()
	e := startExporter(t, testConfig(dir), clock)
	scroll := filepath.Join(dir, "ws")
	require.NoError(t, e.pushLogs(ctx, makeLogs("ws", 3, base, 9)))
	clock.Set(base.Add(2 * time.Minute))
	waitReceipts(t, scroll, 1)
	require.NoError(t, e.pushLogs(ctx, makeLogs("ws", 3, base.Add(2*time.Minute), 9)))
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

// A window sealed after a restart (records re-derived from the WAL) is byte-identical to the same window sealed
// live: same batch files, same Merkle roots.
func TestReplayedWindowsMatchLiveWindows(t *testing.T) {
	ctx := context.Background()
	push := func(e *receiptExporter) {
		require.NoError(t, e.pushLogs(ctx, realisticLogs(50, base)))
		require.NoError(t, e.pushMetrics(ctx, makeMetrics("ws", 7, base)))
		require.NoError(t, e.pushTraces(ctx, makeTrace("ws", 9, base, time.Millisecond, 5, false)))
	}
	sealed := func(dir string) map[string]string {
		out := map[string]string{}
		scrolls, _ := receipts.FindScrolls(dir)
		for _, s := range scrolls {
			lines, _ := receipts.ScrollLines(s)
			for _, l := range lines {
				if r, err := receipts.ParseReceipt(l); err == nil {
					out[filepath.Base(s)+"/"+r.ID] = r.ContentHash + " " + r.MerkleRoot
				}
			}
		}
		return out
	}
	live, replayed := t.TempDir(), t.TempDir()
	clock := &fakeClock{now: base}
	e := startExporter(t, testConfig(live), clock)
	push(e)
	clock.Set(base.Add(2 * time.Minute))
	require.Eventually(t, func() bool { return len(sealed(live)) == 3 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, e.shutdown(ctx))

	clock.Set(base)
	e = startExporter(t, testConfig(replayed), clock)
	push(e)
	require.NoError(t, e.shutdown(ctx))
	clock.Set(base.Add(2 * time.Minute))
	e = startExporter(t, testConfig(replayed), clock)
	require.NoError(t, e.shutdown(ctx))
	require.Equal(t, sealed(live), sealed(replayed))
}

// When ROOT cannot be rewritten the receipt still counts as written: the window is not sealed again, and ROOT
// is rebuilt on restart.
func TestRootWriteFailureDoesNotSealTwice(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	ctx := context.Background()
	e := startExporter(t, testConfig(dir), clock)
	scroll := filepath.Join(dir, "ws")
	require.NoError(t, e.pushLogs(ctx, makeLogs("ws", 3, base, 9)))
	clock.Set(base.Add(2 * time.Minute))
	waitReceipts(t, scroll, 1)

	// Make the ROOT rename fail: a non-empty directory sits where ROOT goes.
	root := filepath.Join(scroll, receipts.RootFile)
	require.NoError(t, os.Remove(root))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "blocker"), 0o755))
	require.NoError(t, e.pushLogs(ctx, makeLogs("ws", 4, base.Add(2*time.Minute), 9)))
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
