package durablelog

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

const (
	frameMagic  = 0x474C4654
	headerSize  = 12
	minBody     = 18
	keySize     = 16
	flagKey     = 1
	sparseEvery = 64
	// MaxFrameBody bounds the body of one frame; longer lengths are treated as damage.
	MaxFrameBody = 256 << 20
	// MaxPayload is the largest payload Append accepts.
	MaxPayload = MaxFrameBody - minBody - keySize
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	magicBytes = binary.LittleEndian.AppendUint32(nil, frameMagic)
)

// frameSize is the encoded size of a record.
func frameSize(r *Record) int {
	n := headerSize + minBody + len(r.Payload)
	if r.HasKey {
		n += keySize
	}
	return n
}

// appendFrame encodes one entry onto dst.
func appendFrame(dst []byte, seq uint64, arrival int64, r *Record) []byte {
	start := len(dst)
	body := minBody + len(r.Payload)
	flags := uint8(0)
	if r.HasKey {
		body += keySize
		flags = flagKey
	}
	dst = binary.LittleEndian.AppendUint32(dst, frameMagic)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(body))
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(arrival))
	dst = append(dst, r.Type, flags)
	if r.HasKey {
		dst = append(dst, r.Key[:]...)
	}
	dst = append(dst, r.Payload...)
	crc := crc32.Update(0, castagnoli, dst[start:start+8])
	crc = crc32.Update(crc, castagnoli, dst[start+headerSize:])
	binary.LittleEndian.PutUint32(dst[start+8:], crc)
	return dst
}

// frameLen returns the total length of the frame whose header starts data, or 0 when the header is not
// plausible (bad magic or length).
func frameLen(hdr []byte) int {
	if len(hdr) < headerSize || binary.LittleEndian.Uint32(hdr) != frameMagic {
		return 0
	}
	n := binary.LittleEndian.Uint32(hdr[4:])
	if n < minBody || n > MaxFrameBody {
		return 0
	}
	return headerSize + int(n)
}

// decodeFrame checks and decodes one complete frame (exactly frameLen bytes). Payload aliases data.
func decodeFrame(data []byte) (Entry, bool) {
	n := frameLen(data)
	if n == 0 || n != len(data) {
		return Entry{}, false
	}
	crc := crc32.Update(0, castagnoli, data[:8])
	crc = crc32.Update(crc, castagnoli, data[headerSize:])
	if crc != binary.LittleEndian.Uint32(data[8:]) {
		return Entry{}, false
	}
	b := data[headerSize:]
	e := Entry{Seq: binary.LittleEndian.Uint64(b), Arrival: int64(binary.LittleEndian.Uint64(b[8:])), Type: b[16]}
	flags := b[17]
	if flags&^flagKey != 0 || e.Seq == 0 {
		return Entry{}, false
	}
	b = b[minBody:]
	if flags&flagKey != 0 {
		if len(b) < keySize {
			return Entry{}, false
		}
		e.HasKey = true
		copy(e.Key[:], b)
		b = b[keySize:]
	}
	e.Payload = b
	return e, true
}

// frameAt decodes the frame starting at data[off:], if there is a valid one.
func frameAt(data []byte, off int) (Entry, int, bool) {
	n := frameLen(data[off:])
	if n == 0 || n > len(data)-off {
		return Entry{}, 0, false
	}
	e, ok := decodeFrame(data[off : off+n])
	return e, n, ok
}

// nextMagic returns the offset of the next possible frame start after off, or len(data).
func nextMagic(data []byte, off int) int {
	i := bytes.Index(data[off+1:], magicBytes)
	if i < 0 {
		return len(data)
	}
	return off + 1 + i
}
