package tfologreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/tfocol/tfocol/components/receiver/tfologreceiver/internal/metadata"
	"github.com/tfocol/tfocol/internal/metadatatest"
)

// The metrics the receiver creates and measures with are those metadata.yaml declares.
func TestTelemetryMatchesMetadata(t *testing.T) {
	l := openLog(t, t.TempDir())
	t.Cleanup(func() { _ = l.Close() })
	appendLogs(t, l, "a")
	mp := metadatatest.NewProvider()
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewIDWithName("tfo_log", "telemetry")
	set.TelemetrySettings = mp.TelemetrySettings()
	sink := &consumertest.LogsSink{}
	r, err := NewFactory().CreateLogs(context.Background(), set, createDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), host{componenttest.NewNopHost(), l}))
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	require.Eventually(t, func() bool { return sink.LogRecordCount() == 1 }, 10*time.Second, 10*time.Millisecond)

	metadatatest.Check(t, "metadata.yaml", mp)
}
