// Package wal is the receipt exporter's write-ahead log: numbered segment files of CRC-checked frames, appended
// with one write and one fsync per group of entries. A torn tail (a crash mid-write) is copied aside and cut on
// open; the entries before it are replayed.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Frame layout: u32le payload length ‖ u32le CRC-32C(payload) ‖ payload.
const (
	headerSize = 8
	// MaxPayload bounds one entry; larger lengths are treated as corruption.
	MaxPayload = 256 << 20
	segmentExt = ".wal"
	// retiredExt names segments whose entries are all sealed but are kept for their request keys.
	retiredExt = ".retired"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendFrame appends one framed payload to dst.
func AppendFrame(dst, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...)
}

// ErrTorn marks the first frame that is incomplete or fails its checksum.
var ErrTorn = errors.New("torn or corrupt frame")

// ParseFrames splits data into payloads. It stops at the first bad frame and returns the offset of the clean
// prefix together with ErrTorn.
func ParseFrames(data []byte, fn func(payload []byte) error) (clean int, err error) {
	off := 0
	for off < len(data) {
		if len(data)-off < headerSize {
			return off, ErrTorn
		}
		n := binary.LittleEndian.Uint32(data[off:])
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n == 0 || n > MaxPayload || uint64(len(data)-off-headerSize) < uint64(n) {
			return off, ErrTorn
		}
		payload := data[off+headerSize : off+headerSize+int(n)]
		if crc32.Checksum(payload, castagnoli) != sum {
			return off, ErrTorn
		}
		if err := fn(payload); err != nil {
			return off, err
		}
		off += headerSize + int(n)
	}
	return off, nil
}

// Recovery reports what Open found.
type Recovery struct {
	Segments     int
	Entries      int
	TornBytes    int
	TornFile     string
	ReplayedSize int64
}

// WAL is not safe for concurrent use; the exporter drives it from one goroutine.
type WAL struct {
	dir         string
	segmentSize int64
	segs        map[uint64]int64 // segment id → size
	retired     map[uint64]int64 // retired segment id → size
	active      *os.File
	activeID    uint64
	activeSize  int64
	broken      error
}

func segName(id uint64) string { return fmt.Sprintf("%020d%s", id, segmentExt) }

func retiredName(id uint64) string { return fmt.Sprintf("%020d%s", id, retiredExt) }

func listSegments(dir, ext string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ext)
		if !ok || e.IsDir() {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// Open replays every entry in order through replay (segment id, payload), repairs a torn tail of the last
// segment, and starts a fresh active segment.
func Open(dir string, segmentSize int64, replay func(seg uint64, payload []byte) error) (*WAL, Recovery, error) {
	var rec Recovery
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, rec, err
	}
	ids, err := listSegments(dir, segmentExt)
	if err != nil {
		return nil, rec, err
	}
	retired, err := listSegments(dir, retiredExt)
	if err != nil {
		return nil, rec, err
	}
	w := &WAL{dir: dir, segmentSize: segmentSize, segs: map[uint64]int64{}, retired: map[uint64]int64{}}
	for _, id := range retired {
		fi, err := os.Stat(filepath.Join(dir, retiredName(id)))
		if err != nil {
			return nil, rec, err
		}
		w.retired[id] = fi.Size()
	}
	for i, id := range ids {
		path := filepath.Join(dir, segName(id))
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, rec, err
		}
		clean, perr := ParseFrames(data, func(p []byte) error {
			rec.Entries++
			return replay(id, p)
		})
		if perr != nil && !errors.Is(perr, ErrTorn) {
			return nil, rec, fmt.Errorf("replaying %s: %w", path, perr)
		}
		if errors.Is(perr, ErrTorn) {
			if i != len(ids)-1 {
				return nil, rec, fmt.Errorf("%s: corrupt frame at byte %d in a sealed segment (not a crash tail); refusing to drop acknowledged data", path, clean)
			}
			aside := fmt.Sprintf("%s.torn-%d", path, time.Now().UnixNano())
			if err := os.WriteFile(aside, data[clean:], 0o644); err != nil {
				return nil, rec, fmt.Errorf("saving torn WAL tail: %w", err)
			}
			if err := os.Truncate(path, int64(clean)); err != nil {
				return nil, rec, fmt.Errorf("cutting torn WAL tail: %w", err)
			}
			if err := syncFile(path); err != nil {
				return nil, rec, err
			}
			rec.TornBytes, rec.TornFile = len(data)-clean, aside
		}
		w.segs[id] = int64(clean)
		rec.ReplayedSize += int64(clean)
		rec.Segments++
	}
	next := uint64(1)
	if len(ids) > 0 {
		next = ids[len(ids)-1] + 1
	}
	if len(retired) > 0 {
		next = max(next, retired[len(retired)-1]+1)
	}
	if err := w.openSegment(next); err != nil {
		return nil, rec, err
	}
	return w, rec, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (w *WAL) openSegment(id uint64) error {
	f, err := os.OpenFile(filepath.Join(w.dir, segName(id)), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	if w.active != nil {
		w.active.Close()
	}
	w.active, w.activeID, w.activeSize = f, id, 0
	w.segs[id] = 0
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Append writes the frames of all payloads with one write and makes them durable with one fsync. It returns the
// segment that holds them.
func (w *WAL) Append(payloads [][]byte) (uint64, error) {
	if w.broken != nil {
		return 0, w.broken
	}
	if w.activeSize >= w.segmentSize {
		if err := w.openSegment(w.activeID + 1); err != nil {
			return 0, err
		}
	}
	size := 0
	for _, p := range payloads {
		size += headerSize + len(p)
	}
	buf := make([]byte, 0, size)
	for _, p := range payloads {
		buf = AppendFrame(buf, p)
	}
	if _, err := w.active.Write(buf); err != nil {
		return 0, w.undo(err)
	}
	if err := w.active.Sync(); err != nil {
		return 0, w.undo(err)
	}
	w.activeSize += int64(len(buf))
	w.segs[w.activeID] = w.activeSize
	return w.activeID, nil
}

func (w *WAL) undo(cause error) error {
	if err := w.active.Truncate(w.activeSize); err != nil {
		w.broken = fmt.Errorf("WAL unusable after failed append (%v) and failed truncate: %w", cause, err)
		return w.broken
	}
	return cause
}

// Active is the id of the segment being appended to.
func (w *WAL) Active() uint64 { return w.activeID }

// Rotate starts a new active segment so the current one can be removed once its data is sealed.
func (w *WAL) Rotate() error {
	if w.activeSize == 0 {
		return nil
	}
	return w.openSegment(w.activeID + 1)
}

// Remove deletes a segment whose entries are all sealed. The active segment is never removed.
func (w *WAL) Remove(id uint64) error {
	if id == w.activeID {
		return nil
	}
	if _, ok := w.segs[id]; !ok {
		return nil
	}
	if err := os.Remove(filepath.Join(w.dir, segName(id))); err != nil && !os.IsNotExist(err) {
		return err
	}
	delete(w.segs, id)
	return syncDir(w.dir)
}

// Retire renames a segment whose entries are all sealed to <id>.retired: it is no longer replayed, but its entries
// can still be read with ScanRetired until RemoveRetired deletes it. The active segment is never retired.
func (w *WAL) Retire(id uint64) error {
	if id == w.activeID {
		return nil
	}
	size, ok := w.segs[id]
	if !ok {
		return nil
	}
	if err := os.Rename(filepath.Join(w.dir, segName(id)), filepath.Join(w.dir, retiredName(id))); err != nil {
		return err
	}
	delete(w.segs, id)
	w.retired[id] = size
	return syncDir(w.dir)
}

// Retired lists the ids of retired segments.
func (w *WAL) Retired() []uint64 { return sortedIDs(w.retired) }

// ScanRetired calls fn for every entry of a retired segment. A bad frame ends the scan without an error: the
// segment's entries were replayed and sealed before it was retired, so only the keys after it are lost.
func (w *WAL) ScanRetired(id uint64, fn func(payload []byte) error) error {
	data, err := os.ReadFile(filepath.Join(w.dir, retiredName(id)))
	if err != nil {
		return err
	}
	_, err = ParseFrames(data, fn)
	if errors.Is(err, ErrTorn) {
		return nil
	}
	return err
}

// RemoveRetired deletes a retired segment.
func (w *WAL) RemoveRetired(id uint64) error {
	if _, ok := w.retired[id]; !ok {
		return nil
	}
	if err := os.Remove(filepath.Join(w.dir, retiredName(id))); err != nil && !os.IsNotExist(err) {
		return err
	}
	delete(w.retired, id)
	return syncDir(w.dir)
}

func sortedIDs(m map[uint64]int64) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Segments lists the ids of segments on disk.
func (w *WAL) Segments() []uint64 { return sortedIDs(w.segs) }

// Bytes is the total size of all segments, retired ones included.
func (w *WAL) Bytes() int64 {
	var n int64
	for _, s := range w.segs {
		n += s
	}
	for _, s := range w.retired {
		n += s
	}
	return n
}

// Close closes the active segment.
func (w *WAL) Close() error {
	if w.active == nil {
		return nil
	}
	return w.active.Close()
}
