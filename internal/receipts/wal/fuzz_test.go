package wal

import (
	"bytes"
	"testing"
)

func FuzzParseFrames(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, []byte("a")), []byte("bc")))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 'x'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var payloads [][]byte
		clean, err := ParseFrames(data, func(p []byte) error {
			payloads = append(payloads, p)
			return nil
		})
		if clean > len(data) || (err == nil && clean != len(data)) {
			t.Fatalf("clean prefix %d of %d, err %v", clean, len(data), err)
		}
		// Re-framing the accepted payloads reproduces the clean prefix exactly.
		var re []byte
		for _, p := range payloads {
			re = AppendFrame(re, p)
		}
		if !bytes.Equal(re, data[:clean]) {
			t.Fatal("accepted frames do not re-encode to the clean prefix")
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(AppendEntry(nil, &Entry{Signal: SignalLogs, Arrival: 1, Windows: []int64{60, 120}, Assign: []uint32{0, 1}, Request: []byte("r")}))
	f.Add([]byte{1, 3, 0, 0})
	f.Add([]byte{2, 1, 0x80, 0x00, 0, 0, 0}) // non-minimal varint: rejected, or re-encoding would differ
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEntry(data)
		if err != nil {
			return
		}
		if !bytes.Equal(AppendEntry(nil, e), data) {
			t.Fatal("decoded entry does not re-encode to its bytes")
		}
	})
}
