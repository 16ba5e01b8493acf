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

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	load := func(name string) (*Config, error) {
		cfg := NewFactory().CreateDefaultConfig()
		sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
		require.NoError(t, err)
		require.NoError(t, sub.Unmarshal(cfg))
		return cfg.(*Config), xconfmap.Validate(cfg)
	}
	def, err := load("")
	require.NoError(t, err)
	require.Equal(t, time.Hour, def.Interval)
	require.Equal(t, time.Minute, def.Grace)
	require.Equal(t, ModeBatch, def.Mode)
	require.Equal(t, 5*time.Second, def.TraceThreshold)
	require.Equal(t, "tfo.workspace.id", def.WorkspaceAttribute)
	require.Equal(t, time.Hour, def.DedupWindow)
	require.Equal(t, 100000, def.TraceMaxOpen)

	full, err := load("full")
	require.NoError(t, err)
	require.Equal(t, 15*time.Minute, full.Interval)
	require.Equal(t, "/etc/tfocol/receipts-signing.key", full.SigningKeyFile)
	require.Equal(t, "tenant.id", full.WorkspaceAttribute)
	require.Equal(t, int64(32<<20), full.WALSegmentSize)
	require.Equal(t, 6*time.Hour, full.DedupWindow)
	require.Equal(t, 5000, full.TraceMaxOpen)

	alerts, err := load("alerts")
	require.NoError(t, err)
	require.Equal(t, ModeAlerts, alerts.Mode)
	require.Equal(t, []string{"BackupFailure", "PipelineFailure"}, alerts.AlertEvents)

	_, err = load("bad_interval")
	require.ErrorContains(t, err, "must divide 24h")
	_, err = load("bad_mode")
	require.ErrorContains(t, err, "mode must be")
	_, err = load("no_directory")
	require.ErrorContains(t, err, "directory must be set")
	_, err = load("bad_dedup_window")
	require.ErrorContains(t, err, "dedup_window must be positive")
	_, err = load("bad_trace_max_open")
	require.ErrorContains(t, err, "trace_max_open must be at least 1")
}
