package workspaceprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tfocol/tfocol/components/processor/workspaceprocessor/internal/metadata"
	"github.com/tfocol/tfocol/internal/metadatatest"
)

// The metrics the processor measures with carry the attributes metadata.yaml declares.
func TestTelemetryMatchesMetadata(t *testing.T) {
	set := processortest.NewNopSettings(metadata.Type)
	mp := metadatatest.NewProvider()
	set.TelemetrySettings = mp.TelemetrySettings()
	p, err := NewFactory().CreateTraces(context.Background(), set, defaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	require.NoError(t, p.ConsumeTraces(reqCtx(wsHeaders("Idempotency-Key", "k1"), nil), newTraces("a")))

	metadatatest.Check(t, "metadata.yaml", mp)
}
