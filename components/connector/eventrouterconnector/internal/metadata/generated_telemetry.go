package metadata

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// TelemetryBuilder holds the connector's self-telemetry instruments.
type TelemetryBuilder struct {
	// TfocolEventRouterEvents counts log records by event type and outcome (routed, default, rejected, dropped).
	TfocolEventRouterEvents metric.Int64Counter
	// TfocolEventRouterRejections counts contract violations by event type and bounded reason.
	TfocolEventRouterRejections metric.Int64Counter
}

// NewTelemetryBuilder creates the instruments from the component's meter provider.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	meter := settings.MeterProvider.Meter(ScopeName)
	var tb TelemetryBuilder
	var err, errs error
	tb.TfocolEventRouterEvents, err = meter.Int64Counter(
		"tfocol_event_router_events",
		metric.WithDescription("Log records seen by the event_router connector, by event type and outcome."),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	tb.TfocolEventRouterRejections, err = meter.Int64Counter(
		"tfocol_event_router_rejections",
		metric.WithDescription("Events that violated their schema contract, by event type and reason."),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	return &tb, errs
}
