package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector"
	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
	"github.com/tfocol/tfocol/internal/e2etest"
)

const erOverlay = "tests/e2e/testdata/eventrouter/"

// erPipelines are the router's output pipelines in the overlay, each exporting to its own sink.
var erPipelines = []string{"heartbeats", "compliance", "failures", "rejected", "default"}

// One OTLP request mixing valid and invalid events of all five types with plain logs: each pipeline's sink
// receives exactly its records, rejected ones with their reasons and schema ids, and the collector's own
// metrics count every outcome.
func TestEventRouterRoutesOneMixedRequest(t *testing.T) {
	sinks := map[string]*e2etest.Sink{}
	env := map[string]string{}
	for _, p := range erPipelines {
		sinks[p] = e2etest.NewSink(t)
		env["E2E_SINK_"+strings.ToUpper(p)] = sinks[p].GRPCAddr
	}
	c := e2etest.StartGateway(t, e2etest.Options{Configs: []string{erOverlay + "gateway.yaml"}, Env: env})

	fixtures, err := eventtest.Load(filepath.Join(e2etest.RepoRoot(t), "testdata", "events"))
	require.NoError(t, err)

	// Build the request: two resources; every record tagged by its ObservedTimestamp.
	ld := plog.NewLogs()
	want := map[string][]uint64{}
	byTag := map[uint64]eventtest.Fixture{}
	tag := uint64(0)
	for r := range 2 {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("host.name", fmt.Sprintf("edge-%d", r))
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("tfo-agent")
		for i, fx := range fixtures {
			if i%2 != r {
				continue
			}
			tag++
			lr := sl.LogRecords().AppendEmpty()
			require.NoError(t, fx.CopyTo(lr))
			lr.SetObservedTimestamp(pcommon.Timestamp(tag))
			byTag[tag] = fx
			p := eventtest.GatewayRoute(fx.EventType())
			if fx.Expect.Outcome == "rejected" {
				p = "rejected"
			}
			want[p] = append(want[p], tag)
		}
		for range 3 {
			tag++
			lr := sl.LogRecords().AppendEmpty()
			lr.Body().SetStr("GET /healthz 200")
			lr.SetObservedTimestamp(pcommon.Timestamp(tag))
			want["default"] = append(want["default"], tag)
		}
	}
	total := int(tag)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e2etest.ExportGRPC(ctx, c.GRPC(c.Headers()), ld))

	e2etest.Eventually(t, 10*time.Second, func() bool {
		n := 0
		for _, s := range sinks {
			n += s.LogRecordCount()
		}
		return n >= total
	}, "all %d records exported", total)

	for _, p := range erPipelines {
		var got []uint64
		for _, batch := range sinks[p].Logs() {
			for i := 0; i < batch.ResourceLogs().Len(); i++ {
				rl := batch.ResourceLogs().At(i)
				host, _ := rl.Resource().Attributes().Get("host.name")
				assert.True(t, strings.HasPrefix(host.Str(), "edge-"), "resource kept")
				for j := 0; j < rl.ScopeLogs().Len(); j++ {
					sl := rl.ScopeLogs().At(j)
					assert.Equal(t, "tfo-agent", sl.Scope().Name(), "scope kept")
					for k := 0; k < sl.LogRecords().Len(); k++ {
						lr := sl.LogRecords().At(k)
						tg := uint64(lr.ObservedTimestamp())
						got = append(got, tg)
						reason, hasReason := lr.Attributes().Get(eventrouterconnector.AttrRejectionReason)
						schemaID, hasID := lr.Attributes().Get(eventrouterconnector.AttrSchemaID)
						if p != "rejected" {
							assert.False(t, hasReason || hasID, "record %d in %s is annotated", tg, p)
							continue
						}
						fx := byTag[tg]
						if assert.True(t, hasReason && hasID, fx.Name) {
							assert.Equal(t, fx.Expect.Reason, reason.Str(), fx.Name)
							assert.True(t, strings.HasPrefix(schemaID.Str(), "urn:tfocol:schema:"), schemaID.Str())
						}
					}
				}
			}
		}
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		assert.Equal(t, want[p], got, "records in pipeline %s", p)
	}

	// The collector's own metrics: events by router, type and outcome, rejections by type and reason. The
	// ingest router (event_router) checks every record and passes all of it on to the log ("default");
	// the overlay's consumer-side router (event_router/routes) checks them again and routes them.
	wantEvents := map[[3]string]float64{{"event_router", "none", "default"}: 6, {"event_router/routes", "none", "default"}: 6}
	wantRejections := map[[2]string]float64{}
	for _, fx := range fixtures {
		wantEvents[[3]string{"event_router/routes", fx.EventType(), fx.Expect.Outcome}]++
		ingest := fx.Expect.Outcome
		if ingest == "routed" {
			ingest = "default"
		}
		wantEvents[[3]string{"event_router", fx.EventType(), ingest}]++
		if fx.Expect.Outcome == "rejected" {
			wantRejections[[2]string{fx.EventType(), fx.Expect.Label}]++
		}
	}
	e2etest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(c.ScrapeMetrics(t), "tfocol_event_router_events")
	}, "event_router metrics exposed")
	scrape := c.ScrapeMetrics(t)
	for k, n := range wantEvents {
		got, found := e2etest.MetricSum(t, scrape, "tfocol_event_router_events_total", map[string]string{"router": k[0], "event_type": k[1], "outcome": k[2]})
		assert.True(t, found, "events %v", k)
		assert.Equal(t, n, got, "events %v", k)
	}
	for _, router := range []string{"event_router", "event_router/routes"} {
		for k, n := range wantRejections {
			got, found := e2etest.MetricSum(t, scrape, "tfocol_event_router_rejections_total", map[string]string{"router": router, "event_type": k[0], "reason": k[1]})
			assert.True(t, found, "rejections %s %v", router, k)
			assert.Equal(t, n, got, "rejections %s %v", router, k)
		}
		rejected, _ := e2etest.MetricSum(t, scrape, "tfocol_event_router_rejections_total", map[string]string{"router": router})
		assert.Equal(t, float64(len(want["rejected"])), rejected, "schema rejection count of %s", router)
	}
}

// A contract that is not a valid JSON Schema fails `tfocol validate`, naming the file and the reason.
func TestEventRouterBrokenSchemaFailsValidate(t *testing.T) {
	bin := e2etest.Binary(t)
	cmd := exec.Command(bin, "validate",
		"--config", "configs/gateway.yaml",
		"--config", erOverlay+"gateway.yaml",
		"--config", erOverlay+"broken-schema.yaml")
	cmd.Dir = e2etest.RepoRoot(t)
	cmd.Env = erValidateEnv(t)
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "validate must fail:\n%s", out)
	assert.Contains(t, string(out), "tests/e2e/testdata/eventrouter/broken.schema.json")
	assert.Contains(t, string(out), "at '/properties/body/required': got string, want array")

	// The same configuration without the broken contract is fine.
	cmd = exec.Command(bin, "validate", "--config", "configs/gateway.yaml", "--config", erOverlay+"gateway.yaml")
	cmd.Dir = e2etest.RepoRoot(t)
	cmd.Env = erValidateEnv(t)
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// erValidateEnv is the shipped validate environment plus the overlay's sink addresses.
func erValidateEnv(t *testing.T) []string {
	env := validateEnv(t)
	for _, p := range erPipelines {
		env = append(env, "E2E_SINK_"+strings.ToUpper(p)+"=127.0.0.1:1")
	}
	return env
}
