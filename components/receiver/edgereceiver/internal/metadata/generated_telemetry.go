// Code written in mdatagen's shape (mdatagen is not available in this build).

package metadata

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// TelemetryBuilder holds the receiver's own metrics.
type TelemetryBuilder struct {
	// TfocolEdgeRequests counts answered requests by endpoint, status code and reason.
	TfocolEdgeRequests metric.Int64Counter
	// TfocolEdgeEvents counts judged events by endpoint, event type and outcome.
	TfocolEdgeEvents metric.Int64Counter
	// TfocolEdgeSirveoChecksums counts Sirveo checksum checks by result.
	TfocolEdgeSirveoChecksums metric.Int64Counter
}

// NewTelemetryBuilder creates the receiver's instruments from settings.MeterProvider.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	meter := settings.MeterProvider.Meter(ScopeName)
	var tb TelemetryBuilder
	var err, errs error
	tb.TfocolEdgeRequests, err = meter.Int64Counter("tfocol_edge_requests",
		metric.WithDescription("Requests the edge receiver answered, by endpoint, HTTP status code and reason (every refusal has one)."),
		metric.WithUnit("{request}"))
	errs = errors.Join(errs, err)
	tb.TfocolEdgeEvents, err = meter.Int64Counter("tfocol_edge_events",
		metric.WithDescription("Events the edge receiver judged, by endpoint, event type and outcome (accepted, rejected by its contract, invalid)."),
		metric.WithUnit("{event}"))
	errs = errors.Join(errs, err)
	tb.TfocolEdgeSirveoChecksums, err = meter.Int64Counter("tfocol_edge_sirveo_checksums",
		metric.WithDescription("Sirveo telemetry checksums checked, by result (consistent, unverified, mismatch, malformed)."),
		metric.WithUnit("{event}"))
	errs = errors.Join(errs, err)
	return &tb, errs
}
