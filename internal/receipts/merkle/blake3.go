package merkle

import (
	"sync"

	"github.com/zeebo/blake3"
)

// HashSize is the BLAKE3-256 output size.
const HashSize = 32

// BLAKE3 is the RFC 9162 tree hasher over BLAKE3-256 used by receipts.
var BLAKE3 Hasher = blake3Hasher{}

type blake3Hasher struct{}

var leafBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (blake3Hasher) EmptyRoot() []byte {
	s := blake3.Sum256(nil)
	return s[:]
}

func (blake3Hasher) HashLeaf(leaf []byte) []byte {
	bp := leafBufs.Get().(*[]byte)
	buf := append(append((*bp)[:0], 0x00), leaf...)
	s := blake3.Sum256(buf)
	*bp = buf
	leafBufs.Put(bp)
	return s[:]
}

func (blake3Hasher) HashChildren(l, r []byte) []byte {
	var buf [1 + 2*HashSize]byte
	buf[0] = 0x01
	n := 1 + copy(buf[1:], l)
	n += copy(buf[n:], r)
	s := blake3.Sum256(buf[:n])
	return s[:]
}

func (blake3Hasher) hashChildrenTo(dst, l, r []byte) {
	var buf [1 + 2*HashSize]byte
	buf[0] = 0x01
	n := 1 + copy(buf[1:], l)
	n += copy(buf[n:], r)
	s := blake3.Sum256(buf[:n])
	copy(dst, s[:])
}

func (blake3Hasher) Size() int { return HashSize }

// Sum is BLAKE3-256 of data (content hashes, receipt chain links).
func Sum(data []byte) [HashSize]byte { return blake3.Sum256(data) }
