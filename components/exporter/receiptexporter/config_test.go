package receiptexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
)

// configLoader loads testdata/file; load(name) is the receipt/name exporter's config on the defaults, validated.
func configLoader(t *testing.T, file string) func(name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	return func(name string) (*Config, error) {
		cfg := NewFactory().CreateDefaultConfig()
		sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
		require.NoError(t, err)
		require.NoError(t, sub.Unmarshal(cfg))
		return cfg.(*Config), xconfmap.Validate(cfg)
	}
}

func TestLoadConfig(t *testing.T) {
	load := configLoader(t, "config.yaml")
	def, err := load("")
	require.NoError(t, err)
	require.Equal(t, time.Hour, def.Interval)
	require.Equal(t, time.Minute, def.Grace)
	require.Equal(t, 5*time.Second, def.TraceThreshold)
	require.Equal(t, "tfo.workspace.id", def.WorkspaceAttribute)
	require.Equal(t, 100000, def.TraceMaxOpen)
	require.Equal(t, 256, def.MaxOpenFiles)
	require.Equal(t, 32, def.SealConcurrency)
	require.Empty(t, def.Instance)
	require.Equal(t, []string{"BackupFailure", "ServiceDegraded", "PipelineFailure"}, def.AlertEvents)

	full, err := load("full")
	require.NoError(t, err)
	require.Equal(t, 15*time.Minute, full.Interval)
	require.Equal(t, "/etc/tfocol/receipts-signing.key", full.SigningKeyFile)
	require.Equal(t, "tenant.id", full.WorkspaceAttribute)
	require.Equal(t, 5000, full.TraceMaxOpen)
	require.Equal(t, "gw-2", full.Instance)
	require.Equal(t, 64, full.MaxOpenFiles)
	require.Equal(t, 8, full.SealConcurrency)
	require.Equal(t, []string{"BackupFailure", "PipelineFailure"}, full.AlertEvents)

	_, err = load("bad_interval")
	require.ErrorContains(t, err, "must divide 24h")
	_, err = load("bad_instance")
	require.ErrorContains(t, err, "instance")
	_, err = load("no_directory")
	require.ErrorContains(t, err, "directory must be set")
	_, err = load("bad_max_open_files")
	require.ErrorContains(t, err, "max_open_files must be at least 1")
	_, err = load("bad_seal_concurrency")
	require.ErrorContains(t, err, "seal_concurrency must be at least 1")
	_, err = load("bad_trace_max_open")
	require.ErrorContains(t, err, "trace_max_open must be at least 1")
}
