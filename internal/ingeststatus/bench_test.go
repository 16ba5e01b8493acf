package ingeststatus

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/internal/durablelog/loghost"
)

// BenchmarkCountTracesEntry is the status's cost per durable log entry: decoding a 100-span request and counting it.
func BenchmarkCountTracesEntry(b *testing.B) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(AttrWorkspace, wsA)
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	for range 100 {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("GET /cart")
		sp.Attributes().PutStr("http.request.method", "GET")
		sp.Attributes().PutInt("http.response.status_code", 200)
	}
	raw, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		b.Fatal(err)
	}
	c := newClock()
	tl := NewTally(testLimits, c.now)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s, err := Summarize(loghost.SignalTraces, raw)
		if err != nil {
			b.Fatal(err)
		}
		tl.Apply(uint64(i), c.t, s)
	}
}
