// Package receiptexporter seals telemetry into windows of batch files under BLAKE3 Merkle roots, appends a
// hash-chained receipt per window to a JSONL receipt log and keeps a signed ROOT checkpoint, so that an auditor
// can verify everything offline with `tfocol receipts verify`.
package receiptexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/sharedinstance"
)

// NewFactory creates the factory for the receipt exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		exporter.WithTraces(createTraces, metadata.TracesStability),
		exporter.WithMetrics(createMetrics, metadata.MetricsStability),
		exporter.WithLogs(createLogs, metadata.LogsStability),
	)
}

// exporters shares one instance per component config between the traces, metrics and logs pipelines: they all
// write into the same directory and receipt chain.
var exporters sharedinstance.Map[*Config, sharedExporter]

// sharedExporter gives the exporter the Start and Shutdown the shared map calls.
type sharedExporter struct{ *receiptExporter }

func (e sharedExporter) Start(ctx context.Context, host component.Host) error {
	return e.start(ctx, host)
}

func (e sharedExporter) Shutdown(ctx context.Context) error { return e.shutdown(ctx) }

func get(cfg *Config, set exporter.Settings) *sharedinstance.Handle[*Config, sharedExporter] {
	return exporters.Get(cfg, func() sharedExporter { return sharedExporter{newReceiptExporter(cfg, set)} })
}

func helperOptions(h *sharedinstance.Handle[*Config, sharedExporter]) []exporterhelper.Option {
	// No sending queue: a success returned to the tfo_log receiver must mean the records are applied to their
	// windows (and alerts fsynced in their scrolls), so that the receiver may commit its cursor past entries not held.
	return []exporterhelper.Option{
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithStart(h.Start),
		exporterhelper.WithShutdown(h.Shutdown),
	}
}

func createLogs(ctx context.Context, set exporter.Settings, c component.Config) (exporter.Logs, error) {
	cfg := c.(*Config)
	h := get(cfg, set)
	return exporterhelper.NewLogs(ctx, set, cfg, h.Value().pushLogs, helperOptions(h)...)
}

func createMetrics(ctx context.Context, set exporter.Settings, c component.Config) (exporter.Metrics, error) {
	cfg := c.(*Config)
	h := get(cfg, set)
	return exporterhelper.NewMetrics(ctx, set, cfg, h.Value().pushMetrics, helperOptions(h)...)
}

func createTraces(ctx context.Context, set exporter.Settings, c component.Config) (exporter.Traces, error) {
	cfg := c.(*Config)
	h := get(cfg, set)
	return exporterhelper.NewTraces(ctx, set, cfg, h.Value().pushTraces, helperOptions(h)...)
}
