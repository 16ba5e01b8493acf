package receipts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// runScrollVectors checks the conformance vectors under root (the alert, derived and retention ones): each
// <name>/ is a scroll whose RECEIPTS and ROOT are what build writes again, byte for byte, so the stored vectors stay
// in step with the format, and whose EXPECT says "ok" or "fail: <text>" of VerifyScroll. With update it first
// rewrites every vector; rerun is the go test arguments that do that, for the message of a stale vector.
func runScrollVectors[B any](t *testing.T, root string, update bool, rerun string, vectors map[string]struct {
	expect string
	build  B
}, build func(t *testing.T, dir string, b B)) {
	if update {
		for name, v := range vectors {
			dir := filepath.Join(root, name)
			build(t, dir, v.build)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "EXPECT"), []byte(v.expect+"\n"), 0o644))
		}
	}
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	require.Len(t, entries, len(vectors), "one directory per vector")
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			dir := filepath.Join(root, e.Name())
			raw, err := os.ReadFile(filepath.Join(dir, "EXPECT"))
			require.NoError(t, err)
			expect := strings.TrimSpace(string(raw))
			rebuilt := filepath.Join(t.TempDir(), "v")
			build(t, rebuilt, vectors[e.Name()].build)
			for _, f := range []string{ReceiptsFile, RootFile} {
				want, err := os.ReadFile(filepath.Join(rebuilt, f))
				require.NoError(t, err)
				got, err := os.ReadFile(filepath.Join(dir, f))
				require.NoError(t, err)
				require.Equal(t, string(want), string(got), "%s of %s is stale: go test -run %s", f, e.Name(), rerun)
			}
			_, err = VerifyScroll(dir, VerifyOptions{})
			if expect == "ok" {
				require.NoError(t, err)
				return
			}
			msg, ok := strings.CutPrefix(expect, "fail: ")
			require.True(t, ok, "EXPECT is ok or fail: <text>")
			require.ErrorContains(t, err, msg)
		})
	}
}
