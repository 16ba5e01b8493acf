package main

// Cost of the shipped redaction on logs requests shaped like `make bench`'s (cmd/tfocol-bench genLogs: 100
// records, 20 % TelemetryFlow events with map bodies, the rest application logs with a key=value body):
//
//	go test -run '^$' -bench BenchmarkPolicyLogs -benchtime 20000x ./distributions/tfocol

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
)

func shippedLogsProcessor(b testing.TB, id string, next consumer.Logs) processor.Logs {
	b.Helper()
	f, cid, cfg := shippedProcessorConfig(b, id)
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(cid.Type()), cfg, next)
	return started(b, p, err)
}

// shippedLogsRedaction is the logs pipeline's redaction processors in their configured order.
func shippedLogsRedaction(b testing.TB) consumer.Logs {
	b.Helper()
	ids := shippedPipelineProcessors(b, "logs")
	var next consumer.Logs = consumertest.NewNop()
	for i := len(ids) - 1; i >= 0; i-- {
		if strings.HasPrefix(ids[i], "redaction") {
			next = shippedLogsProcessor(b, ids[i], next)
		}
	}
	return next
}

func shippedPipelineProcessors(b testing.TB, pipeline string) []string {
	b.Helper()
	list, _ := shippedConf(b).Get("service::pipelines::" + pipeline + "::processors").([]any)
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = v.(string)
	}
	return out
}

func benchLogs(b testing.TB, rng *rand.Rand, events []eventtest.Fixture) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "tfo-agent")
	rl.Resource().Attributes().PutStr("host.name", "prod-server-01")
	sl := rl.ScopeLogs().AppendEmpty()
	for range 20 {
		lr := sl.LogRecords().AppendEmpty()
		if err := events[rng.IntN(len(events))].CopyTo(lr); err != nil {
			b.Fatal(err)
		}
		lr.Attributes().PutStr("event.id", fmt.Sprintf("%08x-4c1a-4f7e-9b2d-%012x", rng.Uint32(), rng.Uint64()>>16))
	}
	rl = ld.ResourceLogs().AppendEmpty()
	a := rl.Resource().Attributes()
	a.PutStr("service.name", "checkout")
	a.PutStr("service.version", "2.14.1")
	a.PutStr("deployment.environment.name", "production")
	a.PutStr("host.name", fmt.Sprintf("prod-server-%d", 1+rng.IntN(20)))
	a.PutStr("telemetry.sdk.language", "go")
	a.PutStr("telemetry.sdk.name", "opentelemetry")
	a.PutStr("telemetry.sdk.version", "1.42.0")
	sl = rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("app/http")
	for range 80 {
		lr := sl.LogRecords().AppendEmpty()
		code, ms, user := []int64{200, 200, 200, 201, 404, 500}[rng.IntN(6)], 1+rng.IntN(250), rng.IntN(100000)
		lr.Body().SetStr(fmt.Sprintf("GET /api/orders/{id} completed status=%d duration=%dms user=u-%05d", code, ms, user))
		la := lr.Attributes()
		la.PutStr("http.request.method", "GET")
		la.PutStr("http.route", "/api/orders/{id}")
		la.PutInt("http.response.status_code", code)
		la.PutDouble("duration_ms", float64(ms))
		la.PutStr("user.id", fmt.Sprintf("u-%05d", user))
		la.PutStr("code.function", "handler.ServeHTTP")
	}
	return ld
}

func runPolicyLogsBench(b *testing.B, p consumer.Logs) {
	all, err := eventtest.Load("../../testdata/events/HostHeartbeat")
	if err != nil {
		b.Fatal(err)
	}
	var events []eventtest.Fixture
	for _, fx := range all {
		if fx.Expect.Outcome == "routed" {
			events = append(events, fx)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	reqs := make([]plog.Logs, 64)
	for i := range reqs {
		reqs[i] = benchLogs(b, rng, events)
	}
	b.ResetTimer()
	c0 := cpuNow()
	for i := 0; i < b.N; i++ {
		ld := plog.NewLogs()
		reqs[i%len(reqs)].CopyTo(ld)
		if err := p.ConsumeLogs(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNow()-c0)/float64(b.N*100), "cpu-ns/record")
}

// BenchmarkPolicyLogsBaseline is the copy of a request only (subtract it from BenchmarkPolicyLogsRedaction).
func BenchmarkPolicyLogsBaseline(b *testing.B) { runPolicyLogsBench(b, consumertest.NewNop()) }

// BenchmarkPolicyLogsRedaction: the logs pipeline's redaction processors, as shipped.
func BenchmarkPolicyLogsRedaction(b *testing.B) { runPolicyLogsBench(b, shippedLogsRedaction(b)) }
