package durablelog

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
)

const keysMagic = 0x4B4C4654 // "TFLK"

type keyRec struct {
	key     [keySize]byte
	seq     uint64
	arrival int64
}

// sidecar is the key index of one reclaimed segment.
type sidecar struct {
	name        uint64
	lastArrival int64
	keys        []keyRec
}

func encodeKeys(keys []keyRec) []byte {
	b := binary.LittleEndian.AppendUint32(nil, keysMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = append(b, k.key[:]...)
		b = binary.LittleEndian.AppendUint64(b, k.seq)
		b = binary.LittleEndian.AppendUint64(b, uint64(k.arrival))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadKeys = errors.New("bad key index")

func decodeKeys(b []byte) ([]keyRec, error) {
	if len(b) < 12 || binary.LittleEndian.Uint32(b) != keysMagic {
		return nil, errBadKeys
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errBadKeys
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if uint64(len(body)-8) != uint64(n)*32 {
		return nil, errBadKeys
	}
	keys := make([]keyRec, n)
	p := body[8:]
	for i := range keys {
		copy(keys[i].key[:], p)
		keys[i].seq = binary.LittleEndian.Uint64(p[16:])
		keys[i].arrival = int64(binary.LittleEndian.Uint64(p[24:]))
		p = p[32:]
	}
	return keys, nil
}

// reclaim deletes the segments every cursor on disk has passed (keeping their keys in a sidecar) and the
// sidecars older than KeyRetention.
func (l *Log) reclaim() {
	l.reclaimMu.Lock()
	defer l.reclaimMu.Unlock()
	l.mu.Lock()
	now := l.opts.Now().UnixNano()
	var expired []*sidecar
	kept := l.sidecars[:0]
	for _, s := range l.sidecars {
		if now-s.lastArrival > l.opts.KeyRetention.Nanoseconds() {
			expired = append(expired, s)
		} else {
			kept = append(kept, s)
		}
	}
	l.sidecars = kept
	for _, s := range expired {
		for _, k := range s.keys {
			if o, ok := l.oldKeys[k.key]; ok && o.seq == k.seq {
				delete(l.oldKeys, k.key)
			}
		}
	}
	var cands []*segment
	if len(l.cursors) > 0 {
		low := ^uint64(0)
		for _, c := range l.cursors {
			low = min(low, c.persisted)
		}
		for i := 0; i+1 < len(l.segs); i++ { // never the newest segment: it carries the next seq
			s := l.segs[i]
			if (s.count > 0 && s.last < low) || (s.count == 0 && l.segs[i+1].name <= low) {
				cands = append(cands, s)
				continue
			}
			break
		}
	}
	l.mu.Unlock()
	for _, s := range expired {
		os.Remove(filepath.Join(l.dir, keysName(s.name)))
	}
	var done []*sidecar
	var freed int64
	n := 0
	for _, s := range cands {
		if len(s.keys) > 0 {
			if err := writeAtomic(l.dir, keysName(s.name), encodeKeys(s.keys)); err != nil {
				break // keep the segment (and its keys) until the sidecar can be written
			}
		}
		if err := os.Remove(filepath.Join(l.dir, segName(s.name))); err != nil && !os.IsNotExist(err) {
			break
		}
		n++
		freed += s.size
		if len(s.keys) > 0 {
			done = append(done, &sidecar{name: s.name, lastArrival: s.lastArrival, keys: s.keys})
		}
	}
	if n > 0 || len(expired) > 0 {
		syncDir(l.dir)
	}
	if n == 0 {
		return
	}
	l.mu.Lock()
	l.segs = append(l.segs[:0:0], l.segs[n:]...)
	l.bytes -= freed
	for _, sc := range done {
		for _, k := range sc.keys {
			if l.keys[k.key] == k.seq {
				delete(l.keys, k.key)
			}
			l.oldKeys[k.key] = k
		}
		l.sidecars = append(l.sidecars, sc)
	}
	for _, s := range cands[:n] {
		s.keys = nil
	}
	if freed > 0 {
		l.full = false
	}
	l.mu.Unlock()
}
