package durablelog

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
	"sync"
	"time"
)

// Parked entries: a consumer that gives up on an entry (a permanent refusal, or its retry bound) parks it
// instead of retrying forever or dropping it. Each parked entry is one file, written atomically (temporary
// file, fsync, rename, fsync of the directory) before the consumer's cursor moves past it:
//
//	Dir/parked/<cursor>/<seq %020d>.parked          parked, waiting for an operator
//	Dir/parked/<cursor>/replay/<seq %020d>.parked   handed back by `tfocol log parked replay`; the consumer
//	                                                delivers it again and deletes it once delivered
//
// A parked file is magic "TFPK", seq (u64), arrival (i64), parked at (i64, Unix ns), type (u8), flags (u8, bit 0:
// a key follows), [key (16 bytes)], reason length (u16), reason (UTF-8), payload, then a CRC-32C of everything
// before it. The store lives outside the log's segments (it is not bounded by Options.MaxBytes) and needs no
// lock: the CLI moves files with rename while the consumer runs.
const (
	parkedDir    = "parked"
	replayDir    = "replay"
	parkedExt    = ".parked"
	parkedMagic  = 0x4B504654 // "TFPK"
	maxReasonLen = 1024
)

// ParkedEntry is an entry a consumer parked.
type ParkedEntry struct {
	Entry
	// ParkedAt is when it was parked; Reason is the last error of the consumer (never a secret: the consumer's
	// error as logged).
	ParkedAt time.Time
	Reason   string
}

// ParkedDir is the directory in which the consumer named cursor parks entries of the log in logDir.
func ParkedDir(logDir, cursor string) string {
	return filepath.Join(logDir, parkedDir, cursorFile(cursor))
}

// ParkedConsumers lists the consumers of the log in logDir that have a parked directory.
func ParkedConsumers(logDir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(logDir, parkedDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && ValidCursorName(cursorName(e.Name())) {
			out = append(out, cursorName(e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

func parkedName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, parkedExt) }

func encodeParked(p *ParkedEntry) []byte {
	reason := p.Reason
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	b := binary.LittleEndian.AppendUint32(make([]byte, 0, 64+len(reason)+len(p.Payload)), parkedMagic)
	b = binary.LittleEndian.AppendUint64(b, p.Seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(p.Arrival))
	b = binary.LittleEndian.AppendUint64(b, uint64(p.ParkedAt.UnixNano()))
	b = append(b, p.Type)
	if p.HasKey {
		b = append(b, flagKey)
		b = append(b, p.Key[:]...)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(reason)))
	b = append(b, reason...)
	b = append(b, p.Payload...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadParked = errors.New("durablelog: damaged parked entry")

func decodeParked(b []byte) (*ParkedEntry, error) {
	const fixed = 4 + 8 + 8 + 8 + 1 + 1
	if len(b) < fixed+2+4 || binary.LittleEndian.Uint32(b) != parkedMagic ||
		crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, errBadParked
	}
	body := b[:len(b)-4]
	p := &ParkedEntry{}
	p.Seq = binary.LittleEndian.Uint64(body[4:])
	p.Arrival = int64(binary.LittleEndian.Uint64(body[12:]))
	p.ParkedAt = time.Unix(0, int64(binary.LittleEndian.Uint64(body[20:])))
	p.Type = body[28]
	flags := body[29]
	off := fixed
	if flags&^flagKey != 0 {
		return nil, errBadParked
	}
	if flags&flagKey != 0 {
		if len(body) < off+keySize+2 {
			return nil, errBadParked
		}
		p.HasKey = true
		copy(p.Key[:], body[off:])
		off += keySize
	}
	if len(body) < off+2 {
		return nil, errBadParked
	}
	n := int(binary.LittleEndian.Uint16(body[off:]))
	off += 2
	if len(body) < off+n {
		return nil, errBadParked
	}
	p.Reason = string(body[off : off+n])
	p.Payload = body[off+n:]
	return p, nil
}

// ParkedStore is one consumer's parked entries. Its methods are safe for concurrent use.
type ParkedStore struct {
	dir string

	mu      sync.Mutex
	entries int64
	bytes   int64
}

// ParkedStats counts what a store holds (parked and waiting for replay).
type ParkedStats struct {
	Entries, Bytes             int64
	ReplayEntries, ReplayBytes int64
}

// OpenParked opens (creating it) the parked store in dir and counts what it holds.
func OpenParked(dir string) (*ParkedStore, error) {
	if err := os.MkdirAll(filepath.Join(dir, replayDir), 0o755); err != nil {
		return nil, err
	}
	s := &ParkedStore{dir: dir}
	st, err := s.Stats()
	if err != nil {
		return nil, err
	}
	s.entries, s.bytes = st.Entries+st.ReplayEntries, st.Bytes+st.ReplayBytes
	return s, nil
}

// RemoveTemp deletes temporary files a crash left behind. Only the consumer that owns the store calls it (a CLI
// running beside it would delete a file the consumer is writing).
func (s *ParkedStore) RemoveTemp() {
	for _, d := range []string{s.dir, filepath.Join(s.dir, replayDir)} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), tmpExt) {
				os.Remove(filepath.Join(d, e.Name()))
			}
		}
	}
}

// Dir is the store's directory.
func (s *ParkedStore) Dir() string { return s.dir }

// Held returns the entries and bytes the store holds, as counted by this process.
func (s *ParkedStore) Held() (entries, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries, s.bytes
}

// Park writes p durably; once it returns nil the consumer may move its cursor past p.Seq. Parking a seq that
// is already parked is a no-op (a consumer that crashed before its cursor moved past it parks it again).
func (s *ParkedStore) Park(p *ParkedEntry) error {
	name := parkedName(p.Seq)
	if _, err := os.Stat(filepath.Join(s.dir, name)); err == nil {
		return nil
	}
	b := encodeParked(p)
	if err := writeAtomic(s.dir, name, b); err != nil {
		return err
	}
	s.mu.Lock()
	s.entries++
	s.bytes += int64(len(b))
	s.mu.Unlock()
	return nil
}

// IsParked reports whether seq is in the store (parked or waiting for replay).
func (s *ParkedStore) IsParked(seq uint64) bool {
	for _, d := range []string{s.dir, filepath.Join(s.dir, replayDir)} {
		if _, err := os.Stat(filepath.Join(d, parkedName(seq))); err == nil {
			return true
		}
	}
	return false
}

// Seqs returns the seqs in the store at or after from (parked and waiting for replay).
func (s *ParkedStore) Seqs(from uint64) (map[uint64]bool, error) {
	out := map[uint64]bool{}
	for _, d := range []string{s.dir, filepath.Join(s.dir, replayDir)} {
		ids, err := listNumbered(d, parkedExt)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if id >= from {
				out[id] = true
			}
		}
	}
	return out, nil
}

// List returns the parked entries (replay=false) or those waiting for replay (replay=true), oldest seq first.
// Damaged files are returned by name in damaged and left in place.
func (s *ParkedStore) List(replay bool) (entries []*ParkedEntry, damaged []string, err error) {
	d := s.dir
	if replay {
		d = filepath.Join(s.dir, replayDir)
	}
	ids, err := listNumbered(d, parkedExt)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		path := filepath.Join(d, parkedName(id))
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue // moved meanwhile
		}
		var p *ParkedEntry
		if err == nil {
			p, err = decodeParked(b)
		}
		if err != nil || p.Seq != id {
			damaged = append(damaged, path)
			continue
		}
		entries = append(entries, p)
	}
	return entries, damaged, nil
}

// Replay hands the parked entries with the given seqs (all of them when seqs is empty) to the consumer, which
// delivers them again: each file is renamed into replay/. It returns the seqs handed over.
func (s *ParkedStore) Replay(seqs []uint64) ([]uint64, error) {
	if len(seqs) == 0 {
		ids, err := listNumbered(s.dir, parkedExt)
		if err != nil {
			return nil, err
		}
		seqs = ids
	}
	var moved []uint64
	rd := filepath.Join(s.dir, replayDir)
	for _, seq := range seqs {
		err := os.Rename(filepath.Join(s.dir, parkedName(seq)), filepath.Join(rd, parkedName(seq)))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return moved, err
		}
		moved = append(moved, seq)
	}
	if len(moved) > 0 {
		if err := syncDir(rd); err != nil {
			return moved, err
		}
		if err := syncDir(s.dir); err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// Replayed is called by the consumer once it delivered the replayed entry seq: the file is deleted.
func (s *ParkedStore) Replayed(seq uint64) error {
	path := filepath.Join(s.dir, replayDir, parkedName(seq))
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	s.mu.Lock()
	s.entries--
	s.bytes -= fi.Size()
	s.mu.Unlock()
	return syncDir(filepath.Join(s.dir, replayDir))
}

// ParkAgain is called by the consumer when a replayed entry failed again: it goes back among the parked ones,
// with the new reason.
func (s *ParkedStore) ParkAgain(p *ParkedEntry) error {
	old := filepath.Join(s.dir, replayDir, parkedName(p.Seq))
	fi, statErr := os.Stat(old)
	b := encodeParked(p)
	if err := writeAtomic(s.dir, parkedName(p.Seq), b); err != nil {
		return err
	}
	if err := os.Remove(old); err != nil && !os.IsNotExist(err) {
		return err
	}
	s.mu.Lock()
	if statErr == nil {
		s.bytes -= fi.Size()
	} else {
		s.entries++
	}
	s.bytes += int64(len(b))
	s.mu.Unlock()
	return syncDir(filepath.Join(s.dir, replayDir))
}

// Stats counts the store's files on disk.
func (s *ParkedStore) Stats() (ParkedStats, error) {
	var st ParkedStats
	for i, d := range []string{s.dir, filepath.Join(s.dir, replayDir)} {
		ents, err := os.ReadDir(d)
		if err != nil && !os.IsNotExist(err) {
			return st, err
		}
		for _, e := range ents {
			if e.IsDir() || !strings.HasSuffix(e.Name(), parkedExt) {
				continue
			}
			if _, err := strconv.ParseUint(strings.TrimSuffix(e.Name(), parkedExt), 10, 64); err != nil {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			if i == 0 {
				st.Entries++
				st.Bytes += fi.Size()
			} else {
				st.ReplayEntries++
				st.ReplayBytes += fi.Size()
			}
		}
	}
	return st, nil
}
