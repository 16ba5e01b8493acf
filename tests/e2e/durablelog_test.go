package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector"
	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
	"github.com/tfocol/tfocol/internal/e2etest"
)

// appends returns tfocol_log_appends_total for a signal and outcome.
func appends(t *testing.T, c *e2etest.Collector, signal, outcome string) float64 {
	t.Helper()
	n, _ := e2etest.MetricSum(t, c.ScrapeMetrics(t), "tfocol_log_appends_total", map[string]string{"signal": signal, "outcome": outcome})
	return n
}

// Each acknowledged request is written to the durable log once — a logs request mixing valid, invalid and
// plain records too — and every consumer is fed from that one entry: the upstream gets every record (rejected
// ones annotated by the ingest contract check), the receipts seal every record, spanmetrics counts every span.
func TestDurableLogOneAppendFeedsEveryConsumer(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{Configs: []string{rcOverlay}})
	fixtures, err := eventtest.Load(filepath.Join(e2etest.RepoRoot(t), "testdata", "events"))
	require.NoError(t, err)
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	rejected, alerts := 0, 0
	for _, fx := range fixtures {
		require.NoError(t, fx.CopyTo(sl.LogRecords().AppendEmpty()))
		switch typ := fx.EventType(); {
		case fx.Expect.Outcome == "rejected":
			rejected++
		case typ == "BackupFailure" || typ == "ServiceDegraded" || typ == "PipelineFailure":
			alerts++
		}
	}
	for i := range 5 {
		sl.LogRecords().AppendEmpty().Body().SetStr(fmt.Sprintf("plain %d", i))
	}
	nLogs := ld.LogRecordCount()
	ctx := context.Background()
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), ld))
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), e2etest.GenTraces(20, map[string]string{"service.name": "checkout"})))
	res, err := e2etest.ExportHTTP(ctx, gw.HTTP(gw.Headers()), e2etest.GenMetrics(10, nil))
	require.NoError(t, err)
	require.Equal(t, 200, res.Status)

	for _, sig := range []string{"logs", "traces", "metrics"} {
		assert.Equal(t, 1.0, appends(t, gw.Collector, sig, "written"), "%s: one log append per request", sig)
	}
	e2etest.Eventually(t, 15*time.Second, func() bool {
		return gw.Upstream.LogRecordCount() >= nLogs && gw.Upstream.SpanCount() >= 20 && gw.Upstream.DataPointCount() >= 10
	}, "upstream got everything")
	annotated := 0
	for _, b := range gw.Upstream.Logs() {
		for i := 0; i < b.ResourceLogs().Len(); i++ {
			for j := 0; j < b.ResourceLogs().At(i).ScopeLogs().Len(); j++ {
				lrs := b.ResourceLogs().At(i).ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					if _, ok := lrs.At(k).Attributes().Get(eventrouterconnector.AttrRejectionReason); ok {
						annotated++
					}
				}
			}
		}
	}
	assert.Equal(t, rejected, annotated, "rejected events reach the upstream annotated")
	assert.Equal(t, nLogs, gw.Upstream.LogRecordCount())
	// Every record sealed once in its window batch, and each valid failure event once more as its alert.
	rcWaitRecords(t, filepath.Join(gw.DataDir, "receipts"), uint64(nLogs+20+10+alerts), 20*time.Second)
	e2etest.Eventually(t, 30*time.Second, func() bool {
		n, _ := e2etest.MetricSum(t, e2etest.Scrape(t, "http://"+gw.Ports.Prometheus+"/metrics"), "traces_span_metrics_calls_total", nil)
		return n == 20
	}, "spanmetrics counted the 20 spans")
}

// A request is in the log before its 2xx, so a SIGKILL loses nothing, including what the upstream had not
// taken yet; a dead backend stops only forwarding. After an outage of the backend and a kill, the restarted
// gateway forwards every acknowledged record, in order, and the receipts (sealed during the outage) hold each
// exactly once.
func TestDurableLogUpstreamTailSurvivesKill(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{Configs: []string{rcOverlay}})
	gw.Upstream.Intercept(func(e2etest.SinkRequest) error { return status.Error(codes.Unavailable, "backend down") })
	ctx := context.Background()
	const batches, per = 20, 25
	for b := range batches {
		require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), rcLogs(b*per, per)))
	}
	// The upstream consumer is stuck; the others are not: receipts are sealed meanwhile, and the lag of the
	// stuck cursor is visible.
	rcWaitRecords(t, filepath.Join(gw.DataDir, "receipts"), batches*per, 20*time.Second)
	require.Zero(t, gw.Upstream.LogRecordCount())
	lag, _ := e2etest.MetricSum(t, gw.ScrapeMetrics(t), "tfocol_log_consumer_lag", map[string]string{"consumer": "tfo_log/forward"})
	assert.Equal(t, float64(batches), lag, "the forward cursor's lag is the %d unforwarded requests", batches)
	gw.Kill()
	gw.Upstream.Intercept(nil)
	gw.Restart(t)

	e2etest.Eventually(t, 20*time.Second, func() bool { return gw.Upstream.LogRecordCount() >= batches*per },
		"upstream got the %d acknowledged records after the kill", batches*per)
	var order []string
	for _, b := range gw.Upstream.Logs() {
		for i := 0; i < b.ResourceLogs().Len(); i++ {
			lrs := b.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				order = append(order, lrs.At(k).Body().Str())
			}
		}
	}
	require.Len(t, order, batches*per, "each record forwarded once")
	for i, body := range order {
		require.Equal(t, fmt.Sprintf("r-%d", i), body, "records forwarded in log order")
	}
	rcWaitRecords(t, filepath.Join(gw.DataDir, "receipts"), batches*per, 20*time.Second)
}

// The log deduplicates by Idempotency-Key even when the workspace processor forgot the key (memory store, lost
// in a crash): the retry is answered 2xx, counted as a duplicate, and neither forwarded nor sealed again.
func TestDurableLogKeyedRetryAfterCrash(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{Configs: []string{rcOverlay}})
	h := gw.Headers()
	h["Idempotency-Key"] = "batch-0001"
	ctx := context.Background()
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(h), rcLogs(0, 30)))
	// Forwarding is at-least-once across a crash: let the upstream cursor be persisted (cursor_sync_interval)
	// so that what follows tests only the key.
	e2etest.Eventually(t, 10*time.Second, func() bool { return gw.Upstream.LogRecordCount() == 30 }, "forwarded")
	time.Sleep(1500 * time.Millisecond)
	gw.Kill()
	gw.Restart(t)
	res, err := e2etest.ExportHTTP(ctx, gw.HTTP(h), rcLogs(0, 30))
	require.NoError(t, err)
	require.Equal(t, 200, res.Status)
	assert.Equal(t, 1.0, appends(t, gw.Collector, "logs", "duplicate"))
	assert.Zero(t, appends(t, gw.Collector, "logs", "written"))
	rcWaitRecords(t, filepath.Join(gw.DataDir, "receipts"), 30, 20*time.Second)
	time.Sleep(time.Second)
	assert.Equal(t, 30, gw.Upstream.LogRecordCount(), "forwarded once")
}

// `tfocol log check` on a stopped gateway's log reports it clean; while the gateway runs, repair is refused.
func TestDurableLogCheckCommand(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{})
	require.NoError(t, e2etest.ExportGRPC(context.Background(), gw.GRPC(gw.Headers()), rcLogs(0, 10)))
	dir := filepath.Join(gw.DataDir, "log")
	out, err := exec.Command(e2etest.Binary(t), "log", "repair", "--dir", dir).CombinedOutput()
	require.Error(t, err, "repair must refuse while the gateway holds the log: %s", out)
	gw.Stop()
	out, err = exec.Command(e2etest.Binary(t), "log", "check", "--dir", dir).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.NotContains(t, strings.ToLower(string(out)), "damaged:")
}
