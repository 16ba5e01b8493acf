package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/tfocol/tfocol/internal/e2etest"
)

// validateEnv is the environment a deployment sets; the shipped configs are validated with it.
func validateEnv(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(e2etest.RepoRoot(t), "configs", "validate.env"))
	require.NoError(t, err)
	defer f.Close()
	env := os.Environ()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			env = append(env, line)
		}
	}
	return append(env, "TFOCOL_DATA_DIR="+t.TempDir(), "TFOCOL_CONFIG_DIR="+filepath.Join(e2etest.RepoRoot(t), "configs"))
}

func TestMakeBuildIsCached(t *testing.T) {
	e2etest.Binary(t)
	cmd := exec.Command("make", "-q", "build")
	cmd.Dir = e2etest.RepoRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make -q build says the binary is out of date right after a build: %s", out)
}

func TestEveryShippedConfigValidates(t *testing.T) {
	bin := e2etest.Binary(t)
	configs, err := filepath.Glob(filepath.Join(e2etest.RepoRoot(t), "configs", "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(configs), 2)
	for _, cfg := range configs {
		t.Run(filepath.Base(cfg), func(t *testing.T) {
			// Overlays (gateway-*.yaml, agent-*.yaml) are validated on top of their base config, like `make validate`.
			args := []string{"validate"}
			for _, base := range []string{"gateway", "agent"} {
				if strings.HasPrefix(filepath.Base(cfg), base+"-") {
					args = append(args, "--config", filepath.Join(filepath.Dir(cfg), base+".yaml"))
				}
			}
			cmd := exec.Command(bin, append(args, "--config", cfg)...)
			cmd.Env = validateEnv(t)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "tfocol validate --config %s:\n%s", cfg, out)
		})
	}
}

func TestValidateRejectsABrokenConfig(t *testing.T) {
	bin := e2etest.Binary(t)
	cfg := filepath.Join(t.TempDir(), "broken.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
receivers:
  otlp:
    protocols: {grpc: {endpoint: "127.0.0.1:0"}}
exporters:
  debug: {}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [nosuchexporter]}
`), 0o600))
	out, err := exec.Command(bin, "validate", "--config", cfg).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "nosuchexporter")
}

func TestComponentsListsTheDistribution(t *testing.T) {
	out, err := exec.Command(e2etest.Binary(t), "components").CombinedOutput()
	require.NoError(t, err, "%s", out)
	listed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "- name: "); ok {
			listed[name] = true
		}
	}
	for _, want := range []string{
		"otlp", "hostmetrics", // receivers
		"batch", "memory_limiter", // processors
		"otlp_grpc", "otlp_http", "debug", "prometheus", // exporters
		"spanmetrics",                                     // connectors
		"health_check", "file_storage", "pprof", "zpages", // extensions
	} {
		require.True(t, listed[want], "tfocol components does not list %q:\n%s", want, out)
	}

	version, err := exec.Command(e2etest.Binary(t), "--version").CombinedOutput()
	require.NoError(t, err)
	require.Contains(t, string(version), "tfocol version")
}

// The gateway accepts traces over gRPC and over HTTP with gzip, forwards them upstream, turns them into
// spanmetrics on the Prometheus endpoint, and answers health checks.
func TestGatewayTracesBecomeSpanmetrics(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{
		Env: map[string]string{"TFOCOL_SPANMETRICS_FLUSH_INTERVAL": "1s"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	require.NoError(t, e2etest.SendSpansSDK(ctx, gw.GRPC(gw.Headers()), "checkout-grpc", 7))
	require.NoError(t, e2etest.SendSpansSDK(ctx, gw.HTTP(gw.Headers()), "checkout-http", 5))

	e2etest.Eventually(t, 20*time.Second, func() bool { return gw.Upstream.SpanCount() == 12 },
		"upstream received %d spans, want 12", gw.Upstream.SpanCount())

	promURL := "http://" + gw.Ports.Prometheus + "/metrics"
	calls := func(service string) float64 {
		v, _ := e2etest.MetricSum(t, e2etest.Scrape(t, promURL), "traces_span_metrics_calls_total",
			map[string]string{"service_name": service, "tfo_workspace_id": gw.Workspace})
		return v
	}
	e2etest.Eventually(t, 20*time.Second, func() bool { return calls("checkout-grpc") == 7 && calls("checkout-http") == 5 },
		"spanmetrics calls: grpc=%v http=%v, want 7 and 5", calls("checkout-grpc"), calls("checkout-http"))
	// Per-request attributes (the correlation id) must not become series of their own.
	require.NotContains(t, e2etest.Scrape(t, promURL), "correlation")

	health := e2etest.Scrape(t, "http://"+gw.Ports.Health+"/")
	require.Contains(t, health, `"healthy":true`)

	accepted, ok := e2etest.MetricSum(t, gw.ScrapeMetrics(t), "otelcol_receiver_accepted_spans_total", nil)
	require.True(t, ok, "the collector's own metrics lack otelcol_receiver_accepted_spans_total")
	require.Equal(t, 12.0, accepted)
}

// An agent forwards host metrics to a gateway. While the gateway is down the agent buffers on disk; the agent
// is restarted during the outage; when the gateway is back everything buffered arrives, once.
func TestAgentBuffersThroughGatewayOutageAndRestart(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{})
	env := gw.AgentEnv()
	env["TFOCOL_HOSTMETRICS_INTERVAL"] = "1s"
	agent := e2etest.Start(t, e2etest.Options{Name: "agent", Configs: []string{"configs/agent.yaml"}, Env: env})
	upstream := gw.Upstream

	hostMetricNames := func() map[string]bool {
		names := map[string]bool{}
		for _, md := range upstream.Metrics() {
			forEachMetric(md, func(m pmetric.Metric, _ pcommon.Map) { names[m.Name()] = true })
		}
		return names
	}
	e2etest.Eventually(t, 30*time.Second, func() bool {
		n := hostMetricNames()
		return n["system.cpu.time"] && n["system.memory.usage"] && n["system.network.io"] &&
			n["system.cpu.load_average.1m"] && n["system.disk.io"] && n["system.filesystem.usage"] && n["system.processes.count"]
	}, "host metrics did not reach the gateway's upstream: %v", hostMetricNames())

	gw.Stop()
	outageStart := time.Now()

	// Local SDK data sent to the agent during the outage: each data point is numbered.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const perRequest, requests = 50, 4
	for i := range requests {
		require.NoError(t, e2etest.SendMetricsSDK(ctx, agent.GRPC(nil), "outage-app-"+string(rune('a'+i)), perRequest))
	}
	time.Sleep(3 * time.Second) // host metrics keep being collected into the queue

	agent.Restart(t) // graceful restart: the durable log keeps what it holds
	time.Sleep(2 * time.Second)
	outageEnd := time.Now()
	gw.Restart(t)

	outagePoints := func() (sdkPoints int, hostPointsDuringOutage int) {
		for _, md := range upstream.Metrics() {
			forEachMetric(md, func(m pmetric.Metric, res pcommon.Map) {
				svc, _ := res.Get("service.name")
				if m.Name() == "e2e.requests" && strings.HasPrefix(svc.Str(), "outage-app-") {
					sdkPoints += m.Sum().DataPoints().Len()
				}
				if m.Name() == "system.memory.usage" {
					dps := m.Sum().DataPoints()
					for i := range dps.Len() {
						ts := dps.At(i).Timestamp().AsTime()
						if ts.After(outageStart) && ts.Before(outageEnd) {
							hostPointsDuringOutage++
						}
					}
				}
			})
		}
		return
	}
	e2etest.Eventually(t, 60*time.Second, func() bool {
		sdk, host := outagePoints()
		return sdk >= perRequest*requests && host > 0
	}, "buffered data did not arrive after the outage")

	time.Sleep(2 * time.Second) // let any duplicate show up
	sdk, host := outagePoints()
	require.Equal(t, perRequest*requests, sdk, "SDK data points sent during the outage: lost or duplicated")
	require.Positive(t, host, "no host metrics collected during the outage arrived")
}

func forEachMetric(md pmetric.Metrics, fn func(pmetric.Metric, pcommon.Map)) {
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		rm := rms.At(i)
		sms := rm.ScopeMetrics()
		for j := range sms.Len() {
			ms := sms.At(j).Metrics()
			for k := range ms.Len() {
				fn(ms.At(k), rm.Resource().Attributes())
			}
		}
	}
}
