package eventrouterconnector

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/internal/metadata"
)

const benchBatch = 100

func benchRouter(b *testing.B) connector.Logs {
	consumers := map[pipeline.ID]consumer.Logs{}
	for _, p := range []string{"heartbeats", "compliance", "failures", "default", "rejected"} {
		consumers[logsID(p)] = consumertest.NewNop()
	}
	conn, err := NewFactory().CreateLogsToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), gatewayConfig(), connector.NewLogsRouter(consumers))
	require.NoError(b, err)
	return conn
}

// benchLogs builds one request of benchBatch records cycling through the given fixtures.
func benchLogs(b *testing.B, fixtures []eventtest.Fixture) plog.Logs {
	all := make([]eventtest.Fixture, 0, benchBatch)
	for i := range benchBatch {
		all = append(all, fixtures[i%len(fixtures)])
	}
	ld, err := eventtest.Logs(all)
	require.NoError(b, err)
	return ld
}

func plainLogs(eventName string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout-api")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := range benchBatch {
		lr := lrs.AppendEmpty()
		lr.SetEventName(eventName)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr(fmt.Sprintf("GET /api/v1/orders/%d 200 12ms", i))
		lr.Attributes().PutStr("http.route", "/api/v1/orders/{id}")
		lr.Attributes().PutInt("http.response.status_code", 200)
	}
	return ld
}

// BenchmarkConsumeLogs measures routing throughput per event; run with -cpu 1 for the one-core figure.
func BenchmarkConsumeLogs(b *testing.B) {
	fixtures := loadFixturesB(b)
	var valid, mixed []eventtest.Fixture
	for _, fx := range fixtures {
		if fx.Expect.Outcome == "routed" {
			valid = append(valid, fx)
		}
	}
	// Four valid events for each rejected one.
	for i, fx := range fixtures {
		if fx.Expect.Outcome == "rejected" && i%5 != 0 {
			continue
		}
		mixed = append(mixed, fx)
	}
	cases := []struct {
		name string
		ld   plog.Logs
	}{
		{"valid_events", benchLogs(b, valid)},
		{"mixed_with_rejections", benchLogs(b, mixed)},
		{"plain_logs", plainLogs("")},
		{"unknown_event_type", plainLogs("LoginSucceeded")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			conn := benchRouter(b)
			ctx := context.Background()
			// The connector takes ownership of a request (it moves records out), so every round needs a
			// fresh one. They are copied in blocks outside the timer, followed by a GC so the copies'
			// collection cost is not billed to the connector.
			const block = 64
			reqs := make([]plog.Logs, block)
			for i := range reqs {
				reqs[i] = plog.NewLogs()
			}
			b.ReportAllocs()
			b.ResetTimer()
			var cpu time.Duration
			start := threadCPU()
			for i := range b.N {
				if i%block == 0 {
					cpu += threadCPU() - start
					b.StopTimer()
					for j := range reqs {
						reqs[j] = plog.NewLogs()
						c.ld.CopyTo(reqs[j])
					}
					runtime.GC()
					b.StartTimer()
					start = threadCPU()
				}
				if err := conn.ConsumeLogs(ctx, reqs[i%block]); err != nil {
					b.Fatal(err)
				}
			}
			cpu += threadCPU() - start
			b.StopTimer()
			events := float64(b.N * benchBatch)
			b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
			// CPU time is what "events per second on one core" means on a shared machine, where wall
			// time also counts waiting for the CPU.
			b.ReportMetric(events/cpu.Seconds(), "events/cpu-s")
			b.ReportMetric(float64(cpu.Nanoseconds())/events, "cpu-ns/event")
		})
	}
}

// BenchmarkValidate compares, per seed type, the fast path with building the document for the library.
func BenchmarkValidate(b *testing.B) {
	for _, fx := range loadFixturesB(b) {
		if fx.Expect.Outcome != "routed" || fx.EventName == "" {
			continue
		}
		b.Run(fx.EventName, func(b *testing.B) {
			c, err := loadContract(seedSchemas[fx.EventName])
			require.NoError(b, err)
			lr := plog.NewLogRecord()
			require.NoError(b, fx.CopyTo(lr))
			doc := map[string]any{}
			b.Run("fast_path", func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if rej := c.check(doc, lr); rej != nil {
						b.Fatal(rej.reason)
					}
				}
			})
			b.Run("library", func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if err := buildDocument(doc, lr); err != nil {
						b.Fatal(err)
					}
					if rej := c.validate(doc); rej != nil {
						b.Fatal(rej.reason)
					}
					clear(doc)
				}
			})
		})
	}
}

// threadCPU is the CPU time this process has used (user+system); with -cpu 1 that is one core's work.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadFixturesB(b *testing.B) []eventtest.Fixture {
	fxs, err := eventtest.Load(fixtureDir)
	require.NoError(b, err)
	return fxs
}
