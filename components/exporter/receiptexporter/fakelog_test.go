package receiptexporter

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/internal/durablelog"
)

// fakeStream is a tfo_log receiver's cursor as the exporter sees it: it records holds and releases, and its
// watermark follows the clock (a consumer caught up with the log's head) unless set.
type fakeStream struct {
	mu       sync.Mutex
	clock    *fakeClock
	wm       *time.Time
	held     map[uint64]int // outstanding holds per seq
	holds    map[uint64]int // Hold calls per seq, ever
	releases int
}

func newFakeStream(clock *fakeClock) *fakeStream {
	return &fakeStream{clock: clock, held: map[uint64]int{}, holds: map[uint64]int{}}
}

func (s *fakeStream) Hold(seq uint64) func() {
	s.mu.Lock()
	s.held[seq]++
	s.holds[seq]++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.releases++
			if s.held[seq]--; s.held[seq] == 0 {
				delete(s.held, seq)
			}
		})
	}
}

func (s *fakeStream) Watermark() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wm != nil {
		return *s.wm
	}
	return s.clock.Now()
}

// setWatermark fixes the watermark (a consumer behind the log's head); follow makes it follow the clock again.
func (s *fakeStream) setWatermark(t time.Time) {
	s.mu.Lock()
	s.wm = &t
	s.mu.Unlock()
}

func (s *fakeStream) follow() {
	s.mu.Lock()
	s.wm = nil
	s.mu.Unlock()
}

// heldSeqs are the seqs held now, ascending.
func (s *fakeStream) heldSeqs() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]uint64, 0, len(s.held))
	for seq := range s.held {
		out = append(out, seq)
	}
	slices.Sort(out)
	return out
}

// maxHoldsPerSeq is the largest number of Hold calls made for one seq.
func (s *fakeStream) maxHoldsPerSeq() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.holds {
		n = max(n, c)
	}
	return n
}

// testLog stands in for the durable log and its tfo_log receiver: every push is appended as an entry (arrival =
// the clock) and delivered with its Delivery; redeliver plays entries again as a restarted receiver does.
type testLog struct {
	mu      sync.Mutex
	clock   *fakeClock
	stream  *fakeStream
	entries []logEntry
}

type logEntry struct {
	arrival int64
	push    func(*receiptExporter, context.Context) error
}

func newTestLog(clock *fakeClock) *testLog {
	return &testLog{clock: clock, stream: newFakeStream(clock)}
}

func (l *testLog) add(push func(*receiptExporter, context.Context) error) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, logEntry{arrival: l.clock.Now().UnixNano(), push: push})
	return l.ctxLocked(uint64(len(l.entries)))
}

func (l *testLog) ctxLocked(seq uint64) context.Context {
	return durablelog.WithDelivery(context.Background(),
		durablelog.Delivery{Seq: seq, Arrival: l.entries[seq-1].arrival, Stream: l.stream})
}

func (l *testLog) logs(e *receiptExporter, ld plog.Logs) error {
	push := func(e *receiptExporter, ctx context.Context) error { return e.pushLogs(ctx, ld) }
	return push(e, l.add(push))
}

func (l *testLog) metrics(e *receiptExporter, md pmetric.Metrics) error {
	push := func(e *receiptExporter, ctx context.Context) error { return e.pushMetrics(ctx, md) }
	return push(e, l.add(push))
}

func (l *testLog) traces(e *receiptExporter, td ptrace.Traces) error {
	push := func(e *receiptExporter, ctx context.Context) error { return e.pushTraces(ctx, td) }
	return push(e, l.add(push))
}

// last is the seq of the newest entry.
func (l *testLog) last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.entries))
}

// committed is where a receiver's cursor would resume after a crash: the lowest seq still held, or past the end.
func (l *testLog) resume() uint64 {
	if held := l.stream.heldSeqs(); len(held) > 0 {
		return held[0]
	}
	return l.last() + 1
}

// restart models a new receiver process: a fresh cursor. It returns the old one.
func (l *testLog) restart() *fakeStream {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.stream
	l.stream = newFakeStream(l.clock)
	return old
}

// redeliver delivers the entries from seq on again, with their original arrival.
func (l *testLog) redeliver(e *receiptExporter, from uint64) error {
	for seq := from; seq <= l.last(); seq++ {
		l.mu.Lock()
		ctx, push := l.ctxLocked(seq), l.entries[seq-1].push
		l.mu.Unlock()
		if err := push(e, ctx); err != nil {
			return err
		}
	}
	return nil
}

// redeliverOne delivers a call of entry seq with other content (a part of the entry not delivered before).
func (l *testLog) redeliverOne(e *receiptExporter, seq uint64, ld plog.Logs) error {
	l.mu.Lock()
	ctx := l.ctxLocked(seq)
	l.mu.Unlock()
	return e.pushLogs(ctx, ld)
}
