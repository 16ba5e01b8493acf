package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/receipts"
)

const (
	agentOverlay   = "tests/e2e/testdata/agent/agent.yaml"
	agentGWOverlay = "tests/e2e/testdata/agent/gateway.yaml"
)

// agentHeartbeat is one HostHeartbeat the gateway forwarded upstream.
type agentHeartbeat struct {
	reason, instanceID, hostName, checksum string
	contract                               string
}

// agentHeartbeats returns the HostHeartbeats at the gateway's upstream sink, in arrival order.
func agentHeartbeats(sink *e2etest.Sink) []agentHeartbeat {
	var out []agentHeartbeat
	for _, ld := range sink.Logs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					if lr.EventName() != "HostHeartbeat" {
						continue
					}
					body := lr.Body().Map()
					get := func(m pcommon.Map, k string) string {
						v, _ := m.Get(k)
						return v.AsString()
					}
					out = append(out, agentHeartbeat{reason: get(body, "reason"), instanceID: get(body, "instanceId"),
						hostName: get(lr.Attributes(), "host.name"), checksum: get(body, "checksum"),
						contract: get(lr.Attributes(), "tfo.event.contract_version")})
				}
			}
		}
	}
	return out
}

func countReason(hbs []agentHeartbeat, reason string) int {
	n := 0
	for _, h := range hbs {
		if h.reason == reason {
			n++
		}
	}
	return n
}

// agentFileLines returns how often each line of the tailed file arrived upstream, by body.
func agentFileLines(sink *e2etest.Sink, prefix string) map[string]int {
	got := map[string]int{}
	for _, ld := range sink.Logs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					if b := lrs.At(k).Body().AsString(); strings.HasPrefix(b, prefix) {
						got[b]++
					}
				}
			}
		}
	}
	return got
}

// missingHostName returns a description of the first resource at the sink without host.name, or "".
func missingHostName(sink *e2etest.Sink) string {
	check := func(signal string, res pcommon.Resource) string {
		if v, ok := res.Attributes().Get("host.name"); !ok || v.Str() == "" {
			return fmt.Sprintf("%s resource without host.name: %v", signal, res.Attributes().AsRaw())
		}
		return ""
	}
	for _, td := range sink.Traces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			if s := check("traces", td.ResourceSpans().At(i).Resource()); s != "" {
				return s
			}
		}
	}
	for _, md := range sink.Metrics() {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			if s := check("metrics", md.ResourceMetrics().At(i).Resource()); s != "" {
				return s
			}
		}
	}
	for _, ld := range sink.Logs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			if s := check("logs", ld.ResourceLogs().At(i).Resource()); s != "" {
				return s
			}
		}
	}
	return ""
}

func appendLines(t *testing.T, path, prefix string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	for i := from; i <= to; i++ {
		_, err := fmt.Fprintf(f, "%s %03d\n", prefix, i)
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
}

// agentStart runs configs/agent.yaml (plus the test overlay) against the gateway, tailing logFile.
func agentStart(t *testing.T, gw *e2etest.Gateway, protocol, dataDir, logFile string) *e2etest.Collector {
	t.Helper()
	env := gw.AgentEnv()
	env["TELEMETRYFLOW_PROTOCOL"] = protocol
	env["TELEMETRYFLOW_GRPC_ENDPOINT"] = gw.Ports.OTLPGRPC
	env["TELEMETRYFLOW_GRPC_INSECURE"] = "true"
	env["TELEMETRYFLOW_ENVIRONMENT"] = "e2e"
	env["TFOCOL_RESOURCE_DETECTORS"] = "[env, system]" // no cloud metadata endpoints to wait for here
	env["TFOCOL_FILELOG_INCLUDE"] = logFile
	env["TFOCOL_FILELOG_START_AT"] = "beginning"
	return e2etest.Start(t, e2etest.Options{Name: "agent-" + protocol, Configs: []string{"configs/agent.yaml", agentOverlay},
		Env: env, DataDir: dataDir})
}

// The agent against the shipped gateway, over OTLP/HTTP and over OTLP/gRPC (TELEMETRYFLOW_PROTOCOL):
//   - HostHeartbeats begin, update and (on SIGTERM) end, with one instance id across restarts (the one in the
//     agent's data dir), contract version 2 and a checksum, each accepted by the gateway's HostHeartbeat contract
//     (tfocol_event_router_events_total: none rejected) and receipted in the agent's workspace;
//   - a host log file's lines (written before the first start, while running, while stopped, after the restart)
//     arrive exactly once;
//   - traces from a local SDK, host metrics, file logs and heartbeats all reach upstream with host.name;
//   - the gateway requires an Idempotency-Key, so all of it arriving shows both transports send one.
func TestAgentHeartbeatsLogsAndHostName(t *testing.T) {
	for _, protocol := range []string{"http", "grpc"} {
		t.Run(protocol, func(t *testing.T) { agentScenario(t, protocol) })
	}
}

func agentScenario(t *testing.T, protocol string) {
	gw := e2etest.StartGateway(t, e2etest.Options{Configs: []string{rcOverlay, agentGWOverlay}})
	sink := gw.Upstream
	dataDir := t.TempDir()
	logFile := filepath.Join(t.TempDir(), "host.log")
	prefix := "host-line-" + protocol
	appendLines(t, logFile, prefix, 1, 5) // before the agent's first start

	agent := agentStart(t, gw, protocol, dataDir, logFile)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := e2etest.ExportHTTP(ctx, agent.HTTP(nil), e2etest.GenTraces(3, map[string]string{"service.name": "agent-e2e"}))
	require.NoError(t, err)
	require.Equal(t, 200, res.Status)

	e2etest.Eventually(t, 30*time.Second, func() bool {
		hbs := agentHeartbeats(sink)
		return countReason(hbs, "begin") == 1 && countReason(hbs, "update") >= 1
	}, "begin and an update heartbeat upstream")
	appendLines(t, logFile, prefix, 6, 10) // while running
	e2etest.Eventually(t, 15*time.Second, func() bool { return len(agentFileLines(sink, prefix)) == 10 }, "lines 1-10 upstream")

	agent.Stop() // SIGTERM: the end heartbeat is acknowledged by the gateway before the agent exits
	assert.Contains(t, agent.Logs(), "End heartbeat sent")
	e2etest.Eventually(t, 15*time.Second, func() bool { return countReason(agentHeartbeats(sink), "end") == 1 }, "end heartbeat upstream")

	appendLines(t, logFile, prefix, 11, 15) // while stopped
	agent = agentStart(t, gw, protocol, dataDir, logFile)
	appendLines(t, logFile, prefix, 16, 20)
	e2etest.Eventually(t, 30*time.Second, func() bool {
		return countReason(agentHeartbeats(sink), "begin") == 2 && len(agentFileLines(sink, prefix)) == 20
	}, "second begin and lines 11-20 upstream")
	agent.Stop()
	e2etest.Eventually(t, 15*time.Second, func() bool { return countReason(agentHeartbeats(sink), "end") == 2 }, "second end upstream")

	// One instance id (persisted in the data dir), one host, contract version 2, a checksum on each.
	hbs := agentHeartbeats(sink)
	var idFile []byte
	idFile, err = os.ReadFile(filepath.Join(dataDir, "heartbeat", "instance_id"))
	require.NoError(t, err)
	for _, h := range hbs {
		assert.Equal(t, strings.TrimSpace(string(idFile)), h.instanceID, "instance id of %+v", h)
		assert.NotEmpty(t, h.hostName)
		assert.Equal(t, "2", h.contract)
		assert.Len(t, h.checksum, 16)
	}

	// Every line exactly once, across the restart.
	lines := agentFileLines(sink, prefix)
	require.Len(t, lines, 20)
	for l, n := range lines {
		assert.Equal(t, 1, n, "line %q arrived %d times", l, n)
	}

	// Traces, host metrics, file logs and heartbeats all carry host.name upstream.
	require.NotZero(t, sink.SpanCount())
	require.NotZero(t, sink.DataPointCount())
	assert.Empty(t, missingHostName(sink))

	// The gateway's contract check accepted every heartbeat (none rejected).
	prom := gw.ScrapeMetrics(t)
	rejected, _ := e2etest.MetricSum(t, prom, "tfocol_event_router_events_total", map[string]string{"event_type": "HostHeartbeat", "outcome": "rejected"})
	routed, _ := e2etest.MetricSum(t, prom, "tfocol_event_router_events_total", map[string]string{"event_type": "HostHeartbeat", "outcome": "routed"})
	dflt, _ := e2etest.MetricSum(t, prom, "tfocol_event_router_events_total", map[string]string{"event_type": "HostHeartbeat", "outcome": "default"})
	assert.Zero(t, rejected, "rejected heartbeats")
	assert.GreaterOrEqual(t, int(routed+dflt), len(hbs), "heartbeats accepted by the contract")

	// Receipted in the agent's workspace.
	dir := filepath.Join(gw.DataDir, "receipts")
	e2etest.Eventually(t, 30*time.Second, func() bool {
		scrolls, err := receipts.FindScrolls(dir)
		if err != nil {
			return false
		}
		for _, s := range scrolls {
			if filepath.Base(s) != gw.Workspace {
				continue
			}
			rep, err := receipts.VerifyScroll(s, receipts.VerifyOptions{})
			return err == nil && rep.Records > 0
		}
		return false
	}, "a verified receipt scroll for workspace %s", gw.Workspace)
}

// The agent's components are in the build.
func TestAgentComponentsInTheDistribution(t *testing.T) {
	out, err := exec.Command(e2etest.Binary(t), "components").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, want := range []string{"heartbeat", "file_log", "resourcedetection", "resource"} {
		assert.Contains(t, string(out), "- name: "+want+"\n", "tfocol components does not list %q", want)
	}
}
