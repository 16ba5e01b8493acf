package reliability

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/e2etest"
)

// health returns the gateway's health_check status code (0 when it does not answer): 200 healthy, 500 not.
func health(gw *e2etest.Gateway) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + gw.Ports.Health + "/")
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func healthBody(gw *e2etest.Gateway) string {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + gw.Ports.Health + "/?verbose")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory for the test (the suite runs as root, as CI does).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	require.NoError(t, err, "mount tmpfs (the reliability suite runs as root): %s", out)
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fillDisk writes a ballast file until the file system is full and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "ballast")
	f, err := os.Create(p)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), "filling the disk: %v", err)
			return p
		}
	}
}

// TestDiskFullThenRecovery: the gateway's data directory fills up. Every request is then answered with a
// retryable refusal (nothing is half-written), health says 503; when space returns the gateway accepts again
// by itself — same process, no restart — and health says 200. Once the clients have retried what was refused,
// every record is at the upstream exactly once and sealed exactly once: receipts and backend agree.
func TestDiskFullThenRecovery(t *testing.T) {
	data := mountTmpfs(t, 96<<20)
	gw := e2etest.StartGateway(t, e2etest.Options{
		DataDir: data,
		Configs: []string{fastReceiptsOverlay},
		Env:     map[string]string{"TFOCOL_RECEIPT_INTERVAL": "2s", "TFOCOL_SPANMETRICS_FLUSH_INTERVAL": "1h"},
	})
	pid := gw.Pid()
	var batches []*slowBatch
	send := func(b *slowBatch) string {
		got := b.send(gw)
		if !b.accepted && !retryable[got] {
			t.Errorf("batch %s: %s is neither a success nor a retryable refusal", b.tag, got)
		}
		return got
	}
	for i := range 10 {
		b := &slowBatch{tag: fmt.Sprintf("before-%03d", i), grpc: i%2 == 1}
		batches = append(batches, b)
		require.Contains(t, []string{"HTTP 200", "gRPC OK"}, send(b))
	}

	ballast := fillDisk(t, data)
	refused := 0
	for i := range 20 {
		b := &slowBatch{tag: fmt.Sprintf("full-%03d", i), grpc: i%2 == 1}
		batches = append(batches, b)
		if send(b); !b.accepted {
			refused++
		}
	}
	assert.Equal(t, 20, refused, "every request is refused while the disk is full")
	// health_check with component status answers 500 for an unhealthy collector.
	e2etest.Eventually(t, 10*time.Second, func() bool { return health(gw) == http.StatusInternalServerError },
		"health reports the full disk")
	assert.Contains(t, healthBody(gw), "no space left on device", "health says why")
	assert.Contains(t, gw.Logs(), "durable log refuses appends")

	require.NoError(t, os.Remove(ballast))
	deadline := time.Now().Add(30 * time.Second)
	for _, b := range batches {
		for !b.accepted {
			require.True(t, time.Now().Before(deadline), "batch %s still refused after space returned", b.tag)
			if send(b); !b.accepted {
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	e2etest.Eventually(t, 10*time.Second, func() bool { return health(gw) == http.StatusOK }, "health recovers by itself")
	require.Equal(t, pid, gw.Pid(), "recovered without a restart")

	want := len(batches) * slowBatchRecords
	e2etest.Eventually(t, 30*time.Second, func() bool { return gw.Upstream.LogRecordCount() >= want },
		"upstream got the %d records (has %d)", want, gw.Upstream.LogRecordCount())
	atSink := logRecordsAtSink(gw.Upstream)
	assert.Len(t, atSink, want)
	assert.Empty(t, firstN(duplicates(atSink), 10), "records delivered upstream more than once")
	dir := filepath.Join(data, "receipts")
	var sealed map[recordKey]int
	e2etest.Eventually(t, 30*time.Second, func() bool {
		var ok bool
		sealed, ok = sealedLogRecords(dir)
		return ok && len(sealed) >= want
	}, "all records sealed")
	assert.Len(t, sealed, want)
	assert.Empty(t, firstN(duplicates(sealed), 10), "records sealed more than once")
}

// logSegments lists the durable log's segment files, oldest first.
func logSegments(t *testing.T, dataDir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dataDir, "log", "*.log"))
	require.NoError(t, err)
	sort.Strings(segs)
	return segs
}

// flipByte inverts one byte of a file.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

func logCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(e2etest.Binary(t), append([]string{"log"}, args...)...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err)
	return string(out), 0
}

// corruptionRun sends batches while the upstream is down (so the log still holds them for the forward
// consumer), stops the gateway, damages the log with damage, and restarts it with the upstream back. Exactly
// the damaged entry is lost (reported by `tfocol log check` before the restart and by the gateway on start),
// every intact entry still reaches the upstream.
func corruptionRun(t *testing.T, batchRecords int, damage func(t *testing.T, dataDir string)) {
	gw := e2etest.StartGateway(t, e2etest.Options{
		Configs: []string{fastReceiptsOverlay},
		Env:     map[string]string{"TFOCOL_RECEIPT_INTERVAL": "2s"},
		Args:    []string{"--set=extensions::tfo_log::segment_size=1048576"},
	})
	gw.Upstream.Intercept(func(e2etest.SinkRequest) error { return status.Error(codes.Unavailable, "down") })
	const nBatches = 80
	for i := range nBatches {
		b := &slowBatch{tag: fmt.Sprintf("c-%03d", i), records: batchRecords}
		require.Equal(t, "HTTP 200", b.send(gw))
	}
	gw.Stop()
	damage(t, gw.DataDir)
	logDir := filepath.Join(gw.DataDir, "log")
	out, code := logCLI(t, "check", "--dir", logDir)
	require.Equal(t, 1, code, "check must fail on a damaged log:\n%s", out)
	assert.Contains(t, out, "1 entries lost", "check says exactly one entry is lost:\n%s", out)

	gw.Upstream.Intercept(nil)
	gw.Restart(t)
	assert.Contains(t, gw.Logs(), "DURABLE LOG CORRUPTION")
	assert.Contains(t, gw.Logs(), `"entries_lost": 1`)
	want := (nBatches - 1) * batchRecords
	e2etest.Eventually(t, 30*time.Second, func() bool { return gw.Upstream.LogRecordCount() >= want },
		"upstream got every intact record (%d of %d)", gw.Upstream.LogRecordCount(), want)
	time.Sleep(time.Second)
	atSink := logRecordsAtSink(gw.Upstream)
	assert.Len(t, atSink, want, "all intact entries delivered, only the damaged one is missing")
	tags := map[string]bool{}
	for k := range atSink {
		tags[k.Tag] = true
	}
	assert.Len(t, tags, nBatches-1)
	_, code = logCLI(t, "check", "--dir", logDir)
	assert.Equal(t, 2, code, "check refuses while the gateway holds the log")
}

// A flipped byte in the middle of the newest segment is corruption, not a torn tail: the entries after it are kept.
func TestLogCorruptionInNewestSegment(t *testing.T) {
	corruptionRun(t, 20, func(t *testing.T, dataDir string) {
		segs := logSegments(t, dataDir)
		require.NotEmpty(t, segs)
		last := segs[len(segs)-1]
		st, err := os.Stat(last)
		require.NoError(t, err)
		require.Greater(t, st.Size(), int64(4096))
		flipByte(t, last, st.Size()/2)
	})
}

// Corruption in an older segment does not stop the gateway from starting: it is reported and salvaged.
func TestLogCorruptionInOlderSegment(t *testing.T) {
	corruptionRun(t, 600, func(t *testing.T, dataDir string) {
		segs := logSegments(t, dataDir)
		require.GreaterOrEqual(t, len(segs), 2, "the run must span several segments")
		st, err := os.Stat(segs[0])
		require.NoError(t, err)
		flipByte(t, segs[0], st.Size()/2)
	})
}

// TestSigtermUnderLoad: clients keep sending while the gateway is told to stop. Every request the gateway took
// is answered: a request whose data reached the durable log got its answer, never a reset connection or an EOF
// (that is what would make a client retry data the gateway has), and every request answered 2xx is forwarded
// after a restart. A connection still in the kernel's accept backlog when the listener closes is reset before
// the gateway read anything from it; from the client that looks like an in-flight request, so the test tells the
// two apart by where the data went: a batch that got no answer must not be in the log (so not at the upstream).
func TestSigtermUnderLoad(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{})
	var (
		mu         sync.Mutex
		results    = map[string]int{}
		accepted   []*slowBatch
		unanswered = map[string]string{} // tag → transport error
		stopping   atomic.Bool
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for s := range 8 {
		sendUntil(&wg, stop, func(i int) {
			b := &slowBatch{tag: fmt.Sprintf("t%d-%05d", s, i), grpc: s%2 == 1, noKeepAlive: true}
			got := b.send(gw)
			mu.Lock()
			defer mu.Unlock()
			if stopping.Load() {
				results[got]++
			}
			if b.accepted {
				accepted = append(accepted, b)
			}
			if strings.Contains(got, "transport error") {
				unanswered[b.tag] = got
			}
			if got == "connection refused" || got == "gRPC Unavailable" && !gw.Running() {
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	time.Sleep(2 * time.Second)
	stopping.Store(true)
	gw.Stop()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("answers while stopping: %v; %d batches accepted", results, len(accepted))
	for got, n := range results {
		if !(got == "HTTP 200" || got == "gRPC OK" || retryable[got] || got == "connection refused" || strings.Contains(got, "transport error")) {
			t.Errorf("%d requests ended with %q while the gateway stopped", n, got)
		}
	}
	gw.Restart(t)
	want := len(accepted) * slowBatchRecords
	e2etest.Eventually(t, 30*time.Second, func() bool { return gw.Upstream.LogRecordCount() >= want },
		"every acknowledged record forwarded after the restart (%d of %d)", gw.Upstream.LogRecordCount(), want)
	time.Sleep(time.Second) // what is left in the log after the acknowledged data
	atSink := logRecordsAtSink(gw.Upstream)
	for _, b := range accepted {
		if atSink[recordKey{b.tag, 0}] == 0 {
			t.Errorf("acknowledged batch %s never reached the upstream", b.tag)
			break
		}
	}
	for tag, got := range unanswered {
		if atSink[recordKey{tag, 0}] > 0 {
			t.Errorf("batch %s was taken by the gateway (it is in the log and reached the upstream) but its client got %q instead of an answer", tag, got)
		}
	}
}

// TestLogCorruptionInKeySidecar: once every consumer has passed a segment it is deleted and the Idempotency-Keys
// of its requests are kept in a sidecar (<seq>.keys) for key_retention. A damaged sidecar must not be silent:
// `tfocol log check` and the gateway's start report it (it costs only the deduplication of the keys in it), and
// nothing else is lost — the gateway starts and keeps accepting and forwarding.
func TestLogCorruptionInKeySidecar(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{
		Configs: []string{fastReceiptsOverlay},
		Env:     map[string]string{"TFOCOL_RECEIPT_INTERVAL": "1s"},
		Args:    []string{"--set=extensions::tfo_log::segment_size=1048576"},
	})
	const nBatches, per = 60, 600
	for i := range nBatches {
		b := &slowBatch{tag: fmt.Sprintf("k-%03d", i), records: per}
		require.Equal(t, "HTTP 200", b.send(gw))
	}
	var sidecars []string
	e2etest.Eventually(t, 60*time.Second, func() bool {
		sidecars, _ = filepath.Glob(filepath.Join(gw.DataDir, "log", "*.keys"))
		return gw.Upstream.LogRecordCount() >= nBatches*per && len(sidecars) > 0
	}, "segments reclaimed into key sidecars once every consumer passed them (upstream has %d)", gw.Upstream.LogRecordCount())
	gw.Stop()
	st, err := os.Stat(sidecars[0])
	require.NoError(t, err)
	flipByte(t, sidecars[0], st.Size()/2)

	out, code := logCLI(t, "check", "--dir", filepath.Join(gw.DataDir, "log"))
	require.Equal(t, 1, code, "check must report the damaged sidecar:\n%s", out)
	assert.Contains(t, out, "KEY INDEX DAMAGED")
	assert.Contains(t, out, filepath.Base(sidecars[0]))

	gw.Restart(t)
	assert.Contains(t, gw.Logs(), "key sidecar damaged")
	b := &slowBatch{tag: "after", records: 10}
	require.Equal(t, "HTTP 200", b.send(gw))
	e2etest.Eventually(t, 20*time.Second, func() bool { return gw.Upstream.LogRecordCount() >= nBatches*per+10 },
		"the gateway keeps forwarding after reporting the damage")
}
