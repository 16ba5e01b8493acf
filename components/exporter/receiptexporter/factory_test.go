package receiptexporter

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
)

// The three signal exporters of one component share one directory writer, and ROOT is signed with the
// configured key.
func TestFactorySharesOneWriterAndSignsRoot(t *testing.T) {
	dir := t.TempDir()
	skey, vkey, err := checkpoint.GenerateKey("test-key")
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "signing.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(skey+"\n"), 0o600))

	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Directory = dir
	cfg.Interval = time.Second
	cfg.Grace = 0
	cfg.SigningKeyFile = keyFile
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(metadata.Type)
	ctx := context.Background()
	logs, err := f.CreateLogs(ctx, set, cfg)
	require.NoError(t, err)
	metrics, err := f.CreateMetrics(ctx, set, cfg)
	require.NoError(t, err)
	traces, err := f.CreateTraces(ctx, set, cfg)
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, logs.Start(ctx, host))
	require.NoError(t, metrics.Start(ctx, host))
	require.NoError(t, traces.Start(ctx, host))

	now := time.Now()
	stream := newFakeStream(&fakeClock{now: now.Add(time.Hour)})
	entry := func(seq uint64) context.Context {
		return durablelog.WithDelivery(ctx, durablelog.Delivery{Seq: seq, Arrival: now.UnixNano(), Stream: stream})
	}
	require.NoError(t, logs.ConsumeLogs(entry(1), makeLogs("ws", 3, now, plog.SeverityNumberInfo)))
	require.NoError(t, metrics.ConsumeMetrics(entry(2), makeMetrics("ws", 2, now)))
	require.NoError(t, traces.ConsumeTraces(entry(3), makeTrace("ws", 1, now, time.Millisecond, 2, false)))
	waitReceipts(t, filepath.Join(dir, "ws"), 3)

	verifier, err := checkpoint.NewVerifier(vkey)
	require.NoError(t, err)
	rep, err := receipts.VerifyScroll(filepath.Join(dir, "ws"), receipts.VerifyOptions{Verifier: verifier})
	require.NoError(t, err)
	require.True(t, rep.Verified)
	require.Equal(t, uint64(3+3+2), rep.Records)

	require.NoError(t, logs.Shutdown(ctx))
	require.NoError(t, metrics.Shutdown(ctx))
	require.NoError(t, traces.Shutdown(ctx))
	require.Zero(t, exporters.Len())
}
