package tfologreceiver

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/tfocol/tfocol/components/receiver/tfologreceiver/internal/metadata"
	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/durablelog/loghost"
)

// host offers a durable log as the tfo_log extension does.
type host struct {
	component.Host
	log *durablelog.Log
}

type provider struct{ log *durablelog.Log }

func (p provider) Start(context.Context, component.Host) error { return nil }
func (p provider) Shutdown(context.Context) error              { return nil }
func (p provider) DurableLog() *durablelog.Log                 { return p.log }
func (p provider) ReportAppendError(error)                     {}
func (p provider) ReportAppendOK()                             {}

func (h host) GetExtensions() map[component.ID]component.Component {
	return map[component.ID]component.Component{component.MustNewID("tfo_log"): provider{h.log}}
}

var _ extension.Extension = provider{}

func openLog(t *testing.T, dir string) *durablelog.Log {
	t.Helper()
	l, _, err := durablelog.Open(durablelog.Options{Dir: dir, CursorSyncInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	return l
}

func appendLogs(t *testing.T, l *durablelog.Log, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		ld := plog.NewLogs()
		ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(b)
		raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		_, _, err = l.Append(context.Background(), durablelog.Record{Type: loghost.SignalLogs, Payload: raw})
		require.NoError(t, err)
	}
}

func bodies(sink *consumertest.LogsSink) []string {
	var out []string
	for _, ld := range sink.AllLogs() {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			lrs := rls.At(i).ScopeLogs().At(0).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				out = append(out, lrs.At(k).Body().Str())
			}
		}
	}
	return out
}

func startReceiver(t *testing.T, l *durablelog.Log, cfg *Config, next consumer.Logs) component.Component {
	t.Helper()
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewIDWithName("tfo_log", "test") // the cursor's name: the same across restarts
	r, err := NewFactory().CreateLogs(context.Background(), set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), host{componenttest.NewNopHost(), l}))
	return r
}

// failing fails its first n calls, then accepts.
type failing struct {
	consumertest.LogsSink
	n atomic.Int32
}

func (f *failing) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if f.n.Add(-1) >= 0 {
		return errors.New("backend down")
	}
	return f.LogsSink.ConsumeLogs(ctx, ld)
}

// A failing consumer gets the same entries again until it accepts them, in log order, none skipped; the
// cursor moves only past what was accepted, so a restart delivers nothing twice.
func TestRetriesInOrderAndCommitsOnlyAccepted(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	appendLogs(t, l, "a", "b", "c")
	cfg := createDefaultConfig()
	cfg.RetryInitial, cfg.RetryMax = time.Millisecond, 5*time.Millisecond
	next := &failing{}
	next.n.Store(5)
	r := startReceiver(t, l, cfg, next)
	require.Eventually(t, func() bool { return len(bodies(&next.LogsSink)) == 3 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"a", "b", "c"}, bodies(&next.LogsSink))
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, l.Close())

	l = openLog(t, dir)
	defer l.Close()
	appendLogs(t, l, "d")
	again := &consumertest.LogsSink{}
	r = startReceiver(t, l, cfg, again)
	defer r.Shutdown(context.Background())
	require.Eventually(t, func() bool { return len(bodies(again)) == 1 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, []string{"d"}, bodies(again), "only what was not accepted before the restart")
}

// max_batch_bytes merges consecutive entries into one call; 0 delivers each entry alone, with its Delivery.
func TestMergingAndDelivery(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	appendLogs(t, l, "a", "b", "c", "d")
	cfg := createDefaultConfig()
	cfg.MaxBatchBytes = 1 << 20
	merged := &consumertest.LogsSink{}
	r := startReceiver(t, l, cfg, merged)
	require.Eventually(t, func() bool { return len(bodies(merged)) == 4 }, 5*time.Second, 5*time.Millisecond)
	assert.Len(t, merged.AllLogs(), 1, "one call for the run of entries")
	require.NoError(t, r.Shutdown(context.Background()))

	cfg2 := createDefaultConfig()
	cfg2.Consumer = "alone"
	var mu sync.Mutex
	var seqs []uint64
	got := func() []uint64 {
		mu.Lock()
		defer mu.Unlock()
		return append([]uint64(nil), seqs...)
	}
	alone := consumerFunc(func(ctx context.Context, _ plog.Logs) error {
		d, ok := durablelog.DeliveryFrom(ctx)
		assert.True(t, ok, "each call carries its Delivery")
		mu.Lock()
		seqs = append(seqs, d.Seq)
		mu.Unlock()
		return nil
	})
	r = startReceiver(t, l, cfg2, alone)
	defer r.Shutdown(context.Background())
	require.Eventually(t, func() bool { return len(got()) == 4 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []uint64{1, 2, 3, 4}, got())
}

type consumerFunc func(context.Context, plog.Logs) error

func (f consumerFunc) ConsumeLogs(ctx context.Context, ld plog.Logs) error { return f(ctx, ld) }
func (consumerFunc) Capabilities() consumer.Capabilities                   { return consumer.Capabilities{} }

// A held entry keeps the cursor from passing it: after a restart delivery starts again at the oldest held
// entry (what the receipt exporter relies on for windows not yet sealed).
func TestHoldKeepsCursorBack(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	appendLogs(t, l, "a", "b", "c")
	cfg := createDefaultConfig()
	var release atomic.Pointer[func()]
	var n atomic.Int32
	held := consumerFunc(func(ctx context.Context, _ plog.Logs) error {
		d, _ := durablelog.DeliveryFrom(ctx)
		if n.Add(1) == 2 {
			rel := d.Stream.Hold(d.Seq)
			release.Store(&rel)
		}
		return nil
	})
	r := startReceiver(t, l, cfg, held)
	require.Eventually(t, func() bool { return n.Load() == 3 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, l.Close())

	l = openLog(t, dir)
	again := &consumertest.LogsSink{}
	r = startReceiver(t, l, cfg, again)
	require.Eventually(t, func() bool { return len(bodies(again)) == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"b", "c"}, bodies(again), "redelivered from the held entry")
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, l.Close())
	require.NotNil(t, release.Load())
}

// The watermark never runs ahead of what was delivered, and follows the present while the consumer is idle at
// the head of the log.
func TestWatermark(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	cfg := createDefaultConfig()
	var streamV atomic.Value
	var lastArrival atomic.Int64
	c := consumerFunc(func(ctx context.Context, _ plog.Logs) error {
		d, _ := durablelog.DeliveryFrom(ctx)
		streamV.Store(d.Stream)
		assert.False(t, d.Stream.Watermark().After(time.Unix(0, d.Arrival)), "watermark ahead of the entry being delivered")
		lastArrival.Store(d.Arrival)
		return nil
	})
	r := startReceiver(t, l, cfg, c)
	defer r.Shutdown(context.Background())
	appendLogs(t, l, "a", "b")
	require.Eventually(t, func() bool { return streamV.Load() != nil && lastArrival.Load() > 0 }, 5*time.Second, 5*time.Millisecond)
	stream := streamV.Load().(durablelog.Stream)
	before := time.Now()
	require.Eventually(t, func() bool { return !stream.Watermark().Before(before) }, 5*time.Second, 10*time.Millisecond,
		"an idle consumer at the head has a watermark that follows the present")
}

// One receiver in a logs and a traces pipeline delivers nothing until both have started: the collector may start
// one pipeline's receiver before another pipeline's exporter (an OTLP exporter that has not started panics).
func TestDeliveryWaitsForEveryPipeline(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	appendLogs(t, l, "a")
	cfg := createDefaultConfig()
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewIDWithName("tfo_log", "two")
	sink := &consumertest.LogsSink{}
	lr, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	tr, err := NewFactory().CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	h := host{componenttest.NewNopHost(), l}
	require.NoError(t, lr.Start(context.Background(), h))
	time.Sleep(300 * time.Millisecond)
	assert.Empty(t, bodies(sink), "delivered before the traces pipeline started")
	require.NoError(t, tr.Start(context.Background(), h))
	require.Eventually(t, func() bool { return len(bodies(sink)) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, lr.Shutdown(context.Background()))
	require.NoError(t, tr.Shutdown(context.Background()))
}

// With min_batch_bytes and max_batch_wait, entries that arrive one at a time within the wait reach the
// pipeline as one call; an entry with nothing after it is still delivered when the wait is over.
func TestLingerMergesEntriesArrivingApart(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	cfg := createDefaultConfig()
	cfg.MaxBatchBytes, cfg.MinBatchBytes, cfg.MaxBatchWait = 1<<20, 1<<20, 400*time.Millisecond
	require.NoError(t, cfg.Validate())
	sink := &consumertest.LogsSink{}
	r := startReceiver(t, l, cfg, sink)
	defer r.Shutdown(context.Background())
	for _, b := range []string{"a", "b", "c"} {
		appendLogs(t, l, b)
		time.Sleep(40 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return len(bodies(sink)) == 3 }, 5*time.Second, 5*time.Millisecond)
	assert.Len(t, sink.AllLogs(), 1, "entries that arrived within the wait are one call")
	appendLogs(t, l, "d")
	require.Eventually(t, func() bool { return len(bodies(sink)) == 4 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"a", "b", "c", "d"}, bodies(sink))
	assert.Len(t, sink.AllLogs(), 2)
}

func TestLingerConfigIsChecked(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.MinBatchBytes = 1 << 10
	assert.Error(t, cfg.Validate(), "min_batch_bytes without max_batch_wait")
	cfg.MaxBatchWait = time.Second
	assert.NoError(t, cfg.Validate())
	cfg.MinBatchBytes = -1
	assert.Error(t, cfg.Validate())
}

// With max_batch_bytes 0 the receiver delivers entries alone and does not wait, whatever min_batch_bytes and
// max_batch_wait say (an overlay that turns merging off must not leave a wait behind).
func TestNoLingerWithoutMerging(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	cfg := createDefaultConfig()
	cfg.MinBatchBytes, cfg.MaxBatchWait = 1<<20, time.Hour
	sink := &consumertest.LogsSink{}
	r := startReceiver(t, l, cfg, sink)
	defer r.Shutdown(context.Background())
	appendLogs(t, l, "a", "b")
	require.Eventually(t, func() bool { return len(bodies(sink)) == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Len(t, sink.AllLogs(), 2, "each entry alone")
}
