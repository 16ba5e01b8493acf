package metadata

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// TelemetryBuilder holds the receipt exporter's own metrics.
type TelemetryBuilder struct {
	TfocolReceiptRecordsAccepted      metric.Int64Counter
	TfocolReceiptWindowsSealed        metric.Int64Counter
	TfocolReceiptSealDuration         metric.Float64Histogram
	TfocolReceiptTracesCompletedEarly metric.Int64Counter
	TfocolReceiptOpenAlertsForgotten  metric.Int64Counter
	// retention (receiptexporter/retention.go)
	TfocolReceiptDirectoryBytes    metric.Int64Gauge
	TfocolReceiptBatchFilesRemoved metric.Int64Counter
}

// NewTelemetryBuilder creates the instruments from the component's meter provider.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	m := settings.MeterProvider.Meter(ScopeName)
	var tb TelemetryBuilder
	var err, e error
	tb.TfocolReceiptRecordsAccepted, e = m.Int64Counter("tfocol_receipt_records_accepted",
		metric.WithDescription("Records applied to their windows (delivered from the durable log by a tfo_log receiver), by signal."), metric.WithUnit("{record}"))
	err = errors.Join(err, e)
	tb.TfocolReceiptWindowsSealed, e = m.Int64Counter("tfocol_receipt_windows_sealed",
		metric.WithDescription("Receipts sealed (windows, significant traces, alerts, derived and retention receipts), by receipt type."), metric.WithUnit("{receipt}"))
	err = errors.Join(err, e)
	tb.TfocolReceiptSealDuration, e = m.Float64Histogram("tfocol_receipt_seal_duration",
		metric.WithDescription("Time to seal one window (batch file, receipt line, ROOT)."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	err = errors.Join(err, e)
	tb.TfocolReceiptTracesCompletedEarly, e = m.Int64Counter("tfocol_receipt_traces_completed_early",
		metric.WithDescription("Open traces completed before trace_idle because trace_max_open traces were open (sealed if significant, with the spans they had)."), metric.WithUnit("{trace}"))
	err = errors.Join(err, e)
	tb.TfocolReceiptOpenAlertsForgotten, e = m.Int64Counter("tfocol_receipt_open_alerts_forgotten",
		metric.WithDescription("Open alerts no longer tracked because a scroll had alert_max_open open: they stay open in the receipts (obs_alert_fired without obs_alert_resolved)."), metric.WithUnit("{alert}"))
	err = errors.Join(err, e)
	tb.TfocolReceiptDirectoryBytes, e = m.Int64Gauge("tfocol_receipt_directory_bytes",
		metric.WithDescription("Bytes under the receipt exporter's directory that count against retention.max_bytes (scrolls and caches; not the open windows' spools), measured at each retention sweep."),
		metric.WithUnit("By"))
	err = errors.Join(err, e)
	tb.TfocolReceiptBatchFilesRemoved, e = m.Int64Counter("tfocol_receipt_batch_files_removed",
		metric.WithDescription("Batch files removed by retention, by class and reason (expired, max_bytes); each removal is recorded in an obs_retention_applied receipt first."),
		metric.WithUnit("{file}"))
	err = errors.Join(err, e)
	return &tb, err
}
