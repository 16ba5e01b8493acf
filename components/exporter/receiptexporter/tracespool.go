package receiptexporter

import (
	"bufio"
	"container/heap"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// The trace spool keeps the leaf bytes of open traces' spans on disk: they are only needed if a trace turns out
// significant, and keeping them in memory for trace_idle cost ~1 KB per open span. It is a cache of the durable
// log (trackSpan also runs for entries delivered again after a restart), so it is written without fsync and
// removed with spoolDir at open.
const (
	// traceSpoolPrefix names its files in spoolDir; window spools are <signal>-<workspace dir>-<start>.spool.
	traceSpoolPrefix = "open-traces-"
	// defaultTraceSpoolRotate is the size after which a new trace spool file is started, so that files whose
	// traces are all complete can be deleted.
	defaultTraceSpoolRotate = 64 << 20
)

// spanRef locates one span's leaf in the trace spool (12 bytes instead of the leaf and its RecordInfo).
type spanRef struct {
	file uint32
	off  uint32
	n    uint32
}

type traceSpoolFile struct {
	num       uint32
	path      string
	f         *os.File
	size      int64 // bytes appended, buffered ones included
	live      int   // spans of open traces that point into this file
	liveBytes int64
}

// traceSpool is owned by the engine loop like everything else in the engine, so it needs no locking.
type traceSpool struct {
	dir    string
	rotate int64
	files  map[uint32]*traceSpoolFile
	cur    *traceSpoolFile
	buf    *bufio.Writer // writes to cur
	next   uint32
	// rolled is set when a new file was started; the engine then compacts sparse older files.
	rolled  bool
	scratch []byte
}

func newTraceSpool(dir string, rotate int64) *traceSpool {
	return &traceSpool{dir: dir, rotate: rotate, files: map[uint32]*traceSpoolFile{}}
}

// append writes one leaf and returns where it is.
func (sp *traceSpool) append(leaf []byte) (spanRef, error) {
	n := int64(len(leaf))
	if n > math.MaxUint32 {
		return spanRef{}, fmt.Errorf("span of %d bytes is too large for the trace spool", n)
	}
	// A leaf larger than rotate gets a file of its own; offsets must fit the 32-bit references.
	if sp.cur == nil || (sp.cur.size > 0 && (sp.cur.size+n > sp.rotate || sp.cur.size+n > math.MaxUint32)) {
		if err := sp.roll(); err != nil {
			return spanRef{}, err
		}
	}
	if _, err := sp.buf.Write(leaf); err != nil {
		return spanRef{}, fmt.Errorf("writing trace spool %s: %w", sp.cur.path, err)
	}
	f := sp.cur
	r := spanRef{file: f.num, off: uint32(f.size), n: uint32(n)}
	f.size += n
	f.live++
	f.liveBytes += n
	return r, nil
}

// roll starts a new current file. The previous one is flushed (it is read with ReadAt from now on) and deleted
// right away if no open trace points into it.
func (sp *traceSpool) roll() error {
	if old := sp.cur; old != nil {
		if err := sp.buf.Flush(); err != nil {
			return fmt.Errorf("writing trace spool %s: %w", old.path, err)
		}
		sp.cur = nil
		if old.live == 0 {
			sp.remove(old)
		}
		sp.rolled = true
	}
	sp.next++
	p := filepath.Join(sp.dir, fmt.Sprintf("%s%d.spool", traceSpoolPrefix, sp.next))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	sp.cur = &traceSpoolFile{num: sp.next, path: p, f: f}
	sp.files[sp.next] = sp.cur
	if sp.buf == nil {
		sp.buf = bufio.NewWriterSize(f, 64<<10)
	} else {
		sp.buf.Reset(f)
	}
	return nil
}

func (sp *traceSpool) remove(f *traceSpoolFile) {
	// Errors are ignored: the file is a cache, and open removes whatever is left of the spool directory.
	_ = f.f.Close()
	_ = os.Remove(f.path)
	delete(sp.files, f.num)
}

// release drops references of a completed trace; a file no open trace points into is deleted (the current one
// once it is rolled).
func (sp *traceSpool) release(refs []spanRef) {
	var f *traceSpoolFile
	for _, r := range refs {
		if f == nil || f.num != r.file {
			if f = sp.files[r.file]; f == nil {
				continue
			}
		}
		f.live--
		f.liveBytes -= int64(r.n)
		if f.live == 0 && f != sp.cur {
			sp.remove(f)
			f = nil
		}
	}
}

// read returns the leaves refs point to, in order, sharing one buffer. Spans written one after another are read
// with one call.
func (sp *traceSpool) read(refs []spanRef) ([][]byte, error) {
	total, inCur := 0, false
	for _, r := range refs {
		total += int(r.n)
		inCur = inCur || (sp.cur != nil && r.file == sp.cur.num)
	}
	if inCur && sp.buf.Buffered() > 0 {
		if err := sp.buf.Flush(); err != nil {
			return nil, fmt.Errorf("writing trace spool %s: %w", sp.cur.path, err)
		}
	}
	buf := make([]byte, total)
	leaves := make([][]byte, len(refs))
	pos := 0
	for i := 0; i < len(refs); {
		first := refs[i]
		j, end := i+1, int64(first.off)+int64(first.n)
		for j < len(refs) && refs[j].file == first.file && int64(refs[j].off) == end {
			end += int64(refs[j].n)
			j++
		}
		f := sp.files[first.file]
		if f == nil {
			return nil, fmt.Errorf("trace spool file %d is gone", first.file)
		}
		size := int(end - int64(first.off))
		if _, err := f.f.ReadAt(buf[pos:pos+size], int64(first.off)); err != nil {
			return nil, fmt.Errorf("reading trace spool %s: %w", f.path, err)
		}
		for ; i < j; i++ {
			n := int(refs[i].n)
			leaves[i] = buf[pos : pos+n : pos+n]
			pos += n
		}
	}
	return leaves, nil
}

// sparse lists the non-current files of which less than a quarter is still referenced.
func (sp *traceSpool) sparse() map[uint32]bool {
	var out map[uint32]bool
	for num, f := range sp.files {
		if f != sp.cur && f.liveBytes*4 < f.size {
			if out == nil {
				out = map[uint32]bool{}
			}
			out[num] = true
		}
	}
	return out
}

// move copies one referenced leaf to the current file and releases the old reference.
func (sp *traceSpool) move(r spanRef) (spanRef, error) {
	f := sp.files[r.file]
	if f == nil {
		return spanRef{}, fmt.Errorf("trace spool file %d is gone", r.file)
	}
	if cap(sp.scratch) < int(r.n) {
		sp.scratch = make([]byte, r.n)
	}
	b := sp.scratch[:r.n]
	if _, err := f.f.ReadAt(b, int64(r.off)); err != nil {
		return spanRef{}, fmt.Errorf("reading trace spool %s: %w", f.path, err)
	}
	nr, err := sp.append(b)
	if err != nil {
		return spanRef{}, err
	}
	sp.release([]spanRef{r})
	return nr, nil
}

func (sp *traceSpool) close() error {
	var first error
	for _, f := range sp.files {
		if err := f.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	sp.files, sp.cur = map[uint32]*traceSpoolFile{}, nil
	return first
}

// compactTraceSpool moves the spans still referenced from mostly dead spool files into the current one, so that a
// few long-lived traces (spans keep arriving within trace_idle) cannot pin whole files: the spool stays within
// about four times the referenced bytes plus the current file.
func (e *engine) compactTraceSpool() error {
	victims := e.tspool.sparse()
	if len(victims) == 0 {
		return nil
	}
	for _, t := range slices.Concat(e.traceHeap, e.lingerHeap) {
		for i, r := range t.refs {
			if !victims[r.file] {
				continue
			}
			nr, err := e.tspool.move(r)
			if err != nil {
				return err
			}
			t.refs[i] = nr
		}
	}
	return nil
}

// traceHeap orders open traces by last arrival (ties by the order they got it), so the one to complete early
// for trace_max_open and the idle ones are found without scanning every trace.
type traceHeap []*traceState

func (h traceHeap) Len() int { return len(h) }

func (h traceHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.lastArrival != b.lastArrival {
		return a.lastArrival < b.lastArrival
	}
	return a.seq < b.seq
}

func (h traceHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}

func (h *traceHeap) Push(x any) {
	t := x.(*traceState)
	t.idx = len(*h)
	*h = append(*h, t)
}

func (h *traceHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}

// idle returns the traces whose last span arrived at or before idle. A subtree whose root arrived later holds
// only later traces, so this visits little more than what it returns.
func (h traceHeap) idle(idle int64) []*traceState {
	var out []*traceState
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(h) || h[i].lastArrival > idle {
			continue
		}
		out = append(out, h[i])
		stack = append(stack, 2*i+1, 2*i+2)
	}
	return out
}

var _ heap.Interface = (*traceHeap)(nil)
