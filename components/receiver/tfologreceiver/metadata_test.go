package tfologreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/tfocol/tfocol/components/receiver/tfologreceiver/internal/metadata"
	"github.com/tfocol/tfocol/internal/metadatatest"
)

// Every metric the receiver creates and measures with is declared in metadata.yaml with the same name, unit,
// description and attributes (a delivery, a retry, a park (permanent), a replay and one undecodable entry
// exercise all of them).
func TestTelemetryMatchesMetadata(t *testing.T) {
	declared := len(metadatatest.Load(t, "metadata.yaml").Metrics)
	// Exercise every metric: a delivery, a retry, a park (permanent), a replay, one undecodable entry.
	dir := t.TempDir()
	l := openLog(t, dir)
	defer l.Close()
	appendLogs(t, l, "ok", "poison")
	_, _, err := l.Append(context.Background(), durablelogRecord(1, []byte{0xff, 0xff}))
	require.NoError(t, err)
	mp := metadatatest.NewProvider()
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewIDWithName("tfo_log", "md")
	set.TelemetrySettings = mp.TelemetrySettings()
	cfg := parkConfig("md")
	cfg.Park.Permanent = true
	g := newGate(true, "poison")
	calls := 0
	r, err := NewFactory().CreateLogs(context.Background(), set, cfg, consumerFunc(func(ctx context.Context, ld plog.Logs) error {
		if calls++; calls == 1 {
			return errTransient
		}
		return g.consume(ctx, ld)
	}))
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), host{componenttest.NewNopHost(), l}))
	defer r.Shutdown(context.Background())
	require.Eventually(t, func() bool { return len(parkedIn(t, dir, "md")) == 1 }, 5*time.Second, 5*time.Millisecond)
	g.accept("poison")
	s := openParked(t, dir, "md")
	_, err = s.Replay(nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(g.got()) == 2 }, 5*time.Second, 5*time.Millisecond)

	require.Eventually(t, func() bool { return len(mp.Measured(t)) == declared }, 5*time.Second, 50*time.Millisecond,
		"every declared metric measured")
	metadatatest.Check(t, "metadata.yaml", mp)
}
