package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
	"github.com/tfocol/tfocol/internal/cli/statuscmd"
	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/ingeststatus"
	"github.com/tfocol/tfocol/internal/receipts"
)

const (
	statusOverlay = "tests/e2e/testdata/status/gateway.yaml"
	// A 4 MiB log and a forward consumer stalled after 2s of failures (shared with the reliability suite).
	stallOverlay  = "tests/reliability/testdata/small-log.yaml"
	statusOtherWS = "0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11"
)

// tfocolStatus runs `tfocol status` against the gateway with the admin token of its data directory, and returns
// its standard output (its standard error when it fails is in the test log) and the exit status.
func tfocolStatus(t *testing.T, c *e2etest.Collector, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(e2etest.Binary(t), append([]string{"status"}, args...)...)
	cmd.Env = append(cmd.Environ(), "TFOCOL_STATUS_ENDPOINT="+c.Ports.Status, "TFOCOL_DATA_DIR="+c.DataDir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		t.Logf("tfocol status %v: exit %d: %s", args, exit.ExitCode(), errOut.String())
		return out.String(), exit.ExitCode()
	}
	t.Fatalf("tfocol status: %v", err)
	return "", -1
}

// statusJSON is `tfocol status --json`.
func statusJSON(t *testing.T, c *e2etest.Collector) (*statuscmd.Output, int) {
	t.Helper()
	out, code := tfocolStatus(t, c, "--json")
	var o statuscmd.Output
	require.NoError(t, json.Unmarshal([]byte(out), &o), "tfocol status --json printed:\n%s", out)
	return &o, code
}

// ingestStatus GETs /v1/ingest-status with the given headers.
func ingestStatus(t *testing.T, c *e2etest.Collector, query string, headers map[string]string) (int, *ingeststatus.Report) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+c.Ports.Status+ingeststatus.Path+query, nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	rep := &ingeststatus.Report{}
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(rep))
	}
	return resp.StatusCode, rep
}

func findWorkspace(rep *ingeststatus.Report, ws string) (ingeststatus.WorkspaceStatus, bool) {
	for _, w := range rep.Workspaces {
		if w.Workspace == ws {
			return w, true
		}
	}
	return ingeststatus.WorkspaceStatus{}, false
}

// statusLoad is the known load of TestStatusCountsAKnownLoadAcrossRestarts and what the status must show for it.
type statusLoad struct {
	batches, records, events, rejections, heartbeats uint64
	bySignal                                         map[string]uint64
	recordsBySignal                                  map[string]uint64
	eventsByType                                     map[string]uint64
	rejectionsByType                                 map[string]ingeststatus.Rejections
	agents                                           map[string]bool // agent.id of the valid HostHeartbeat fixtures
}

// The gateway's ingest status against a known load, through bin/tfocol: N trace and metric batches, a logs batch
// holding every event fixture (valid ones, K contract rejections with their exact reasons, HostHeartbeats), a
// keyed batch replayed D times, another workspace's batch. `tfocol status` shows exactly that, a workspace
// credential sees its own workspace only, and the numbers survive a graceful restart, a duplicate absorbed by
// the durable log's key index after it, and a SIGKILL right after an acknowledged batch.
func TestStatusCountsAKnownLoadAcrossRestarts(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{Configs: []string{rcOverlay, statusOverlay}})
	ctx := context.Background()
	ws := gw.Workspace
	want := statusLoad{bySignal: map[string]uint64{"traces": 0, "metrics": 0, "logs": 0},
		recordsBySignal: map[string]uint64{"traces": 0, "metrics": 0, "logs": 0}, eventsByType: map[string]uint64{},
		rejectionsByType: map[string]ingeststatus.Rejections{}, agents: map[string]bool{}}
	count := func(signal string, records int) {
		want.batches++
		want.bySignal[signal]++
		want.records += uint64(records)
		want.recordsBySignal[signal] += uint64(records)
	}

	const traceBatches, metricBatches = 3, 2
	for range traceBatches {
		require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), e2etest.GenTraces(4, map[string]string{"service.name": "checkout"})))
		count("traces", 4)
	}
	for range metricBatches {
		res, err := e2etest.ExportHTTP(ctx, gw.HTTP(gw.Headers()), e2etest.GenMetrics(5, nil))
		require.NoError(t, err)
		require.Equal(t, 200, res.Status)
		count("metrics", 5)
	}

	fixtures, err := eventtest.Load(filepath.Join(e2etest.RepoRoot(t), "testdata", "events"))
	require.NoError(t, err)
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for _, fx := range fixtures {
		require.NoError(t, fx.CopyTo(sl.LogRecords().AppendEmpty()))
		typ := fx.EventType()
		want.events++
		want.eventsByType[typ]++
		if fx.Expect.Outcome == "rejected" {
			want.rejections++
			rj := want.rejectionsByType[typ]
			if rj.Reasons == nil {
				rj.Reasons = map[string]uint64{}
			}
			rj.Total++
			rj.Reasons[fx.Expect.Reason]++
			want.rejectionsByType[typ] = rj
		} else if typ == ingeststatus.HeartbeatEvent {
			want.heartbeats++
			want.agents[fx.Attributes["agent.id"].(string)] = true
		}
	}
	sl.LogRecords().AppendEmpty().Body().SetStr("plain 1")
	sl.LogRecords().AppendEmpty().Body().SetStr("plain 2")
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), ld))
	count("logs", ld.LogRecordCount())
	require.NotZero(t, want.rejections)
	require.NotZero(t, want.heartbeats)

	// One keyed batch, sent 1 + D times: D duplicates absorbed by the workspace processor's Idempotency-Key store.
	const replays = 3
	keyed := gw.Headers()
	keyed["Idempotency-Key"] = uuid.NewString()
	keyedBatch := e2etest.GenLogs(3, nil)
	for range 1 + replays {
		res, err := e2etest.ExportHTTP(ctx, gw.HTTP(keyed), keyedBatch)
		require.NoError(t, err)
		require.Equal(t, 200, res.Status)
	}
	count("logs", 3)

	// Another workspace, with a key of its own (the key file is reloaded on change).
	idB, secretB := e2etest.MintKey(t, gw.KeysFile, statusOtherWS, "traces,metrics,logs")
	headersB := e2etest.KeyHeaders(idB, secretB, statusOtherWS)
	e2etest.Eventually(t, 10*time.Second, func() bool {
		return e2etest.ExportGRPC(ctx, gw.GRPC(headersB), e2etest.GenTraces(2, nil)) == nil
	}, "workspace B's key is accepted")

	check := func(phase string, dups uint64) ingeststatus.WorkspaceStatus {
		t.Helper()
		var o *statuscmd.Output
		var a ingeststatus.WorkspaceStatus
		var sealed uint64
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			var code int
			o, code = statusJSON(t, gw.Collector)
			var ok bool
			a, ok = findWorkspace(o.Ingest, ws)
			sealed = sealedBatches(t, gw.Collector, ws)
			if code == 0 && ok && a.Batches == want.batches && a.Duplicates == dups && a.WindowsPending == 0 && a.ReceiptsSealed == sealed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: want %d batches, %d duplicates, no window pending and %d receipts sealed; the status (exit %d) says %+v",
					phase, want.batches, dups, sealed, code, a)
			}
		}
		assert.Equal(t, want.bySignal, a.BatchesBySignal, phase)
		assert.Equal(t, want.records, a.Records, phase)
		assert.Equal(t, want.recordsBySignal, a.RecordsBySignal, phase)
		assert.Equal(t, want.events, a.Events, phase)
		assert.Equal(t, want.eventsByType, a.EventsByType, phase)
		assert.Equal(t, want.rejections, a.Rejections, phase)
		assert.Equal(t, want.rejectionsByType, a.RejectionsByType, phase)
		assert.Equal(t, want.heartbeats, a.Heartbeats, phase)
		assert.Equal(t, map[string]uint64{"traces": 0, "metrics": 0, "logs": dups}, a.DuplicatesBySignal, phase)
		agents := map[string]bool{}
		for _, ag := range o.Ingest.Agents {
			if ag.Workspace == ws {
				agents[ag.InstanceID] = true
			}
		}
		assert.Equal(t, want.agents, agents, phase)
		b, ok := findWorkspace(o.Ingest, statusOtherWS)
		require.True(t, ok, phase)
		assert.EqualValues(t, 1, b.Batches, phase)
		assert.EqualValues(t, 2, b.Records, phase)
		assert.Equal(t, ingeststatus.EngineReady, o.Engine.Status, phase)
		return a
	}
	before := check("after the load", replays)

	table, code := tfocolStatus(t, gw.Collector)
	assert.Equal(t, 0, code, table)
	assert.Contains(t, table, "ENGINE  READY")
	assert.Regexp(t, ws+`\s+`+fmt.Sprint(want.batches)+`\s+`+fmt.Sprint(want.records)+`\s`, table)

	// A workspace credential sees its workspace and no other; no credential, a wrong one: refused.
	code, rep := ingestStatus(t, gw.Collector, "", headersB)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, ingeststatus.ScopeWorkspace, rep.Scope)
	require.Len(t, rep.Workspaces, 1)
	assert.Equal(t, statusOtherWS, rep.Workspaces[0].Workspace)
	assert.Empty(t, rep.Agents)
	code, _ = ingestStatus(t, gw.Collector, "?workspace="+ws, headersB)
	assert.Equal(t, http.StatusForbidden, code)
	code, _ = ingestStatus(t, gw.Collector, "", nil)
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = ingestStatus(t, gw.Collector, "", e2etest.KeyHeaders(idB, "tfs_wrong", statusOtherWS))
	assert.Equal(t, http.StatusUnauthorized, code)
	refused, _ := e2etest.MetricSum(t, gw.ScrapeMetrics(t), "tfocol_status_requests_total", map[string]string{"code": "403"})
	assert.EqualValues(t, 1, refused)
	assert.NotContains(t, gw.Logs(), secretB, "no credential in the gateway's log")

	// A graceful restart: the same numbers, from the persisted counters.
	gw.Restart(t)
	after := check("after a restart", replays)
	assert.Equal(t, before.LastBatchAt, after.LastBatchAt)

	// The keyed batch once more: the workspace store (memory) forgot the key, the durable log's key index absorbs it.
	res, err := e2etest.ExportHTTP(ctx, gw.HTTP(keyed), keyedBatch)
	require.NoError(t, err)
	require.Equal(t, 200, res.Status)
	dupAt := time.Now()
	check("a duplicate absorbed by the log", replays+1)
	e2etest.Eventually(t, 10*time.Second, func() bool {
		o, _ := statusJSON(t, gw.Collector)
		return o.Ingest.Accounting.PersistedAt != nil && o.Ingest.Accounting.PersistedAt.After(dupAt)
	}, "the counters are persisted")

	// SIGKILL right after an acknowledged batch: it is counted from the durable log at the next start.
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), e2etest.GenTraces(6, nil)))
	gw.Kill()
	count("traces", 6)
	var snap struct {
		Next uint64 `json:"next_seq"`
	}
	raw, err := os.ReadFile(filepath.Join(gw.DataDir, "status", "status.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &snap))
	gw.Restart(t)
	check("after SIGKILL", replays+1)
	o, _ := statusJSON(t, gw.Collector)
	t.Logf("the snapshot at the kill covered the log up to seq %d; recounted from the log up to %d", snap.Next, o.Ingest.Accounting.NextSeq)
}

// sealedBatches counts the batch window receipts in workspace ws's scroll (tfocol receipts list).
func sealedBatches(t *testing.T, c *e2etest.Collector, ws string) uint64 {
	t.Helper()
	out, err := exec.Command(e2etest.Binary(t), "receipts", "list", "--dir", filepath.Join(c.DataDir, "receipts")).CombinedOutput()
	if err != nil {
		return 0 // no scroll yet
	}
	n := uint64(0)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[0] == ws && (f[2] == receipts.TypeLogBatch || f[2] == receipts.TypeMetricSnapshot || f[2] == receipts.TypeTraceBatch) {
			n++
		}
	}
	return n
}

// engineStatus GETs /.well-known/engine-status (open, like health_check).
func engineStatus(t *testing.T, c *e2etest.Collector) (int, *ingeststatus.EngineStatus) {
	t.Helper()
	resp, err := http.Get("http://" + c.Ports.Status + "/.well-known/engine-status")
	require.NoError(t, err)
	defer resp.Body.Close()
	doc := &ingeststatus.EngineStatus{}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(doc))
	return resp.StatusCode, doc
}

func hasReason(doc *ingeststatus.EngineStatus, kind, component string) bool {
	for _, r := range doc.Reasons {
		if r.Kind == kind && r.Component == component {
			return true
		}
	}
	return false
}

// bigLogs is a logs request of about n KiB.
func bigLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	line := strings.Repeat("0123456789abcdef", 64)
	for i := range n {
		sl.LogRecords().AppendEmpty().Body().SetStr(fmt.Sprintf("%06d %s", i, line))
	}
	return ld
}

// The engine status follows the gateway's health: ready; degraded, naming tfo_log/forward, once the upstream has
// refused long enough to stall the forward consumer; degraded by the durable log itself once the backlog fills it
// and appends are refused; ready again when the upstream is back and an append succeeds. `tfocol status` exits 1
// while degraded and 0 when ready, and the ingest status shows the upstream's pending entries and failures.
func TestStatusEngineDegradedWhileUpstreamDownOrLogFull(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{Configs: []string{stallOverlay}})
	ctx := context.Background()
	e2etest.Eventually(t, 10*time.Second, func() bool {
		code, doc := engineStatus(t, gw.Collector)
		return code == http.StatusOK && doc.Status == ingeststatus.EngineReady
	}, "ready once the pipelines run")
	_, doc := engineStatus(t, gw.Collector)
	assert.Equal(t, "tfocol", doc.Engine)
	assert.NotEmpty(t, doc.Version)
	assert.NotEmpty(t, doc.Build.Commit)
	assert.NotEmpty(t, doc.InstanceID)

	var down atomic.Bool
	down.Store(true)
	gw.Upstream.Intercept(func(e2etest.SinkRequest) error {
		if down.Load() {
			return status.Error(codes.Unavailable, "upstream down")
		}
		return nil
	})
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), e2etest.GenLogs(5, nil)))
	e2etest.Eventually(t, 20*time.Second, func() bool {
		code, doc := engineStatus(t, gw.Collector)
		return code == http.StatusServiceUnavailable && doc.Status == ingeststatus.EngineDegraded && hasReason(doc, "receiver", "tfo_log/forward")
	}, "degraded by the stalled forward consumer")
	out, code := tfocolStatus(t, gw.Collector)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "ENGINE  DEGRADED")
	assert.Contains(t, out, "receiver tfo_log/forward")
	o, _ := statusJSON(t, gw.Collector)
	assert.GreaterOrEqual(t, o.Ingest.Upstream.PendingEntries, uint64(1))
	assert.Positive(t, o.Ingest.Upstream.Failures)
	for _, c := range o.Ingest.Upstream.Consumers {
		if c.Name == "tfo_log/forward" {
			assert.True(t, c.Upstream)
			assert.NotNil(t, c.FailingSince)
		}
	}

	// The backlog fills the 4 MiB log: appends are refused with 503.
	refused := false
	for range 200 {
		res, err := e2etest.ExportHTTP(ctx, gw.HTTP(gw.Headers()), bigLogs(200))
		require.NoError(t, err)
		if res.Status == http.StatusServiceUnavailable {
			refused = true
			break
		}
		require.Equal(t, http.StatusOK, res.Status)
	}
	require.True(t, refused, "the log filled up")
	e2etest.Eventually(t, 10*time.Second, func() bool {
		_, doc = engineStatus(t, gw.Collector)
		return doc.Status == ingeststatus.EngineDegraded && hasReason(doc, "exporter", "tfo_log")
	}, "degraded by the durable log refusing appends")
	for _, r := range doc.Reasons {
		if r.Kind == "exporter" {
			assert.Contains(t, r.Error, "log full")
		}
	}
	o, _ = statusJSON(t, gw.Collector)
	require.NotNil(t, o.Ingest.Upstream.Log)
	assert.True(t, o.Ingest.Upstream.Log.Refusing)

	// The upstream is back: the consumer catches up, the next append succeeds, the engine is ready again.
	down.Store(false)
	e2etest.Eventually(t, 60*time.Second, func() bool {
		res, err := e2etest.ExportHTTP(ctx, gw.HTTP(gw.Headers()), e2etest.GenLogs(1, nil))
		if err != nil || res.Status != http.StatusOK {
			return false
		}
		code, doc := engineStatus(t, gw.Collector)
		return code == http.StatusOK && doc.Status == ingeststatus.EngineReady
	}, "ready again")
	out, code = tfocolStatus(t, gw.Collector)
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "ENGINE  READY")
}

// An agent (configs/agent.yaml) against the gateway: the status shows it alive with its instance id, host and
// interval from its HostHeartbeats; killed, it turns silent after silent_after_intervals (1 here) of its 10 s
// interval — a WARN line and a metric, once; restarted, it is alive again with the same instance id; stopped
// with SIGTERM (its end heartbeat) it is stopped, and stays so across a gateway restart.
func TestStatusAgentHeartbeatsAliveSilentStopped(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{Configs: []string{statusOverlay}})
	agentDir := t.TempDir()
	logFile := filepath.Join(t.TempDir(), "host.log")
	appendLines(t, logFile, "status", 1, 1)
	ag := agentStart(t, gw, "http", agentDir, logFile)

	agentState := func() (ingeststatus.Agent, bool) {
		o, _ := statusJSON(t, gw.Collector)
		for _, a := range o.Ingest.Agents {
			if a.Workspace == gw.Workspace && a.AgentID == "host-e2e" {
				return a, true
			}
		}
		return ingeststatus.Agent{}, false
	}
	var alive ingeststatus.Agent
	e2etest.Eventually(t, 30*time.Second, func() bool {
		a, ok := agentState()
		alive = a
		return ok && a.State == ingeststatus.StateAlive
	}, "the agent is alive")
	// The status counts from the log; the upstream gets the heartbeat up to the forward consumer's
	// max_batch_wait later.
	var hbs []agentHeartbeat
	e2etest.Eventually(t, 10*time.Second, func() bool {
		hbs = agentHeartbeats(gw.Upstream)
		return len(hbs) > 0
	}, "the upstream got the agent's heartbeat")
	assert.Equal(t, hbs[0].instanceID, alive.InstanceID)
	assert.Equal(t, hbs[0].hostName, alive.HostName)
	assert.EqualValues(t, 10, alive.IntervalSeconds)
	assert.NotEmpty(t, alive.AgentVersion)

	ag.Kill() // no end heartbeat
	killed := time.Now()
	e2etest.Eventually(t, 30*time.Second, func() bool {
		a, _ := agentState()
		return a.State == ingeststatus.StateSilent
	}, "the killed agent is silent")
	a, _ := agentState()
	require.NotNil(t, a.SilentSince)
	assert.WithinDuration(t, a.LastHeartbeatAt.Add(10*time.Second), *a.SilentSince, 3*time.Second,
		"silent one interval after its last heartbeat")
	assert.False(t, a.SilentSince.Before(killed))
	assert.Equal(t, 1, strings.Count(gw.Logs(), "agent heartbeats stopped: reported silent"))
	metrics := gw.ScrapeMetrics(t)
	n, _ := e2etest.MetricSum(t, metrics, "tfocol_agents", map[string]string{"state": "silent"})
	assert.EqualValues(t, 1, n)
	n, _ = e2etest.MetricSum(t, metrics, "tfocol_agents_silenced_total", nil)
	assert.EqualValues(t, 1, n)

	ag.Restart(t)
	e2etest.Eventually(t, 30*time.Second, func() bool {
		a, _ := agentState()
		return a.State == ingeststatus.StateAlive
	}, "the restarted agent is alive again")
	a, _ = agentState()
	assert.Equal(t, alive.InstanceID, a.InstanceID, "one instance id across agent restarts")
	assert.Contains(t, gw.Logs(), "agent heartbeats resumed")

	ag.Stop()
	e2etest.Eventually(t, 15*time.Second, func() bool {
		a, _ := agentState()
		return a.State == ingeststatus.StateStopped && a.LastReason == "end"
	}, "the agent stopped with its end heartbeat")
	stopped, _ := agentState()
	gw.Restart(t)
	a, _ = agentState()
	assert.Equal(t, stopped, a, "the agent's last heartbeat survives a gateway restart")
}
