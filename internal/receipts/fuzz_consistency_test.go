package receipts

import (
	"testing"

	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
)

// FuzzConsistencyProof: any bytes handed to `tfocol receipts consistency --proof` are parsed and checked
// without panicking, and a proof that fails to parse is never accepted.
func FuzzConsistencyProof(f *testing.F) {
	f.Add([]byte(`{"old_size":1,"new_size":2,"old_root":"blake3:00","new_root":"blake3:11","proof":["blake3:22"]}`))
	f.Add([]byte(`{"old_size":0,"new_size":0,"old_root":"","new_root":"","proof":[]}`))
	f.Add([]byte(`{"old_size":18446744073709551615,"new_size":1,"proof":["zz"]}`))
	f.Add([]byte(`{"proof":null} trailing`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseConsistencyProof(data)
		if err != nil {
			if p != nil {
				t.Fatalf("parse error %v but a proof was returned", err)
			}
			return
		}
		// Check it against the roots it claims (as the CLI does with two ROOT files).
		oldRoot, _ := ParseHash(p.OldRoot)
		newRoot, _ := ParseHash(p.NewRoot)
		old := checkpoint.Checkpoint{Size: p.OldSize, Root: oldRoot}
		cur := checkpoint.Checkpoint{Size: p.NewSize, Root: newRoot}
		_ = CheckConsistencyProof(p, old, cur)
	})
}
