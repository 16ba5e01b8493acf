package tfologexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/tfocol/tfocol/components/exporter/tfologexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/metadatatest"
)

// The metrics the exporter creates and measures with are those metadata.yaml declares.
func TestTelemetryMatchesMetadata(t *testing.T) {
	l, _, err := durablelog.Open(durablelog.Options{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	mp := metadatatest.NewProvider()
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = mp.TelemetrySettings()
	exp, err := NewFactory().CreateLogs(context.Background(), set, createDefaultConfig())
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host{componenttest.NewNopHost(), &provider{log: l}}))
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	require.NoError(t, exp.ConsumeLogs(withHeaders("idempotency-key", "k1"), logs("a")))

	metadatatest.Check(t, "metadata.yaml", mp)
}
