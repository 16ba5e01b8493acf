// Package receiptexporter seals telemetry into windows of batch files under BLAKE3 Merkle roots, appends a
// hash-chained receipt per window to a JSONL receipt log and keeps a signed ROOT checkpoint, so that an auditor
// can verify everything offline with `tfocol receipts verify`.
package receiptexporter

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
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
var exporters = &sharedExporters{m: map[*Config]*sharedExporter{}}

type sharedExporters struct {
	mu sync.Mutex
	m  map[*Config]*sharedExporter
}

type sharedExporter struct {
	*receiptExporter
	refs    int
	started bool
}

func (s *sharedExporters) get(cfg *Config, set exporter.Settings) *sharedExporter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[cfg]; ok {
		e.refs++
		return e
	}
	e := &sharedExporter{receiptExporter: newReceiptExporter(cfg, set), refs: 1}
	s.m[cfg] = e
	return e
}

func (s *sharedExporters) start(cfg *Config, e *sharedExporter, ctx context.Context, host component.Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.started {
		return nil
	}
	if err := e.start(ctx, host); err != nil {
		return err
	}
	e.started = true
	return nil
}

func (s *sharedExporters) shutdown(cfg *Config, e *sharedExporter, ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.refs--
	if e.refs > 0 {
		return nil
	}
	delete(s.m, cfg)
	if !e.started {
		return nil
	}
	e.started = false
	return e.shutdown(ctx)
}

func helperOptions(cfg *Config, e *sharedExporter) []exporterhelper.Option {
	// No sending queue: a success returned to the tfo_log receiver must mean the records are applied to their
	// windows (and alerts fsynced in their scrolls), so that the receiver may commit its cursor past entries not held.
	return []exporterhelper.Option{
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithStart(func(ctx context.Context, host component.Host) error {
			return exporters.start(cfg, e, ctx, host)
		}),
		exporterhelper.WithShutdown(func(ctx context.Context) error {
			return exporters.shutdown(cfg, e, ctx)
		}),
	}
}

func createLogs(ctx context.Context, set exporter.Settings, c component.Config) (exporter.Logs, error) {
	cfg := c.(*Config)
	e := exporters.get(cfg, set)
	return exporterhelper.NewLogs(ctx, set, cfg, e.pushLogs, helperOptions(cfg, e)...)
}

func createMetrics(ctx context.Context, set exporter.Settings, c component.Config) (exporter.Metrics, error) {
	cfg := c.(*Config)
	e := exporters.get(cfg, set)
	return exporterhelper.NewMetrics(ctx, set, cfg, e.pushMetrics, helperOptions(cfg, e)...)
}

func createTraces(ctx context.Context, set exporter.Settings, c component.Config) (exporter.Traces, error) {
	cfg := c.(*Config)
	e := exporters.get(cfg, set)
	return exporterhelper.NewTraces(ctx, set, cfg, e.pushTraces, helperOptions(cfg, e)...)
}
