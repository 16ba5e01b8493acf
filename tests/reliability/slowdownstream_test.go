package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/e2etest"
)

// Limits of the slow-downstream run.
const (
	slowMemoryLimitMiB = 200 // TFOCOL_MEMORY_LIMIT_MIB
	slowSpikeMiB       = 40  // TFOCOL_MEMORY_SPIKE_MIB
	slowBatchRecords   = 50
	slowSenders        = 6
)

// slowBatch is one request a sender produced; it is retried with the same Idempotency-Key until accepted.
type slowBatch struct {
	tag      string
	grpc     bool
	records  int // log records; slowBatchRecords when 0
	accepted bool
	// noKeepAlive sends over HTTP on a new connection, so a refused dial is told apart from a reset request.
	noKeepAlive bool
}

var noKeepAliveClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// send delivers the batch once and returns the answer ("HTTP 200", "gRPC Unavailable", "connection refused",
// "transport error: ...").
func (b *slowBatch) send(gw *e2etest.Gateway) string {
	headers := e2etest.KeyHeaders(gw.KeyID, gw.KeySecret, gw.Workspace)
	headers["Idempotency-Key"] = "slow/" + b.tag
	n := b.records
	if n == 0 {
		n = slowBatchRecords
	}
	ld := logsTagged(b.tag, n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if b.grpc {
		err := e2etest.ExportGRPC(ctx, gw.GRPC(headers), ld)
		b.accepted = err == nil
		if msg := status.Convert(err).Message(); status.Code(err) == codes.Unavailable &&
			(strings.Contains(msg, "reset") || strings.Contains(msg, "EOF")) {
			return "gRPC transport error: " + msg
		}
		return "gRPC " + status.Code(err).String()
	}
	body, path, err := e2etest.MarshalOTLP(ld)
	if err != nil {
		return "marshal error"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+gw.Ports.OTLPHTTP+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := http.DefaultClient
	if b.noKeepAlive {
		client = noKeepAliveClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return "connection refused"
		}
		return "transport error: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	b.accepted = resp.StatusCode == http.StatusOK
	return fmt.Sprintf("HTTP %d", resp.StatusCode)
}

// retryable: the answers an OTLP client retries later (OTLP spec: 429/503, RESOURCE_EXHAUSTED/UNAVAILABLE).
var retryable = map[string]bool{"HTTP 429": true, "HTTP 503": true, "gRPC ResourceExhausted": true, "gRPC Unavailable": true}

// TestSlowAndDeadUpstream: the upstream first hangs, then refuses every export, while six clients keep sending
// log batches. The gateway must shed load with retryable answers once its (small) durable log is full
// instead of buffering without bound, keep its RSS under the memory_limiter limit, and, once the upstream is
// back and the clients have retried what was refused (same Idempotency-Keys), have delivered and sealed every
// record exactly once.
func TestSlowAndDeadUpstream(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{
		Configs: []string{fastReceiptsOverlay, "tests/reliability/testdata/small-log.yaml"},
		Env: map[string]string{
			"TFOCOL_MEMORY_LIMIT_MIB":           fmt.Sprint(slowMemoryLimitMiB),
			"TFOCOL_MEMORY_SPIKE_MIB":           fmt.Sprint(slowSpikeMiB),
			"TFOCOL_RECEIPT_INTERVAL":           "2s",
			"TFOCOL_SPANMETRICS_FLUSH_INTERVAL": "1h",
		},
	})
	pid := gw.Pid()
	require.NotZero(t, pid)
	baseRSS := vmRSSKiB(pid)

	// The upstream hangs: every export blocks until the outage ends, then fails.
	outageOver := make(chan struct{})
	var hanging atomic.Bool
	hanging.Store(true)
	gw.Upstream.Intercept(func(e2etest.SinkRequest) error {
		if hanging.Load() {
			<-outageOver
		}
		return status.Error(codes.Unavailable, "upstream down")
	})

	var (
		mu      sync.Mutex
		batches []*slowBatch
		answers = map[string]map[string]int{} // phase -> answer -> count
		phase   atomic.Value
		peakRSS atomic.Int64
	)
	phase.Store("hanging upstream")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // RSS sampler
		defer wg.Done()
		for {
			if rss := int64(vmRSSKiB(pid)); rss > peakRSS.Load() {
				peakRSS.Store(rss)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	for s := range slowSenders {
		sendUntil(&wg, stop, func(i int) {
			b := &slowBatch{tag: fmt.Sprintf("s%d-%05d", s, i), grpc: s%2 == 1}
			got := b.send(gw)
			ph := phase.Load().(string)
			mu.Lock()
			batches = append(batches, b)
			if answers[ph] == nil {
				answers[ph] = map[string]int{}
			}
			answers[ph][got]++
			mu.Unlock()
			if retryable[got] {
				time.Sleep(100 * time.Millisecond) // a client backs off before its next request
			}
		})
	}
	time.Sleep(12 * time.Second)
	phase.Store("refusing upstream")
	hanging.Store(false)
	close(outageOver)
	time.Sleep(8 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("answers during the outage: %v; gateway RSS %d MiB at start, peak %d MiB (memory_limiter limit %d MiB)",
		answers, baseRSS/1024, peakRSS.Load()/1024, slowMemoryLimitMiB)

	for ph, byAnswer := range answers {
		shed := 0
		for a, n := range byAnswer {
			switch {
			case a == "HTTP 200" || a == "gRPC OK":
			case retryable[a]:
				shed += n
			default:
				t.Errorf("%s: %d requests got %q, not a success or a retryable refusal", ph, n, a)
			}
		}
		assert.Positive(t, shed, "%s: the gateway never shed load (its durable log holds only 4 MiB)", ph)
	}
	assert.Less(t, peakRSS.Load()/1024, int64(slowMemoryLimitMiB), "gateway RSS stays under the memory_limiter limit")
	require.True(t, gw.Running())

	// A refusal means the gateway kept nothing: what the clients were refused must not be in the receipts.
	dir := filepath.Join(gw.DataDir, "receipts")
	acked, refused := map[string]bool{}, map[string]bool{}
	for _, b := range batches {
		if b.accepted {
			acked[b.tag] = true
		} else {
			refused[b.tag] = true
		}
	}
	var sealed map[recordKey]int
	e2etest.Eventually(t, 30*time.Second, func() bool {
		var ok bool
		sealed, ok = sealedLogRecords(dir)
		return ok && len(sealed) >= len(acked)*slowBatchRecords
	}, "the %d acknowledged batches were never sealed", len(acked))
	t.Logf("%d batches acknowledged, %d refused with a retryable code", len(acked), len(refused))

	// A refusal means nothing was written: once the upstream is back and has caught up with what was
	// acknowledged, no refused batch is at the upstream or in the receipts (one log, one source of truth).
	gw.Upstream.Intercept(nil)
	e2etest.Eventually(t, 60*time.Second, func() bool { return gw.Upstream.LogRecordCount() >= len(acked)*slowBatchRecords },
		"the upstream never caught up with the %d acknowledged batches", len(acked))
	time.Sleep(time.Second)
	sealed, _ = sealedLogRecords(dir)
	for k := range logRecordsAtSink(gw.Upstream) {
		require.False(t, refused[k.Tag], "refused batch %s reached the upstream", k.Tag)
	}
	for k := range sealed {
		require.False(t, refused[k.Tag], "refused batch %s was sealed", k.Tag)
	}

	// Clients retry what was refused, with the same keys.
	deadline := time.Now().Add(40 * time.Second)
	for _, b := range batches {
		for !b.accepted {
			got := b.send(gw)
			if !b.accepted {
				require.True(t, retryable[got], "retry of %s: %s", b.tag, got)
				require.True(t, time.Now().Before(deadline), "batch %s still refused after the upstream came back: %s", b.tag, got)
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	want := map[recordKey]int{}
	for _, b := range batches {
		for i := range slowBatchRecords {
			want[recordKey{b.tag, int64(i)}] = 1
		}
	}
	t.Logf("%d batches, %d records", len(batches), len(want))
	e2etest.Eventually(t, 60*time.Second, func() bool { return gw.Upstream.LogRecordCount() >= len(want) },
		"the upstream never got the %d records (has %d)", len(want), gw.Upstream.LogRecordCount())
	time.Sleep(time.Second)
	atSink := logRecordsAtSink(gw.Upstream)
	assert.Equal(t, len(want), len(atSink), "distinct records at the upstream")
	assert.Empty(t, firstN(duplicates(atSink), 10), "records delivered upstream more than once")

	e2etest.Eventually(t, 30*time.Second, func() bool {
		var ok bool
		sealed, ok = sealedLogRecords(dir)
		return ok && len(sealed) >= len(want)
	}, "sealed records never covered the %d sent", len(want))
	assert.Equal(t, len(want), len(sealed), "distinct sealed records")
	dups := duplicates(sealed)
	assert.Empty(t, firstN(dups, 10), "%d records sealed more than once", len(dups))
}

// firstN returns at most n keys, sorted, for readable failure messages.
func firstN(keys []recordKey, n int) []recordKey {
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Tag != keys[j].Tag {
			return keys[i].Tag < keys[j].Tag
		}
		return keys[i].Seq < keys[j].Seq
	})
	if len(keys) > n {
		return keys[:n]
	}
	return keys
}

// TestMemoryLimiterShedsLoad: with a small memory_limiter (TFOCOL_MEMORY_LIMIT_MIB=64, spike 16) and a hanging
// upstream, six clients send 2 MB log batches. The gateway refuses part of them with the memory_limiter's
// retryable 503 / Unavailable instead of growing, its RSS stays bounded, and every batch it acknowledged
// reaches the upstream once the upstream is back.
func TestMemoryLimiterShedsLoad(t *testing.T) {
	const limitMiB = 64
	gw := e2etest.StartGateway(t, e2etest.Options{
		Env: map[string]string{
			"TFOCOL_MEMORY_LIMIT_MIB":           fmt.Sprint(limitMiB),
			"TFOCOL_MEMORY_SPIKE_MIB":           "16",
			"TFOCOL_SPANMETRICS_FLUSH_INTERVAL": "1h",
		},
	})
	pid := gw.Pid()
	outageOver := make(chan struct{})
	gw.Upstream.Intercept(func(e2etest.SinkRequest) error {
		<-outageOver
		return status.Error(codes.Unavailable, "upstream down")
	})

	var (
		mu       sync.Mutex
		answers  = map[string]int{}
		limited  int // refusals that name the memory limiter
		acked    = map[string]bool{}
		peakRSS  atomic.Int64
		sendErrs []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	// Peak anonymous memory (Go heap, stacks) in the first and the second half of the load: bounded means the
	// second half does not keep climbing.
	var peakAnon [2]atomic.Int64
	var secondHalf atomic.Bool
	go func() {
		defer wg.Done()
		for {
			if rss := int64(vmRSSKiB(pid)); rss > peakRSS.Load() {
				peakRSS.Store(rss)
			}
			half := 0
			if secondHalf.Load() {
				half = 1
			}
			if anon := int64(procStatusKiB(pid, "RssAnon")); anon > peakAnon[half].Load() {
				peakAnon[half].Store(anon)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	for s := range slowSenders {
		sendUntil(&wg, stop, func(i int) {
			tag := fmt.Sprintf("mem%d-%04d", s, i)
			ld := logsTagged(tag, 2000)
			lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lrs.At(k).Body().SetStr(fmt.Sprintf("%01000d", k)) // ~1 KB per record, ~2 MB per batch
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			res, err := e2etest.ExportHTTP(ctx, gw.HTTP(gw.Headers()), ld)
			cancel()
			mu.Lock()
			switch {
			case err != nil:
				sendErrs = append(sendErrs, err.Error())
			default:
				a := fmt.Sprintf("HTTP %d", res.Status)
				answers[a]++
				if res.Status == http.StatusOK {
					acked[tag] = true
				}
				if strings.Contains(string(res.Body), "high memory usage") {
					limited++
				}
			}
			mu.Unlock()
			if err != nil || res.Status != http.StatusOK {
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	time.Sleep(8 * time.Second)
	secondHalf.Store(true)
	time.Sleep(8 * time.Second)
	close(stop)
	wg.Wait()
	first, second := peakAnon[0].Load()/1024, peakAnon[1].Load()/1024
	t.Logf("answers: %v (%d name the memory limiter); peak RSS %d MiB; peak anonymous RSS %d MiB in the first half, "+
		"%d MiB in the second (limit_mib %d)", answers, limited, peakRSS.Load()/1024, first, second, limitMiB)
	require.Empty(t, sendErrs, "transport errors")
	for a, n := range answers {
		if a != "HTTP 200" && !retryable[a] {
			t.Errorf("%d requests got %q, neither a success nor a retryable refusal", n, a)
		}
	}
	assert.Positive(t, limited, "the memory_limiter refused data")
	// The limiter refuses new data above the heap limit; what is already in flight (decoded requests, the
	// log consumers, GC headroom) comes on top, so the bound is a small multiple of limit_mib and, above all,
	// memory stops growing once the limiter refuses. File-backed RSS (page cache of the durable log's segments)
	// is left out: it follows the log on disk, bounded by max_bytes.
	assert.Less(t, max(first, second), int64(4*limitMiB), "anonymous RSS stays within 4 x limit_mib")
	assert.LessOrEqual(t, second, first+first/4+16, "anonymous RSS keeps growing under sustained load")
	require.True(t, gw.Running())

	// The upstream is back: everything acknowledged is delivered.
	gw.Upstream.Intercept(nil)
	close(outageOver)
	e2etest.Eventually(t, 60*time.Second, func() bool { return gw.Upstream.LogRecordCount() >= len(acked)*2000 },
		"the upstream never got the %d acknowledged batches (has %d records)", len(acked), gw.Upstream.LogRecordCount())
	atSink := logRecordsAtSink(gw.Upstream)
	for tag := range acked {
		assert.Equal(t, 1, atSink[recordKey{tag, 0}], "batch %s at the upstream", tag)
	}
}
