package receipts

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
)

const seedReceipt = `{"type":"obs_log_batch","id":"logs-2025-12-06T14:00:00Z","seq":0,"timestamp":"2025-12-06T15:00:05Z","workspace":"ws","period":{"start":"2025-12-06T14:00:00Z","end":"2025-12-06T15:00:00Z"},"log_counts":{"unspecified":0,"trace":0,"debug":0,"info":2,"warn":0,"error":0,"fatal":0},"storage_path":"telemetry/logs/2025-12-06/hour-14.binpb","content_hash":"blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262","merkle_root":"blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262","leaf_count":2,"prev_hash":"blake3:0000000000000000000000000000000000000000000000000000000000000000"}`

func FuzzParseReceipt(f *testing.F) {
	f.Add([]byte(seedReceipt))
	f.Add([]byte(`{"type":"obs_alert_fired"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseReceipt(line)
		if err != nil {
			return
		}
		// What parses is a valid receipt: it re-encodes and parses to the same content.
		again, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseReceipt(again)
		if err != nil {
			t.Fatalf("re-encoded receipt rejected: %v", err)
		}
		again2, _ := r2.Marshal()
		if !bytes.Equal(again, again2) {
			t.Fatal("receipt encoding not stable")
		}
		if CheckStoragePath(r.StoragePath) != nil && r.StoragePath != "" {
			t.Fatal("unsafe storage_path accepted")
		}
	})
}

func FuzzReadRecords(f *testing.F) {
	f.Add(AppendRecord(AppendRecord(nil, []byte("a")), []byte("bcd")))
	f.Add([]byte{0x80, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ReadRecords(data)
		if err != nil {
			return
		}
		var re []byte
		for _, r := range recs {
			re = AppendRecord(re, r)
		}
		if !bytes.Equal(re, data) {
			t.Fatal("records do not re-encode to the file bytes")
		}
		_ = binary.MaxVarintLen64
	})
}

func FuzzInclusionProof(f *testing.F) {
	f.Add([]byte(`{"receipt_id":"x","leaf_index":0,"tree_size":1,"leaf":"eA==","proof":[],"merkle_root":"blake3:00","receipt_line":"{}","receipt_index":0,"receipt_proof":[],"checkpoint":"o\n1\nAAAA\n"}`))
	f.Add([]byte(`{"proof":["zz"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseInclusionProof(data)
		if err != nil {
			return
		}
		// Must never panic; random proofs are (overwhelmingly) rejected.
		_, _ = CheckInclusionProof(p, nil)
	})
}

func FuzzCheckpoint(f *testing.F) {
	f.Add([]byte("tfocol/observability/ws\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Add([]byte("o\n1\nAA==\n\n— key abcd\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := checkpoint.Parse(data, nil)
		if err != nil || cf.Signed {
			return
		}
		if !bytes.Equal(cf.Body(), data) {
			t.Fatal("accepted unsigned checkpoint is not canonical")
		}
	})
}
