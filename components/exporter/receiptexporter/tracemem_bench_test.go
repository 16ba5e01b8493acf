package receiptexporter

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
	"github.com/tfocol/tfocol/internal/receipts/pdataleaves"
)

// benchSpans builds span number round of each of n traces, shaped like SDK output (~350-byte leaves).
func benchSpans(n, round int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	a := rs.Resource().Attributes()
	a.PutStr("tfo.workspace.id", "0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11")
	a.PutStr("service.name", "treasury-engine")
	a.PutStr("service.version", "1.42.0")
	a.PutStr("host.name", "brick-01")
	a.PutStr("k8s.pod.name", "treasury-engine-7d9f8c6b5-x2x9q")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
	for i := 0; i < n; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), byte(i >> 16), 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		sp.SetSpanID(pcommon.SpanID{byte(round + 1), byte(i), byte(i >> 8), 4, 5, 6, 7, 8})
		if round > 0 {
			sp.SetParentSpanID(pcommon.SpanID{1, byte(i), byte(i >> 8), 4, 5, 6, 7, 8})
		}
		sp.SetName(fmt.Sprintf("POST /v1/settlements/%d", round))
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(150 * time.Millisecond)))
		sp.Attributes().PutStr("http.request.method", "POST")
		sp.Attributes().PutStr("url.path", "/v1/settlements")
		sp.Attributes().PutInt("http.response.status_code", 200)
		sp.Attributes().PutStr("settlement_id", fmt.Sprintf("settle-2025-12-06-%06d", i))
	}
	return td
}

// feedRound applies one span of every trace, as the engine loop does for a delivered call. Its temporaries die
// with its frame, so only what the engine keeps is live afterwards.
func feedRound(tb testing.TB, eng *engine, hk holdKey, traces, round int) {
	var recs []receipts.Record
	if err := pdataleaves.EncodeTraces(benchSpans(traces, round), "tfo.workspace.id", func(r receipts.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	for _, r := range recs {
		if err := eng.apply(receipts.SignalTraces, r, hk, base.UnixNano()+int64(round)); err != nil {
			tb.Fatal(err)
		}
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkOpenTraceMemory feeds 100k spans of 10k open traces (10 spans each, interleaved as concurrent
// requests deliver them) through the engine and reports the heap it retains per open span: B/open-span for the
// whole engine (trace tracking and the open traces window's per-span leaf hash and trace ids), trace-B/open-span
// for the trace tracking alone (measured again after dropping the window).
func BenchmarkOpenTraceMemory(b *testing.B) {
	const traces, perTrace = 10000, 10
	var total, tracking float64
	for i := 0; i < b.N; i++ {
		cfg := testConfig(b.TempDir())
		cfg.Interval = time.Hour
		eng, err := newEngine(cfg, zap.NewNop(), mustTel(b), func() time.Time { return base })
		if err != nil {
			b.Fatal(err)
		}
		if err := eng.open(); err != nil {
			b.Fatal(err)
		}
		hk := holdKey{stream: newFakeStream(&fakeClock{now: base}), seq: 1}
		before := heapAlloc()
		for round := 0; round < perTrace; round++ {
			feedRound(b, eng, hk, traces, round)
		}
		all := heapAlloc()
		if len(eng.traces) != traces || len(eng.windows) != 1 {
			b.Fatalf("%d open traces, %d windows", len(eng.traces), len(eng.windows))
		}
		for _, w := range eng.windows {
			eng.dropWindow(w)
		}
		onlyTraces := heapAlloc()
		total += (float64(all) - float64(before)) / (traces * perTrace)
		tracking += (float64(onlyTraces) - float64(before)) / (traces * perTrace)
		runtime.KeepAlive(eng)
		_ = eng.close()
	}
	b.ReportMetric(total/float64(b.N), "B/open-span")
	b.ReportMetric(tracking/float64(b.N), "trace-B/open-span")
}

// BenchmarkEntryMemory delivers 200k one-record entries into one open window and reports the heap the engine
// keeps per entry besides the record's (the window holds only its oldest entry; call fingerprints are kept for
// the latest appliedEntries entries). Holding every entry instead cost ~170 B/entry.
func BenchmarkEntryMemory(b *testing.B) {
	const entries = 200000
	var per float64
	for i := 0; i < b.N; i++ {
		cfg := testConfig(b.TempDir())
		cfg.Interval = time.Hour
		eng, err := newEngine(cfg, zap.NewNop(), mustTel(b), func() time.Time { return base })
		if err != nil {
			b.Fatal(err)
		}
		if err := eng.open(); err != nil {
			b.Fatal(err)
		}
		var recs []receipts.Record
		if err := pdataleaves.EncodeLogs(makeLogs("ws", 1, base, 9), "tfo.workspace.id", func(r receipts.Record) error {
			r.LeafHash = merkle.BLAKE3.HashLeaf(r.Leaf)
			recs = append(recs, r)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		stream := &nopStream{}
		before := heapAlloc()
		for seq := uint64(1); seq <= entries; seq++ {
			r := &request{signal: receipts.SignalLogs, records: recs,
				delivery: durablelog.Delivery{Seq: seq, Arrival: base.UnixNano(), Stream: stream}}
			if err := eng.ingest(r); err != nil {
				b.Fatal(err)
			}
		}
		after := heapAlloc()
		if len(eng.holds) != 1 {
			b.Fatalf("%d holds", len(eng.holds))
		}
		per += (float64(after) - float64(before)) / entries
		runtime.KeepAlive(eng)
		_ = eng.close()
	}
	b.ReportMetric(per/float64(b.N), "B/entry")
}

// nopStream holds nothing itself, so only the engine's memory is measured.
type nopStream struct{}

func (*nopStream) Hold(uint64) func()   { return func() {} }
func (*nopStream) Watermark() time.Time { return base }
