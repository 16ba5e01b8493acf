package durablelog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const cursorDir = "cursors"

// Cursor is a named read position on the log. Next is meant for one goroutine; the other methods are safe
// for concurrent use.
type Cursor struct {
	l    *Log
	name string

	// guarded by l.mu
	committed uint64
	persisted uint64
	read      uint64
	inUse     bool
	dropped   bool

	// guarded by nextMu
	nextMu  sync.Mutex
	file    *os.File
	fileSeg uint64
	off     int64
	buf     []byte
	out     []Entry
}

// ErrCursorDropped is returned by Next on a cursor that was dropped.
var ErrCursorDropped = errors.New("durablelog: cursor dropped")

// ValidCursorName reports whether name may name a cursor: [a-z0-9_./-]+, not "." or "..".
func ValidCursorName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 200 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("_./-", r)) {
			return false
		}
	}
	return true
}

func cursorFile(name string) string { return strings.ReplaceAll(name, "/", "%") }

func cursorName(file string) string { return strings.ReplaceAll(file, "%", "/") }

func encodeCursor(committed uint64) []byte {
	b := binary.LittleEndian.AppendUint64(nil, committed)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeCursor(b []byte) (uint64, bool) {
	if len(b) != 12 || crc32.Checksum(b[:8], castagnoli) != binary.LittleEndian.Uint32(b[8:]) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

func (l *Log) writeCursor(name string, committed uint64) error {
	return writeAtomic(filepath.Join(l.dir, cursorDir), cursorFile(name), encodeCursor(committed))
}

// Cursor returns the named cursor, creating it at the oldest retained entry if it does not exist. A cursor
// is handed out once per open Log.
func (l *Log) Cursor(name string) (*Cursor, error) {
	if !ValidCursorName(name) {
		return nil, fmt.Errorf("durablelog: invalid cursor name %q (want [a-z0-9_./-]+)", name)
	}
	l.cursorMu.Lock()
	defer l.cursorMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if c, ok := l.cursors[name]; ok {
		if c.inUse {
			return nil, fmt.Errorf("durablelog: cursor %q is already in use", name)
		}
		c.inUse = true
		return c, nil
	}
	first := l.firstSeqLocked()
	if err := l.writeCursor(name, first); err != nil {
		return nil, fmt.Errorf("durablelog: creating cursor %q: %w", name, err)
	}
	c := &Cursor{l: l, name: name, committed: first, persisted: first, read: first, inUse: true}
	l.cursors[name] = c
	return c, nil
}

// DropCursor deletes a cursor; it no longer holds back reclaim.
func (l *Log) DropCursor(name string) error {
	l.cursorMu.Lock()
	defer l.cursorMu.Unlock()
	l.mu.Lock()
	c, ok := l.cursors[name]
	if !ok {
		l.mu.Unlock()
		return fmt.Errorf("durablelog: no cursor %q", name)
	}
	c.dropped = true
	delete(l.cursors, name)
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
	dir := filepath.Join(l.dir, cursorDir)
	if err := os.Remove(filepath.Join(dir, cursorFile(name))); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	select {
	case l.reclaimKick <- struct{}{}:
	default:
	}
	return nil
}

// persistCursors writes the cursors whose commit moved since they were last written.
func (l *Log) persistCursors() error {
	l.cursorMu.Lock()
	defer l.cursorMu.Unlock()
	type todo struct {
		c *Cursor
		v uint64
	}
	var work []todo
	l.mu.Lock()
	for _, c := range l.cursors {
		if c.committed != c.persisted {
			work = append(work, todo{c, c.committed})
		}
	}
	l.mu.Unlock()
	var first error
	for _, w := range work {
		if err := l.writeCursor(w.c.name, w.v); err != nil {
			if first == nil {
				first = fmt.Errorf("durablelog: persisting cursor %q: %w", w.c.name, err)
			}
			continue
		}
		l.mu.Lock()
		w.c.persisted = w.v
		l.mu.Unlock()
	}
	return first
}

// Commit records that every entry with Seq < next is done. It never moves backwards; it is persisted within
// CursorSyncInterval and on Close.
func (c *Cursor) Commit(next uint64) {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	next = min(next, l.nextSeq)
	if next > c.committed {
		c.committed = next
	}
}

// Committed is the next seq to deliver after a restart.
func (c *Cursor) Committed() uint64 {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	return c.committed
}

// Head reports whether the read position is at the log's next seq, and a time that every entry appended
// later has an Arrival at or after.
func (c *Cursor) Head() (atHead bool, asOf time.Time) {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Now().UnixNano()
	l.headFloor = max(l.headFloor, now)
	return c.read >= l.assignNext, time.Unix(0, now)
}

// segmentForLocked returns the first segment holding an entry with seq >= seq.
func (l *Log) segmentForLocked(seq uint64) *segment {
	var found *segment
	for i := len(l.segs) - 1; i >= 0; i-- {
		s := l.segs[i]
		if s.count == 0 {
			continue
		}
		if s.last < seq {
			break
		}
		found = s
	}
	return found
}

func (c *Cursor) closeFile() {
	if c.file != nil {
		c.file.Close()
		c.file = nil
	}
}

// Next blocks until at least one entry past the read position is durable (or ctx is done, or the log is
// closed) and returns up to maxEntries entries, stopping before maxBytes of payload unless that would return
// none. Payloads are valid until the next call of Next.
func (c *Cursor) Next(ctx context.Context, maxEntries, maxBytes int) ([]Entry, error) {
	maxEntries = max(maxEntries, 1)
	c.nextMu.Lock()
	defer c.nextMu.Unlock()
	l := c.l
	for {
		l.mu.Lock()
		var seg *segment
		for {
			if c.dropped {
				l.mu.Unlock()
				c.closeFile()
				return nil, ErrCursorDropped
			}
			if l.closed {
				l.mu.Unlock()
				return nil, ErrClosed
			}
			if c.read < l.nextSeq {
				if seg = l.segmentForLocked(c.read); seg != nil {
					break
				}
				c.read = l.nextSeq // the rest was lost to damage
				continue
			}
			ch := l.notify
			l.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			l.mu.Lock()
		}
		name, limit, read := seg.name, seg.size, c.read
		seek := int64(-1)
		if c.file == nil || c.fileSeg != name {
			seek = seg.offsetOf(read)
		}
		l.mu.Unlock()
		if seek >= 0 {
			c.closeFile()
			f, err := os.Open(filepath.Join(l.dir, segName(name)))
			if err != nil {
				return nil, fmt.Errorf("durablelog: cursor %q: %w", c.name, err)
			}
			c.file, c.fileSeg, c.off = f, name, seek
		}
		out, newRead, err := c.readFrom(limit, read, maxEntries, maxBytes)
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		c.read = newRead
		l.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		c.closeFile() // nothing at or past read where the file position was: seek again
	}
}

func corruptAt(seg uint64, off int64, why string) error {
	return fmt.Errorf("%w: %s at byte %d: %s", ErrCorrupt, segName(seg), off, why)
}

// readFrom reads frames from c.off up to limit, skipping those below read.
func (c *Cursor) readFrom(limit int64, read uint64, maxEntries, maxBytes int) ([]Entry, uint64, error) {
	c.out = c.out[:0]
	payload := 0
	for c.off < limit && len(c.out) == 0 {
		chunk := int(min(int64(max(maxBytes, 0))+64<<10, limit-c.off))
		if cap(c.buf) < chunk {
			c.buf = make([]byte, chunk)
		}
		buf := c.buf[:chunk]
		if _, err := c.file.ReadAt(buf, c.off); err != nil {
			return nil, read, fmt.Errorf("durablelog: reading %s: %w", segName(c.fileSeg), err)
		}
		p := 0
		for p < len(buf) && len(c.out) < maxEntries {
			if len(buf)-p < headerSize {
				if p == 0 {
					return nil, read, corruptAt(c.fileSeg, c.off, "truncated frame")
				}
				break
			}
			n := frameLen(buf[p:])
			if n == 0 {
				return nil, read, corruptAt(c.fileSeg, c.off+int64(p), "bad frame header")
			}
			if n > len(buf)-p {
				if p > 0 {
					break
				}
				if c.off+int64(n) > limit {
					return nil, read, corruptAt(c.fileSeg, c.off, "frame past end of segment")
				}
				c.buf = make([]byte, n)
				buf = c.buf
				if _, err := c.file.ReadAt(buf, c.off); err != nil {
					return nil, read, fmt.Errorf("durablelog: reading %s: %w", segName(c.fileSeg), err)
				}
			}
			e, ok := decodeFrame(buf[p : p+n])
			if !ok {
				return nil, read, corruptAt(c.fileSeg, c.off+int64(p), "checksum mismatch")
			}
			if e.Seq < read {
				p += n
				continue
			}
			if len(c.out) > 0 && payload+len(e.Payload) > maxBytes {
				break
			}
			c.out = append(c.out, e)
			payload += len(e.Payload)
			read = e.Seq + 1
			p += n
		}
		c.off += int64(p)
	}
	return c.out, read, nil
}
