package receiptexporter

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/receipts"
)

// retentionFeed seals, at base+1m10s, an info log batch and a metric batch in ws and an error log batch in ws-b.
func retentionFeed(t *testing.T, e *receiptExporter, lg *testLog, clock *fakeClock, infoLogs int) {
	t.Helper()
	clock.Set(base.Add(10 * time.Second))
	require.NoError(t, lg.logs(e, makeLogs("ws", infoLogs, base, plog.SeverityNumberInfo)))
	require.NoError(t, lg.metrics(e, makeMetrics("ws", 3, base)))
	require.NoError(t, lg.logs(e, makeLogs("ws-b", 3, base, plog.SeverityNumberError)))
	clock.Set(base.Add(time.Minute + 10*time.Second))
}

func fileExists(t *testing.T, scroll, storage string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(scroll, filepath.FromSlash(storage)))
	if os.IsNotExist(err) {
		return false
	}
	require.NoError(t, err)
	return true
}

func removedCount(t *testing.T, tel *componenttest.Telemetry, class, reason string) int64 {
	t.Helper()
	m, err := tel.GetMetric("tfocol_receipt_batch_files_removed")
	if err != nil {
		return 0
	}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		c, _ := dp.Attributes.Value(attribute.Key("class"))
		r, _ := dp.Attributes.Value(attribute.Key("reason"))
		if c.AsString() == class && r.AsString() == reason {
			return dp.Value
		}
	}
	return 0
}

func startWithTelemetry(t *testing.T, cfg *Config, clock *fakeClock, hooks ...func(*engine)) (*receiptExporter, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	e := newReceiptExporter(cfg, set)
	e.now = clock.Now
	require.NoError(t, e.startWith(context.Background(), componenttest.NewNopHost(), hooks...))
	return e, tel
}

// Expired batch files are removed per class (info logs after 2m; error logs kept 1h; metrics kept forever), the
// removal is a receipt before it, verify reports the file as removed by retention and a file deleted by hand as
// MISSING.
func TestRetentionRemovesExpiredFilesPerClass(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Retention = RetentionConfig{Logs: "2m", ErrorLogs: "1h", SweepInterval: time.Second}
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	e, tel := startWithTelemetry(t, cfg, clock)
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()
	retentionFeed(t, e, lg, clock, 5)
	ws, wsB := filepath.Join(dir, "ws"), filepath.Join(dir, "ws-b")
	sealed := waitReceipts(t, ws, 2)
	waitReceipts(t, wsB, 1)

	clock.Set(base.Add(3*time.Minute + 5*time.Second)) // not yet 2m after the seal
	time.Sleep(100 * time.Millisecond)
	require.Len(t, readReceipts(t, ws), 2)

	clock.Set(base.Add(3*time.Minute + 15*time.Second))
	rs := waitReceipts(t, ws, 3)
	rm := rs[2]
	require.Equal(t, receipts.TypeRetentionApplied, rm.Type)
	logs := sealed[0]
	if logs.Type != receipts.TypeLogBatch {
		logs = sealed[1]
	}
	require.Equal(t, []receipts.RetentionRemoval{{ReceiptID: logs.ID, StoragePath: logs.StoragePath, MerkleRoot: logs.MerkleRoot,
		Class: receipts.ClassLogs, Retain: "2m", Reason: receipts.ReasonExpired}}, rm.Removed)
	require.Eventually(t, func() bool { return !fileExists(t, ws, logs.StoragePath) }, 5*time.Second, 10*time.Millisecond,
		"deleted right after the record")
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(ws, filepath.Dir(filepath.FromSlash(logs.StoragePath))))
		return os.IsNotExist(err)
	}, 5*time.Second, 10*time.Millisecond, "the date directory left empty is removed")
	for _, r := range sealed {
		if r.Type == receipts.TypeMetricSnapshot {
			require.True(t, fileExists(t, ws, r.StoragePath), "metrics are kept forever")
		}
	}
	errLogs := readReceipts(t, wsB)[0]
	require.True(t, fileExists(t, wsB, errLogs.StoragePath), "error logs are kept 1h")
	require.Len(t, readReceipts(t, wsB), 1)

	rep, err := receipts.VerifyScroll(ws, receipts.VerifyOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Removed, 1)
	require.Equal(t, logs.StoragePath, rep.Removed[0].StoragePath)
	// Asking for its records (show --records, prove, correlate) says retention removed them, and by which receipt.
	_, err = receipts.BuildInclusionProof(ws, logs.ID, 0)
	var removed *receipts.RemovedError
	require.ErrorAs(t, err, &removed)
	require.Equal(t, rm.ID, removed.By)
	require.ErrorContains(t, err, "removed by retention (expired, class logs, retain 2m)")
	require.EqualValues(t, 1, removedCount(t, tel, receipts.ClassLogs, receipts.ReasonExpired))
	require.Eventually(t, func() bool {
		m, err := tel.GetMetric("tfocol_receipt_directory_bytes")
		return err == nil && m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value > 0
	}, 5*time.Second, 10*time.Millisecond)

	// A batch file gone without a removal record is missing.
	require.NoError(t, os.Remove(filepath.Join(wsB, filepath.FromSlash(errLogs.StoragePath))))
	_, err = receipts.VerifyScroll(wsB, receipts.VerifyOptions{})
	require.ErrorContains(t, err, "MISSING")
	_, err = receipts.ReceiptLeaves(wsB, errLogs)
	require.ErrorIs(t, err, os.ErrNotExist, "a file gone without a removal record is just missing")
}

// A crash after the removal is recorded and before the files are deleted leaves them recorded as removed (verify
// says so); the next start deletes them.
func TestRetentionCrashBetweenRecordAndDeleteCompletesAtStart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Retention = RetentionConfig{Logs: "1m", SweepInterval: time.Second}
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	e := startExporter(t, cfg, clock, func(en *engine) {
		en.crashAt = func(step string) bool { return step == "after-retention-record" }
	})
	retentionFeed(t, e, lg, clock, 5)
	ws := filepath.Join(dir, "ws")
	sealed := waitReceipts(t, ws, 2)
	clock.Set(base.Add(3 * time.Minute))
	rs := waitReceipts(t, ws, 3)
	path := rs[2].Removed[0].StoragePath
	require.Equal(t, sealed[0].StoragePath, path)
	require.True(t, fileExists(t, ws, path), "the crash came before the delete")
	_, err := receipts.VerifyScroll(ws, receipts.VerifyOptions{})
	require.ErrorContains(t, err, "but still present")
	require.NoError(t, e.shutdown(context.Background()))

	e = startExporter(t, cfg, clock)
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()
	require.False(t, fileExists(t, ws, path), "completed at start")
	rep, err := receipts.VerifyScroll(ws, receipts.VerifyOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Removed, 1)
	require.Len(t, readReceipts(t, ws), 3, "the removal is not recorded twice")
}

// Over max_bytes, the oldest files of the shortest-retention class go first, before their retention ran out,
// recorded with reason max_bytes; the longer-kept error logs stay.
func TestRetentionMaxBytesRemovesShortestClassFirst(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Retention = RetentionConfig{Logs: "10m", ErrorLogs: "1h", Metrics: "30m", MaxBytes: 40000, SweepInterval: time.Second}
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	e, tel := startWithTelemetry(t, cfg, clock)
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()
	retentionFeed(t, e, lg, clock, 2000)
	ws, wsB := filepath.Join(dir, "ws"), filepath.Join(dir, "ws-b")
	waitReceipts(t, wsB, 1)
	waitReceipts(t, ws, 2)
	clock.Set(base.Add(time.Minute + 12*time.Second)) // the next sweep
	rs := waitReceipts(t, ws, 3)
	rm := rs[2]
	require.Equal(t, receipts.TypeRetentionApplied, rm.Type)
	require.Len(t, rm.Removed, 1, "removing the big log batch is enough")
	require.Equal(t, receipts.ClassLogs, rm.Removed[0].Class)
	require.Equal(t, receipts.ReasonMaxBytes, rm.Removed[0].Reason)
	require.EqualValues(t, 40000, rm.MaxBytes)
	require.Greater(t, rm.DirectoryBytes, uint64(40000))
	require.True(t, fileExists(t, wsB, readReceipts(t, wsB)[0].StoragePath))
	require.Eventually(t, func() bool { return !fileExists(t, ws, rm.Removed[0].StoragePath) }, 5*time.Second, 10*time.Millisecond)
	for _, s := range []string{ws, wsB} {
		_, err := receipts.VerifyScroll(s, receipts.VerifyOptions{})
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, removedCount(t, tel, receipts.ClassLogs, receipts.ReasonMaxBytes))
	require.Eventually(t, func() bool {
		clock.Set(clock.Now().Add(2 * time.Second))
		m, err := tel.GetMetric("tfocol_receipt_directory_bytes")
		return err == nil && m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value <= 40000
	}, 5*time.Second, 20*time.Millisecond)
}

func TestRetentionConfigValidation(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Directory = t.TempDir()
	cfg.Retention.Logs = "30 days"
	cfg.Retention.MaxBytes = -1
	cfg.Retention.SweepInterval = 0
	err := cfg.Validate()
	require.ErrorContains(t, err, "retention.logs")
	require.ErrorContains(t, err, "retention.max_bytes")
	require.ErrorContains(t, err, "retention.sweep_interval")
}

// A batch file a derived receipt may still need is kept past its retention: the anomaly detector's baseline
// (the scroll's last 3 windows) and, for a restart, 2 x 3 + 1 windows plus a window and the grace (8m5s here).
func TestRetentionKeepsBatchesDerivedReceiptsNeed(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Anomaly.Enabled, cfg.Anomaly.History, cfg.Anomaly.MinHistory = true, 3, 2
	cfg.Retention = RetentionConfig{Logs: "1m", SweepInterval: time.Second}
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	e := startExporter(t, cfg, clock)
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()
	ws := filepath.Join(dir, "ws")
	for i := range 9 { // one log window a minute, each sealed 10 s after it ends
		w := base.Add(time.Duration(i) * time.Minute)
		clock.Set(w.Add(10 * time.Second))
		require.NoError(t, lg.logs(e, makeLogs("ws", 5, w, plog.SeverityNumberInfo)))
		clock.Set(w.Add(time.Minute + 10*time.Second))
		waitReceipts(t, ws, i+1)
		time.Sleep(20 * time.Millisecond)
	}
	// Sealed at base+1m10s, the first window's retention (1m) has long passed; the horizon ends at base+9m15s.
	require.Len(t, readReceipts(t, ws), 9, "nothing removed before the horizon")
	clock.Set(base.Add(9*time.Minute + 20*time.Second))
	rs := waitReceipts(t, ws, 10)
	rm := rs[9]
	require.Equal(t, receipts.TypeRetentionApplied, rm.Type)
	require.Len(t, rm.Removed, 1)
	require.Equal(t, rs[0].ID, rm.Removed[0].ReceiptID)
}
