package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Entry is one committed ingest request of the receipt exporter: the request as received (OTLP protobuf) and the
// window each of its records was assigned to. Replay re-derives the leaves from the request, so the WAL stores
// each resource and scope once per request rather than once per record.
//
// Payload layout (version 3): u8 version (3) ‖ u8 signal ‖ u8 flags ‖ [16-byte request key when flags bit 0 is
// set] ‖ varint arrival (Unix ns) ‖ uvarint window count W ‖ W × varint window start (Unix s) ‖ uvarint record
// count N ‖ N × uvarint window index ‖ uvarint len ‖ request bytes. Other flag bits must be 0.
// Version 2 (written before request keys existed) is the same without the flags byte and key; it is still read.
type Entry struct {
	Signal uint8
	// HasKey says the request carried an Idempotency-Key; Key is then its 16-byte request key.
	HasKey  bool
	Key     [KeySize]byte
	Arrival int64
	Windows []int64
	// Assign holds, per record in request order, an index into Windows.
	Assign  []uint32
	Request []byte
}

const (
	entryVersion   = 3
	entryVersionV2 = 2
	flagKey        = 1
	// KeySize is the length of a request key in an entry.
	KeySize = 16
)

// Signals in WAL entries.
const (
	SignalLogs    uint8 = 1
	SignalMetrics uint8 = 2
	SignalTraces  uint8 = 3
)

// AppendEntry encodes e onto dst.
func AppendEntry(dst []byte, e *Entry) []byte {
	dst = append(dst, entryVersion, e.Signal)
	if e.HasKey {
		dst = append(dst, flagKey)
		dst = append(dst, e.Key[:]...)
	} else {
		dst = append(dst, 0)
	}
	dst = binary.AppendVarint(dst, e.Arrival)
	dst = binary.AppendUvarint(dst, uint64(len(e.Windows)))
	for _, w := range e.Windows {
		dst = binary.AppendVarint(dst, w)
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Assign)))
	for _, a := range e.Assign {
		dst = binary.AppendUvarint(dst, uint64(a))
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Request)))
	return append(dst, e.Request...)
}

var (
	errShort      = errors.New("entry truncated")
	errNonMinimal = errors.New("non-minimal varint")
)

type reader struct {
	p   []byte
	off int
}

func (r *reader) varint() (int64, error) {
	v, n := binary.Varint(r.p[r.off:])
	if n <= 0 {
		return 0, errShort
	}
	if n != len(binary.AppendVarint(nil, v)) {
		return 0, errNonMinimal
	}
	r.off += n
	return v, nil
}

func (r *reader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.p[r.off:])
	if n <= 0 {
		return 0, errShort
	}
	if n != len(binary.AppendUvarint(nil, v)) {
		return 0, errNonMinimal
	}
	r.off += n
	return v, nil
}

// count reads a length that must fit in the remaining bytes at min bytes per item.
func (r *reader) count(min int) (int, error) {
	n, err := r.uvarint()
	if err != nil {
		return 0, err
	}
	if n > uint64(len(r.p)-r.off)/uint64(min) {
		return 0, fmt.Errorf("count %d exceeds payload", n)
	}
	return int(n), nil
}

// DecodeEntry parses a payload. Request aliases the payload.
func DecodeEntry(p []byte) (*Entry, error) {
	if len(p) < 2 {
		return nil, errShort
	}
	if p[0] != entryVersion && p[0] != entryVersionV2 {
		return nil, fmt.Errorf("entry version %d not supported", p[0])
	}
	e := &Entry{Signal: p[1]}
	if e.Signal < SignalLogs || e.Signal > SignalTraces {
		return nil, fmt.Errorf("unknown signal %d", e.Signal)
	}
	r := &reader{p: p, off: 2}
	if p[0] == entryVersion {
		if len(p) < 3 {
			return nil, errShort
		}
		flags := p[2]
		r.off++
		if flags&^flagKey != 0 {
			return nil, fmt.Errorf("unknown entry flags %#x", flags)
		}
		if flags&flagKey != 0 {
			if len(p)-r.off < KeySize {
				return nil, errShort
			}
			e.HasKey = true
			copy(e.Key[:], p[r.off:])
			r.off += KeySize
		}
	}
	var err error
	if e.Arrival, err = r.varint(); err != nil {
		return nil, err
	}
	nw, err := r.count(1)
	if err != nil {
		return nil, err
	}
	e.Windows = make([]int64, nw)
	for i := range e.Windows {
		if e.Windows[i], err = r.varint(); err != nil {
			return nil, err
		}
	}
	nr, err := r.count(1)
	if err != nil {
		return nil, err
	}
	e.Assign = make([]uint32, nr)
	for i := range e.Assign {
		a, err := r.uvarint()
		if err != nil {
			return nil, err
		}
		if a >= uint64(nw) {
			return nil, fmt.Errorf("record %d: window index %d out of %d", i, a, nw)
		}
		e.Assign[i] = uint32(a)
	}
	n, err := r.count(1)
	if err != nil {
		return nil, err
	}
	e.Request = p[r.off : r.off+n]
	r.off += n
	if r.off != len(p) {
		return nil, fmt.Errorf("%d trailing bytes after entry", len(p)-r.off)
	}
	return e, nil
}
