package timeline

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/pdataleaves"
	"github.com/tfocol/tfocol/internal/receipts/query"
)

// busyHour seals one hour of a busy workspace: n log records (one in ten ERROR) and n gauge points over 100
// series, spread evenly over the hour.
func busyHour(b *testing.B, start time.Time, n int) string {
	dir := b.TempDir()
	s, _, err := receipts.OpenScroll(filepath.Join(dir, "ws-1"), receipts.DefaultOriginPrefix+"/ws-1", nil)
	require.NoError(b, err)
	period := &receipts.Period{Start: receipts.FormatTime(start), End: receipts.FormatTime(start.Add(time.Hour))}
	at := func(i int) pcommon.Timestamp {
		return pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Hour / time.Duration(n)))
	}
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "guardian")
	rl.Resource().Attributes().PutStr("host.name", "brick-01")
	sl := rl.ScopeLogs().AppendEmpty()
	counts := receipts.LogCounts{}
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(at(i))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		if i%10 == 0 {
			lr.SetSeverityNumber(plog.SeverityNumberError)
		}
		counts.Add(int32(lr.SeverityNumber()))
		lr.Body().SetStr(fmt.Sprintf("request %d handled", i))
	}
	var logs [][]byte
	require.NoError(b, pdataleaves.EncodeLogs(ld, "tfo.workspace.id", func(r receipts.Record) error { logs = append(logs, r.Leaf); return nil }))
	require.NoError(b, s.SealFile(receipts.BatchPath("logs", start, time.Hour), logs, &receipts.Receipt{Type: receipts.TypeLogBatch,
		ID: receipts.BatchID("logs", start), Timestamp: period.End, Workspace: "ws-1", Period: period, LogCounts: &counts}))
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", "brick-01")
	sm := rm.ScopeMetrics().AppendEmpty()
	for series := range 100 {
		m := sm.Metrics().AppendEmpty()
		m.SetName(fmt.Sprintf("metric_%02d", series))
		g := m.SetEmptyGauge()
		for i := series; i < n; i += 100 {
			dp := g.DataPoints().AppendEmpty()
			dp.SetTimestamp(at(i))
			dp.SetDoubleValue(float64(i % 997))
		}
	}
	var points [][]byte
	require.NoError(b, pdataleaves.EncodeMetrics(md, "tfo.workspace.id", func(r receipts.Record) error { points = append(points, r.Leaf); return nil }))
	require.NoError(b, s.SealFile(receipts.BatchPath("metrics", start, time.Hour), points, &receipts.Receipt{Type: receipts.TypeMetricSnapshot,
		ID: receipts.BatchID("metrics", start), Timestamp: period.End, Workspace: "ws-1", Period: period, MetricsCollected: uint64(len(points)), MetricNames: 100}))
	return dir
}

// BenchmarkCorrelateBusyHour builds the ±15m timeline inside an hour of 100,000 log records and 100,000 metric
// points: both batch files are read and every record decoded. Numbers are in docs/receipts-cli.md.
func BenchmarkCorrelateBusyHour(b *testing.B) {
	start := time.Date(2025, 12, 6, 14, 0, 0, 0, time.UTC)
	dir := busyHour(b, start, 100_000)
	scrolls, err := query.FindScrolls([]string{dir}, "")
	require.NoError(b, err)
	from, to := start.Add(15*time.Minute), start.Add(45*time.Minute)
	var n int
	for b.Loop() {
		matches, err := query.Scan(scrolls, query.Options{Filter: query.Filter{From: from, To: to, Overlap: true}})
		require.NoError(b, err)
		events, err := Build(matches, Options{From: from, To: to})
		require.NoError(b, err)
		n = len(events)
	}
	b.ReportMetric(float64(n), "events")
}
