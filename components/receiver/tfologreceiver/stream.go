package tfologreceiver

import (
	"container/heap"
	"sync"
	"time"

	"github.com/tfocol/tfocol/internal/durablelog"
)

// stream is the consumer's view of its cursor (durablelog.Stream): what was delivered, what consumers hold, and
// the watermark. The cursor is committed up to the oldest held entry, or else past the last delivered one.
type stream struct {
	cur *durablelog.Cursor

	mu sync.Mutex
	// delivered is the seq after the last entry whose consumer call returned nil.
	delivered   uint64
	lastArrival int64
	// headAsOf: every entry with an earlier arrival had been delivered when the receiver last found itself at
	// the head of the log.
	headAsOf time.Time
	held     map[uint64]int
	heldMin  seqHeap // seqs with held[seq] > 0, lazily cleaned
}

var _ durablelog.Stream = (*stream)(nil)

func newStream(cur *durablelog.Cursor) *stream {
	return &stream{cur: cur, delivered: cur.Committed(), held: map[uint64]int{}}
}

func (s *stream) Hold(seq uint64) func() {
	s.mu.Lock()
	if s.held[seq] == 0 {
		heap.Push(&s.heldMin, seq)
	}
	s.held[seq]++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.held[seq]--; s.held[seq] <= 0 {
				delete(s.held, seq)
			}
			s.commitLocked()
		})
	}
}

func (s *stream) Watermark() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := time.Unix(0, s.lastArrival)
	if s.headAsOf.After(w) {
		return s.headAsOf
	}
	return w
}

// noteHead is called between reads, when every entry read so far has been delivered.
func (s *stream) noteHead() {
	if atHead, asOf := s.cur.Head(); atHead {
		s.mu.Lock()
		s.headAsOf = asOf
		s.mu.Unlock()
	}
}

// deliveredThrough records that the entries up to last were consumed and commits what may be committed.
func (s *stream) deliveredThrough(last durablelog.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delivered = last.Seq + 1
	s.lastArrival = last.Arrival
	s.commitLocked()
}

func (s *stream) commitLocked() {
	for s.heldMin.Len() > 0 && s.held[s.heldMin[0]] == 0 {
		heap.Pop(&s.heldMin)
	}
	next := s.delivered
	if s.heldMin.Len() > 0 && s.heldMin[0] < next {
		next = s.heldMin[0]
	}
	s.cur.Commit(next)
}

type seqHeap []uint64

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
