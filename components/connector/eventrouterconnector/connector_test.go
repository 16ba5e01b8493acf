package eventrouterconnector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/internal/metadata"
)

func logsID(name string) pipeline.ID { return pipeline.NewIDWithName(pipeline.SignalLogs, name) }

// gatewayConfig is the routing table configs/gateway.yaml ships.
func gatewayConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Schemas = seedSchemas
	cfg.Routes = []RouteConfig{
		{Events: []string{"HostHeartbeat"}, Pipelines: []pipeline.ID{logsID("heartbeats")}},
		{Events: []string{"PatchCompliance"}, Pipelines: []pipeline.ID{logsID("compliance")}},
		{Events: []string{"BackupFailure", "ServiceDegraded", "PipelineFailure"}, Pipelines: []pipeline.ID{logsID("failures")}},
	}
	cfg.DefaultPipelines = []pipeline.ID{logsID("default")}
	cfg.RejectedPipelines = []pipeline.ID{logsID("rejected")}
	return cfg
}

type harness struct {
	conn  connector.Logs
	sinks map[string]*consumertest.LogsSink
	tel   *componenttest.Telemetry
}

// newHarness builds the connector behind a real router with one sink per pipeline name.
func newHarness(t *testing.T, cfg *Config, pipelines ...string) *harness {
	t.Helper()
	require.NoError(t, cfg.Validate())
	h := &harness{sinks: map[string]*consumertest.LogsSink{}, tel: componenttest.NewTelemetry()}
	t.Cleanup(func() { require.NoError(t, h.tel.Shutdown(context.Background())) })
	consumers := map[pipeline.ID]consumer.Logs{}
	for _, p := range pipelines {
		h.sinks[p] = new(consumertest.LogsSink)
		consumers[logsID(p)] = h.sinks[p]
	}
	set := connectortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	conn, err := NewFactory().CreateLogsToLogs(context.Background(), set, cfg, connector.NewLogsRouter(consumers))
	require.NoError(t, err)
	require.NoError(t, conn.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, conn.Shutdown(context.Background())) })
	h.conn = conn
	return h
}

// received lists the records a pipeline got, each tagged by its ObservedTimestamp.
type received struct {
	tag      uint64
	record   plog.LogRecord
	resource pcommon.Resource
	scope    pcommon.InstrumentationScope
}

func (h *harness) received(name string) []received {
	var out []received
	for _, ld := range h.sinks[name].AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				sl := rl.ScopeLogs().At(j)
				for k := 0; k < sl.LogRecords().Len(); k++ {
					lr := sl.LogRecords().At(k)
					out = append(out, received{uint64(lr.ObservedTimestamp()), lr, rl.Resource(), sl.Scope()})
				}
			}
		}
	}
	return out
}

func tags(rs []received) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.tag
	}
	return out
}

// counter sums a counter's data points by the values of the given attribute keys, joined with "|".
func counter(t *testing.T, tel *componenttest.Telemetry, name string, keys ...string) map[string]int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok)
	out := map[string]int64{}
	for _, dp := range sum.DataPoints {
		var parts []string
		for _, k := range keys {
			v, _ := dp.Attributes.Value(attribute.Key(k))
			parts = append(parts, v.AsString())
		}
		out[strings.Join(parts, "|")] += dp.Value
	}
	return out
}

// mixedRequest holds all fixtures plus plain logs and an unknown event type, spread over two resources and
// scopes. Each record's ObservedTimestamp is its tag; it returns the fixture behind each tag.
func mixedRequest(t *testing.T, fixtures []eventtest.Fixture) (plog.Logs, map[uint64]eventtest.Fixture, []uint64, []uint64) {
	t.Helper()
	ld := plog.NewLogs()
	byTag := map[uint64]eventtest.Fixture{}
	var plain, unknown []uint64
	tag := uint64(0)
	for r := range 2 {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("host.name", fmt.Sprintf("edge-%d", r))
		for s := range 2 {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(fmt.Sprintf("scope-%d-%d", r, s))
			for i, fx := range fixtures {
				if i%4 != r*2+s {
					continue
				}
				tag++
				lr := sl.LogRecords().AppendEmpty()
				require.NoError(t, fx.CopyTo(lr))
				lr.SetObservedTimestamp(pcommon.Timestamp(tag))
				byTag[tag] = fx
			}
			tag++
			lr := sl.LogRecords().AppendEmpty()
			lr.Body().SetStr("GET /healthz 200")
			lr.SetObservedTimestamp(pcommon.Timestamp(tag))
			plain = append(plain, tag)
			tag++
			lr = sl.LogRecords().AppendEmpty()
			lr.SetEventName("LoginSucceeded")
			lr.SetObservedTimestamp(pcommon.Timestamp(tag))
			unknown = append(unknown, tag)
		}
	}
	return ld, byTag, plain, unknown
}

// One request mixing every fixture, plain logs and unknown events: each pipeline receives exactly its records,
// under their original resource and scope, rejected ones annotated; the counts add up.
func TestRoutesMixedRequest(t *testing.T) {
	h := newHarness(t, gatewayConfig(), "heartbeats", "compliance", "failures", "default", "rejected")
	fixtures := loadFixtures(t)
	ld, byTag, plain, unknown := mixedRequest(t, fixtures)
	require.NoError(t, h.conn.ConsumeLogs(context.Background(), ld))

	want := map[string][]uint64{"default": append(append([]uint64{}, plain...), unknown...)}
	for tag := uint64(1); tag <= uint64(len(byTag)+len(plain)+len(unknown)); tag++ {
		fx, ok := byTag[tag]
		if !ok {
			continue
		}
		p := eventtest.GatewayRoute(fx.EventType())
		if fx.Expect.Outcome == "rejected" {
			p = "rejected"
		}
		want[p] = append(want[p], tag)
	}
	for _, p := range []string{"heartbeats", "compliance", "failures", "default", "rejected"} {
		got := h.received(p)
		assert.ElementsMatch(t, want[p], tags(got), "pipeline %s", p)
		assert.LessOrEqual(t, len(h.sinks[p].AllLogs()), 1, "one batch per pipeline per request")
		for _, r := range got {
			// Resource and scope travel with the record.
			host, _ := r.resource.Attributes().Get("host.name")
			assert.True(t, strings.HasPrefix(host.Str(), "edge-"))
			assert.True(t, strings.HasPrefix(r.scope.Name(), "scope-"+strings.TrimPrefix(host.Str(), "edge-")))

			reason, hasReason := r.record.Attributes().Get(AttrRejectionReason)
			schemaID, hasID := r.record.Attributes().Get(AttrSchemaID)
			if p != "rejected" {
				assert.False(t, hasReason || hasID, "only rejected records are annotated")
				continue
			}
			fx := byTag[r.tag]
			require.True(t, hasReason && hasID, fx.Name)
			assert.Equal(t, fx.Expect.Reason, reason.Str(), fx.Name)
			assert.Equal(t, h.conn.(*eventRouter).types[fx.EventType()].contract.id, schemaID.Str())
			assert.True(t, strings.HasPrefix(schemaID.Str(), "urn:tfocol:schema:"), schemaID.Str())
		}
	}

	// Metrics: events by type and outcome, rejections by type and reason label.
	wantEvents := map[string]int64{
		"none|default":    int64(len(plain)),
		"unknown|default": int64(len(unknown)),
	}
	wantRejections := map[string]int64{}
	for _, fx := range fixtures {
		typ := fx.EventType()
		wantEvents[typ+"|"+fx.Expect.Outcome]++
		if fx.Expect.Outcome == "rejected" {
			wantRejections[typ+"|"+fx.Expect.Label]++
		}
	}
	assert.Equal(t, wantEvents, counter(t, h.tel, "tfocol_event_router_events", "event_type", "outcome"))
	assert.Equal(t, wantRejections, counter(t, h.tel, "tfocol_event_router_rejections", "event_type", "reason"))
}

// Without rejected_pipelines a violation is dropped, yet still counted.
func TestRejectedWithoutPipelineAreDroppedAndCounted(t *testing.T) {
	cfg := gatewayConfig()
	cfg.RejectedPipelines = nil
	h := newHarness(t, cfg, "heartbeats", "compliance", "failures", "default")
	fixtures := loadFixtures(t)
	ld, byTag, _, _ := mixedRequest(t, fixtures)
	require.NoError(t, h.conn.ConsumeLogs(context.Background(), ld))

	delivered := 0
	for _, p := range []string{"heartbeats", "compliance", "failures"} {
		for _, r := range h.received(p) {
			assert.Equal(t, "routed", byTag[r.tag].Expect.Outcome)
			delivered++
		}
	}
	rejected := 0
	for _, fx := range fixtures {
		if fx.Expect.Outcome == "rejected" {
			rejected++
		}
	}
	assert.Equal(t, len(fixtures)-rejected, delivered)
	total := int64(0)
	for k, n := range counter(t, h.tel, "tfocol_event_router_events", "outcome") {
		if k == "rejected" {
			total += n
		}
	}
	assert.Equal(t, int64(rejected), total)
}

// Without default_pipelines, records no route takes are dropped and counted as such; a valid event of a type
// with a contract but no route takes the default path too.
func TestNoDefaultPipelineDropsUnrouted(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Schemas = seedSchemas
	cfg.Routes = []RouteConfig{{Events: []string{"HostHeartbeat"}, Pipelines: []pipeline.ID{logsID("heartbeats")}}}
	h := newHarness(t, cfg, "heartbeats")

	fxs := loadFixtures(t)
	var valid []eventtest.Fixture
	for _, fx := range fxs {
		if fx.Name == "HostHeartbeat/valid" || fx.Name == "BackupFailure/valid" {
			valid = append(valid, fx)
		}
	}
	ld, err := eventtest.Logs(valid)
	require.NoError(t, err)
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty().Body().SetStr("plain")
	require.NoError(t, h.conn.ConsumeLogs(context.Background(), ld))

	assert.Equal(t, 1, h.sinks["heartbeats"].LogRecordCount())
	assert.Equal(t, map[string]int64{
		"HostHeartbeat|routed":  1,
		"BackupFailure|dropped": 1,
		"none|dropped":          1,
	}, counter(t, h.tel, "tfocol_event_router_events", "event_type", "outcome"))
}

// A request whose records all go one way is passed on whole: plain logs cost no copy.
func TestUniformRequestPassesThrough(t *testing.T) {
	h := newHarness(t, gatewayConfig(), "heartbeats", "compliance", "failures", "default", "rejected")
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := range 10 {
		lrs.AppendEmpty().Body().SetStr(fmt.Sprintf("line %d", i))
	}
	require.NoError(t, h.conn.ConsumeLogs(context.Background(), ld))
	require.Len(t, h.sinks["default"].AllLogs(), 1)
	got := h.sinks["default"].AllLogs()[0]
	// Same underlying data: a change through the received batch is visible in the request.
	got.ResourceLogs().At(0).Resource().Attributes().PutStr("probe", "x")
	_, shared := ld.ResourceLogs().At(0).Resource().Attributes().Get("probe")
	assert.True(t, shared, "uniform request must be forwarded without copying")
	for _, p := range []string{"heartbeats", "compliance", "failures", "rejected"} {
		assert.Zero(t, h.sinks[p].LogRecordCount(), p)
	}
}

func TestEventNameSources(t *testing.T) {
	fx, err := eventtest.LoadFile(fixtureDir + "/HostHeartbeat/valid.json")
	require.NoError(t, err)

	t.Run("custom attribute", func(t *testing.T) {
		cfg := gatewayConfig()
		cfg.EventNameAttribute = "tfo.event.type"
		h := newHarness(t, cfg, "heartbeats", "compliance", "failures", "default", "rejected")
		ld, err := eventtest.Logs([]eventtest.Fixture{fx})
		require.NoError(t, err)
		lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		lr.SetEventName("")
		lr.Attributes().PutStr("tfo.event.type", "HostHeartbeat")
		require.NoError(t, h.conn.ConsumeLogs(context.Background(), ld))
		assert.Equal(t, 1, h.sinks["heartbeats"].LogRecordCount())
	})
	t.Run("EventName only", func(t *testing.T) {
		cfg := gatewayConfig()
		cfg.EventNameAttribute = ""
		h := newHarness(t, cfg, "heartbeats", "compliance", "failures", "default", "rejected")
		ld, err := eventtest.Logs([]eventtest.Fixture{fx})
		require.NoError(t, err)
		lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		lr.SetEventName("")
		lr.Attributes().PutStr("event.name", "HostHeartbeat")
		require.NoError(t, h.conn.ConsumeLogs(context.Background(), ld))
		assert.Equal(t, 1, h.sinks["default"].LogRecordCount())
		assert.Zero(t, h.sinks["heartbeats"].LogRecordCount())
	})
}

// Each route's consumer error reaches the caller (the receiver then answers with a retryable error).
func TestDownstreamErrorIsReturned(t *testing.T) {
	cfg := gatewayConfig()
	boom := errors.New("queue full")
	consumers := map[pipeline.ID]consumer.Logs{}
	for _, p := range []string{"heartbeats", "compliance", "failures", "default", "rejected"} {
		consumers[logsID(p)] = consumertest.NewNop()
	}
	consumers[logsID("heartbeats")] = consumertest.NewErr(boom)
	conn, err := NewFactory().CreateLogsToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, connector.NewLogsRouter(consumers))
	require.NoError(t, err)
	ld, _, _, _ := mixedRequest(t, loadFixtures(t))
	assert.ErrorIs(t, conn.ConsumeLogs(context.Background(), ld), boom)
}

func TestCreateFailsForUnknownPipeline(t *testing.T) {
	consumers := map[pipeline.ID]consumer.Logs{logsID("default"): consumertest.NewNop()}
	_, err := NewFactory().CreateLogsToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), gatewayConfig(), connector.NewLogsRouter(consumers))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "logs/heartbeats")
}

// Reason labels stay bounded even when violations name arbitrary keys.
func TestReasonLabelsAreBounded(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Schemas = map[string]string{"Open": "testdata/open.schema.json"}
	cfg.Routes = []RouteConfig{{Events: []string{"Open"}, Pipelines: []pipeline.ID{logsID("open")}}}
	cfg.RejectedPipelines = []pipeline.ID{logsID("rejected")}
	h := newHarness(t, cfg, "open", "rejected")

	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	const n = maxReasonLabels + 10
	for i := range n {
		lr := lrs.AppendEmpty()
		lr.SetEventName("Open")
		lr.Attributes().PutStr(fmt.Sprintf("key%03d", i), "not an integer")
	}
	require.NoError(t, h.conn.ConsumeLogs(context.Background(), ld))
	assert.Equal(t, n, h.sinks["rejected"].LogRecordCount())
	got := counter(t, h.tel, "tfocol_event_router_rejections", "reason")
	assert.Len(t, got, maxReasonLabels+1)
	total := int64(0)
	for _, c := range got {
		total += c
	}
	assert.Equal(t, int64(n), total)
	assert.Positive(t, got["other"])
}

// Requests routed concurrently (as receivers do) lose nothing and share the pooled scratch and caches safely.
func TestConcurrentRequests(t *testing.T) {
	h := newHarness(t, gatewayConfig(), "heartbeats", "compliance", "failures", "default", "rejected")
	fixtures := loadFixtures(t)
	const workers, rounds = 4, 20
	// Requests are built up front: test helpers may only fail the test from its own goroutine.
	reqs := make([][]plog.Logs, workers)
	for w := range reqs {
		for range rounds {
			ld, _, _, _ := mixedRequest(t, fixtures)
			reqs[w] = append(reqs[w], ld)
		}
	}
	perRequest := reqs[0][0].LogRecordCount()
	done := make(chan error, workers)
	for w := range workers {
		go func() {
			for _, ld := range reqs[w] {
				if err := h.conn.ConsumeLogs(context.Background(), ld); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-done)
	}
	total := 0
	for _, s := range h.sinks {
		total += s.LogRecordCount()
	}
	assert.Equal(t, workers*rounds*perRequest, total)
	rejected := 0
	for _, fx := range fixtures {
		if fx.Expect.Outcome == "rejected" {
			rejected++
		}
	}
	assert.Equal(t, workers*rounds*rejected, h.sinks["rejected"].LogRecordCount())
}

// barrierConsumer blocks until every routed pipeline of the request has been called.
type barrierConsumer struct {
	consumertest.LogsSink
	arrived chan struct{}
	all     chan struct{}
}

func (b *barrierConsumer) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	b.arrived <- struct{}{}
	select {
	case <-b.all:
	case <-time.After(10 * time.Second):
		return errors.New("routed pipelines were called one after another")
	}
	return b.LogsSink.ConsumeLogs(ctx, ld)
}

// A request split over several pipelines waits for the slowest one, not for their sum: a durable exporter shared
// by them (receipt WAL, persistent queue) then commits the parts together.
func TestRoutedPartsAreConsumedConcurrently(t *testing.T) {
	names := []string{"heartbeats", "compliance", "failures", "default", "rejected"}
	arrived, all := make(chan struct{}, len(names)), make(chan struct{})
	consumers := map[pipeline.ID]consumer.Logs{}
	sinks := map[string]*barrierConsumer{}
	for _, p := range names {
		sinks[p] = &barrierConsumer{arrived: arrived, all: all}
		consumers[logsID(p)] = sinks[p]
	}
	conn, err := NewFactory().CreateLogsToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), gatewayConfig(), connector.NewLogsRouter(consumers))
	require.NoError(t, err)
	ld, _, _, _ := mixedRequest(t, loadFixtures(t))
	done := make(chan error, 1)
	go func() { done <- conn.ConsumeLogs(context.Background(), ld) }()
	for range names {
		<-arrived
	}
	close(all)
	require.NoError(t, <-done)
	for _, p := range names {
		assert.Positive(t, sinks[p].LogRecordCount(), p)
	}
}

// At the gateway's ingest the router only checks and annotates: valid and rejected records go to the same
// pipeline (the durable log), so a mixed request must reach it as one call — one log append, not one per route.
func TestSamePipelinesAreOneDestination(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Schemas = seedSchemas
	cfg.DefaultPipelines = []pipeline.ID{logsID("durable")}
	cfg.RejectedPipelines = []pipeline.ID{logsID("durable")}
	h := newHarness(t, cfg, "durable")
	fixtures, err := eventtest.Load(fixtureDir)
	require.NoError(t, err)
	ld, byTag, plain, unknown := mixedRequest(t, fixtures)
	total := ld.LogRecordCount()
	require.NoError(t, h.conn.ConsumeLogs(context.Background(), ld))
	require.Len(t, h.sinks["durable"].AllLogs(), 1, "one call for the whole request")
	assert.Equal(t, total, h.sinks["durable"].AllLogs()[0].LogRecordCount())
	annotated := 0
	for _, r := range h.received("durable") {
		if _, ok := r.record.Attributes().Get(AttrRejectionReason); ok {
			annotated++
			assert.Equal(t, "rejected", byTag[r.tag].Expect.Outcome, "only rejected records are annotated")
		}
	}
	rejected := 0
	for _, fx := range byTag {
		if fx.Expect.Outcome == "rejected" {
			rejected++
		}
	}
	assert.Equal(t, rejected, annotated)
	assert.NotEmpty(t, plain)
	assert.NotEmpty(t, unknown)
}
