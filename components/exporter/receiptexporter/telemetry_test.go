package receiptexporter

import (
	"context"
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
)

// Records applied and receipts sealed are counted, by signal and by receipt type; the WAL metrics are gone (the
// durable log has its own).
func TestTelemetryCountsRecordsAndReceipts(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	ctx := context.Background()
	dir := t.TempDir()
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	e := newReceiptExporter(testConfig(dir), set)
	e.now = clock.Now
	require.NoError(t, e.startWith(ctx, componenttest.NewNopHost()))
	ld := makeLogs("ws", 3, base, plog.SeverityNumberError)
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).SetEventName("BackupFailure")
	require.NoError(t, lg.logs(e, ld))
	clock.Set(base.Add(2 * time.Minute))
	waitReceipts(t, filepath.Join(dir, "ws"), 2)
	require.NoError(t, e.shutdown(ctx))

	m, err := tel.GetMetric("tfocol_receipt_records_accepted")
	require.NoError(t, err)
	sum := m.Data.(metricdata.Sum[int64])
	require.Len(t, sum.DataPoints, 1)
	require.EqualValues(t, 3, sum.DataPoints[0].Value)
	sig, _ := sum.DataPoints[0].Attributes.Value(attribute.Key("signal"))
	require.Equal(t, "logs", sig.AsString())

	m, err = tel.GetMetric("tfocol_receipt_windows_sealed")
	require.NoError(t, err)
	types := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value(attribute.Key("type"))
		types[v.AsString()] = dp.Value
	}
	require.Equal(t, map[string]int64{"obs_alert_fired": 1, "obs_log_batch": 1}, types)
	for _, gone := range []string{"tfocol_receipt_wal_bytes", "tfocol_receipt_fsync_latency", "tfocol_receipt_duplicate_requests"} {
		_, err := tel.GetMetric(gone)
		require.Error(t, err, gone)
	}
}
