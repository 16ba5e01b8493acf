package edgereceiver

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/tfocol/tfocol/components/receiver/edgereceiver/internal/metadata"
)

// NewFactory returns the edge receiver factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(metadata.Type, func() component.Config { return createDefaultConfig() },
		receiver.WithLogs(createLogs, metadata.LogsStability))
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return newReceiver(cfg.(*Config), set, next)
}
