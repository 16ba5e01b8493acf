// Package merkle builds RFC 9162 (Certificate Transparency v2) Merkle trees over any hash: leaf = H(0x00‖d),
// node = H(0x01‖l‖r), with inclusion and consistency proofs compatible with transparency-dev/merkle's verifiers.
package merkle

import (
	"fmt"

	tmerkle "github.com/transparency-dev/merkle"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Hasher is transparency-dev/merkle's LogHasher: the tree code is generic over it.
type Hasher = tmerkle.LogHasher

// SHA256 is the RFC 6962 SHA-256 hasher, used to check the tree code against Certificate Transparency vectors.
var SHA256 Hasher = rfc6962.DefaultHasher

// Root computes the root of the tree whose leaves have the given hashes, without keeping inner nodes.
func Root(h Hasher, leafHashes [][]byte) []byte {
	if len(leafHashes) == 0 {
		return h.EmptyRoot()
	}
	if f, ok := h.(flatHasher); ok {
		return rootFlat(f, leafHashes)
	}
	level := make([][]byte, len(leafHashes))
	copy(level, leafHashes)
	for len(level) > 1 {
		level = nextLevel(h, level, level[:0:0])
	}
	return level[0]
}

// flatHasher writes node hashes into caller memory, which saves an allocation per node for large trees.
type flatHasher interface {
	Hasher
	hashChildrenTo(dst, l, r []byte)
}

// rootFlat computes levels in place in one buffer: node i of the next level only reads nodes 2i and 2i+1.
func rootFlat(h flatHasher, leafHashes [][]byte) []byte {
	n := len(leafHashes)
	if n == 1 {
		return leafHashes[0]
	}
	size := h.Size()
	buf := make([]byte, ((n+1)/2)*size)
	for i := 0; i+1 < n; i += 2 {
		h.hashChildrenTo(buf[i/2*size:(i/2+1)*size], leafHashes[i], leafHashes[i+1])
	}
	if n%2 == 1 {
		copy(buf[n/2*size:], leafHashes[n-1])
	}
	for n = (n + 1) / 2; n > 1; n = (n + 1) / 2 {
		for i := 0; i+1 < n; i += 2 {
			h.hashChildrenTo(buf[i/2*size:(i/2+1)*size], buf[i*size:(i+1)*size], buf[(i+1)*size:(i+2)*size])
		}
		if n%2 == 1 {
			copy(buf[n/2*size:(n/2+1)*size], buf[(n-1)*size:n*size])
		}
	}
	return buf[:size:size]
}

// RootParallel computes the same root as Root using up to workers goroutines: the RFC 9162 split at the
// largest power of two below n gives independent left and right subtrees.
func RootParallel(h Hasher, leafHashes [][]byte, workers int) []byte {
	n := len(leafHashes)
	if workers < 2 || n < 1<<15 {
		return Root(h, leafHashes)
	}
	k := 1
	for k*2 < n {
		k *= 2
	}
	var left []byte
	done := make(chan struct{})
	go func() {
		left = RootParallel(h, leafHashes[:k], workers/2)
		close(done)
	}()
	right := RootParallel(h, leafHashes[k:], workers-workers/2)
	<-done
	return h.HashChildren(left, right)
}

// nextLevel pairs adjacent nodes; an odd last node moves up unchanged, which yields exactly the RFC 9162
// left-balanced tree (split at the largest power of two smaller than n).
func nextLevel(h Hasher, level [][]byte, dst [][]byte) [][]byte {
	n := len(level)
	if cap(dst) < (n+1)/2 {
		dst = make([][]byte, 0, (n+1)/2)
	}
	dst = dst[:0]
	for i := 0; i+1 < n; i += 2 {
		dst = append(dst, h.HashChildren(level[i], level[i+1]))
	}
	if n%2 == 1 {
		dst = append(dst, level[n-1])
	}
	return dst
}

// Tree keeps every level of a tree so proofs can be served from it.
type Tree struct {
	h      Hasher
	levels [][][]byte // levels[0] are the leaf hashes; the last level holds the root
}

// NewTree builds a full tree over the given leaf hashes.
func NewTree(h Hasher, leafHashes [][]byte) *Tree {
	t := &Tree{h: h, levels: [][][]byte{leafHashes}}
	for cur := leafHashes; len(cur) > 1; {
		cur = nextLevel(h, cur, nil)
		t.levels = append(t.levels, cur)
	}
	return t
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return uint64(len(t.levels[0])) }

// Root is the root hash of the whole tree.
func (t *Tree) Root() []byte {
	if t.Size() == 0 {
		return t.h.EmptyRoot()
	}
	return t.levels[len(t.levels)-1][0]
}

// RootAt is the root hash of the tree made of the first size leaves.
func (t *Tree) RootAt(size uint64) ([]byte, error) {
	if size > t.Size() {
		return nil, fmt.Errorf("size %d beyond tree size %d", size, t.Size())
	}
	if size == t.Size() {
		return t.Root(), nil
	}
	return Root(t.h, t.levels[0][:size]), nil
}

// node returns the hash of a perfect subtree.
func (t *Tree) node(id compact.NodeID) ([]byte, error) {
	if int(id.Level) >= len(t.levels) {
		return nil, fmt.Errorf("node %+v not in tree", id)
	}
	lvl := t.levels[id.Level]
	if id.Index >= uint64(len(lvl)) {
		return nil, fmt.Errorf("node %+v not in tree", id)
	}
	// The last node of a level may be a promoted incomplete subtree; perfect nodes end within the tree.
	if (id.Index+1)<<id.Level > t.Size() {
		return nil, fmt.Errorf("node %+v is not a perfect subtree", id)
	}
	return lvl[id.Index], nil
}

func (t *Tree) proof(nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		h, err := t.node(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return nodes.Rehash(hashes, t.h.HashChildren)
}

// InclusionProof proves leaf index is in the tree of the given size (size ≤ Size()).
func (t *Tree) InclusionProof(index, size uint64) ([][]byte, error) {
	if size > t.Size() {
		return nil, fmt.Errorf("size %d beyond tree size %d", size, t.Size())
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return t.proof(nodes)
}

// ConsistencyProof proves the tree of size1 is a prefix of the tree of size2.
func (t *Tree) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	if size2 > t.Size() {
		return nil, fmt.Errorf("size %d beyond tree size %d", size2, t.Size())
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return t.proof(nodes)
}

// VerifyInclusion checks an inclusion proof of a leaf hash against a root.
func VerifyInclusion(h Hasher, index, size uint64, leafHash []byte, p [][]byte, root []byte) error {
	return proof.VerifyInclusion(h, index, size, leafHash, p, root)
}

// VerifyConsistency checks that root2 (size2) extends root1 (size1).
func VerifyConsistency(h Hasher, size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	if size1 == 0 && len(p) == 0 {
		// Every tree extends the empty tree; the library rejects this case only to avoid a meaningless proof.
		return nil
	}
	return proof.VerifyConsistency(h, size1, size2, p, root1, root2)
}

// Appender keeps a compact range so a growing log's root is available after each append in O(log n).
type Appender struct {
	h   Hasher
	rng *compact.Range
}

// NewAppender starts an empty log.
func NewAppender(h Hasher) *Appender {
	f := &compact.RangeFactory{Hash: h.HashChildren}
	return &Appender{h: h, rng: f.NewEmptyRange(0)}
}

// AppendLeafHash adds one leaf.
func (a *Appender) AppendLeafHash(leafHash []byte) {
	if err := a.rng.Append(leafHash, nil); err != nil {
		panic(err) // cannot happen for a range starting at 0
	}
}

// Size is the number of leaves appended.
func (a *Appender) Size() uint64 { return a.rng.End() }

// Root is the current root.
func (a *Appender) Root() []byte {
	if a.rng.End() == 0 {
		return a.h.EmptyRoot()
	}
	r, err := a.rng.GetRootHash(nil)
	if err != nil {
		panic(err)
	}
	return r
}
