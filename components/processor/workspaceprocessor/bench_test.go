package workspaceprocessor

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tfocol/tfocol/components/processor/workspaceprocessor/internal/metadata"
	"github.com/tfocol/tfocol/internal/redistest"
)

const benchKeys = 1_000_000

// fillMemoryStore completes n distinct keys of one workspace.
func fillMemoryStore(b *testing.B, s *memoryStore, n int) {
	ctx := context.Background()
	for i := 0; i < n; i++ {
		l, st, err := s.Begin(ctx, idemKey{Workspace: "0b6f7c1e-7f4e-4a43-9a55-2f8f2f5b6a01", Key: strconv.Itoa(i)}, uint64(i)+1)
		if err != nil || st != statusAcquired {
			b.Fatalf("filling key %d: %v %v", i, st, err)
		}
		_ = l.Complete(ctx)
	}
}

// BenchmarkMemoryStoreBytesPerKey reports the heap the memory store retains per key with 1M keys.
// It measures one fill per run, whatever b.N is (b.N only repeats the same measurement).
func BenchmarkMemoryStoreBytesPerKey(b *testing.B) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := newMemoryStore(benchKeys, time.Hour)
	fillMemoryStore(b, s, benchKeys)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/benchKeys, "bytes/key")
	runtime.KeepAlive(s)
}

// BenchmarkMemoryStoreCheck measures one request's store work against a store holding 1M keys:
// a new key (Begin + Complete, evicting the least recently used) and a duplicate (Begin).
func BenchmarkMemoryStoreCheck(b *testing.B) {
	ctx := context.Background()
	s := newMemoryStore(benchKeys, time.Hour)
	fillMemoryStore(b, s, benchKeys)
	ws := "0b6f7c1e-7f4e-4a43-9a55-2f8f2f5b6a01"
	b.Run("duplicate", func(b *testing.B) {
		keys := make([]string, b.N)
		for i := range keys {
			keys[i] = strconv.Itoa(benchKeys - 1 - i%benchKeys)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, st, _ := s.Begin(ctx, idemKey{Workspace: ws, Key: keys[i]}, 0); st != statusCompleted {
				b.Fatal(st)
			}
		}
	})
	b.Run("new_key", func(b *testing.B) {
		keys := make([]string, b.N)
		for i := range keys {
			keys[i] = uuid.NewString()
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			l, st, err := s.Begin(ctx, idemKey{Workspace: ws, Key: keys[i]}, 1)
			if err != nil || st != statusAcquired {
				b.Fatal(st, err)
			}
			_ = l.Complete(ctx)
		}
	})
}

// benchTraces is a typical agent batch: 10 resources x 100 spans with a few attributes each.
func benchTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	for r := 0; r < 10; r++ {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "svc-"+strconv.Itoa(r))
		rs.Resource().Attributes().PutStr("host.name", "host-a")
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for s := 0; s < 100; s++ {
			span := spans.AppendEmpty()
			span.SetName("GET /api/v1/items/{id}")
			span.SetTraceID(pcommon.TraceID{byte(r), byte(s), 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
			span.SetSpanID(pcommon.SpanID{byte(s), 2, 3, 4, 5, 6, 7, 8})
			span.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + s))
			span.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_500_000 + s))
			span.Attributes().PutStr("http.method", "GET")
			span.Attributes().PutInt("http.status_code", 200)
			span.Attributes().PutStr("http.url", "https://shop.example.com/api/v1/items/"+strconv.Itoa(s))
		}
	}
	return td
}

// BenchmarkFingerprint is the payload check's cost per request (marshal + xxHash64), with the
// request size for scale.
func BenchmarkFingerprint(b *testing.B) {
	td := benchTraces()
	size, _ := tracesMarshaler.MarshalTraces(td)
	b.SetBytes(int64(len(size)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		fingerprintTraces(td)
	}
}

// BenchmarkRedisStoreRoundTrip is one accepted request's Redis work (SET NX GET + SET completion)
// and one duplicate's (SET NX GET), against a local redis-server.
func BenchmarkRedisStoreRoundTrip(b *testing.B) {
	srv := redistest.Start(b)
	s, err := newRedisStore(redisConfig(srv.Addr))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	ctx := context.Background()
	b.Run("new_key", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			l, st, err := s.Begin(ctx, idemKey{Workspace: testWS, Key: "bench-" + strconv.Itoa(i) + "-" + strconv.Itoa(b.N)}, 1)
			if err != nil || st != statusAcquired {
				b.Fatal(st, err)
			}
			if err := l.Complete(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("duplicate", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, st, err := s.Begin(ctx, idemKey{Workspace: testWS, Key: "bench-0-1"}, 1); err != nil || st != statusCompleted {
				b.Fatal(st, err)
			}
		}
	})
}

// BenchmarkProcessorOverhead is the processor's whole cost per request on the memory store
// (headers, fingerprint, store, stamping) for the benchTraces batch.
func BenchmarkProcessorOverhead(b *testing.B) {
	set := processortest.NewNopSettings(metadata.Type)
	p, err := NewFactory().CreateTraces(context.Background(), set, createDefaultConfig(), consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	td := benchTraces()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ctx := reqCtx(wsHeaders("Idempotency-Key", "bench-"+strconv.Itoa(i)), nil)
		if err := p.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
}
