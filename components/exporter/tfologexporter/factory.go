// Package tfologexporter implements the tfo_log exporter: the durable point of the gateway's ingest pipelines.
// It appends each request once to the tfo_log extension's log and returns only after the group commit that
// wrote it is fsynced, so a 2xx to the client means the request is durable. See docs/design/durable-log.md.
package tfologexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/tfocol/tfocol/components/exporter/tfologexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/durablelog/loghost"
)

// NewFactory returns the tfo_log exporter factory.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, func() component.Config { return createDefaultConfig() },
		exporter.WithTraces(createTraces, metadata.TracesStability),
		exporter.WithMetrics(createMetrics, metadata.MetricsStability),
		exporter.WithLogs(createLogs, metadata.LogsStability),
	)
}

// options: no queue, no retry, no timeout of our own — success must mean the append is fsynced, and the
// client's own deadline (the request context) bounds the wait.
func options(e *logExporter) []exporterhelper.Option {
	return []exporterhelper.Option{
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithStart(e.start),
	}
}

func createLogs(ctx context.Context, set exporter.Settings, c component.Config) (exporter.Logs, error) {
	e := newLogExporter(c.(*Config), set, loghost.SignalLogs)
	return exporterhelper.NewLogs(ctx, set, c, e.pushLogs, options(e)...)
}

func createMetrics(ctx context.Context, set exporter.Settings, c component.Config) (exporter.Metrics, error) {
	e := newLogExporter(c.(*Config), set, loghost.SignalMetrics)
	return exporterhelper.NewMetrics(ctx, set, c, e.pushMetrics, options(e)...)
}

func createTraces(ctx context.Context, set exporter.Settings, c component.Config) (exporter.Traces, error) {
	e := newLogExporter(c.(*Config), set, loghost.SignalTraces)
	return exporterhelper.NewTraces(ctx, set, c, e.pushTraces, options(e)...)
}
