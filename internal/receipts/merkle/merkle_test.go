package merkle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/merkle/testonly"
	"github.com/zeebo/blake3"
)

func leafHashes(h Hasher, leaves [][]byte) [][]byte {
	out := make([][]byte, len(leaves))
	for i, l := range leaves {
		out[i] = h.HashLeaf(l)
	}
	return out
}

// Certificate Transparency (RFC 6962) vectors shipped with transparency-dev/merkle.
func TestSHA256MatchesCTVectors(t *testing.T) {
	leaves := testonly.LeafInputs()
	roots := testonly.RootHashes()
	nodes := testonly.NodeHashes()
	for size := 0; size <= len(leaves); size++ {
		lh := leafHashes(SHA256, leaves[:size])
		require.Equal(t, roots[size], Root(SHA256, lh), "root of size %d", size)
		tree := NewTree(SHA256, lh)
		require.Equal(t, roots[size], tree.Root(), "tree root of size %d", size)
	}
	full := NewTree(SHA256, leafHashes(SHA256, leaves))
	for level, hs := range nodes {
		for i, want := range hs {
			require.Equal(t, want, full.levels[level][i], "node level %d index %d", level, i)
		}
	}
}

func dh(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Inclusion and consistency proof vectors from RFC 6962 as used by transparency-dev/merkle (leaf indices 0-based).
func TestSHA256ProofsMatchCTVectors(t *testing.T) {
	tree := NewTree(SHA256, leafHashes(SHA256, testonly.LeafInputs()))
	incl := []struct {
		index, size uint64
		proof       [][]byte
	}{
		{0, 8, [][]byte{dh("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"), dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"), dh("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")}},
		{5, 8, [][]byte{dh("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"), dh("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"), dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
		{2, 3, [][]byte{dh("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")}},
		{1, 5, [][]byte{dh("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"), dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"), dh("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")}},
	}
	for _, c := range incl {
		got, err := tree.InclusionProof(c.index, c.size)
		require.NoError(t, err)
		require.Equal(t, c.proof, got, "inclusion %d/%d", c.index, c.size)
	}
	cons := []struct {
		size1, size2 uint64
		proof        [][]byte
	}{
		{1, 8, [][]byte{dh("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"), dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"), dh("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")}},
		{6, 8, [][]byte{dh("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"), dh("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"), dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
		{2, 5, [][]byte{dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"), dh("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")}},
		{6, 7, [][]byte{dh("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"), dh("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"), dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
	}
	for _, c := range cons {
		got, err := tree.ConsistencyProof(c.size1, c.size2)
		require.NoError(t, err)
		require.Equal(t, c.proof, got, "consistency %d→%d", c.size1, c.size2)
	}
}

// Every proof of every tree up to 70 leaves agrees with the reference tree and verifies; mutations are rejected.
func TestProofsAgainstReferenceTree(t *testing.T) {
	for _, h := range []struct {
		name string
		h    Hasher
	}{{"sha256", SHA256}, {"blake3", BLAKE3}} {
		t.Run(h.name, func(t *testing.T) {
			ref := testonly.New(h.h)
			var leaves [][]byte
			for n := 1; n <= 70; n++ {
				leaf := []byte(fmt.Sprintf("leaf-%d", n-1))
				leaves = append(leaves, leaf)
				ref.AppendData(leaf)
				tree := NewTree(h.h, leafHashes(h.h, leaves))
				require.Equal(t, ref.Hash(), tree.Root())
				app := NewAppender(h.h)
				for _, l := range leaves {
					app.AppendLeafHash(h.h.HashLeaf(l))
				}
				require.Equal(t, ref.Hash(), app.Root())
				for i := uint64(0); i < uint64(n); i++ {
					want, err := ref.InclusionProof(i, uint64(n))
					require.NoError(t, err)
					got, err := tree.InclusionProof(i, uint64(n))
					require.NoError(t, err)
					require.Equal(t, want, got)
					lh := h.h.HashLeaf(leaves[i])
					require.NoError(t, VerifyInclusion(h.h, i, uint64(n), lh, got, tree.Root()))
					for j := range got {
						bad := cloneProof(got)
						bad[j][3] ^= 0x40
						require.Error(t, VerifyInclusion(h.h, i, uint64(n), lh, bad, tree.Root()))
					}
					require.Error(t, VerifyInclusion(h.h, i, uint64(n), h.h.HashLeaf([]byte("other")), got, tree.Root()))
				}
				for s1 := uint64(0); s1 <= uint64(n); s1++ {
					got, err := tree.ConsistencyProof(s1, uint64(n))
					require.NoError(t, err)
					if s1 > 0 {
						want, err := ref.ConsistencyProof(s1, uint64(n))
						require.NoError(t, err)
						require.Equal(t, want, got)
					}
					r1, err := tree.RootAt(s1)
					require.NoError(t, err)
					require.NoError(t, VerifyConsistency(h.h, s1, uint64(n), got, r1, tree.Root()))
					for j := range got {
						bad := cloneProof(got)
						bad[j][0] ^= 1
						require.Error(t, VerifyConsistency(h.h, s1, uint64(n), bad, r1, tree.Root()))
					}
				}
			}
		})
	}
}

func cloneProof(p [][]byte) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = bytes.Clone(p[i])
	}
	return out
}

type blake3Vectors struct {
	Cases []struct {
		InputLen int    `json:"input_len"`
		Hash     string `json:"hash"`
	} `json:"cases"`
}

func vectorInput(n int) []byte {
	in := make([]byte, n)
	for i := range in {
		in[i] = byte(i % 251)
	}
	return in
}

// Official BLAKE3 vectors: one-shot, extended output, and the same input fed in irregular split writes.
func TestBLAKE3OfficialVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/blake3_vectors.json")
	require.NoError(t, err)
	var v blake3Vectors
	require.NoError(t, json.Unmarshal(raw, &v))
	require.NotEmpty(t, v.Cases)
	for _, c := range v.Cases {
		in := vectorInput(c.InputLen)
		want := dh(c.Hash)
		sum := Sum(in)
		require.Equal(t, want[:32], sum[:], "Sum256 len %d", c.InputLen)

		xof := make([]byte, len(want))
		d := blake3.New()
		_, _ = d.Write(in)
		_, err := d.Digest().Read(xof)
		require.NoError(t, err)
		require.Equal(t, want, xof, "XOF len %d", c.InputLen)

		for _, step := range []int{1, 7, 63, 64, 65, 1023, 1024, 1025, 4097} {
			h := blake3.New()
			for off := 0; off < len(in); off += step {
				end := min(off+step, len(in))
				_, _ = h.Write(in[off:end])
			}
			require.Equal(t, want[:32], h.Sum(nil), "split writes of %d, len %d", step, c.InputLen)
		}
	}
}

func TestBLAKE3HasherDomainSeparation(t *testing.T) {
	leaf := []byte("record")
	want := Sum(append([]byte{0}, leaf...))
	require.Equal(t, want[:], BLAKE3.HashLeaf(leaf))
	l, r := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	wantNode := Sum(append(append([]byte{1}, l...), r...))
	require.Equal(t, wantNode[:], BLAKE3.HashChildren(l, r))
	empty := Sum(nil)
	require.Equal(t, empty[:], BLAKE3.EmptyRoot())
}

func BenchmarkBLAKE3Root1M(b *testing.B) {
	leaves := make([][]byte, 1<<20)
	for i := range leaves {
		leaves[i] = bytes.Repeat([]byte{byte(i)}, 300)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Root(BLAKE3, leafHashes(BLAKE3, leaves))
	}
}

func TestRootParallelAndFlatMatchReference(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 1 << 15, 1<<15 + 1, 100003} {
		leaves := make([][]byte, n)
		for i := range leaves {
			leaves[i] = BLAKE3.HashLeaf([]byte(fmt.Sprint(i)))
		}
		ref := testonly.New(BLAKE3)
		ref.Append(leaves...)
		require.Equal(t, ref.Hash(), Root(BLAKE3, leaves), "n=%d", n)
		require.Equal(t, ref.Hash(), RootParallel(BLAKE3, leaves, 4), "n=%d", n)
		shaRef := testonly.New(SHA256)
		shaRef.AppendData(leaves...)
		require.Equal(t, shaRef.Hash(), RootParallel(SHA256, leafHashes(SHA256, leaves), 3), "sha256 n=%d", n)
	}
}
