package edgereceiver

import (
	"crypto/sha256"
	"encoding/json"
	"regexp"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Checksum verdicts (body checksumStatus, metric result).
const (
	checksumConsistent = "consistent" // these values came before, with this checksum
	checksumUnverified = "unverified" // first sight of these values for the instance: nothing to compare with
	checksumMismatch   = "mismatch"   // these values came before with another checksum
)

// checksumShape is the seed's example checksum: 16 lowercase hex digits (64 bits).
var checksumShape = regexp.MustCompile(`^[0-9a-f]{16}$`)

// maxValueSetsPerInstance bounds the distinct value sets remembered per instance (begin/update/end × licence
// states × builds); the oldest is forgotten first.
const maxValueSetsPerInstance = 64

// checksumTable checks what seed 003 defines about the checksum: it "is directly derived from other values in
// the payload", so one instance sending the same other values must send the same checksum. The derivation itself
// is not published, so only that consistency can be checked: a payload whose values were seen before from its
// instance with another checksum is a mismatch (its checksum was altered, or its values were altered back to ones
// seen before). A first sight of some values is unverified; values altered together with their checksum, or
// altered to values never seen, cannot be told.
type checksumTable struct {
	mu        sync.Mutex
	instances *lru.Cache[string, *instanceChecksums]
}

type instanceChecksums struct {
	byValues map[[sha256.Size]byte]string
	order    [][sha256.Size]byte
}

func newChecksumTable(maxInstances int) *checksumTable {
	c, _ := lru.New[string, *instanceChecksums](max(1, maxInstances))
	return &checksumTable{instances: c}
}

// valuesFingerprint is the SHA-256 of the payload's other values: every field but checksum, as canonical JSON
// (keys sorted, numbers as sent).
func valuesFingerprint(payload map[string]any) [sha256.Size]byte {
	others := make(map[string]any, len(payload))
	for k, v := range payload {
		if k != "checksum" {
			others[k] = v
		}
	}
	raw, _ := json.Marshal(others)
	return sha256.Sum256(raw)
}

// check returns the verdict on checksum for instance (keyed with its workspace) and remembers a first sight.
func (t *checksumTable) check(instanceKey string, values [sha256.Size]byte, checksum string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	inst, ok := t.instances.Get(instanceKey)
	if !ok {
		inst = &instanceChecksums{byValues: map[[sha256.Size]byte]string{}}
		t.instances.Add(instanceKey, inst)
	}
	if seen, ok := inst.byValues[values]; ok {
		if seen == checksum {
			return checksumConsistent
		}
		return checksumMismatch // the first sight stays the reference
	}
	if len(inst.order) == maxValueSetsPerInstance {
		delete(inst.byValues, inst.order[0])
		inst.order = inst.order[1:]
	}
	inst.byValues[values] = checksum
	inst.order = append(inst.order, values)
	return checksumUnverified
}
