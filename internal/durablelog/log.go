package durablelog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Policy says what Open does with corruption (not with a torn tail, which is always cut).
type Policy string

const (
	// PolicySalvage copies damaged bytes aside, keeps every intact entry and opens.
	PolicySalvage Policy = "salvage"
	// PolicyFail refuses to open a corrupt log with an error wrapping ErrCorrupt.
	PolicyFail Policy = "fail"
)

// Options configure Open.
type Options struct {
	Dir string
	// SegmentBytes: the active segment is rotated once it exceeds this (default 64 MiB).
	SegmentBytes int64
	// MaxBytes bounds the bytes of all segments; 0 = unbounded.
	MaxBytes int64
	// KeyRetention is how long keys of reclaimed segments still deduplicate (default 24h).
	KeyRetention time.Duration
	// OnCorruption defaults to PolicySalvage.
	OnCorruption Policy
	// CursorSyncInterval bounds how long a cursor commit stays in memory only (default 1s).
	CursorSyncInterval time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
	// OnCommit, if set, is called after each group commit.
	OnCommit func(entries, bytes int, fsync time.Duration)
}

// Record is what Append writes.
type Record struct {
	Type    uint8
	HasKey  bool
	Key     [16]byte
	Payload []byte
}

// Entry is a record as read back from the log.
type Entry struct {
	Seq     uint64
	Arrival int64
	Type    uint8
	HasKey  bool
	Key     [16]byte
	Payload []byte
}

var (
	// ErrFull: the log holds MaxBytes; retry once consumers have caught up.
	ErrFull = errors.New("durablelog: log full")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("durablelog: log closed")
	// ErrLocked: another process (or Log) has the directory open.
	ErrLocked = errors.New("durablelog: log directory is locked by another process")
	// ErrCorrupt: the log has damaged entries (see Report, `tfocol log check`).
	ErrCorrupt = errors.New("durablelog: log is corrupt")
	// ErrNoSpace is the disk-full error; errors.Is(err, ErrNoSpace) and errors.Is(err, syscall.ENOSPC) agree.
	ErrNoSpace error = syscall.ENOSPC
	// ErrTooLarge: a payload longer than MaxPayload.
	ErrTooLarge = errors.New("durablelog: payload too large")
)

// Stats is a snapshot of the log.
type Stats struct {
	Bytes           int64
	MaxBytes        int64 // the bound (Options.MaxBytes; 0 = unbounded)
	Segments        int
	FirstSeq        uint64
	NextSeq         uint64
	Full            bool
	LastAppendError string
	Damaged         uint64 // entries lost to corruption found at open
	Cursors         []CursorStats
}

// CursorStats describe one cursor. LagBytes is an estimate (exact to the frame only at segment boundaries).
type CursorStats struct {
	Name       string
	Committed  uint64
	Read       uint64
	LagEntries uint64
	LagBytes   int64
}

type loc struct {
	seq uint64
	off int64
}

type segment struct {
	name        uint64
	size        int64
	count       uint64
	first, last uint64
	lastArrival int64
	sparse      []loc // every sparseEvery-th entry, starting with the first
	keys        []keyRec
}

func (s *segment) add(seq uint64, off int64, arrival int64, hasKey bool, key [keySize]byte) {
	if s.count%sparseEvery == 0 {
		s.sparse = append(s.sparse, loc{seq, off})
	}
	if s.count == 0 {
		s.first = seq
	}
	s.count++
	s.last = seq
	s.lastArrival = arrival
	if hasKey {
		s.keys = append(s.keys, keyRec{key: key, seq: seq, arrival: arrival})
	}
}

// offsetOf returns a byte offset at or before the frame of seq (exact to within sparseEvery frames).
func (s *segment) offsetOf(seq uint64) int64 {
	i := sort.Search(len(s.sparse), func(i int) bool { return s.sparse[i].seq > seq })
	if i == 0 {
		return 0
	}
	return s.sparse[i-1].off
}

// hooks let tests inject I/O failures into group commits.
type hooks struct {
	write func(f *os.File, b []byte) (int, error)
	sync  func(f *os.File) error
}

type request struct {
	rec     Record
	seq     uint64
	arrival int64
	dup     bool
	err     error
	taken   bool
	done    chan struct{}
	dups    []*request // appends of the same key in the same group
	follows bool       // in another request's dups
}

// Log is an open durable log.
type Log struct {
	opts   Options
	dir    string
	unlock func()
	hooks  hooks

	mu          sync.Mutex
	closed      bool
	pending     []*request
	notify      chan struct{} // closed and replaced when entries become readable or the log closes
	segs        []*segment
	active      *os.File
	activeSeg   *segment
	nextSeq     uint64 // next seq to become durable
	assignNext  uint64 // next seq to assign (> nextSeq while a group is in flight)
	lastArrival int64
	headFloor   int64
	bytes       int64
	keys        map[[keySize]byte]uint64
	oldKeys     map[[keySize]byte]keyRec
	sidecars    []*sidecar
	cursors     map[string]*Cursor
	full        bool
	lastErr     string
	damaged     uint64

	wbuf        []byte
	kick        chan struct{}
	reclaimKick chan struct{}
	quit        chan struct{}
	wg          sync.WaitGroup
	reclaimMu   sync.Mutex
	cursorMu    sync.Mutex // serialises cursor file writes and removals
}

// Open opens (creating if needed) the log in opts.Dir, recovering it as described in the package comment.
func Open(opts Options) (*Log, *Report, error) {
	if opts.Dir == "" {
		return nil, nil, errors.New("durablelog: Options.Dir is required")
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.KeyRetention <= 0 {
		opts.KeyRetention = 24 * time.Hour
	}
	if opts.OnCorruption == "" {
		opts.OnCorruption = PolicySalvage
	}
	if opts.OnCorruption != PolicySalvage && opts.OnCorruption != PolicyFail {
		return nil, nil, fmt.Errorf("durablelog: unknown corruption policy %q", opts.OnCorruption)
	}
	if opts.CursorSyncInterval <= 0 {
		opts.CursorSyncInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, cursorDir), 0o755); err != nil {
		return nil, nil, err
	}
	unlock, err := lockDir(opts.Dir, true)
	if err != nil {
		return nil, nil, err
	}
	st, err := recoverDir(opts.Dir, opts.OnCorruption, false, opts.Now().UnixNano(), opts.KeyRetention)
	if err != nil {
		unlock()
		if st != nil {
			return nil, st.rep, err
		}
		return nil, nil, err
	}
	l := &Log{
		opts: opts, dir: opts.Dir, unlock: unlock,
		notify: make(chan struct{}), segs: st.segs, nextSeq: st.nextSeq, assignNext: st.nextSeq,
		lastArrival: st.lastArrival, keys: st.keys, oldKeys: st.oldKeys, sidecars: st.sidecars,
		cursors: map[string]*Cursor{}, damaged: st.rep.LostEntries(),
		kick: make(chan struct{}, 1), reclaimKick: make(chan struct{}, 1), quit: make(chan struct{}),
	}
	for _, s := range l.segs {
		l.bytes += s.size
	}
	for name, committed := range st.cursors {
		l.cursors[name] = &Cursor{l: l, name: name, committed: committed, persisted: committed, read: committed}
	}
	l.wg.Add(2)
	go l.committer()
	go l.background()
	return l, st.rep, nil
}

// Append writes r once and returns after it is durable. With r.HasKey, a key already in the log (or in the key
// index of reclaimed segments within KeyRetention) is not written again: dup is true and seq is the original's
// (0 if unknown).
func (l *Log) Append(ctx context.Context, r Record) (seq uint64, dup bool, err error) {
	if len(r.Payload) > MaxPayload {
		return 0, false, ErrTooLarge
	}
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	req := &request{rec: r, done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, false, ErrClosed
	}
	l.pending = append(l.pending, req)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		l.mu.Lock()
		if !req.taken {
			for i, p := range l.pending {
				if p == req {
					l.pending = append(l.pending[:i], l.pending[i+1:]...)
					break
				}
			}
			l.mu.Unlock()
			return 0, false, ctx.Err()
		}
		l.mu.Unlock()
		<-req.done // already being written: its outcome is the truth
	}
	return req.seq, req.dup, req.err
}

func (l *Log) committer() {
	defer l.wg.Done()
	for {
		l.mu.Lock()
		for len(l.pending) == 0 {
			if l.closed {
				l.mu.Unlock()
				return
			}
			l.mu.Unlock()
			<-l.kick
			l.mu.Lock()
		}
		batch := l.pending
		l.pending = nil
		for _, r := range batch {
			r.taken = true
		}
		l.commit(batch)
	}
}

func (l *Log) write(f *os.File, b []byte) (int, error) {
	if l.hooks.write != nil {
		return l.hooks.write(f, b)
	}
	return f.Write(b)
}

func (l *Log) sync(f *os.File) error {
	if l.hooks.sync != nil {
		return l.hooks.sync(f)
	}
	return fsync(f)
}

// commit writes one group. It is called with l.mu held and returns with it released.
func (l *Log) commit(batch []*request) {
	now := l.opts.Now().UnixNano()
	retention := l.opts.KeyRetention.Nanoseconds()
	if l.active != nil && l.activeSeg.size > l.opts.SegmentBytes {
		l.active.Close()
		l.active, l.activeSeg = nil, nil
	}
	var (
		group   []*request
		inGroup map[[keySize]byte]*request
		sawFull bool
	)
	buf := l.wbuf[:0]
	total := l.bytes
	prevNext, prevArrival := l.assignNext, l.lastArrival
	for _, r := range batch {
		if r.rec.HasKey {
			if seq, ok := l.keys[r.rec.Key]; ok {
				r.seq, r.dup = seq, true
				continue
			}
			if k, ok := l.oldKeys[r.rec.Key]; ok && now-k.arrival <= retention {
				r.seq, r.dup = k.seq, true
				continue
			}
			if o := inGroup[r.rec.Key]; o != nil {
				o.dups = append(o.dups, r)
				r.follows = true
				continue
			}
		}
		fs := int64(frameSize(&r.rec))
		if l.opts.MaxBytes > 0 && total+fs > l.opts.MaxBytes {
			r.err = ErrFull
			sawFull = true
			continue
		}
		total += fs
		r.seq = l.assignNext
		l.assignNext++
		r.arrival = max(now, l.lastArrival+1, l.headFloor)
		l.lastArrival = r.arrival
		buf = appendFrame(buf, r.seq, r.arrival, &r.rec)
		group = append(group, r)
		if r.rec.HasKey {
			if inGroup == nil {
				inGroup = map[[keySize]byte]*request{}
			}
			inGroup[r.rec.Key] = r
		}
	}
	if sawFull {
		l.full = true
	}
	if len(group) == 0 {
		l.mu.Unlock()
		finish(batch)
		return
	}
	f, seg := l.active, l.activeSeg
	var reuse *segment
	if f == nil && len(l.segs) > 0 && l.segs[len(l.segs)-1].name == prevNext {
		reuse = l.segs[len(l.segs)-1] // an empty newest segment found at open
	}
	l.mu.Unlock()

	var err error
	var fsyncDur time.Duration
	created := false
	if f == nil {
		f, seg, err = l.openSegment(prevNext, reuse)
		created = err == nil && reuse == nil
	}
	pre := int64(0)
	if err == nil {
		pre = seg.size
		var n int
		if n, err = l.write(f, buf); err == nil && n != len(buf) {
			err = fmt.Errorf("short write: %d of %d bytes", n, len(buf))
		}
		if err == nil {
			t := time.Now()
			err = l.sync(f)
			fsyncDur = time.Since(t)
		}
		if err != nil {
			// Never trust the file again: cut it back and close it; the next group starts a fresh segment.
			f.Truncate(pre)
			f.Close()
			if pre == 0 {
				os.Remove(filepath.Join(l.dir, segName(seg.name)))
				syncDir(l.dir)
			}
		}
	}

	l.mu.Lock()
	if err != nil {
		l.assignNext, l.lastArrival = prevNext, prevArrival
		l.active, l.activeSeg = nil, nil
		if seg != nil && pre == 0 && !created && len(l.segs) > 0 && l.segs[len(l.segs)-1] == seg {
			l.segs = l.segs[:len(l.segs)-1]
		}
		l.lastErr = err.Error()
		err = fmt.Errorf("durablelog: appending %d entries at seq %d: %w", len(group), prevNext, err)
		for _, r := range group {
			r.seq, r.err = 0, err
		}
	} else {
		if created {
			l.segs = append(l.segs, seg)
		}
		l.active, l.activeSeg = f, seg
		off := seg.size
		for _, r := range group {
			seg.add(r.seq, off, r.arrival, r.rec.HasKey, r.rec.Key)
			off += int64(frameSize(&r.rec))
			if r.rec.HasKey {
				l.keys[r.rec.Key] = r.seq
			}
		}
		seg.size += int64(len(buf))
		l.bytes += int64(len(buf))
		l.nextSeq = l.assignNext
		l.lastErr = ""
		if !sawFull {
			l.full = false
		}
		if seg.size > l.opts.SegmentBytes {
			f.Close()
			l.active, l.activeSeg = nil, nil
		}
		close(l.notify)
		l.notify = make(chan struct{})
	}
	if cap(buf) <= 8<<20 {
		l.wbuf = buf[:0]
	} else {
		l.wbuf = nil
	}
	l.mu.Unlock()
	finish(batch)
	if err == nil {
		if l.opts.OnCommit != nil {
			l.opts.OnCommit(len(group), len(buf), fsyncDur)
		}
		select {
		case l.reclaimKick <- struct{}{}:
		default:
		}
	}
}

func finish(batch []*request) {
	for _, r := range batch {
		if r.follows {
			continue
		}
		for _, d := range r.dups {
			if r.err != nil {
				d.err = r.err
			} else {
				d.seq, d.dup = r.seq, true
			}
			close(d.done)
		}
		close(r.done)
	}
}

// openSegment opens the file for a new active segment named first.
func (l *Log) openSegment(first uint64, reuse *segment) (*os.File, *segment, error) {
	path := filepath.Join(l.dir, segName(first))
	if reuse != nil {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, nil, err
		}
		return f, reuse, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if errors.Is(err, os.ErrExist) {
		// A leftover of a failed group whose removal failed: it holds nothing acknowledged.
		os.Remove(path)
		f, err = os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		os.Remove(path)
		return nil, nil, err
	}
	return f, &segment{name: first}, nil
}

// Close commits the appends already queued, persists the cursors and releases the directory.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	close(l.quit)
	l.wg.Wait()
	err := l.persistCursors()
	l.mu.Lock()
	if l.active != nil {
		if cerr := l.active.Close(); err == nil {
			err = cerr
		}
		l.active, l.activeSeg = nil, nil
	}
	cursors := make([]*Cursor, 0, len(l.cursors))
	for _, c := range l.cursors {
		cursors = append(cursors, c)
	}
	l.mu.Unlock()
	for _, c := range cursors {
		c.nextMu.Lock()
		c.closeFile()
		c.nextMu.Unlock()
	}
	l.unlock()
	return err
}

func (l *Log) background() {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.CursorSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
			l.persistCursors()
			l.reclaim()
		case <-l.reclaimKick:
			l.reclaim()
		}
	}
}

// firstSeqLocked is the seq of the oldest retained entry (nextSeq when there is none).
func (l *Log) firstSeqLocked() uint64 {
	for _, s := range l.segs {
		if s.count > 0 {
			return s.first
		}
	}
	return l.nextSeq
}

// lagBytesLocked is the number of segment bytes holding entries with seq >= from.
func (l *Log) lagBytesLocked(from uint64) int64 {
	var n int64
	for _, s := range l.segs {
		switch {
		case s.count == 0 || s.last < from:
		case s.first >= from:
			n += s.size
		default:
			// From the sparse index entry before from, at the segment's average frame size.
			i := sort.Search(len(s.sparse), func(i int) bool { return s.sparse[i].seq > from }) - 1
			off := s.sparse[i].off + int64(from-s.sparse[i].seq)*(s.size/int64(s.count))
			n += s.size - min(off, s.size)
		}
	}
	return n
}

// Stats returns a snapshot.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Stats{Bytes: l.bytes, MaxBytes: l.opts.MaxBytes, Segments: len(l.segs), FirstSeq: l.firstSeqLocked(), NextSeq: l.nextSeq, Full: l.full,
		LastAppendError: l.lastErr, Damaged: l.damaged}
	for _, c := range l.cursors {
		cs := CursorStats{Name: c.name, Committed: c.committed, Read: c.read, LagBytes: l.lagBytesLocked(c.committed)}
		if c.committed < l.nextSeq {
			cs.LagEntries = l.nextSeq - c.committed
		}
		st.Cursors = append(st.Cursors, cs)
	}
	sort.Slice(st.Cursors, func(i, j int) bool { return st.Cursors[i].Name < st.Cursors[j].Name })
	return st
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }
