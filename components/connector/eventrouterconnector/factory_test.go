package eventrouterconnector

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, component.MustNewType("event_router"), f.Type())
	assert.Equal(t, component.StabilityLevelAlpha, f.LogsToLogsStability())
}

// Used as a plain exporter to a single consumer (not a router), the connector refuses to start.
func TestCreateNeedsARouter(t *testing.T) {
	_, err := NewFactory().CreateLogsToLogs(context.Background(), connectortest.NewNopSettings(NewFactory().Type()), gatewayConfig(), consumertest.NewNop())
	require.ErrorIs(t, err, errTooFewPipelines)
}
