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
	f.Add(AppendEntry(nil, &Entry{Signal: SignalTraces, HasKey: true, Key: [KeySize]byte{1, 2}, Arrival: 9, Windows: []int64{60}, Assign: []uint32{0}, Request: []byte("r")}))
	f.Add([]byte{2, 1, 0x80, 0x00, 0, 0, 0}) // non-minimal varint: rejected, or re-encoding would differ
	f.Add([]byte{2, 1, 2, 1, 120, 1, 0, 1, 'r'})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEntry(data)
		if err != nil {
			return
		}
		re := AppendEntry(nil, e)
		if data[0] == entryVersionV2 {
			// Old entries are read, and written again only as version 3: the same entry without a key.
			again, err := DecodeEntry(re)
			if err != nil || again.HasKey || !bytes.Equal(AppendEntry(nil, again), re) || !bytes.Equal(again.Request, e.Request) {
				t.Fatalf("version 2 entry does not survive re-encoding as version 3: %v", err)
			}
			return
		}
		if !bytes.Equal(re, data) {
			t.Fatal("decoded entry does not re-encode to its bytes")
		}
	})
}
