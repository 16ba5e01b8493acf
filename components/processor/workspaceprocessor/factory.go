// Package workspaceprocessor implements the `workspace` processor: it enforces the x-workspace-id
// contract, stamps workspace / agent / key / correlation ids on resources, and makes ingest
// exactly-once per Idempotency-Key.
package workspaceprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/tfocol/tfocol/components/processor/workspaceprocessor/internal/metadata"
)

// NewFactory returns the factory of the workspace processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability),
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
		processor.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	h, err := newWorkspaceProcessor(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return &tracesProcessor{workspaceProcessor: h.Value(), h: h, next: next}, nil
}

func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	h, err := newWorkspaceProcessor(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return &metricsProcessor{workspaceProcessor: h.Value(), h: h, next: next}, nil
}

func createLogs(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	h, err := newWorkspaceProcessor(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return &logsProcessor{workspaceProcessor: h.Value(), h: h, next: next}, nil
}
