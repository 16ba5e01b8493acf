package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/receipts"
)

// sdkEvent is a contract fixture sent as an OTel SDK on another machine sends it: the resource names the sender,
// the OTLP severity number is the SDK's default; mutate edits the body.
func sdkEvent(t *testing.T, fixture string, at time.Time, mutate func(body map[string]any)) plog.Logs {
	t.Helper()
	fx, err := eventtest.LoadFile(filepath.Join(e2etest.RepoRoot(t), "testdata", "events", fixture))
	require.NoError(t, err)
	if mutate != nil {
		mutate(fx.Body.(map[string]any))
	}
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "ops-bot")
	rl.Resource().Attributes().PutStr("host.name", "sdk-host")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	require.NoError(t, fx.CopyTo(lr))
	lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	return ld
}

// hostScrape adds a hostmetrics scrape of one host after the agent's resourcedetection (host.name, no
// service) to md.
func hostScrape(md pmetric.Metrics, host string, at time.Time, user, used float64) {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", host)
	rm.Resource().Attributes().PutStr("os.type", "linux")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	cpu := ms.AppendEmpty()
	cpu.SetName("system.cpu.utilization")
	g := cpu.SetEmptyGauge()
	for state, v := range map[string]float64{"user": user, "idle": 1 - user} {
		dp := g.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
		dp.Attributes().PutStr("cpu", "cpu0")
		dp.Attributes().PutStr("state", state)
		dp.SetDoubleValue(v)
	}
	mem := ms.AppendEmpty()
	mem.SetName("system.memory.utilization")
	dp := mem.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
	dp.Attributes().PutStr("state", "used")
	dp.SetDoubleValue(used)
}

func lateTraceSpans(ids []byte, at time.Time, errSpan bool) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "settlement")
	ss := rs.ScopeSpans().AppendEmpty()
	for _, id := range ids {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{0xab, 0xcd, 1})
		sp.SetSpanID(pcommon.SpanID{id})
		if id != 1 {
			sp.SetParentSpanID(pcommon.SpanID{1})
		}
		sp.SetName("settle")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(at.Add(-5 * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(at))
		if errSpan {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return td
}

// TestReceiptAlertLifecycleAggregatesAndLateTrace drives the shipped gateway (2s windows) over OTLP/HTTP:
// failure events sent by an SDK are receipted with their contract's severity and host; the gateway is killed and
// restarted, and the recovering ServiceDegraded and a BackupSucceeded close those alerts with obs_alert_resolved
// (the open alerts come back from the receipt log); host metrics of two hosts get a snapshot naming both hosts
// with the shipped cpu/memory aggregates; a trace whose error span arrives after its first spans' window was
// sealed gets an obs_trace_complete with all its spans. `tfocol receipts verify` checks all of it.
func TestReceiptAlertLifecycleAggregatesAndLateTrace(t *testing.T) {
	keyFile, vkey := rcKeygen(t)
	gw := rcStart(t, keyFile, nil)
	ctx := context.Background()
	dir := filepath.Join(gw.DataDir, "receipts")
	scroll := filepath.Join(dir, receipts.WorkspaceDir(gw.Workspace))
	send := func(data any) {
		t.Helper()
		res, err := e2etest.ExportHTTP(ctx, gw.HTTP(gw.Headers()), data)
		require.NoError(t, err)
		require.Equal(t, 200, res.Status, string(res.Body))
	}
	ofType := func(typ string) []*receipts.Receipt {
		var out []*receipts.Receipt
		lines, _ := receipts.ScrollLines(scroll)
		for _, l := range lines {
			if r, err := receipts.ParseReceipt(l); err == nil && r.Type == typ {
				out = append(out, r)
			}
		}
		return out
	}
	waitFor := func(typ string, n int) []*receipts.Receipt {
		t.Helper()
		e2etest.Eventually(t, 20*time.Second, func() bool { return len(ofType(typ)) >= n }, "%d %s", n, typ)
		return ofType(typ)
	}

	firedAt := time.Now().Add(-40 * time.Minute).Truncate(time.Second)
	send(sdkEvent(t, "ServiceDegraded/valid.json", firedAt, nil))
	send(sdkEvent(t, "BackupFailure/valid.json", firedAt, nil))
	fired := waitFor(receipts.TypeAlertFired, 2)
	require.Equal(t, "ServiceDegraded", fired[0].Name)
	require.Equal(t, "critical", fired[0].Severity, "event.severity, not the OTLP severity number")
	require.Equal(t, "prod-server-01", fired[0].Node, "the event's host.name, not the SDK's")
	require.Equal(t, "checkout-api", fired[0].Service)
	require.Equal(t, "error", fired[1].Severity)

	// Host metrics of two hosts and the first spans of a fast, error-free trace, in the same window.
	now := time.Now()
	md := pmetric.NewMetrics() // one request: one window
	hostScrape(md, "brick-01", now, 0.25, 0.5)
	hostScrape(md, "brick-02", now, 0.75, 0.7)
	send(md)
	send(lateTraceSpans([]byte{1, 2}, now, false))
	snap := waitFor(receipts.TypeMetricSnapshot, 1)[0]
	require.Equal(t, []string{"brick-01", "brick-02"}, snap.NodesReporting)
	require.Empty(t, snap.ServicesReporting)
	require.Equal(t, uint64(2), snap.Aggregates["cpu_user_utilization"].Points)
	require.Equal(t, "0.5", snap.Aggregates["cpu_user_utilization"].Avg.String())
	require.Equal(t, "0.75", snap.Aggregates["cpu_user_utilization"].Max.String())
	require.Equal(t, "0.6", snap.Aggregates["memory_used_utilization"].Avg.String())
	require.Equal(t, uint64(0), snap.Aggregates["cpu_system_utilization"].Points)
	waitFor(receipts.TypeTraceBatch, 1) // the first spans' window is sealed, the trace idle and not significant
	require.Empty(t, ofType(receipts.TypeTraceComplete))

	gw.Kill()
	gw.Restart(t)

	resolvedAt := firedAt.Add(35*time.Minute + 20*time.Second)
	send(sdkEvent(t, "ServiceDegraded/valid.json", resolvedAt, func(b map[string]any) { b["status"] = "recovering" }))
	backupOK := sdkEvent(t, "BackupFailure/valid.json", resolvedAt, nil)
	backupOK.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).SetEventName("BackupSucceeded")
	send(backupOK)
	send(lateTraceSpans([]byte{3}, time.Now(), true))

	resolved := waitFor(receipts.TypeAlertResolved, 2)
	require.Len(t, ofType(receipts.TypeAlertFired), 2, "a recovering ServiceDegraded fires no alert")
	for i, r := range resolved {
		require.Equal(t, fired[i].ID, r.AlertID)
		require.Equal(t, receipts.FormatTime(firedAt), r.FiredAt)
		require.Equal(t, uint64(35), *r.DurationMinutes)
	}
	require.Equal(t, "ServiceDegraded", resolved[0].ResolvedBy)
	require.Equal(t, "BackupSucceeded", resolved[1].ResolvedBy)

	tc := waitFor(receipts.TypeTraceComplete, 1)[0]
	require.Equal(t, uint64(3), tc.SpanCount, "the spans before the error are in the trace's receipt")
	require.Equal(t, "error", tc.Status)

	gw.Stop()
	out, err := rcCLI(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.NoError(t, err, out)
	require.NotContains(t, out, "FAIL")
}

// Issue 16 item 9: the shipped agent's host metrics reach the gateway with host.name (resourcedetection), so the
// metric snapshot names the host in nodes_reporting, and the shipped aggregates hold its memory utilization.
func TestAgentHostMetricsSnapshotNamesTheHost(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	gw := e2etest.StartGateway(t, e2etest.Options{Configs: []string{rcOverlay, agentGWOverlay}})
	agent := agentStart(t, gw, "http", t.TempDir(), filepath.Join(t.TempDir(), "none.log"))
	defer agent.Stop()
	scroll := filepath.Join(gw.DataDir, "receipts", receipts.WorkspaceDir(gw.Workspace))
	var snap *receipts.Receipt
	e2etest.Eventually(t, 30*time.Second, func() bool {
		lines, _ := receipts.ScrollLines(scroll)
		for _, l := range lines {
			r, err := receipts.ParseReceipt(l)
			if err == nil && r.Type == receipts.TypeMetricSnapshot && r.Aggregates["memory_used_utilization"].Points > 0 {
				snap = r
				return true
			}
		}
		return false
	}, "a metric snapshot with the agent's memory utilization")
	require.Equal(t, []string{host}, snap.NodesReporting)
	m := snap.Aggregates["memory_used_utilization"]
	require.Greater(t, *m.Avg, receipts.Decimal(0))
	require.LessOrEqual(t, *m.Max, receipts.DecimalOf(1))
	// ROOT is rewritten right after each receipt line: a read between the two is retried.
	e2etest.Eventually(t, 10*time.Second, func() bool {
		_, err := receipts.VerifyScroll(scroll, receipts.VerifyOptions{})
		return err == nil
	}, "the scroll verifies")
}
