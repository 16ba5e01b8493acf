package receiptexporter

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/receipts"
)

// contractEvent is an event as an OTel SDK on another machine sends it: its resource names the sender
// (sdk-host, checkout-svc), its contract attributes the host and urgency the event is about.
func contractEvent(ws, name, host, severity string, at time.Time, body map[string]any) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("tfo.workspace.id", ws)
	rl.Resource().Attributes().PutStr("host.name", "sdk-host")
	rl.Resource().Attributes().PutStr("service.name", "checkout-svc")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName(name)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
	lr.SetSeverityNumber(plog.SeverityNumberInfo) // an SDK's default, not the event's urgency
	lr.Attributes().PutStr("tfo.event.contract_version", "1")
	lr.Attributes().PutStr("event.id", name+"-"+at.Format(time.RFC3339Nano))
	if severity != "" {
		lr.Attributes().PutStr("event.severity", severity)
	}
	lr.Attributes().PutStr("host.name", host)
	_ = lr.Body().SetEmptyMap().FromRaw(body)
	return ld
}

func degraded(status string, at time.Time) plog.Logs {
	return contractEvent("ws", "ServiceDegraded", "prod-db-01", "critical", at, map[string]any{
		"serviceName": "ledger", "indicator": "latency", "observedValue": 900.0, "threshold": 500.0, "unit": "ms",
		"windowSeconds": 60, "detectedAt": at.Format(time.RFC3339), "status": status})
}

// Issue 16 item 8: severity and node come from the event's contract fields, not from the OTLP severity number and
// the sending SDK's resource.
func TestAlertFiredTakesSeverityAndNodeFromTheContractFields(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	e := startExporter(t, testConfig(dir), clock)
	require.NoError(t, lg.logs(e, contractEvent("ws", "BackupFailure", "prod-server-01", "error", base,
		map[string]any{"jobId": "nightly-pg"})))
	rs := readReceipts(t, filepath.Join(dir, "ws"))
	require.Len(t, rs, 1)
	require.Equal(t, "error", rs[0].Severity)
	require.Equal(t, "prod-server-01", rs[0].Node)
	require.Equal(t, "checkout-svc", rs[0].Service, "no serviceName in the body: the resource's service.name")
	require.NoError(t, e.shutdown(context.Background()))
	verifyAll(t, dir)
}

// A recovering ServiceDegraded closes the open alert of the same service (and fires none); the open alert
// survives a restart (rebuilt from the receipt log); an alert resolves once, also when the entry is replayed.
func TestServiceRecoveringResolvesTheOpenAlertAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	ctx := context.Background()
	scroll := filepath.Join(dir, "ws")
	e := startExporter(t, testConfig(dir), clock)
	require.NoError(t, lg.logs(e, degraded("degraded", base)))
	other := contractEvent("ws", "ServiceDegraded", "prod-db-01", "warning", base, map[string]any{
		"serviceName": "portal", "indicator": "latency", "status": "degraded"})
	require.NoError(t, lg.logs(e, other))
	rs := readReceipts(t, scroll)
	require.Len(t, rs, 2)
	require.Equal(t, "ledger", rs[0].Service)
	require.Equal(t, "critical", rs[0].Severity)
	require.NoError(t, e.shutdown(ctx))

	// Restart: nothing but the receipt log says the ledger alert is open.
	lg.restart()
	e = startExporter(t, testConfig(dir), clock)
	clock.Set(base.Add(35*time.Minute + time.Second))
	require.NoError(t, lg.logs(e, degraded("recovering", base.Add(35*time.Minute+20*time.Second))))
	rs = readReceipts(t, scroll)
	require.Len(t, rs, 3, "one obs_alert_resolved, no new obs_alert_fired")
	res := rs[2]
	require.Equal(t, receipts.TypeAlertResolved, res.Type)
	require.Equal(t, rs[0].ID, res.AlertID)
	require.Equal(t, receipts.AlertResolvedID(rs[0].ID), res.ID)
	require.Equal(t, "ServiceDegraded", res.Name)
	require.Equal(t, "ServiceDegraded", res.ResolvedBy)
	require.Equal(t, receipts.FormatTime(base), res.FiredAt)
	require.Equal(t, uint64(35), *res.DurationMinutes)
	require.Equal(t, "ledger", res.Service)

	// Replayed, and recovering again: the alert is no longer open.
	require.NoError(t, lg.redeliver(e, lg.last()))
	require.NoError(t, lg.logs(e, degraded("recovering", base.Add(36*time.Minute))))
	require.Len(t, readReceipts(t, scroll), 3)
	require.NoError(t, e.shutdown(ctx))
	verifyAll(t, dir)
}

// A successful backup of the failed job closes its BackupFailure; one of another job or host does not, and a
// success older than the failure does not either.
func TestBackupSucceededResolvesOnlyItsJob(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	e := startExporter(t, testConfig(dir), clock)
	scroll := filepath.Join(dir, "ws")
	job := func(name, host, jobID string, at time.Time) plog.Logs {
		return contractEvent("ws", name, host, "error", at, map[string]any{"jobId": jobID})
	}
	require.NoError(t, lg.logs(e, job("BackupFailure", "prod-server-01", "nightly-pg", base.Add(10*time.Second))))
	require.NoError(t, lg.logs(e, job("BackupSucceeded", "prod-server-01", "nightly-pg", base)))                // older
	require.NoError(t, lg.logs(e, job("BackupSucceeded", "prod-server-02", "nightly-pg", base.Add(time.Hour)))) // other host
	require.NoError(t, lg.logs(e, job("BackupSucceeded", "prod-server-01", "weekly", base.Add(time.Hour))))     // other job
	require.Len(t, readReceipts(t, scroll), 1)
	require.NoError(t, lg.logs(e, job("BackupSucceeded", "prod-server-01", "nightly-pg", base.Add(2*time.Hour))))
	rs := readReceipts(t, scroll)
	require.Len(t, rs, 2)
	require.Equal(t, receipts.TypeAlertResolved, rs[1].Type)
	require.Equal(t, "BackupSucceeded", rs[1].ResolvedBy)
	require.Equal(t, uint64(119), *rs[1].DurationMinutes)
	require.NoError(t, e.shutdown(context.Background()))
	verifyAll(t, dir)
}

func TestAlertResolutionConfigValidation(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.AlertResolutions = []AlertResolution{{Alert: "X", ResolvedBy: "X"}}
	require.ErrorContains(t, cfg.Validate(), "needs `when`")
	cfg.AlertResolutions = []AlertResolution{{Alert: "X"}}
	require.ErrorContains(t, cfg.Validate(), "alert and resolved_by must be set")
}

// A failure and its recovery in one request: the alert fires and resolves, in record order.
func TestAlertFiredAndResolvedInOneCall(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	e := startExporter(t, testConfig(dir), clock)
	ld := degraded("degraded", base)
	degraded("recovering", base.Add(90*time.Second)).ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	require.NoError(t, lg.logs(e, ld))
	rs := readReceipts(t, filepath.Join(dir, "ws"))
	require.Len(t, rs, 2)
	require.Equal(t, receipts.TypeAlertFired, rs[0].Type)
	require.Equal(t, receipts.TypeAlertResolved, rs[1].Type)
	require.Equal(t, uint64(1), *rs[1].DurationMinutes)
	require.NoError(t, e.shutdown(context.Background()))
	verifyAll(t, dir)
}

// An open alert keeps what its obs_alert_resolved needs, not the leaf bytes of the request its event came in:
// the leaves of a request share one buffer, so keeping the event's leaf kept every record of the request in
// memory for as long as the alert stayed open (found in make bench: ~40 MB per 10 s at 10k logs/s with 2 %
// failure events, none resolved).
func TestOpenAlertsDoNotKeepTheirRequestInMemory(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	stream := newFakeStream(clock)
	e := startExporter(t, testConfig(dir), clock)
	defer e.shutdown(context.Background())
	const requests, plain = 100, 300
	filler := strings.Repeat("a plain application log line ", 14)
	send := func(i int) {
		ld := contractEvent("ws", "BackupFailure", "prod-server-01", "error", base.Add(time.Duration(i)*time.Millisecond),
			map[string]any{"jobId": fmt.Sprintf("job-%d", i)})
		lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for k := 0; k < plain; k++ {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(base))
			lr.Body().SetStr(fmt.Sprintf("%s %d/%d", filler, i, k))
		}
		ctx := durablelog.WithDelivery(context.Background(),
			durablelog.Delivery{Seq: uint64(i + 1), Arrival: clock.Now().UnixNano(), Stream: stream})
		require.NoError(t, e.pushLogs(ctx, ld))
	}
	send(0) // the scroll, its alert book and the window exist before the measurement
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 1; i <= requests; i++ {
		send(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	require.Len(t, readReceipts(t, filepath.Join(dir, "ws")), requests+1, "one open alert per request")
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// Each request's leaves are ~150 KB: keeping them would grow the heap by ~15 MB.
	require.Less(t, grown, int64(4<<20), "heap grew by %d bytes for %d open alerts", grown, requests)
}

// At most alert_max_open alerts of a scroll are tracked: the oldest are forgotten (counted; their success events
// resolve nothing), the newest still resolve, and a restart rebuilds the same book from the receipt log.
func TestOpenAlertsAreBoundedPerScroll(t *testing.T) {
	dir := t.TempDir()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	cfg := testConfig(dir)
	cfg.AlertMaxOpen = 3
	start := func() *receiptExporter {
		set := exportertest.NewNopSettings(metadata.Type)
		set.TelemetrySettings = tel.NewTelemetrySettings()
		e := newReceiptExporter(cfg, set)
		e.now = clock.Now
		require.NoError(t, e.startWith(context.Background(), componenttest.NewNopHost()))
		return e
	}
	job := func(name string, i int, at time.Time) plog.Logs {
		return contractEvent("ws", name, "prod-server-01", "error", at, map[string]any{"jobId": fmt.Sprintf("job-%d", i)})
	}
	scroll := filepath.Join(dir, "ws")
	e := start()
	for i := range 5 {
		require.NoError(t, lg.logs(e, job("BackupFailure", i, base.Add(time.Duration(i)*time.Second))))
	}
	require.Len(t, readReceipts(t, scroll), 5)
	forgotten := func() int64 {
		m, err := tel.GetMetric("tfocol_receipt_open_alerts_forgotten")
		require.NoError(t, err)
		return m.Data.(metricdata.Sum[int64]).DataPoints[0].Value
	}
	require.EqualValues(t, 2, forgotten(), "jobs 0 and 1 forgotten")
	require.NoError(t, lg.logs(e, job("BackupSucceeded", 0, base.Add(time.Hour))))
	require.NoError(t, lg.logs(e, job("BackupSucceeded", 4, base.Add(time.Hour))))
	rs := readReceipts(t, scroll)
	require.Len(t, rs, 6, "the forgotten job-0 alert resolves nothing")
	require.Equal(t, receipts.TypeAlertResolved, rs[5].Type)
	require.Equal(t, rs[4].ID, rs[5].AlertID)
	require.NoError(t, e.shutdown(context.Background()))

	// Rebuilt from the log: jobs 2 and 3 open, 1 forgotten again (replay in log order), 4 resolved.
	lg.restart()
	e = start()
	require.NoError(t, lg.logs(e, job("BackupSucceeded", 1, base.Add(2*time.Hour))))
	require.NoError(t, lg.logs(e, job("BackupSucceeded", 2, base.Add(2*time.Hour))))
	rs = readReceipts(t, scroll)
	require.Len(t, rs, 7)
	require.Equal(t, rs[2].ID, rs[6].AlertID)
	require.NoError(t, e.shutdown(context.Background()))
	verifyAll(t, dir)
}

func TestAlertMaxOpenIsChecked(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.AlertMaxOpen = 0
	require.ErrorContains(t, cfg.Validate(), "alert_max_open must be at least 1")
}
