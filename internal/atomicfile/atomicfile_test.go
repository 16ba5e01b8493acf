package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteFileCreatesParentsAndLeavesNoTemporary(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "file")
	require.NoError(t, WriteFile(path, []byte("one"), 0o600))
	require.NoError(t, WriteFile(path, []byte("two"), 0o600))

	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two", string(got))
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "only the file itself, no temporary left behind")
}

func TestWriteFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permission bits")
	}
	dir := t.TempDir()

	// A new file gets exactly perm, whatever the umask.
	pub := filepath.Join(dir, "public")
	require.NoError(t, WriteFile(pub, []byte("x"), 0o644))
	st, err := os.Stat(pub)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	// An existing file keeps the mode an operator gave it.
	secret := filepath.Join(dir, "secret")
	require.NoError(t, WriteFile(secret, []byte("x"), 0o600))
	require.NoError(t, os.Chmod(secret, 0o640))
	require.NoError(t, WriteFile(secret, []byte("y"), 0o600))
	st, err = os.Stat(secret)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
}

func TestRenameDurableAcrossDirectories(t *testing.T) {
	dir := t.TempDir()
	from := filepath.Join(dir, "spool", "f")
	require.NoError(t, WriteFile(from, []byte("z"), 0o600))
	to := filepath.Join(dir, "sealed", "2025", "f")
	require.NoError(t, RenameDurable(from, to))
	got, err := os.ReadFile(to)
	require.NoError(t, err)
	assert.Equal(t, "z", string(got))
	_, err = os.Stat(from)
	assert.ErrorIs(t, err, os.ErrNotExist)
}
