package metadata

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// TelemetryBuilder holds the processor's own metrics.
type TelemetryBuilder struct {
	// TfocolWorkspaceRequests counts requests by outcome, signal and workspace.
	TfocolWorkspaceRequests metric.Int64Counter
	// TfocolWorkspaceStoreDuration is the latency of idempotency store operations.
	TfocolWorkspaceStoreDuration metric.Float64Histogram
	// TfocolWorkspaceStoreErrors counts failed idempotency store operations.
	TfocolWorkspaceStoreErrors metric.Int64Counter
}

// NewTelemetryBuilder creates the processor's metrics from the component's MeterProvider.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	meter := settings.MeterProvider.Meter(ScopeName)
	var tb TelemetryBuilder
	var err, errs error
	tb.TfocolWorkspaceRequests, err = meter.Int64Counter(
		"tfocol_workspace_requests",
		metric.WithDescription("Requests seen by the workspace processor, by outcome (accepted, duplicate, in_flight_conflict, mismatch, rejected, downstream_error), signal and workspace."),
		metric.WithUnit("{request}"),
	)
	errs = errors.Join(errs, err)
	tb.TfocolWorkspaceStoreDuration, err = meter.Float64Histogram(
		"tfocol_workspace_store_duration",
		metric.WithDescription("Latency of idempotency store operations (begin, complete, release), by store and operation."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
	)
	errs = errors.Join(errs, err)
	tb.TfocolWorkspaceStoreErrors, err = meter.Int64Counter(
		"tfocol_workspace_store_errors",
		metric.WithDescription("Failed idempotency store operations, by store and operation."),
		metric.WithUnit("{error}"),
	)
	errs = errors.Join(errs, err)
	return &tb, errs
}
