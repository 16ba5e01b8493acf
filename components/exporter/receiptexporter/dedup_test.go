package receiptexporter

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/internal/receipts/wal"
)

const testWS = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"

// keyed is the context the OTLP receiver (include_metadata) hands on for a request with these headers.
func keyed(headers map[string][]string) context.Context {
	return client.NewContext(context.Background(), client.Info{Metadata: client.NewMetadata(headers)})
}

func withKey(ws, key string) context.Context {
	return keyed(map[string][]string{"x-workspace-id": {ws}, "idempotency-key": {key}})
}

// attempt is one delivery of a batch as the workspace processor passes it on: same records, a fresh
// tfo.correlation.id per attempt.
func attempt(ws string, n int, correlation string) plog.Logs {
	ld := makeLogs(ws, n, base, 9)
	ld.ResourceLogs().At(0).Resource().Attributes().PutStr("tfo.correlation.id", correlation)
	return ld
}

// sealedRecords seals everything pending (clock moved past the window and its grace) and returns the total
// leaf count of the workspace's receipts, checked by the verifier.
func sealedRecords(t *testing.T, dir, ws string, clock *fakeClock, wantReceipts int) uint64 {
	t.Helper()
	clock.Set(clock.Now().Add(2 * time.Minute))
	rs := waitReceipts(t, filepath.Join(dir, ws), wantReceipts)
	var n uint64
	for _, r := range rs {
		n += r.LeafCount
	}
	require.Equal(t, n, verifyAll(t, dir))
	return n
}

func TestRetryWithSameIdempotencyKeyIsNotWrittenAgain(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	e := startExporter(t, testConfig(dir), clock)
	ctx := withKey(testWS, "batch-1")

	require.NoError(t, e.pushLogs(ctx, attempt(testWS, 7, "attempt-1")))
	// The upstream refused; the client retries with the same key, the processor stamps a new correlation id.
	require.NoError(t, e.pushLogs(ctx, attempt(testWS, 7, "attempt-2")))
	// Header spelling does not matter: HTTP canonical names, upper-case workspace, padded values.
	require.NoError(t, e.pushLogs(keyed(map[string][]string{
		"X-Workspace-Id": {" " + "6F1C2A9E-3B4D-4E5F-8A7B-9C0D1E2F3A4B"}, "Idempotency-Key": {"batch-1 "},
	}), attempt(testWS, 7, "attempt-3")))
	require.Len(t, e.eng.Load().keys, 1)

	require.Equal(t, uint64(7), sealedRecords(t, dir, testWS, clock, 1))
	require.NoError(t, e.shutdown(context.Background()))
}

func TestRetryAfterRestartIsStillRecognised(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	cfg := testConfig(dir)
	ctx := withKey(testWS, "batch-1")

	e := startExporter(t, cfg, clock)
	require.NoError(t, e.pushLogs(ctx, attempt(testWS, 5, "attempt-1")))
	// kill -9 after the WAL write: nothing but the WAL survives.
	require.NoError(t, e.shutdown(context.Background()))

	e = startExporter(t, cfg, clock)
	require.NoError(t, e.pushLogs(ctx, attempt(testWS, 5, "attempt-2")))
	require.Equal(t, uint64(5), sealedRecords(t, dir, testWS, clock, 1))

	// Sealed, the segment is retired rather than deleted: a retry after another restart is still recognised
	// and nothing new is sealed for it (the next window holds only the unkeyed marker).
	require.Eventually(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, walDir, "*.retired"))
		return len(m) == 1
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, e.shutdown(context.Background()))
	e = startExporter(t, cfg, clock)
	require.NoError(t, e.pushLogs(ctx, attempt(testWS, 5, "attempt-3")))
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(testWS, 1, clock.Now(), 9)))
	require.Equal(t, uint64(6), sealedRecords(t, dir, testWS, clock, 2))
	require.NoError(t, e.shutdown(context.Background()))
}

func TestKeysAreForgottenAfterDedupWindow(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	cfg := testConfig(dir)
	cfg.DedupWindow = 10 * time.Minute
	ctx := withKey(testWS, "batch-1")
	e := startExporter(t, cfg, clock)
	require.NoError(t, e.pushLogs(ctx, attempt(testWS, 3, "attempt-1")))
	require.Equal(t, uint64(3), sealedRecords(t, dir, testWS, clock, 1))

	// Bounded: once dedup_window has passed, the retired segment and its keys are gone.
	clock.Set(base.Add(11 * time.Minute))
	require.Eventually(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, walDir, "*.retired"))
		return len(m) == 0
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, e.shutdown(context.Background()))
	e = startExporter(t, cfg, clock)
	require.Empty(t, e.eng.Load().keys)
	require.NoError(t, e.shutdown(context.Background()))
}

func TestSameKeyInAnotherWorkspaceIsKept(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	e := startExporter(t, testConfig(dir), clock)
	other := "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
	require.NoError(t, e.pushLogs(withKey(testWS, "same"), attempt(testWS, 4, "c1")))
	require.NoError(t, e.pushLogs(withKey(other, "same"), attempt(testWS, 4, "c2")))
	require.Equal(t, uint64(8), sealedRecords(t, dir, testWS, clock, 1))
	require.NoError(t, e.shutdown(context.Background()))
}

func TestRequestsWithoutKeyAreNeverDeduplicated(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	e := startExporter(t, testConfig(dir), clock)
	noKey := keyed(map[string][]string{"x-workspace-id": {testWS}})
	require.NoError(t, e.pushLogs(noKey, attempt(testWS, 4, "c1")))
	require.NoError(t, e.pushLogs(noKey, attempt(testWS, 4, "c1")))
	require.NoError(t, e.pushLogs(keyed(map[string][]string{"x-workspace-id": {testWS}, "idempotency-key": {""}}), attempt(testWS, 4, "c1")))
	require.NoError(t, e.pushLogs(context.Background(), attempt(testWS, 4, "c1")))
	require.Empty(t, e.eng.Load().keys)
	require.Equal(t, uint64(16), sealedRecords(t, dir, testWS, clock, 1))
	require.NoError(t, e.shutdown(context.Background()))
}

// routed is one event_router part of a request: n records of event type name, rejected or not.
func routed(n int, name string, rejected bool, correlation string) plog.Logs {
	ld := attempt(testWS, n, correlation)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := 0; i < lrs.Len(); i++ {
		lrs.At(i).SetEventName(name)
		if rejected {
			lrs.At(i).Attributes().PutStr("tfo.schema.rejection.reason", "missing property host")
		}
	}
	return ld
}

// event_router passes one request on as one call per route, all with the request's key.
func TestEveryRoutedPartOfAKeyedRequestIsKept(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	e := startExporter(t, testConfig(dir), clock)
	ctx := withKey(testWS, "mixed")
	for _, correlation := range []string{"attempt-1", "attempt-2"} {
		require.NoError(t, e.pushLogs(ctx, routed(3, "HostHeartbeat", false, correlation)))
		require.NoError(t, e.pushLogs(ctx, routed(2, "HostHeartbeat", true, correlation)))
		require.NoError(t, e.pushLogs(ctx, routed(4, "PatchCompliance", false, correlation)))
		require.NoError(t, e.pushLogs(ctx, routed(1, "", false, correlation)))
	}
	// The second attempt of every part adds nothing.
	require.Equal(t, uint64(10), sealedRecords(t, dir, testWS, clock, 1))
	require.NoError(t, e.shutdown(context.Background()))
}

func TestConcurrentRetriesInOneGroupCommitAreWrittenOnce(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	release := make(chan struct{})
	var blocked atomic.Bool
	e := startExporter(t, testConfig(dir), clock, func(en *engine) {
		en.beforeCommit = func() {
			if blocked.CompareAndSwap(false, true) {
				<-release
			}
		}
	})
	ctx := withKey(testWS, "k")
	errs := make(chan error, 6)
	go func() { errs <- e.pushLogs(withKey(testWS, "blocker"), attempt(testWS, 1, "b")) }()
	require.Eventually(t, func() bool { return blocked.Load() }, 5*time.Second, time.Millisecond)
	for i := 0; i < 5; i++ {
		go func() { errs <- e.pushLogs(ctx, attempt(testWS, 2, "c")) }()
	}
	require.Eventually(t, func() bool { return len(e.eng.Load().reqs) == 5 }, 5*time.Second, time.Millisecond)
	close(release)
	for i := 0; i < 6; i++ {
		require.NoError(t, <-errs)
	}
	require.Equal(t, uint64(3), sealedRecords(t, dir, testWS, clock, 1))
	require.NoError(t, e.shutdown(context.Background()))
}

func TestAlertsModeHonoursIdempotencyKey(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	cfg := testConfig(dir)
	cfg.Mode = ModeAlerts
	failure := func(correlation string) plog.Logs {
		ld := attempt(testWS, 1, correlation)
		ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).SetEventName("BackupFailure")
		return ld
	}
	e := startExporter(t, cfg, clock)
	require.NoError(t, e.pushLogs(withKey(testWS, "alert-1"), failure("c1")))
	// The retry differs in its correlation id only: recognised by its key, also after a restart.
	require.NoError(t, e.pushLogs(withKey(testWS, "alert-1"), failure("c2")))
	require.NoError(t, e.shutdown(context.Background()))
	e = startExporter(t, cfg, clock)
	require.NoError(t, e.pushLogs(withKey(testWS, "alert-1"), failure("c3")))
	require.Len(t, readReceipts(t, filepath.Join(dir, testWS)), 1)
	// Without a key the leaves differ, so these are two alerts; another workspace's key is another request.
	require.NoError(t, e.pushLogs(context.Background(), failure("c4")))
	require.NoError(t, e.pushLogs(context.Background(), failure("c5")))
	require.NoError(t, e.pushLogs(withKey("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d", "alert-1"), failure("c6")))
	require.Len(t, readReceipts(t, filepath.Join(dir, testWS)), 4)
	require.Equal(t, uint64(4), verifyAll(t, dir))
	require.NoError(t, e.shutdown(context.Background()))
}

func TestVersion2WALEntriesStillReplay(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	ld := makeLogs(testWS, 4, base, 9)
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	v3 := wal.AppendEntry(nil, &wal.Entry{Signal: wal.SignalLogs, Arrival: base.UnixNano(), Windows: []int64{base.Unix()},
		Assign: []uint32{0, 0, 0, 0}, Request: raw})
	// Version 2 is version 3 without the flags byte.
	v2 := append([]byte{2, v3[1]}, v3[3:]...)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, walDir), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, walDir, "00000000000000000001.wal"), wal.AppendFrame(nil, v2), 0o644))

	e := startExporter(t, testConfig(dir), clock)
	require.Equal(t, uint64(4), sealedRecords(t, dir, testWS, clock, 1))
	require.NoError(t, e.shutdown(context.Background()))
}

func TestRetryWithNewTimestampsIsRecognisedByItsKey(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	e := startExporter(t, testConfig(dir), clock)
	ctx := withKey(testWS, "regenerated")
	// A client that rebuilds the batch for each attempt: same key, same records, other timestamps.
	require.NoError(t, e.pushLogs(ctx, makeLogs(testWS, 6, base, 9)))
	require.NoError(t, e.pushLogs(ctx, makeLogs(testWS, 6, base.Add(time.Second), 9)))
	require.NoError(t, e.pushMetrics(ctx, makeMetrics(testWS, 2, base)))
	require.NoError(t, e.pushMetrics(ctx, makeMetrics(testWS, 2, base.Add(time.Second))))
	require.NoError(t, e.pushTraces(ctx, makeTrace(testWS, 7, base, time.Millisecond, 2, false)))
	require.NoError(t, e.pushTraces(ctx, makeTrace(testWS, 7, base.Add(time.Second), time.Millisecond, 2, false)))
	// logs 6, metrics 2+1, spans 2: one receipt per signal.
	require.Equal(t, uint64(11), sealedRecords(t, dir, testWS, clock, 3))
	require.NoError(t, e.shutdown(context.Background()))
}

// BenchmarkDedupMemoryPerKey measures the heap held per remembered request key (keys, segKeys, segLast).
func BenchmarkDedupMemoryPerKey(b *testing.B) {
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := &engine{keys: map[[wal.KeySize]byte]uint64{}, segKeys: map[uint64][][wal.KeySize]byte{}, segLast: map[uint64]int64{}}
	for i := 0; i < n; i++ {
		var k [wal.KeySize]byte
		k[0], k[1], k[2], k[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		e.remember(k, uint64(i/50_000), int64(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/key")
	runtime.KeepAlive(e)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var k [wal.KeySize]byte
		k[0], k[1], k[2], k[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		_, _ = e.keys[k]
	}
}
