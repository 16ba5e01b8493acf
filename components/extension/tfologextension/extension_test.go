package tfologextension

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tfocol/tfocol/components/extension/tfologextension/internal/metadata"
	"github.com/tfocol/tfocol/internal/durablelog"
)

func TestConfigValidate(t *testing.T) {
	cfg := createDefaultConfig()
	assert.Error(t, cfg.Validate(), "directory is required")
	cfg.Directory = t.TempDir()
	require.NoError(t, cfg.Validate())
	bad := *cfg
	bad.MaxBytes = cfg.SegmentSize
	assert.Error(t, bad.Validate(), "a bound below four segments could never rotate")
	bad = *cfg
	bad.OnCorruption = "ignore"
	assert.Error(t, bad.Validate())
}

// The extension opens the log, hands it to the exporter and receivers, and closes it; a second gateway on the
// same directory is refused (the log is locked).
func TestStartShareShutdown(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Directory = filepath.Join(t.TempDir(), "log")
	core, logs := observer.New(zap.InfoLevel)
	set := extensiontest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	ext, err := NewFactory().Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	le := ext.(*logExtension)
	require.NotNil(t, le.DurableLog())
	assert.Equal(t, 1, logs.FilterMessage("durable log opened").Len())

	other, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	err = other.Start(context.Background(), componenttest.NewNopHost())
	assert.True(t, errors.Is(err, durablelog.ErrLocked), "second opener: %v", err)

	le.ReportAppendError(errors.New("no space left on device"))
	le.ReportAppendError(errors.New("no space left on device"))
	assert.Equal(t, 1, logs.FilterMessage("durable log refuses appends; clients get retryable errors until it recovers").Len(), "logged once per refusal")
	le.ReportAppendOK()
	assert.Equal(t, 1, logs.FilterMessage("durable log accepts appends again").Len())
	require.NoError(t, ext.Shutdown(context.Background()))
	assert.Nil(t, le.DurableLog())
	_, err = os.Stat(cfg.Directory)
	require.NoError(t, err)
}
