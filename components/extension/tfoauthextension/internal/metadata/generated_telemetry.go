// Code written in mdatagen's shape (mdatagen is not available in this build).

package metadata

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// TelemetryBuilder holds the extension's own metrics.
type TelemetryBuilder struct {
	// TfocolAuthRequests counts authentication decisions by result and reason.
	TfocolAuthRequests metric.Int64Counter
	// TfocolAuthKeyReloads counts credential files (re)loaded successfully, by source.
	TfocolAuthKeyReloads metric.Int64Counter
	// TfocolAuthKeyReloadFailures counts credential file loads that failed and kept the previous set, by source.
	TfocolAuthKeyReloadFailures metric.Int64Counter
}

// NewTelemetryBuilder creates the extension's instruments from settings.MeterProvider.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	meter := settings.MeterProvider.Meter(ScopeName)
	var tb TelemetryBuilder
	var err, errs error
	tb.TfocolAuthRequests, err = meter.Int64Counter("tfocol_auth_requests",
		metric.WithDescription("Authentication decisions made by tfo_auth, by result and reason."),
		metric.WithUnit("{request}"))
	errs = errors.Join(errs, err)
	tb.TfocolAuthKeyReloads, err = meter.Int64Counter("tfocol_auth_key_reloads",
		metric.WithDescription("Credential files (keys, JWT secret, JWT public keys) loaded successfully."),
		metric.WithUnit("{reload}"))
	errs = errors.Join(errs, err)
	tb.TfocolAuthKeyReloadFailures, err = meter.Int64Counter("tfocol_auth_key_reload_failures",
		metric.WithDescription("Credential file loads that failed; the previous credentials stay in use."),
		metric.WithUnit("{reload}"))
	errs = errors.Join(errs, err)
	return &tb, errs
}
