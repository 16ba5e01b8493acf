package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/credentials/keyfile"
	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/redistest"
)

const (
	wsWorkspace = "0b6f7c1e-7f4e-4a43-9a55-2f8f2f5b6a01"
	wsOther     = "5d1c2a9e-2b7a-4c47-8f1d-3c8e9b0a7d22"
	wsOverlay   = "tests/e2e/testdata/workspace/"
)

// wsGW is a gateway started from configs/gateway.yaml (tfo_auth on, workspace in every OTLP pipeline) with
// an API key file holding one key.
type wsGW struct {
	*e2etest.Collector
	keyID, secret string
}

// wsKeysFile writes a tfo_auth key file with one key and returns its path, id and secret.
func wsKeysFile(t *testing.T, workspaces, scopes []string) (path, id, secret string) {
	t.Helper()
	key, secret, err := keyfile.NewKey(workspaces, scopes, nil, "workspace e2e", time.Now())
	require.NoError(t, err)
	path = filepath.Join(t.TempDir(), "keys.yaml")
	require.NoError(t, keyfile.Save(path, &keyfile.File{Version: keyfile.CurrentVersion, Keys: []keyfile.Key{key}}))
	return path, key.ID, secret
}

// wsGateway starts the shipped gateway exporting to sink. Its key may write to workspaces with the scopes;
// env adds e.g. TFOCOL_IDEMPOTENCY_STORE.
func wsGateway(t *testing.T, sink *e2etest.Sink, workspaces, scopes []string, env map[string]string, overlays ...string) *wsGW {
	t.Helper()
	keys, id, secret := wsKeysFile(t, workspaces, scopes)
	configs := []string{"configs/gateway.yaml"}
	for _, o := range overlays {
		configs = append(configs, wsOverlay+o)
	}
	all := map[string]string{
		"TFOCOL_UPSTREAM_ENDPOINT":          sink.GRPCAddr,
		"TFOCOL_KEYS_FILE":                  keys,
		"TFOCOL_SPANMETRICS_FLUSH_INTERVAL": "1h",
	}
	for k, v := range env {
		all[k] = v
	}
	return &wsGW{Collector: e2etest.Start(t, e2etest.Options{Name: "gateway", Configs: configs, Env: all}), keyID: id, secret: secret}
}

// headers are the request headers of an authenticated client writing to workspace ("" leaves it out)
// with an Idempotency-Key ("" leaves it out).
func (g *wsGW) headers(workspace, key string) map[string]string {
	h := map[string]string{
		"X-TelemetryFlow-Key-ID":     g.keyID,
		"X-TelemetryFlow-Key-Secret": g.secret,
	}
	if workspace != "" {
		h["X-Workspace-Id"] = workspace
	}
	if key != "" {
		h["Idempotency-Key"] = key
	}
	return h
}

// wsGatewayAll starts a gateway whose key may write everything.
func wsGatewayAll(t *testing.T, sink *e2etest.Sink, env map[string]string, overlays ...string) *wsGW {
	return wsGateway(t, sink, []string{"*"}, []string{"*"}, env, overlays...)
}

// wsPost sends the batch once as OTLP/HTTP protobuf and returns the response.
func wsPost(t *testing.T, c *wsGW, headers map[string]string, td ptrace.Traces) *e2etest.HTTPResult {
	t.Helper()
	res, err := e2etest.ExportHTTP(context.Background(), c.HTTP(headers), td)
	require.NoError(t, err)
	return res
}

// wsPostUntilAccepted behaves like an OTLP client: it retries 429/503 after the Retry-After delay.
// It returns the statuses seen, the last one being the final answer.
func wsPostUntilAccepted(t *testing.T, c *wsGW, headers map[string]string, td ptrace.Traces) []int {
	t.Helper()
	var seen []int
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := e2etest.ExportHTTP(context.Background(), c.HTTP(headers), td)
		if !assert.NoError(t, err) {
			return seen
		}
		seen = append(seen, res.Status)
		if (res.Status != http.StatusServiceUnavailable && res.Status != http.StatusTooManyRequests) || time.Now().After(deadline) {
			return seen
		}
		delay := 200 * time.Millisecond
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			delay = time.Duration(s) * time.Second
		}
		time.Sleep(delay)
	}
}

// wsSettledSpans waits until the sink holds want spans, then a little longer so that a late duplicate
// (the upstream queue delivers asynchronously) would show, and returns the final count.
func wsSettledSpans(t *testing.T, sink *e2etest.Sink, want int) int {
	t.Helper()
	e2etest.Eventually(t, 20*time.Second, func() bool { return sink.SpanCount() >= want }, "sink never got %d spans", want)
	time.Sleep(2500 * time.Millisecond)
	return sink.SpanCount()
}

func wsRequests(t *testing.T, c *wsGW, outcome string) float64 {
	t.Helper()
	v, _ := e2etest.MetricSum(t, c.ScrapeMetrics(t), "tfocol_workspace_requests_total", map[string]string{"outcome": outcome})
	return v
}

func TestWorkspaceSameBatchFiveTimesIsDeliveredOnce(t *testing.T) {
	sink := e2etest.NewSink(t)
	gw := wsGatewayAll(t, sink, nil)
	td := e2etest.GenTraces(7, map[string]string{"service.name": "checkout"})
	headers := gw.headers(wsWorkspace, "agent-7/batch-000001")
	headers["X-Request-Id"] = "req-abc-123"

	for i := 0; i < 5; i++ {
		res := wsPost(t, gw, headers, td)
		require.Equal(t, http.StatusOK, res.Status, "send %d: %s", i+1, res.Body)
	}
	require.Equal(t, 7, wsSettledSpans(t, sink, 7), "five sends of one Idempotency-Key deliver the batch once")

	attrs := sink.Traces()[0].ResourceSpans().At(0).Resource().Attributes()
	ws, _ := attrs.Get("tfo.workspace.id")
	corr, _ := attrs.Get("tfo.correlation.id")
	assert.Equal(t, wsWorkspace, ws.Str())
	assert.Equal(t, "req-abc-123", corr.Str())

	assert.Equal(t, 1.0, wsRequests(t, gw, "accepted"))
	assert.Equal(t, 4.0, wsRequests(t, gw, "duplicate"))
	begins, found := e2etest.MetricSum(t, gw.ScrapeMetrics(t), "tfocol_workspace_store_duration_seconds",
		map[string]string{"operation": "begin"})
	assert.True(t, found, "store latency histogram exported")
	assert.Equal(t, 5.0, begins)

	// The same key with another payload is refused.
	res := wsPost(t, gw, headers, e2etest.GenTraces(3, nil))
	assert.Equal(t, http.StatusBadRequest, res.Status)
	assert.Contains(t, string(res.Body), "different payload")
}

func TestWorkspaceConcurrentSendsAreDeliveredOnce(t *testing.T) {
	sink := e2etest.NewSink(t)
	// Hold the first upstream export so the other sends find the key in flight.
	var once sync.Once
	sink.Intercept(func(e2etest.SinkRequest) error {
		once.Do(func() { time.Sleep(1500 * time.Millisecond) })
		return nil
	})
	gw := wsGatewayAll(t, sink, nil, "sync-exporter.yaml")
	td := e2etest.GenTraces(5, nil)

	var wg sync.WaitGroup
	results := make([][]int, 5)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = wsPostUntilAccepted(t, gw, gw.headers(wsWorkspace, "concurrent-1"), td)
		}()
	}
	wg.Wait()
	conflicts := 0
	for i, seen := range results {
		require.NotEmpty(t, seen)
		assert.Equal(t, http.StatusOK, seen[len(seen)-1], "client %d: %v", i, seen)
		for _, s := range seen[:len(seen)-1] {
			assert.Equal(t, http.StatusServiceUnavailable, s, "only retryable refusals before success")
			conflicts++
		}
	}
	assert.Positive(t, conflicts, "some sends arrived while the first was in flight")
	assert.Equal(t, 5, wsSettledSpans(t, sink, 5))
	assert.Equal(t, float64(conflicts), wsRequests(t, gw, "in_flight_conflict"))
}

func TestWorkspaceInFlightRefusalCarriesRetryAfter(t *testing.T) {
	sink := e2etest.NewSink(t)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	sink.Intercept(func(e2etest.SinkRequest) error {
		entered <- struct{}{}
		<-release
		return nil
	})
	gw := wsGatewayAll(t, sink, nil, "sync-exporter.yaml")
	td := e2etest.GenTraces(2, nil)
	slow := gw.headers(wsWorkspace, "slow-1")

	first := make(chan int, 1)
	go func() {
		res, err := e2etest.ExportHTTP(context.Background(), gw.HTTP(slow), td)
		if err != nil {
			first <- 0
			return
		}
		first <- res.Status
	}()
	<-entered // the first send is now waiting on the upstream

	res := wsPost(t, gw, slow, td)
	assert.Equal(t, http.StatusServiceUnavailable, res.Status)
	assert.Equal(t, "1", res.Header.Get("Retry-After"), "retry_after: 1s reaches HTTP clients")
	assert.Contains(t, string(res.Body), "still being processed")
	err := e2etest.ExportGRPC(context.Background(), gw.GRPC(slow), td)
	assert.Equal(t, codes.Unavailable, status.Code(err), "over gRPC the refusal is Unavailable: %v", err)

	close(release)
	assert.Equal(t, http.StatusOK, <-first)
	assert.Equal(t, http.StatusOK, wsPost(t, gw, slow, td).Status)
	assert.Equal(t, 2, wsSettledSpans(t, sink, 2))
}

func TestWorkspaceDownstreamFailureThenRetryIsDeliveredOnce(t *testing.T) {
	sink := e2etest.NewSink(t)
	sink.FailNext(1, codes.Unavailable)
	gw := wsGatewayAll(t, sink, nil, "sync-exporter.yaml")
	td := e2etest.GenTraces(4, nil)
	retry := gw.headers(wsWorkspace, "retry-1")

	res := wsPost(t, gw, retry, td)
	require.Equal(t, http.StatusServiceUnavailable, res.Status, "the upstream failure reaches the client: %s", res.Body)
	assert.Equal(t, 0, sink.SpanCount())

	require.Equal(t, http.StatusOK, wsPost(t, gw, retry, td).Status, "the retry goes through")
	require.Equal(t, http.StatusOK, wsPost(t, gw, retry, td).Status, "a replay is a duplicate")
	assert.Equal(t, 4, wsSettledSpans(t, sink, 4))
	assert.Equal(t, 1.0, wsRequests(t, gw, "downstream_error"))
	assert.Equal(t, 1.0, wsRequests(t, gw, "duplicate"))
}

func TestWorkspaceStorageStoreSurvivesRestart(t *testing.T) {
	sink := e2etest.NewSink(t)
	gw := wsGatewayAll(t, sink, map[string]string{"TFOCOL_IDEMPOTENCY_STORE": "storage"})
	td := e2etest.GenTraces(3, nil)

	require.Equal(t, http.StatusOK, wsPost(t, gw, gw.headers(wsWorkspace, "durable-1"), td).Status)
	require.Equal(t, 3, wsSettledSpans(t, sink, 3))

	gw.Restart(t)
	res := wsPost(t, gw, gw.headers(wsWorkspace, "durable-1"), td)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Equal(t, 1.0, wsRequests(t, gw, "duplicate"), "the replay after the restart is a duplicate")
	assert.Equal(t, http.StatusBadRequest, wsPost(t, gw, gw.headers(wsWorkspace, "durable-1"), e2etest.GenTraces(1, nil)).Status,
		"the payload fingerprint survives too")

	// A crash (SIGKILL) does not lose completed keys either.
	gw.Kill()
	gw.Restart(t)
	require.Equal(t, http.StatusOK, wsPost(t, gw, gw.headers(wsWorkspace, "durable-1"), td).Status)
	require.Equal(t, http.StatusOK, wsPost(t, gw, gw.headers(wsWorkspace, "durable-2"), td).Status)
	assert.Equal(t, 6, wsSettledSpans(t, sink, 6), "only the new key was delivered after the restarts")
}

func TestWorkspaceRedisStoreIsSharedByGateways(t *testing.T) {
	redis := redistest.Start(t)
	sink := e2etest.NewSink(t)
	env := map[string]string{"TFOCOL_IDEMPOTENCY_STORE": "redis", "TFOCOL_REDIS_ENDPOINT": "redis://" + redis.Addr + "/0"}
	a := wsGatewayAll(t, sink, env)
	b := wsGatewayAll(t, sink, env)
	td := e2etest.GenTraces(6, nil)

	require.Equal(t, http.StatusOK, wsPost(t, a, a.headers(wsWorkspace, "replicated-1"), td).Status)
	res := wsPost(t, b, b.headers(wsWorkspace, "replicated-1"), td)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Equal(t, 1.0, wsRequests(t, b, "duplicate"), "gateway b knows gateway a's key")
	assert.Equal(t, http.StatusBadRequest, wsPost(t, b, b.headers(wsWorkspace, "replicated-1"), e2etest.GenTraces(1, nil)).Status)
	assert.Equal(t, 6, wsSettledSpans(t, sink, 6))

	// Redis down: the default on_store_error: reject answers 503 (retryable), nothing is lost or doubled.
	redis.Stop()
	res = wsPost(t, a, a.headers(wsWorkspace, "replicated-2"), td)
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, "%s", res.Body)
	assert.Equal(t, 6, sink.SpanCount())
}

func TestWorkspaceHeaderContract(t *testing.T) {
	sink := e2etest.NewSink(t)
	gw := wsGatewayAll(t, sink, nil)
	td := e2etest.GenTraces(1, nil)

	for name, tc := range map[string]struct {
		headers map[string]string
		want    string
	}{
		"missing workspace":   {gw.headers("", ""), "missing x-workspace-id"},
		"malformed workspace": {gw.headers("workspace-1", ""), "x-workspace-id must be a UUID"},
		"oversized key":       {gw.headers(wsWorkspace, strings.Repeat("k", 256)), "Idempotency-Key must be 1 to 255 printable ASCII"},
	} {
		t.Run(name, func(t *testing.T) {
			res := wsPost(t, gw, tc.headers, td)
			assert.Equal(t, http.StatusBadRequest, res.Status)
			assert.Contains(t, string(res.Body), tc.want)
			err := e2etest.ExportGRPC(context.Background(), gw.GRPC(tc.headers), td)
			assert.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
		})
	}
	// gRPC clients cannot even send a non-ASCII header; over HTTP it is a 400.
	res := wsPost(t, gw, gw.headers(wsWorkspace, "caf\u00e9"), td)
	assert.Equal(t, http.StatusBadRequest, res.Status)
	assert.Contains(t, string(res.Body), "printable ASCII")
	assert.Equal(t, 3.0*2+1, wsRequests(t, gw, "rejected"))
	assert.Equal(t, 0, sink.SpanCount())
}

func TestWorkspacePrincipalChecks(t *testing.T) {
	sink := e2etest.NewSink(t)
	gw := wsGateway(t, sink, []string{wsWorkspace}, []string{"traces", "logs"}, nil)
	agent7 := func(workspace string) map[string]string {
		h := gw.headers(workspace, "")
		h["X-TelemetryFlow-Agent-ID"] = "agent-7"
		return h
	}

	res := wsPost(t, gw, agent7(wsWorkspace), e2etest.GenTraces(2, nil))
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Equal(t, 2, wsSettledSpans(t, sink, 2))
	attrs := sink.Traces()[0].ResourceSpans().At(0).Resource().Attributes()
	for name, want := range map[string]string{"tfo.workspace.id": wsWorkspace, "tfo.key.id": gw.keyID, "tfo.agent.id": "agent-7"} {
		v, ok := attrs.Get(name)
		assert.True(t, ok, name)
		assert.Equal(t, want, v.Str(), name)
	}

	t.Run("workspace not in the principal", func(t *testing.T) {
		res := wsPost(t, gw, agent7(wsOther), e2etest.GenTraces(1, nil))
		assert.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
		assert.Contains(t, string(res.Body), "not allowed to write")
		assert.NotContains(t, string(res.Body), gw.secret)
		err := e2etest.ExportGRPC(context.Background(), gw.GRPC(agent7(wsOther)), e2etest.GenTraces(1, nil))
		assert.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
	})
	t.Run("signal not in the scopes", func(t *testing.T) {
		res, err := e2etest.ExportHTTP(context.Background(), gw.HTTP(agent7(wsWorkspace)), e2etest.GenMetrics(1, nil))
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
		assert.Contains(t, string(res.Body), "not allowed to send metrics")
		err = e2etest.ExportGRPC(context.Background(), gw.GRPC(agent7(wsWorkspace)), e2etest.GenMetrics(1, nil))
		assert.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
	})
	assert.Equal(t, 0, sink.DataPointCount())
	assert.Equal(t, 2, sink.SpanCount())
}

// wsProxy forwards HTTP to a gateway. While holding, it lets the gateway answer a /v1/traces request but
// keeps the answer from the client until the client is gone: an agent that dies after the gateway
// accepted its batch and before it learned so.
type wsProxy struct {
	URL     string
	holding atomic.Bool
	held    chan struct{}
}

func wsStartProxy(t *testing.T, target string) *wsProxy {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	p := &wsProxy{held: make(chan struct{}, 16)}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if !p.holding.Load() || resp.Request.URL.Path != "/v1/traces" {
			return nil
		}
		p.held <- struct{}{}
		<-resp.Request.Context().Done()
		return resp.Request.Context().Err()
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func TestWorkspaceAgentKilledMidFlightReplaysAreDeduplicated(t *testing.T) {
	sink := e2etest.NewSink(t)
	gw := wsGateway(t, sink, []string{wsWorkspace}, []string{"*"}, nil)
	proxy := wsStartProxy(t, gw.OTLPHTTPURL())
	proxy.holding.Store(true)

	agent := e2etest.Start(t, e2etest.Options{
		Name:    "agent",
		Configs: []string{"configs/agent.yaml", "tests/e2e/testdata/workspace/agent-quiet.yaml"},
		Env: map[string]string{
			"TELEMETRYFLOW_ENDPOINT":       proxy.URL,
			"TELEMETRYFLOW_API_KEY_ID":     gw.keyID,
			"TELEMETRYFLOW_API_KEY_SECRET": gw.secret,
			"TELEMETRYFLOW_AGENT_ID":       "agent-9",
			"TELEMETRYFLOW_WORKSPACE_ID":   wsWorkspace,
			"TFOCOL_HOSTMETRICS_INTERVAL":  "1h",
		},
	})
	// A local SDK hands the agent a batch; the agent has it on disk when it answers.
	res, err := e2etest.ExportHTTP(context.Background(), agent.HTTP(nil), e2etest.GenTraces(5, map[string]string{"service.name": "edge"}))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.Status)

	select {
	case <-proxy.held: // the gateway has answered the agent's export; the agent has not heard it
	case <-time.After(30 * time.Second):
		t.Fatal("the agent never exported the batch")
	}
	require.Equal(t, 1.0, wsRequests(t, gw, "accepted"))
	agent.Kill()
	proxy.holding.Store(false)

	agent.Restart(t) // replays the batch it never saw acknowledged
	e2etest.Eventually(t, 30*time.Second, func() bool { return wsRequests(t, gw, "duplicate") >= 1 },
		"the restarted agent never replayed its batch")
	assert.Equal(t, 5, wsSettledSpans(t, sink, 5), "the replay was deduplicated")
	attrs := sink.Traces()[0].ResourceSpans().At(0).Resource().Attributes()
	agentID, _ := attrs.Get("tfo.agent.id")
	assert.Equal(t, "agent-9", agentID.Str())
}
