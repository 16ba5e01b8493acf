package eventrouterconnector

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/internal/metadata"
)

// DefaultEventNameAttribute is the attribute read when a record has no OTLP EventName.
const DefaultEventNameAttribute = "event.name"

// NewFactory returns the event_router connector factory.
func NewFactory() connector.Factory {
	return connector.NewFactory(
		metadata.Type,
		createDefaultConfig,
		connector.WithLogsToLogs(createLogsToLogs, metadata.LogsToLogsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{EventNameAttribute: DefaultEventNameAttribute}
}

func createLogsToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Logs, error) {
	return newEventRouter(set, cfg.(*Config), next)
}
