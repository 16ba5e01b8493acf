package main

// Cost of the data policy processors of the shipped configs/gateway.yaml, per span, on requests shaped like
// `make bench`'s (cmd/tfocol-bench: 100 spans in traces of 10, six string attributes each):
//
//	go test -run '^$' -bench BenchmarkPolicy -benchtime 20000x ./distributions/tfocol
//
// cpu-ns/span is the process CPU (user + system, every goroutine: tail_sampling decides on its own ticker)
// per span consumed.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
)

// shippedConf is configs/gateway.yaml resolved as the collector resolves it (env defaults, YAML anchors).
func shippedConf(b testing.TB) *confmap.Conf {
	b.Helper()
	res, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs:              []string{"file:../../configs/gateway.yaml"},
		ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory()},
	})
	if err != nil {
		b.Fatal(err)
	}
	conf, err := res.Resolve(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return conf
}

// shippedProcessorConfig is the factory and the configs/gateway.yaml configuration of processor id.
func shippedProcessorConfig(b testing.TB, id string) (processor.Factory, component.ID, component.Config) {
	b.Helper()
	factories, err := components()
	if err != nil {
		b.Fatal(err)
	}
	var cid component.ID
	if err := cid.UnmarshalText([]byte(id)); err != nil {
		b.Fatal(err)
	}
	f := factories.Processors[cid.Type()]
	cfg := f.CreateDefaultConfig()
	sub, err := shippedConf(b).Sub("processors::" + id)
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.Unmarshal(cfg); err != nil {
		b.Fatal(err)
	}
	return f, cid, cfg
}

// started starts p (failing b if it cannot) and shuts it down when b ends.
func started[P component.Component](b testing.TB, p P, err error) P {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

func shippedProcessor(b testing.TB, id string, next consumer.Traces) processor.Traces {
	b.Helper()
	f, cid, cfg := shippedProcessorConfig(b, id)
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(cid.Type()), cfg, next)
	return started(b, p, err)
}

// benchTraces is one request like cmd/tfocol-bench's genTraces: 100 spans, traces of 10.
func benchTraces(rng *rand.Rand, scanned bool) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	r := rs.Resource().Attributes()
	r.PutStr("service.name", "checkout")
	r.PutStr("host.name", "prod-server-01")
	r.PutStr("tfo.workspace.id", "8c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f")
	r.PutStr("tfo.correlation.id", fmt.Sprintf("%016x", rng.Uint64()))
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
	end := time.Now()
	var tid pcommon.TraceID
	for i := range 100 {
		sp := ss.Spans().AppendEmpty()
		var sid pcommon.SpanID
		for j := range sid {
			sid[j] = byte(rng.Uint32())
		}
		if i%10 == 0 {
			for j := range tid {
				tid[j] = byte(rng.Uint32())
			}
		}
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetName("GET /api/orders")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Duration(1+rng.IntN(200)) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		a := sp.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutStr("http.route", "/api/orders/{id}")
		a.PutInt("http.response.status_code", 200)
		a.PutStr("server.address", "api.internal")
		a.PutInt("server.port", 8080)
		a.PutStr("network.protocol.version", "1.1")
		if scanned {
			a.PutStr("url.full", "https://api.internal/api/orders/4711?expand=items&page=2")
			a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) checkout-client/1.4")
		}
	}
	return td
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func runPolicyBench(b *testing.B, p consumer.Traces, settle time.Duration, scanned bool) {
	rng := rand.New(rand.NewPCG(1, 2))
	reqs := make([]ptrace.Traces, 64)
	for i := range reqs {
		reqs[i] = benchTraces(rng, scanned)
	}
	b.ResetTimer()
	c0 := cpuNow()
	for i := 0; i < b.N; i++ {
		td := ptrace.NewTraces()
		reqs[i%len(reqs)].CopyTo(td)
		if err := p.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(settle)
	b.StopTimer()
	b.ReportMetric(float64(cpuNow()-c0)/float64(b.N*100), "cpu-ns/span")
	b.ReportMetric(float64(b.Elapsed())/float64(b.N*100), "ns/span")
}

// BenchmarkPolicyBaseline is the copy of a request only (subtract it from the others).
func BenchmarkPolicyBaseline(b *testing.B) { runPolicyBench(b, consumertest.NewNop(), 0, false) }

// shippedRedaction is redaction → redaction/pairs_and_pii → redaction_stats, as in the ingest pipelines.
func shippedRedaction(b testing.TB) consumer.Traces {
	stats := shippedProcessor(b, "redaction_stats", consumertest.NewNop())
	return shippedProcessor(b, "redaction", shippedProcessor(b, "redaction/pairs_and_pii", stats))
}

// BenchmarkPolicyRedaction: the redaction processors, as in the ingest pipelines (no match in the data).
func BenchmarkPolicyRedaction(b *testing.B) { runPolicyBench(b, shippedRedaction(b), 0, false) }

// BenchmarkPolicyRedactionScanned: as BenchmarkPolicyRedaction with two more string attributes per span that
// are scanned (url.full, user_agent.original); subtract BenchmarkPolicyBaselineScanned.
func BenchmarkPolicyRedactionScanned(b *testing.B) { runPolicyBench(b, shippedRedaction(b), 0, true) }

// BenchmarkPolicyBaselineScanned is the copy of a request with the two extra attributes.
func BenchmarkPolicyBaselineScanned(b *testing.B) { runPolicyBench(b, consumertest.NewNop(), 0, true) }

// BenchmarkPolicyTailSampling: tail_sampling with a 1 s decision wait, as in traces/forward; the time includes
// deciding every trace (the run waits 2 s after the last request).
func BenchmarkPolicyTailSampling(b *testing.B) {
	b.Setenv("TFOCOL_SAMPLING_DECISION_WAIT", "1s")
	runPolicyBench(b, shippedProcessor(b, "tail_sampling", consumertest.NewNop()), 2*time.Second, false)
}
