package filewatch

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBurstOfEventsCallsBackOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.yaml")
	require.NoError(t, os.WriteFile(path, []byte("a"), 0o600))
	var calls atomic.Int32
	w := New(zap.NewNop(), []string{path}, 0, func(p string) {
		require.Equal(t, path, p)
		calls.Add(1)
	})
	require.NoError(t, w.Start())
	defer w.Stop()

	// create temp, write, rename: one update as `tfocol keys` does it
	tmp := filepath.Join(dir, ".keys.yaml.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte("b"), 0o600))
	require.NoError(t, os.Rename(tmp, path))
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 2*time.Second, 10*time.Millisecond)
	time.Sleep(3 * Debounce)
	require.Equal(t, int32(1), calls.Load())
}

// When the watched directory itself is replaced, inotify loses it; the poll still sees the new file.
func TestPollCoversAReplacedDirectory(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "conf")
	require.NoError(t, os.Mkdir(dir, 0o755))
	path := filepath.Join(dir, "keys.yaml")
	require.NoError(t, os.WriteFile(path, []byte("a"), 0o600))
	var calls atomic.Int32
	w := New(zap.NewNop(), []string{path}, 50*time.Millisecond, func(string) { calls.Add(1) })
	require.NoError(t, w.Start())
	defer w.Stop()

	require.NoError(t, os.Rename(dir, dir+".old"))
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.WriteFile(path, []byte("b"), 0o600))
	before := calls.Load()
	require.Eventually(t, func() bool { return calls.Load() > before }, 2*time.Second, 10*time.Millisecond)
}

func TestStopIsIdempotent(t *testing.T) {
	w := New(zap.NewNop(), []string{filepath.Join(t.TempDir(), "x")}, time.Hour, func(string) {})
	require.NoError(t, w.Start())
	w.Stop()
	w.Stop()
}
