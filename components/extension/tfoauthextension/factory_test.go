package tfoauthextension

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/tfocol/tfocol/components/extension/tfoauthextension/internal/metadata"
	"github.com/tfocol/tfocol/internal/credentials/keyfile"
)

func TestFactoryLifecycle(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "tfo_auth", f.Type().String())
	assert.Equal(t, metadata.ExtensionStability, f.Stability())
	cfg := f.CreateDefaultConfig().(*Config)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))

	cfg.KeysFile = filepath.Join(t.TempDir(), "keys.yaml")
	require.NoError(t, keyfile.Save(cfg.KeysFile, &keyfile.File{Version: keyfile.CurrentVersion}))
	ext, err := f.Create(t.Context(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(t.Context(), componenttest.NewNopHost()))
	require.NoError(t, ext.Shutdown(t.Context()))
}
