package edgereceiver

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tfocol/tfocol/components/processor/workspaceprocessor"
)

// Behind the real workspace processor, a batch retried with its Idempotency-Key is passed on once and answered
// alike: the receiver makes the same records from the same bytes (map keys in the order sent), so the
// processor's payload fingerprint matches; the key with another batch is refused.
func TestIngestRetryIsDeduplicatedByTheWorkspaceProcessor(t *testing.T) {
	f := newFixture(t)
	sink := new(consumertest.LogsSink)
	wf := workspaceprocessor.NewFactory()
	proc, err := wf.CreateLogs(context.Background(), processortest.NewNopSettings(wf.Type()), wf.CreateDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, proc.Shutdown(context.Background())) })
	rcv, err := newReceiver(f.cfg, receiverSettings(f), proc)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), f.host))
	t.Cleanup(func() { require.NoError(t, rcv.Shutdown(context.Background())) })
	f.rcv, f.base = rcv, "http://"+rcv.addr.String()

	_, events := loadEdgeFixtures(t)
	batch := mustJSON(t, map[string]any{"events": events})
	h := withKey(f.keyHeaders(wsA), "flush-7")
	first := f.do(http.MethodPost, pathIngest, h, batch)
	require.Equal(t, http.StatusOK, first.code, "%s", first.raw)
	for range 3 {
		again := f.do(http.MethodPost, pathIngest, h, batch)
		require.Equal(t, http.StatusOK, again.code, "%s", again.raw)
		assert.JSONEq(t, string(first.raw), string(again.raw))
	}
	assert.Len(t, sink.AllLogs(), 1, "passed on once")
	ws, _ := sink.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes().Get("tfo.workspace.id")
	assert.Equal(t, wsA, ws.Str())

	other := f.do(http.MethodPost, pathIngest, h, mustJSON(t, map[string]any{"events": events[:1]}))
	require.Equal(t, http.StatusBadRequest, other.code)
	assert.Contains(t, other.errorMessage(t), "already used for a different payload")
	assert.Equal(t, int64(1), f.requests(epIngest, 400, "pipeline_invalid_argument"))
}
