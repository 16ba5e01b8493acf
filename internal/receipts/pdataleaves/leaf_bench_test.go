package pdataleaves

import (
	"github.com/tfocol/tfocol/internal/receipts"

	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var benchTS = pcommon.NewTimestampFromTime(time.Date(2025, 12, 6, 14, 0, 0, 0, time.UTC))

func benchResource(res pcommon.Resource) {
	a := res.Attributes()
	a.PutStr(testWSAttr, "0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11")
	a.PutStr("service.name", "treasury-engine")
	a.PutStr("service.version", "1.42.0")
	a.PutStr("host.name", "brick-01")
	a.PutStr("k8s.pod.name", "treasury-engine-7d9f8c6b5-x2x9q")
}

// benchLogs is n SDK-shaped log records (~300-byte leaves) under one resource and scope.
func benchLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	benchResource(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("go.opentelemetry.io/contrib/bridges/otelslog")
	for i := 0; i < n; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(benchTS)
		lr.SetObservedTimestamp(benchTS)
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr(fmt.Sprintf("settlement settle-2025-12-06-%06d completed for 3 accounts in 150ms", i))
		lr.Attributes().PutStr("settlement_id", fmt.Sprintf("settle-%d", i))
		lr.Attributes().PutInt("accounts_involved", 3)
		lr.SetTraceID(pcommon.TraceID{byte(i), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		lr.SetSpanID(pcommon.SpanID{byte(i), 2, 3, 4, 5, 6, 7, 8})
	}
	return ld
}

// benchTraces is n spans of n/10 traces (interleaved, as in a batched request) under one resource and scope.
func benchTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	benchResource(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
	ss.Scope().SetVersion("0.60.0")
	for i := 0; i < n; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{byte(i % (n/10 + 1)), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		sp.SetSpanID(pcommon.SpanID{byte(i), 2, 3, 4, 5, 6, 7, 8})
		sp.SetParentSpanID(pcommon.SpanID{byte(i - 1), 2, 3, 4, 5, 6, 7, 8})
		sp.SetName("POST /v1/settlements")
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(benchTS)
		sp.SetEndTimestamp(benchTS + 150e6)
		a := sp.Attributes()
		a.PutStr("http.request.method", "POST")
		a.PutStr("url.path", "/v1/settlements")
		a.PutInt("http.response.status_code", 200)
		a.PutStr("settlement_id", fmt.Sprintf("settle-%d", i))
		ev := sp.Events().AppendEmpty()
		ev.SetName("ledger.commit")
		ev.SetTimestamp(benchTS + 100e6)
		sp.Status().SetCode(ptrace.StatusCodeOk)
	}
	return td
}

// benchMetrics is 100 data points: 10 gauges, 10 sums, 5 histograms (with exemplars), 3 exponential histograms
// and 2 summaries, each with some points.
func benchMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	benchResource(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("go.opentelemetry.io/otel/sdk/metric")
	attrs := func(m pcommon.Map, i int) {
		m.PutStr("account", fmt.Sprintf("acct-%d", i))
		m.PutStr("currency", "EUR")
	}
	for i := 0; i < 10; i++ {
		m := sm.Metrics().AppendEmpty()
		m.SetName(fmt.Sprintf("treasury.balance.%d", i))
		m.SetUnit("{EUR}")
		m.SetDescription("balance per account")
		g := m.SetEmptyGauge()
		for j := 0; j < 3; j++ {
			p := g.DataPoints().AppendEmpty()
			p.SetTimestamp(benchTS)
			p.SetDoubleValue(float64(i*j) + 0.5)
			attrs(p.Attributes(), j)
		}
		m = sm.Metrics().AppendEmpty()
		m.SetName(fmt.Sprintf("treasury.settlements.%d", i))
		s := m.SetEmptySum()
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		s.SetIsMonotonic(true)
		for j := 0; j < 4; j++ {
			p := s.DataPoints().AppendEmpty()
			p.SetStartTimestamp(benchTS - 60e9)
			p.SetTimestamp(benchTS)
			p.SetIntValue(int64(i * j))
			attrs(p.Attributes(), j)
		}
	}
	for i := 0; i < 5; i++ {
		m := sm.Metrics().AppendEmpty()
		m.SetName(fmt.Sprintf("http.server.request.duration.%d", i))
		m.SetUnit("s")
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		for j := 0; j < 4; j++ {
			p := h.DataPoints().AppendEmpty()
			p.SetStartTimestamp(benchTS - 60e9)
			p.SetTimestamp(benchTS)
			p.SetCount(42)
			p.SetSum(3.5)
			p.SetMin(0.01)
			p.SetMax(0.9)
			p.ExplicitBounds().FromRaw([]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1})
			p.BucketCounts().FromRaw([]uint64{1, 2, 3, 4, 5, 6, 7, 8, 6})
			attrs(p.Attributes(), j)
			e := p.Exemplars().AppendEmpty()
			e.SetTimestamp(benchTS)
			e.SetDoubleValue(0.3)
			e.SetTraceID(pcommon.TraceID{1, 2, 3})
			e.SetSpanID(pcommon.SpanID{4, 5, 6})
		}
	}
	for i := 0; i < 3; i++ {
		m := sm.Metrics().AppendEmpty()
		m.SetName(fmt.Sprintf("rpc.duration.%d", i))
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		for j := 0; j < 2; j++ {
			p := h.DataPoints().AppendEmpty()
			p.SetTimestamp(benchTS)
			p.SetCount(20)
			p.SetScale(3)
			p.Positive().SetOffset(-2)
			p.Positive().BucketCounts().FromRaw([]uint64{1, 4, 6, 4, 1})
			attrs(p.Attributes(), j)
		}
	}
	for i := 0; i < 2; i++ {
		m := sm.Metrics().AppendEmpty()
		m.SetName(fmt.Sprintf("gc.pause.%d", i))
		s := m.SetEmptySummary()
		for j := 0; j < 2; j++ {
			p := s.DataPoints().AppendEmpty()
			p.SetTimestamp(benchTS)
			p.SetCount(10)
			p.SetSum(0.2)
			for _, q := range []float64{0.5, 0.9, 0.99} {
				v := p.QuantileValues().AppendEmpty()
				v.SetQuantile(q)
				v.SetValue(q / 10)
			}
		}
	}
	return md
}

func discard(receipts.Record) error { return nil }

// BenchmarkLeaves compares the reference leaves (copy + marshal per record) with leaves cut from the request
// bytes the exporter already has (wire), and with EncodeX (marshal the request once, then cut).
func BenchmarkLeaves(b *testing.B) {
	ld := benchLogs(100)
	lraw, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	td := benchTraces(100)
	traw, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	md := benchMetrics()
	mraw, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	if md.DataPointCount() != 100 {
		b.Fatalf("%d points", md.DataPointCount())
	}
	cases := []struct {
		name string
		fn   func() error
	}{
		{"logs100/reference", func() error { return refEncodeLogs(ld, testWSAttr, discard) }},
		{"logs100/wire", func() error { return EncodeLogsWire(ld, lraw, testWSAttr, discard) }},
		{"logs100/marshal+wire", func() error { return EncodeLogs(ld, testWSAttr, discard) }},
		{"traces100/reference", func() error { return refEncodeTraces(td, testWSAttr, discard) }},
		{"traces100/wire", func() error { return EncodeTracesWire(td, traw, testWSAttr, discard) }},
		{"traces100/marshal+wire", func() error { return EncodeTraces(td, testWSAttr, discard) }},
		{"metrics100/reference", func() error { return refEncodeMetrics(md, testWSAttr, discard) }},
		{"metrics100/wire", func() error { return EncodeMetricsWire(md, mraw, testWSAttr, discard) }},
		{"metrics100/marshal+wire", func() error { return EncodeMetrics(md, testWSAttr, discard) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestBenchRequestsMatchReference(t *testing.T) {
	if d := checkLogs(benchLogs(100)); d != "" {
		t.Fatal(d)
	}
	if d := checkTraces(benchTraces(100)); d != "" {
		t.Fatal(d)
	}
	if d := checkMetrics(benchMetrics()); d != "" {
		t.Fatal(d)
	}
}
