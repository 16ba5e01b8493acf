package filewatch

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

// A directory another process writes to all the time must not postpone the callback: events for other files are
// ignored, and a change of the watched file is reported within MaxDelay even while its own events keep coming.
func TestBusyDirectoryDoesNotPostponeTheCallback(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.yaml")
	require.NoError(t, os.WriteFile(path, []byte("a"), 0o600))
	var calls atomic.Int32
	w := New(zap.NewNop(), []string{path}, 0, func(string) { calls.Add(1) })
	require.NoError(t, w.Start())
	defer w.Stop()

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a log file next to the key file, appended to every millisecond
		defer close(done)
		f, err := os.OpenFile(filepath.Join(dir, "busy.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return
		}
		defer f.Close()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				_, _ = f.WriteString("line\n")
			}
		}
	}()
	defer func() { close(stop); <-done }()

	time.Sleep(3 * Debounce)
	require.Equal(t, int32(0), calls.Load(), "events for other files are ignored")

	// The watched file itself changes every 20 ms (shorter than Debounce) for a second: without a maximum delay
	// the debounce would never fire.
	start := time.Now()
	var first time.Duration
	for i := 0; time.Since(start) < time.Second; i++ {
		require.NoError(t, os.WriteFile(path, []byte{byte(i)}, 0o600))
		if first == 0 && calls.Load() > 0 {
			first = time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NotZero(t, first, "called back while the file kept changing")
	assert.Less(t, first, MaxDelay+150*time.Millisecond)
}

// A Kubernetes ConfigMap update swaps the `..data` symlink; the file's own name sees no event.
func TestConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "..v1"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "..v1", "keys.yaml"), []byte("a"), 0o600))
	require.NoError(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
	path := filepath.Join(dir, "keys.yaml")
	require.NoError(t, os.Symlink("..data/keys.yaml", path))
	var calls atomic.Int32
	w := New(zap.NewNop(), []string{path}, 0, func(string) { calls.Add(1) })
	require.NoError(t, w.Start())
	defer w.Stop()

	require.NoError(t, os.Mkdir(filepath.Join(dir, "..v2"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "..v2", "keys.yaml"), []byte("b"), 0o600))
	require.NoError(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	require.Eventually(t, func() bool { return calls.Load() > 0 }, 2*time.Second, 10*time.Millisecond)
}
