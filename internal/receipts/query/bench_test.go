package query

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
)

var yearStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// writeYear writes, for each of n workspaces, a year of hourly log, metric and trace batch receipts plus a
// significant trace every 6 hours and an alert a day. It returns the exporter directory.
func writeYear(tb testing.TB, n int) string {
	tb.Helper()
	dir := tb.TempDir()
	for w := range n {
		ws := fmt.Sprintf("ws-%02d", w)
		var rs []*receipts.Receipt
		for h := range 365 * 24 {
			start := yearStart.Add(time.Duration(h) * time.Hour)
			end := start.Add(time.Hour)
			period := &receipts.Period{Start: receipts.FormatTime(start), End: receipts.FormatTime(end)}
			sealed := receipts.FormatTime(end.Add(time.Minute))
			services := []string{"guardian", "portal", "treasury"}
			nodes := []string{"brick-01", fmt.Sprintf("brick-%02d", 2+h%8)}
			errors := uint64(0)
			if h%24 == 3 {
				errors = uint64(1 + h%5)
			}
			rs = append(rs,
				&receipts.Receipt{Type: receipts.TypeLogBatch, ID: receipts.BatchID("logs", start), Timestamp: sealed, Period: period,
					LogCounts: &receipts.LogCounts{Info: 4000, Warn: 30, Error: errors}, ServicesReporting: services, NodesReporting: nodes,
					StoragePath: receipts.BatchPath("logs", start, time.Hour), LeafCount: 4030 + errors, Tags: []string{"logs", "hourly"}},
				&receipts.Receipt{Type: receipts.TypeMetricSnapshot, ID: receipts.BatchID("metrics", start), Timestamp: sealed, Period: period,
					MetricsCollected: 15000, MetricNames: 120, DataPointTypes: map[string]uint64{"gauge": 9000, "sum": 6000},
					ServicesReporting: services, NodesReporting: nodes, StoragePath: receipts.BatchPath("metrics", start, time.Hour), LeafCount: 15000},
				&receipts.Receipt{Type: receipts.TypeTraceBatch, ID: receipts.BatchID("traces", start), Timestamp: sealed, Period: period,
					SpanCount: 8000, TraceCount: 900, ErrorSpans: errors, ServicesReporting: services, NodesReporting: nodes,
					StoragePath: receipts.BatchPath("traces", start, time.Hour), LeafCount: 8000})
			if h%6 == 0 {
				id := fmt.Sprintf("%032x", h)
				rs = append(rs, &receipts.Receipt{Type: receipts.TypeTraceComplete, ID: "trace-" + id, Timestamp: sealed, TraceID: id,
					Name: "treasury_settlement", DurationMs: int64(1000 + h%9000), Status: "ok", SpanCount: 4,
					EventTime: receipts.FormatTime(start.Add(30 * time.Minute)), ServicesReporting: services[1:],
					StoragePath: receipts.TracePath(id, start), LeafCount: 4})
			}
			if h%24 == 14 {
				at := receipts.FormatTime(start.Add(35 * time.Minute))
				rs = append(rs, &receipts.Receipt{Type: receipts.TypeAlertFired, ID: fmt.Sprintf("alert-%032x", h), Timestamp: at,
					Name: "BackupFailure", Severity: "ERROR", Node: "brick-02", Service: "backup", EventTime: at,
					Record: make([]byte, 600), LeafCount: 1})
			}
		}
		writeLines(tb, filepath.Join(dir, ws), receipts.DefaultOriginPrefix+"/"+ws, ws, rs)
	}
	return dir
}

// writeLines writes receipts as a scroll's receipt log with a real chain, and a ROOT with the given origin
// (its root hash is not computed: query never checks it). Batch files are not written.
func writeLines(tb testing.TB, scroll, origin, workspace string, rs []*receipts.Receipt) {
	tb.Helper()
	require.NoError(tb, os.MkdirAll(filepath.Join(scroll, filepath.Dir(receipts.ReceiptsFile)), 0o755))
	f, err := os.Create(filepath.Join(scroll, receipts.ReceiptsFile))
	require.NoError(tb, err)
	bw := bufio.NewWriterSize(f, 1<<20)
	hash := receipts.FormatHash(make([]byte, 32))
	prev := receipts.ZeroHash
	for i, r := range rs {
		r.Seq, r.PrevHash, r.Workspace = uint64(i), prev, workspace
		r.ContentHash, r.MerkleRoot = hash, hash
		line, err := r.Marshal()
		require.NoError(tb, err)
		_, _ = bw.Write(line)
		_ = bw.WriteByte('\n')
		prev = receipts.LineHash(line)
	}
	require.NoError(tb, bw.Flush())
	require.NoError(tb, f.Close())
	cp := checkpoint.Checkpoint{Origin: origin, Size: uint64(len(rs)), Root: make([]byte, 32)}
	require.NoError(tb, os.WriteFile(filepath.Join(scroll, receipts.RootFile), cp.Body(), 0o644))
}

// BenchmarkQueryYear scans a year of hourly receipts of 10 workspaces (about 270,000 receipt lines) with the
// filters of the seed's examples. Numbers are in docs/receipts-cli.md.
func BenchmarkQueryYear(b *testing.B) {
	dir := writeYear(b, 10)
	scrolls, err := FindScrolls([]string{dir}, "")
	require.NoError(b, err)
	mustExpr := func(src string) *Expr {
		e, err := CompileExpr(src)
		require.NoError(b, err)
		return e
	}
	types := func(ts ...string) []string { return ts }
	for _, c := range []struct {
		name string
		f    Filter
	}{
		{"all", Filter{}},
		{"type", Filter{Types: types(receipts.TypeAlertFired)}},
		{"last7d", Filter{From: yearStart.AddDate(0, 0, 358)}},
		{"node", Filter{Nodes: []string{"brick-05"}}},
		{"expr_log_errors", Filter{Types: types(receipts.TypeLogBatch), Expr: mustExpr(`log_counts.error > 0`)}},
		{"expr_any_type", Filter{Expr: mustExpr(`duration_ms > 5000 || log_counts.error > 3`)}},
		// What correlate --window 15m reads before it opens any batch file.
		{"correlate_15m", Filter{From: yearStart.AddDate(0, 6, 0).Add(-15 * time.Minute), To: yearStart.AddDate(0, 6, 0).Add(15 * time.Minute), Overlap: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				m, err := Scan(scrolls, Options{Filter: c.f})
				require.NoError(b, err)
				n = len(m)
			}
			b.ReportMetric(float64(n), "matches")
		})
	}
}
