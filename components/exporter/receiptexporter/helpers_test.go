package receiptexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// base is a window start used throughout the tests.
var base = time.Date(2025, 12, 6, 14, 0, 0, 0, time.UTC)

func testConfig(dir string) *Config {
	cfg := createDefaultConfig()
	cfg.Directory = dir
	cfg.Interval = time.Minute
	cfg.Grace = 5 * time.Second
	cfg.TraceIdle = 2 * time.Second
	cfg.TraceLinger = 0 // tests of lingering traces set it
	return cfg
}

func startExporter(t *testing.T, cfg *Config, clock *fakeClock, hooks ...func(*engine)) *receiptExporter {
	t.Helper()
	e := newReceiptExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	e.now = clock.Now
	require.NoError(t, e.startWith(context.Background(), componenttest.NewNopHost(), hooks...))
	return e
}

func makeLogs(ws string, n int, ts time.Time, sev plog.SeverityNumber) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	if ws != "" {
		rl.Resource().Attributes().PutStr("tfo.workspace.id", ws)
	}
	rl.Resource().Attributes().PutStr("service.name", "guardian")
	rl.Resource().Attributes().PutStr("host.name", "brick-01")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("test")
	for i := 0; i < n; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Duration(i) * time.Millisecond)))
		lr.SetSeverityNumber(sev)
		lr.Body().SetStr(fmt.Sprintf("anchor cycle %d completed", i))
		lr.Attributes().PutInt("i", int64(i))
	}
	return ld
}

func makeMetrics(ws string, points int, ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("tfo.workspace.id", ws)
	rm.Resource().Attributes().PutStr("host.name", "brick-02")
	sm := rm.ScopeMetrics().AppendEmpty()
	g := sm.Metrics().AppendEmpty()
	g.SetName("cpu_percent")
	g.SetEmptyGauge()
	for i := 0; i < points; i++ {
		dp := g.Gauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetDoubleValue(float64(i))
	}
	s := sm.Metrics().AppendEmpty()
	s.SetName("requests")
	sum := s.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := sum.DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	dp.SetIntValue(42)
	return md
}

func makeTrace(ws string, traceID byte, start time.Time, dur time.Duration, spans int, errSpan bool) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("tfo.workspace.id", ws)
	rs.Resource().Attributes().PutStr("service.name", "portal")
	ss := rs.ScopeSpans().AppendEmpty()
	tid := pcommon.TraceID{traceID, 1, 2, 3}
	for i := 0; i < spans; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		if i > 0 {
			sp.SetParentSpanID(pcommon.SpanID{1})
		}
		sp.SetName(fmt.Sprintf("op-%d", i))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(dur)))
		if errSpan && i == spans-1 {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return td
}

// readReceipts parses a scroll's receipt log.
func readReceipts(t *testing.T, dir string) []*receipts.Receipt {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, receipts.ReceiptsFile))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	// Tests poll while the exporter may be appending: a line not yet complete is not read (a torn line left
	// behind is caught by verifyAll, which verifies the scroll as the CLI does).
	lines, _ := receipts.SplitLines(data)
	var out []*receipts.Receipt
	for _, l := range lines {
		r, err := receipts.ParseReceipt(l)
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

// receiptsOfType are the receipts of type typ in a scroll's receipt log, in order.
func receiptsOfType(t *testing.T, dir, typ string) []*receipts.Receipt {
	t.Helper()
	var out []*receipts.Receipt
	for _, r := range readReceipts(t, dir) {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// waitReceipts polls until the scroll holds n receipts.
func waitReceipts(t *testing.T, dir string, n int) []*receipts.Receipt {
	t.Helper()
	var rs []*receipts.Receipt
	require.Eventually(t, func() bool {
		rs = readReceipts(t, dir)
		if len(rs) < n {
			return false
		}
		// ROOT is rewritten right after the receipt line; wait for it too.
		raw, err := os.ReadFile(filepath.Join(dir, receipts.RootFile))
		if err != nil {
			return false
		}
		cp, err := checkpoint.Parse(raw, nil)
		return err == nil && cp.Size == uint64(len(rs))
	}, 10*time.Second, 10*time.Millisecond, "waiting for %d receipts in %s", n, dir)
	require.Len(t, rs, n)
	return rs
}

func verifyAll(t *testing.T, dir string) uint64 {
	t.Helper()
	scrolls, err := receipts.FindScrolls(dir)
	require.NoError(t, err)
	var records uint64
	for _, s := range scrolls {
		rep, err := receipts.VerifyScroll(s, receipts.VerifyOptions{})
		require.NoError(t, err, s)
		records += rep.Records
	}
	return records
}

func exporterSettings() exporter.Settings { return exportertest.NewNopSettings(metadata.Type) }

func mustTel(tb testing.TB) *metadata.TelemetryBuilder {
	tel, err := metadata.NewTelemetryBuilder(componenttest.NewNopTelemetrySettings())
	if err != nil {
		tb.Fatal(err)
	}
	return tel
}
