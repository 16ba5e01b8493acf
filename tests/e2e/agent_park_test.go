package e2e

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/e2etest"
)

// parkGateway is an OTLP gateway stand-in (an e2etest.Sink) that refuses log requests with the gRPC code in
// refusing (mapped to its HTTP status over OTLP/HTTP; codes.OK: accepts), and remembers the Idempotency-Key of
// every log request it refused.
type parkGateway struct {
	*e2etest.Sink
	refusing atomic.Uint32

	mu          sync.Mutex
	refusedKeys []string
}

func newParkGateway(t *testing.T) *parkGateway {
	g := &parkGateway{Sink: e2etest.NewSink(t)}
	g.Intercept(func(r e2etest.SinkRequest) error {
		c := codes.Code(g.refusing.Load())
		if r.Signal != e2etest.Logs || c == codes.OK {
			return nil
		}
		g.mu.Lock()
		g.refusedKeys = append(g.refusedKeys, first(r.Headers["idempotency-key"]))
		g.mu.Unlock()
		return status.Error(c, "stub gateway refuses this request")
	})
	return g
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// count is how often a log record with this body was accepted.
func (g *parkGateway) count(body string) int { return agentFileLines(g.Sink, body)[body] }

// acceptedKeys counts the Idempotency-Keys of the accepted log requests.
func (g *parkGateway) acceptedKeys() map[string]int {
	out := map[string]int{}
	for _, r := range g.Requests() {
		if r.Signal == e2etest.Logs {
			out[first(r.Headers["idempotency-key"])]++
		}
	}
	return out
}

// parkAgent runs the shipped agent (only the test's OTLP data) against gw over protocol (http or grpc).
func parkAgent(t *testing.T, gw *parkGateway, protocol, dataDir string, env map[string]string) *e2etest.Collector {
	t.Helper()
	e := map[string]string{
		"TELEMETRYFLOW_PROTOCOL":       protocol,
		"TELEMETRYFLOW_ENDPOINT":       gw.HTTPURL,
		"TELEMETRYFLOW_GRPC_ENDPOINT":  gw.GRPCAddr,
		"TELEMETRYFLOW_GRPC_INSECURE":  "true",
		"TELEMETRYFLOW_API_KEY_ID":     "tfk_park",
		"TELEMETRYFLOW_API_KEY_SECRET": "tfs_park",
		"TELEMETRYFLOW_AGENT_ID":       "host-park",
		"TELEMETRYFLOW_WORKSPACE_ID":   "8c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f",
		"TFOCOL_HOSTMETRICS_INTERVAL":  "1h",
	}
	for k, v := range env {
		e[k] = v
	}
	return e2etest.Start(t, e2etest.Options{Name: "agent-park", Configs: []string{"configs/agent.yaml", "tests/e2e/testdata/agent/park.yaml"},
		Env: e, DataDir: dataDir})
}

func parkSend(t *testing.T, agent *e2etest.Collector, ld plog.Logs) *e2etest.HTTPResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := e2etest.ExportHTTP(ctx, agent.HTTP(nil), ld)
	require.NoError(t, err)
	return res
}

func parkLogs(bodies ...string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "park-e2e")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, b := range bodies {
		lrs.AppendEmpty().Body().SetStr(b)
	}
	return ld
}

// The shipped agent, over OTLP/HTTP and OTLP/gRPC, against a gateway that refuses its log requests with a
// permanent error (HTTP 400, gRPC InvalidArgument): each refused entry is parked at once (counted, logged, kept
// in the agent's data dir) and the agent goes on forwarding what comes after it as soon as the gateway accepts
// again. `tfocol log parked list` shows the parked entries; `tfocol log parked replay` hands them back and each
// arrives at the gateway exactly once, with the Idempotency-Key of its refused attempt (so a real gateway
// deduplicates a replay a crash repeats).
func TestAgentParksRefusedEntriesAndReplaysThem(t *testing.T) {
	for _, protocol := range []string{"http", "grpc"} {
		t.Run(protocol, func(t *testing.T) { agentParkScenario(t, protocol) })
	}
}

func agentParkScenario(t *testing.T, protocol string) {
	stub := newParkGateway(t)
	stub.refusing.Store(uint32(codes.InvalidArgument)) // HTTP 400
	dataDir := t.TempDir()
	agent := parkAgent(t, stub, protocol, dataDir, nil)
	send := func(bodies ...string) {
		t.Helper()
		res := parkSend(t, agent, parkLogs(bodies...))
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	}
	metric := func(name string, labels map[string]string) float64 {
		v, _ := e2etest.MetricSum(t, agent.ScrapeMetrics(t), name, labels)
		return v
	}
	fwd := map[string]string{"consumer": "tfo_log/forward"}

	// Refused: two requests, parked at once (not retried: the stub saw each once).
	send("refused-1a", "refused-1b")
	send("refused-2")
	e2etest.Eventually(t, 20*time.Second, func() bool {
		return metric("tfocol_log_consumer_parked_total", map[string]string{"consumer": "tfo_log/forward", "reason": "permanent", "signal": "logs"}) == 2
	}, "two entries parked")
	assert.EqualValues(t, 2, metric("tfocol_log_parked_entries", fwd))
	assert.Positive(t, metric("tfocol_log_parked_bytes", fwd))
	stub.mu.Lock()
	refusedKeys := append([]string(nil), stub.refusedKeys...)
	stub.mu.Unlock()
	assert.Len(t, refusedKeys, 2, "a permanent refusal is not retried")
	assert.Contains(t, agent.Logs(), "durable log entries parked")

	// The gateway accepts again: new data flows, the parked data stays parked.
	stub.refusing.Store(uint32(codes.OK))
	send("fresh-1")
	e2etest.Eventually(t, 20*time.Second, func() bool { return stub.count("fresh-1") == 1 }, "new data forwarded after the refusals")
	assert.Zero(t, stub.count("refused-1a")+stub.count("refused-2"), "parked data is not forwarded by itself")

	logDir := filepath.Join(dataDir, "agent-log")
	bin := e2etest.Binary(t)
	out, err := exec.Command(bin, "log", "parked", "list", "--dir", logDir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "tfo_log/forward")
	assert.Contains(t, string(out), "Permanent error")
	assert.Contains(t, string(out), "2 entries")

	out, err = exec.Command(bin, "log", "parked", "replay", "--dir", logDir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "2 entries handed back")
	e2etest.Eventually(t, 20*time.Second, func() bool {
		return stub.count("refused-1a") == 1 && stub.count("refused-1b") == 1 && stub.count("refused-2") == 1
	}, "replayed data at the gateway")
	send("fresh-2")
	e2etest.Eventually(t, 20*time.Second, func() bool { return stub.count("fresh-2") == 1 }, "fresh-2 forwarded")
	time.Sleep(2 * time.Second) // a duplicate would show up now
	for _, b := range []string{"refused-1a", "refused-1b", "refused-2", "fresh-1", "fresh-2"} {
		assert.Equal(t, 1, stub.count(b), "%s arrived %d times", b, stub.count(b))
	}
	accepted := stub.acceptedKeys()
	for _, k := range refusedKeys {
		assert.NotEmpty(t, k)
		assert.Equal(t, 1, accepted[k], "the replay carries the Idempotency-Key of the refused attempt, once")
	}
	assert.EqualValues(t, 2, metric("tfocol_log_consumer_replayed_total", fwd))
	assert.Zero(t, metric("tfocol_log_parked_entries", fwd), "nothing left parked")
	out, err = exec.Command(bin, "log", "parked", "list", "--dir", logDir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.True(t, strings.Contains(string(out), "0 entries"), "%s", out)
}

// The agent's log is bounded in bytes and refuses new data when full: while the gateway is unavailable (503, a
// retryable answer: nothing is parked) the agent accepts requests until its log holds TFOCOL_QUEUE_MAX_BYTES,
// then answers 503 (retryable) without evicting anything. Once the gateway is back, every accepted record
// arrives exactly once, none of the refused ones does, and the agent accepts new data again.
func TestAgentLogFullRefusesNewData(t *testing.T) {
	stub := newParkGateway(t)
	stub.refusing.Store(uint32(codes.Unavailable)) // HTTP 503
	// 32 MiB: the least the log takes (4 segments of 8 MiB).
	agent := parkAgent(t, stub, "http", t.TempDir(), map[string]string{"TFOCOL_QUEUE_MAX_BYTES": "33554432"})
	pad := strings.Repeat("x", 256<<10)
	var accepted, refused []string
	for i := 0; i < 400 && len(refused) < 3; i++ {
		tag := "full-" + strconv.Itoa(i)
		ld := parkLogs(tag, tag+"-b", tag+"-c", tag+"-d")
		lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for k := 0; k < lrs.Len(); k++ {
			lrs.At(k).Attributes().PutStr("pad", pad) // ~1 MiB a request
		}
		switch res := parkSend(t, agent, ld); res.Status {
		case http.StatusOK:
			require.Empty(t, refused, "accepted after a refusal while the gateway is still away")
			accepted = append(accepted, tag)
		case http.StatusServiceUnavailable:
			refused = append(refused, tag)
		default:
			t.Fatalf("unexpected answer %d: %s", res.Status, res.Body)
		}
	}
	t.Logf("the agent accepted %d requests of ~1 MiB, then refused", len(accepted))
	require.NotEmpty(t, refused, "the log never filled")
	require.GreaterOrEqual(t, len(accepted), 20, "the log holds about 32 MiB")
	v, _ := e2etest.MetricSum(t, agent.ScrapeMetrics(t), "tfocol_log_refusing", nil)
	assert.EqualValues(t, 1, v)
	parkedNow, _ := e2etest.MetricSum(t, agent.ScrapeMetrics(t), "tfocol_log_consumer_parked_total", nil)
	assert.Zero(t, parkedNow, "a retryable answer is not parked")

	stub.refusing.Store(uint32(codes.OK))
	e2etest.Eventually(t, 60*time.Second, func() bool {
		for _, tag := range accepted {
			if stub.count(tag) == 0 {
				return false
			}
		}
		return true
	}, "every accepted request delivered")
	e2etest.Eventually(t, 30*time.Second, func() bool {
		return parkSend(t, agent, parkLogs("after-full")).Status == http.StatusOK
	}, "the agent accepts again once the log drained")
	e2etest.Eventually(t, 20*time.Second, func() bool { return stub.count("after-full") >= 1 }, "new data delivered")
	time.Sleep(2 * time.Second)
	for _, tag := range accepted {
		assert.Equal(t, 1, stub.count(tag), "%s arrived %d times", tag, stub.count(tag))
	}
	for _, tag := range refused {
		assert.Zero(t, stub.count(tag), "refused %s was delivered", tag)
	}
}
