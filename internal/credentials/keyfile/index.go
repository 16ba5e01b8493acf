package keyfile

import (
	"crypto/sha256"
	"crypto/subtle"
	"time"
)

// Result of verifying a presented key.
type Result int

const (
	Valid Result = iota
	UnknownKey
	WrongSecret
	Disabled
	Expired
)

// Index is an immutable, lookup-ready view of a key file: O(1) by id, whatever the number of keys.
// Replace it wholesale on reload; never mutate it.
type Index struct {
	byID map[string]*indexedKey
}

type indexedKey struct {
	key    Key
	digest [sha256.Size]byte
}

// dummyDigest is compared against when the id is unknown, so an unknown id costs the same as a wrong secret.
var dummyDigest = sha256.Sum256([]byte("tfocol-unknown-key"))

// NewIndex builds an index from a validated file.
func NewIndex(f *File) (*Index, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	idx := &Index{byID: make(map[string]*indexedKey, len(f.Keys))}
	for _, k := range f.Keys {
		d, _ := decodeHash(k.SecretHash) // validated above
		idx.byID[k.ID] = &indexedKey{key: k, digest: d}
	}
	return idx, nil
}

// Len is the number of keys.
func (idx *Index) Len() int { return len(idx.byID) }

// Has reports whether a key with this id exists (in any state).
func (idx *Index) Has(id string) bool {
	_, ok := idx.byID[id]
	return ok
}

// Verify checks a presented id and secret at now. The secret is compared in constant time via its SHA-256 digest;
// the key is returned only when the result is Valid.
func (idx *Index) Verify(id, secret string, now time.Time) (*Key, Result) {
	ik, ok := idx.byID[id]
	want := &dummyDigest
	if ok {
		want = &ik.digest
	}
	if len(secret) > MaxSecretLen {
		secret = ""
	}
	var buf [MaxSecretLen]byte // hashing from the stack keeps the hot path free of an allocation
	got := sha256.Sum256(buf[:copy(buf[:], secret)])
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	switch {
	case !ok:
		return nil, UnknownKey
	case !match:
		return nil, WrongSecret
	}
	switch ik.key.StatusAt(now) {
	case StatusDisabled:
		return nil, Disabled
	case StatusExpired:
		return nil, Expired
	}
	return &ik.key, Valid
}
