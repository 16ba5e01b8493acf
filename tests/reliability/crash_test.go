package reliability

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/e2etest"
)

const (
	crashAgents       = 2
	crashBatchRecords = 20
	crashKills        = 4
)

// TestGatewayCrashUnderLoad: two agents (configs/agent.yaml, persistent queues) forward numbered log records to
// a gateway that keeps completed Idempotency-Keys in file_storage (TFOCOL_IDEMPOTENCY_STORE=storage). The
// gateway is SIGKILLed four times under load and restarted. Every record an agent accepted reaches the gateway
// in the end; each is sealed in the receipts exactly once and reaches the upstream at least once, and
// `tfocol receipts verify` passes. The upstream is at-least-once across a crash: after a kill the forward
// consumer re-sends what it sent in the last cursor_sync_interval (docs/exactly-once.md).
func TestGatewayCrashUnderLoad(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{
		Configs: []string{fastReceiptsOverlay},
		Env: map[string]string{
			"TFOCOL_IDEMPOTENCY_STORE":          "storage",
			"TFOCOL_RECEIPT_INTERVAL":           "2s",
			"TFOCOL_SPANMETRICS_FLUSH_INTERVAL": "1h",
		},
	})
	var agents []*e2etest.Collector
	for i := range crashAgents {
		env := gw.AgentEnv()
		env["TELEMETRYFLOW_AGENT_ID"] = fmt.Sprintf("host-crash-%d", i)
		env["TFOCOL_HOSTMETRICS_INTERVAL"] = "1h"
		agents = append(agents, e2etest.Start(t, e2etest.Options{
			Name:    fmt.Sprintf("agent-%d", i),
			Configs: []string{"configs/agent.yaml", "tests/reliability/testdata/agent-fast-retry.yaml"},
			Env:     env,
		}))
	}

	// Load: each agent gets numbered batches over OTLP/HTTP as fast as it accepts them.
	var (
		mu       sync.Mutex
		accepted = map[recordKey]int{} // records an agent answered 200 for
		refused  atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for a, agent := range agents {
		sendUntil(&wg, stop, func(i int) {
			tag := fmt.Sprintf("agent%d-%05d", a, i)
			tgt := agent.HTTP(nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := e2etest.ExportHTTP(ctx, tgt, logsTagged(tag, crashBatchRecords))
			cancel()
			if err != nil || res.Status != http.StatusOK {
				refused.Add(1)
				time.Sleep(100 * time.Millisecond)
				return
			}
			mu.Lock()
			for s := range crashBatchRecords {
				accepted[recordKey{tag, int64(s)}]++
			}
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		})
	}

	for k := range crashKills {
		time.Sleep(4 * time.Second)
		gw.Kill()
		t.Logf("%s kill %d: gateway killed with %d records at the upstream", time.Now().Format("15:04:05.000"), k+1, gw.Upstream.LogRecordCount())
		time.Sleep(500 * time.Millisecond)
		gw.Restart(t)
	}
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	mu.Lock()
	want := len(accepted)
	mu.Unlock()
	t.Logf("agents accepted %d records (%d requests refused by an agent)", want, refused.Load())
	require.Positive(t, want)

	// The agents drain their queues into the restarted gateway.
	start := time.Now()
	e2etest.Eventually(t, 60*time.Second, func() bool {
		return gw.Upstream.LogRecordCount() >= want && len(logRecordsAtSink(gw.Upstream)) >= want
	}, "the upstream never got all %d records the agents accepted (has %d distinct)", want, len(logRecordsAtSink(gw.Upstream)))
	t.Logf("agents drained in %s", time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	atSink := logRecordsAtSink(gw.Upstream)
	var missing []recordKey
	for k := range accepted {
		if atSink[k] == 0 {
			missing = append(missing, k)
		}
	}
	assert.Empty(t, firstN(missing, 10), "%d records accepted by an agent never reached the upstream", len(missing))
	assert.Len(t, atSink, want, "distinct records at the upstream")
	if dups := duplicates(atSink); len(dups) > 0 {
		t.Logf("%d records reached the upstream more than once (at-least-once across a crash)", len(dups))
	}

	dir := filepath.Join(gw.DataDir, "receipts")
	var sealed map[recordKey]int
	e2etest.Eventually(t, 30*time.Second, func() bool {
		var ok bool
		sealed, ok = sealedLogRecords(dir)
		return ok && len(sealed) >= want
	}, "sealed receipts never covered the %d records", want)
	time.Sleep(3 * time.Second)
	sealed, ok := sealedLogRecords(dir)
	require.True(t, ok)
	assert.Len(t, sealed, want, "distinct sealed records")
	sealedDups := duplicates(sealed)
	assert.Empty(t, firstN(sealedDups, 10), "%d records sealed more than once", len(sealedDups))

	t.Logf("sealed after %s", time.Since(start).Round(time.Millisecond))
	out, err := exec.Command(e2etest.Binary(t), "receipts", "verify", "--dir", dir, "--no-signature-check").CombinedOutput()
	require.NoError(t, err, "tfocol receipts verify:\n%s", out)
	total := 0
	for _, n := range sealed {
		total += n
	}
	assert.Equal(t, total, verifiedRecords(t, string(out)), "tfocol receipts verify counts every sealed record:\n%s", out)
}
