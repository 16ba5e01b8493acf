package tfologextension

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/tfocol/tfocol/components/extension/tfologextension/internal/metadata"
	"github.com/tfocol/tfocol/internal/metadatatest"
)

// The metrics the extension creates and observes are those metadata.yaml declares.
func TestTelemetryMatchesMetadata(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Directory = filepath.Join(t.TempDir(), "log")
	mp := metadatatest.NewProvider()
	set := extensiontest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = mp.TelemetrySettings()
	ext, err := NewFactory().Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = ext.Shutdown(context.Background()) })
	_, err = ext.(*logExtension).DurableLog().Cursor("consumer")
	require.NoError(t, err)

	metadatatest.Check(t, "metadata.yaml", mp)
}
