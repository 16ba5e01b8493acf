// Package tfologreceiver implements the tfo_log receiver: one consumer of the durable log (the tfo_log
// extension). It reads the log in order with a cursor of its own and hands each entry to the pipeline of its
// signal, retrying a failing pipeline forever; the cursor is committed past an entry only once its pipeline
// accepted it (and no consumer holds it). See docs/design/durable-log.md.
package tfologreceiver

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/tfocol/tfocol/components/receiver/tfologreceiver/internal/metadata"
	"github.com/tfocol/tfocol/internal/sharedinstance"
)

// NewFactory returns the tfo_log receiver factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(metadata.Type, func() component.Config { return createDefaultConfig() },
		receiver.WithTraces(createTraces, metadata.TracesStability),
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
		receiver.WithLogs(createLogs, metadata.LogsStability),
	)
}

// receivers shares one cursor per receiver config between its traces, metrics and logs pipelines.
var receivers sharedinstance.Map[*Config, *logReceiver]

// signalReceiver is one pipeline's handle on the shared receiver.
type signalReceiver struct {
	h *sharedinstance.Handle[*Config, *logReceiver]
}

func (s signalReceiver) Start(ctx context.Context, host component.Host) error {
	r := s.h.Value()
	r.addHost(host)
	if err := s.h.Start(ctx, host); err != nil {
		return err
	}
	r.pipelineStarted()
	return nil
}

func (s signalReceiver) Shutdown(ctx context.Context) error { return s.h.Shutdown(ctx) }

func get(set receiver.Settings, cfg component.Config) signalReceiver {
	c := cfg.(*Config)
	h := receivers.Get(c, func() *logReceiver { return newLogReceiver(c, set) })
	h.Value().pipelineCreated()
	return signalReceiver{h: h}
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	r := get(set, cfg)
	r.h.Value().logs = next
	return r, nil
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	r := get(set, cfg)
	r.h.Value().metrics = next
	return r, nil
}

func createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	r := get(set, cfg)
	r.h.Value().traces = next
	return r, nil
}
