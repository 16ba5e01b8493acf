package receiptexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
	"github.com/tfocol/tfocol/internal/receipts/pdataleaves"
)

// leavesOf encodes requests as the exporter does; the leaves of one trace, in arrival order, are what the old
// in-memory tracking sealed.
func leavesOf(t *testing.T, tds ...ptrace.Traces) [][]byte {
	t.Helper()
	var out [][]byte
	for _, td := range tds {
		require.NoError(t, pdataleaves.EncodeTraces(td, "tfo.workspace.id", func(r receipts.Record) error {
			out = append(out, r.Leaf)
			return nil
		}))
	}
	return out
}

// traceFile is a sealed trace file's expected content: its leaves as length-prefixed records.
func traceFile(leaves [][]byte) []byte {
	var b []byte
	for _, l := range leaves {
		b = receipts.AppendRecord(b, l)
	}
	return b
}

func traceSpoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, spoolDir, traceSpoolPrefix+"*.spool"))
	require.NoError(t, err)
	return m
}

// requireSealedTrace checks the receipt of a sealed trace and that its file holds exactly leaves.
func requireSealedTrace(t *testing.T, scroll string, r *receipts.Receipt, id string, leaves [][]byte) {
	t.Helper()
	require.Equal(t, receipts.TypeTraceComplete, r.Type)
	require.Equal(t, id, r.ID)
	require.Equal(t, uint64(len(leaves)), r.SpanCount)
	got, err := os.ReadFile(filepath.Join(scroll, filepath.FromSlash(r.StoragePath)))
	require.NoError(t, err)
	require.Equal(t, traceFile(leaves), got)
	require.Equal(t, receipts.FormatHash(merkle.Root(merkle.BLAKE3, receipts.LeafHashes(leaves))), r.MerkleRoot)
}

func withTraceSpoolRotate(n int64) func(*engine) {
	return func(en *engine) { en.traceSpoolRotate = n }
}

// Spans of a significant trace interleaved with other traces, written across trace spool rotations, are sealed
// with exactly their leaves in arrival order; the spool files of completed traces are deleted.
func TestSignificantTraceAcrossTraceSpoolRotation(t *testing.T) {
	a1 := makeTrace("ws", 1, base, 100*time.Millisecond, 3, true)
	b := makeTrace("ws", 2, base, 10*time.Millisecond, 4, false)
	a2 := makeTrace("ws", 1, base, 100*time.Millisecond, 2, false)
	c := makeTrace("ws", 3, base, 7*time.Second, 2, false)
	a3 := makeTrace("ws", 1, base.Add(time.Second), 100*time.Millisecond, 1, false)
	leafA := len(leavesOf(t, a1)[0])
	for _, rotate := range []int64{1, int64(2 * leafA), defaultTraceSpoolRotate} {
		t.Run(fmt.Sprint(rotate), func(t *testing.T) {
			dir := t.TempDir()
			clock := &fakeClock{now: base.Add(time.Second)}
			lg := newTestLog(clock)
			e := startExporter(t, testConfig(dir), clock, withTraceSpoolRotate(rotate))
			ctx := context.Background()
			for _, td := range []ptrace.Traces{a1, b, a2, c, a3} {
				require.NoError(t, lg.traces(e, td))
			}
			if rotate == 1 {
				// One leaf per file: 12 spans, all still open.
				require.Len(t, traceSpoolFiles(t, dir), 12)
			}
			clock.Set(base.Add(4 * time.Second))
			scroll := filepath.Join(dir, "ws")
			rs := waitReceipts(t, scroll, 2)
			requireSealedTrace(t, scroll, rs[0], "trace-01010203000000000000000000000000", leavesOf(t, a1, a2, a3))
			require.Equal(t, "error", rs[0].Status)
			require.Equal(t, "op-0", rs[0].Name)
			require.Equal(t, []string{"portal"}, rs[0].ServicesReporting)
			requireSealedTrace(t, scroll, rs[1], "trace-03010203000000000000000000000000", leavesOf(t, c))
			require.NoError(t, e.shutdown(ctx))
			// All traces are complete: only the current file (nothing points into it) may be left.
			require.LessOrEqual(t, len(traceSpoolFiles(t, dir)), 1)
			require.Equal(t, uint64(6+2), verifyAll(t, dir))
		})
	}
}

// A long-lived trace cannot pin a spool file whose other traces are complete: on the next rotation its spans
// move to the current file and the old file is deleted; the trace is still sealed with its spans in order.
func TestTraceSpoolCompactsFilesPinnedByLongLivedTraces(t *testing.T) {
	a1 := makeTrace("ws", 1, base, 6*time.Second, 1, false) // slow: significant
	b := makeTrace("ws", 2, base, 10*time.Millisecond, 7, true)
	a2 := makeTrace("ws", 1, base, 6*time.Second, 1, false)
	c := makeTrace("ws", 3, base, 10*time.Millisecond, 20, false)
	var first int64
	for _, l := range leavesOf(t, a1, b) {
		first += int64(len(l))
	}
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	// The first file holds exactly a1 and b.
	e := startExporter(t, testConfig(dir), clock, withTraceSpoolRotate(first))
	ctx := context.Background()
	require.NoError(t, lg.traces(e, a1))
	require.NoError(t, lg.traces(e, b))
	clock.Set(base.Add(2500 * time.Millisecond))
	require.NoError(t, lg.traces(e, a2)) // starts file 2; keeps trace 1 open
	first1 := filepath.Join(dir, spoolDir, traceSpoolPrefix+"1.spool")
	require.FileExists(t, first1)

	clock.Set(base.Add(3500 * time.Millisecond))
	scroll := filepath.Join(dir, "ws")
	rs := waitReceipts(t, scroll, 1) // trace 2 is idle and sealed; file 1 now holds only a1's span
	requireSealedTrace(t, scroll, rs[0], "trace-02010203000000000000000000000000", leavesOf(t, b))
	require.FileExists(t, first1)

	require.NoError(t, lg.traces(e, c)) // fills file 2 and rolls: file 1 is compacted away
	require.NoFileExists(t, first1)

	clock.Set(base.Add(6 * time.Second))
	rs = waitReceipts(t, scroll, 2)
	requireSealedTrace(t, scroll, rs[1], "trace-01010203000000000000000000000000", leavesOf(t, a1, a2))
	require.NoError(t, e.shutdown(ctx))
	require.LessOrEqual(t, len(traceSpoolFiles(t, dir)), 1)
}

// A significant trace open when the exporter stops is rebuilt at start from the entries the receiver delivers
// again (leftover trace spool files are removed first) and sealed with all its spans, including those that
// arrive after the restart.
func TestOpenTraceSurvivesRestart(t *testing.T) {
	a1 := makeTrace("ws", 1, base, 100*time.Millisecond, 2, true)
	b := makeTrace("ws", 2, base, 10*time.Millisecond, 3, false)
	a2 := makeTrace("ws", 1, base, 100*time.Millisecond, 3, false)
	a3 := makeTrace("ws", 1, base.Add(time.Second), 100*time.Millisecond, 1, false)
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	ctx := context.Background()
	e := startExporter(t, testConfig(dir), clock, withTraceSpoolRotate(1))
	for _, td := range []ptrace.Traces{a1, b, a2} {
		require.NoError(t, lg.traces(e, td))
	}
	require.NoError(t, e.shutdown(ctx))
	scroll := filepath.Join(dir, "ws")
	require.Empty(t, readReceipts(t, scroll))
	require.Len(t, traceSpoolFiles(t, dir), 8)
	stale := filepath.Join(dir, spoolDir, traceSpoolPrefix+"99.spool")
	require.NoError(t, os.WriteFile(stale, []byte("stale"), 0o644))
	from := lg.resume()
	require.Equal(t, uint64(1), from)

	lg.restart()
	e = startExporter(t, testConfig(dir), clock, withTraceSpoolRotate(1))
	require.NoFileExists(t, stale)
	require.NoError(t, lg.redeliver(e, from))
	clock.Set(base.Add(2 * time.Second))
	require.NoError(t, lg.traces(e, a3))
	clock.Set(base.Add(5 * time.Second))
	rs := waitReceipts(t, scroll, 1)
	requireSealedTrace(t, scroll, rs[0], "trace-01010203000000000000000000000000", leavesOf(t, a1, a2, a3))
	require.Equal(t, "error", rs[0].Status)
	require.Equal(t, uint64(1), rs[0].ErrorSpans)
	require.NoError(t, e.shutdown(ctx))

	// The spans are in the window batch once, whether they arrived before or after the restart.
	from = lg.resume()
	lg.restart()
	clock.Set(base.Add(2 * time.Minute))
	e = startExporter(t, testConfig(dir), clock)
	require.NoError(t, lg.redeliver(e, from))
	rs = waitReceipts(t, scroll, 2)
	require.Equal(t, receipts.TypeTraceBatch, rs[1].Type)
	require.Equal(t, uint64(2+3+3+1), rs[1].SpanCount)
	require.NoError(t, e.shutdown(ctx))
	verifyAll(t, dir)
}

// With trace_max_open 2, opening a third trace completes the one whose last span arrived longest ago, sealed if
// significant, and a warning counts them.
func TestTraceMaxOpenCompletesOldestTrace(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	cfg := testConfig(dir)
	cfg.TraceMaxOpen = 2
	core, logs := observer.New(zapcore.WarnLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	e := newReceiptExporter(cfg, set)
	e.now = clock.Now
	maxOpen := 0
	require.NoError(t, e.startWith(context.Background(), componenttest.NewNopHost(), func(en *engine) {
		// Runs on the engine loop: sees the open traces left by the previous commit.
		en.beforeCommit = func() { maxOpen = max(maxOpen, len(en.traces)) }
	}))
	eng := e.eng.Load()
	ctx := context.Background()
	scroll := filepath.Join(dir, "ws")
	push := func(at time.Duration, td ptrace.Traces) {
		t.Helper()
		clock.Set(base.Add(at))
		require.NoError(t, lg.traces(e, td))
	}
	t1 := makeTrace("ws", 1, base, 10*time.Millisecond, 2, true) // error
	t2 := makeTrace("ws", 2, base, 10*time.Millisecond, 1, true) // error
	t3 := makeTrace("ws", 3, base, 6*time.Second, 1, false)      // slow
	t4 := makeTrace("ws", 4, base, 10*time.Millisecond, 1, false)
	push(1000*time.Millisecond, t1)
	push(1100*time.Millisecond, t2)
	require.Empty(t, readReceipts(t, scroll))
	push(1200*time.Millisecond, t3) // trace 1 is the oldest: sealed now, long before trace_idle
	rs := readReceipts(t, scroll)
	require.Len(t, rs, 1)
	requireSealedTrace(t, scroll, rs[0], "trace-01010203000000000000000000000000", leavesOf(t, t1))
	push(1300*time.Millisecond, t2) // trace 2 is now newer than trace 3
	push(1400*time.Millisecond, t4) // so trace 3 goes
	rs = readReceipts(t, scroll)
	require.Len(t, rs, 2)
	requireSealedTrace(t, scroll, rs[1], "trace-03010203000000000000000000000000", leavesOf(t, t3))

	// Trace 2 completes when idle, with both its spans; trace 4 is not significant.
	clock.Set(base.Add(4 * time.Second))
	rs = waitReceipts(t, scroll, 3)
	requireSealedTrace(t, scroll, rs[2], "trace-02010203000000000000000000000000", leavesOf(t, t2, t2))
	// The warning is aggregated, at most one a minute (a tick may have come between the two evictions).
	clock.Set(base.Add(62 * time.Second))
	require.Eventually(t, func() bool {
		var n int64
		for _, l := range logs.FilterMessageSnippet("trace_max_open").All() {
			n += l.ContextMap()["traces"].(int64)
		}
		return n == 2
	}, 5*time.Second, 10*time.Millisecond)
	require.LessOrEqual(t, logs.FilterMessageSnippet("trace_max_open").Len(), 2)
	// Operators see the same count as a metric.
	m, err := tel.GetMetric("tfocol_receipt_traces_completed_early")
	require.NoError(t, err)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok)
	require.Len(t, sum.DataPoints, 1)
	require.EqualValues(t, 2, sum.DataPoints[0].Value)
	require.NoError(t, e.shutdown(ctx))
	require.LessOrEqual(t, maxOpen, 2)
	require.Empty(t, eng.traces)
	verifyAll(t, dir)
}
