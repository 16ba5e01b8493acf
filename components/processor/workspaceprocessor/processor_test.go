package workspaceprocessor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/components/processor/workspaceprocessor/internal/metadata"
	"github.com/tfocol/tfocol/internal/principal"
)

const (
	testWS      = "0b6f7c1e-7f4e-4a43-9a55-2f8f2f5b6a01"
	testOtherWS = "5d1c2a9e-2b7a-4c47-8f1d-3c8e9b0a7d22"
)

func defaultConfig() *Config { return createDefaultConfig().(*Config) }

// testProcessors are the three signal instances of one configured processor.
type testProcessors struct {
	traces  processor.Traces
	metrics processor.Metrics
	logs    processor.Logs
	tel     *componenttest.Telemetry
}

type nexts struct {
	traces  consumer.Traces
	metrics consumer.Metrics
	logs    consumer.Logs
}

func startProcessors(t *testing.T, cfg *Config, host component.Host, next nexts) *testProcessors {
	t.Helper()
	if next.traces == nil {
		next.traces = consumertest.NewNop()
	}
	if next.metrics == nil {
		next.metrics = consumertest.NewNop()
	}
	if next.logs == nil {
		next.logs = consumertest.NewNop()
	}
	if host == nil {
		host = componenttest.NewNopHost()
	}
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	f := NewFactory()
	ctx := context.Background()
	tp, err := f.CreateTraces(ctx, set, cfg, next.traces)
	require.NoError(t, err)
	mp, err := f.CreateMetrics(ctx, set, cfg, next.metrics)
	require.NoError(t, err)
	lp, err := f.CreateLogs(ctx, set, cfg, next.logs)
	require.NoError(t, err)
	for _, c := range []component.Component{tp, mp, lp} {
		require.NoError(t, c.Start(ctx, host))
	}
	t.Cleanup(func() {
		for _, c := range []component.Component{tp, mp, lp} {
			assert.NoError(t, c.Shutdown(context.Background()))
		}
	})
	return &testProcessors{traces: tp, metrics: mp, logs: lp, tel: tel}
}

// reqCtx is the context the OTLP receiver builds with include_metadata: true (and tfo_auth, if p is set).
func reqCtx(headers map[string]string, p *principal.Principal) context.Context {
	md := map[string][]string{}
	for k, v := range headers {
		md[k] = []string{v}
	}
	info := client.Info{Metadata: client.NewMetadata(md)}
	if p != nil {
		info.Auth = p
	}
	return client.NewContext(context.Background(), info)
}

func wsHeaders(kv ...string) map[string]string {
	h := map[string]string{"X-Workspace-Id": testWS}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

// newTraces builds a fresh batch, as the receiver would unmarshal it for each request.
func newTraces(spanName string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName(spanName)
	span.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	span.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	return td
}

func newMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("requests")
	m.SetEmptySum().DataPoints().AppendEmpty().SetIntValue(3)
	return md
}

func newLogs(body string) plog.Logs {
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(body)
	return ld
}

func requireCode(t *testing.T, err error, want codes.Code) *status.Status {
	t.Helper()
	require.Error(t, err)
	st, ok := status.FromError(err)
	require.True(t, ok, "not a gRPC status error: %v", err)
	require.Equal(t, want, st.Code(), st.Message())
	return st
}

func resourceAttr(t *testing.T, td ptrace.Traces, name string) (string, bool) {
	t.Helper()
	v, ok := td.ResourceSpans().At(0).Resource().Attributes().Get(name)
	if !ok {
		return "", false
	}
	return v.Str(), true
}

func TestWorkspaceHeader(t *testing.T) {
	sink := &consumertest.TracesSink{}
	p := startProcessors(t, defaultConfig(), nil, nexts{traces: sink})

	t.Run("missing is rejected", func(t *testing.T) {
		st := requireCode(t, p.traces.ConsumeTraces(reqCtx(nil, nil), newTraces("a")), codes.InvalidArgument)
		assert.Contains(t, st.Message(), "x-workspace-id")
	})
	for _, bad := range []string{"not-a-uuid", "0b6f7c1e7f4e4a439a552f8f2f5b6a01", "{0b6f7c1e-7f4e-4a43-9a55-2f8f2f5b6a01}",
		"urn:uuid:0b6f7c1e-7f4e-4a43-9a55-2f8f2f5b6a01", "0b6f7c1e-7f4e-4a43-9a55-2f8f2f5b6a0z"} {
		t.Run("malformed "+bad, func(t *testing.T) {
			err := p.traces.ConsumeTraces(reqCtx(map[string]string{"x-workspace-id": bad}, nil), newTraces("a"))
			requireCode(t, err, codes.InvalidArgument)
		})
	}
	t.Run("conflicting repeated headers are rejected", func(t *testing.T) {
		ctx := client.NewContext(context.Background(), client.Info{Metadata: client.NewMetadata(map[string][]string{
			"x-workspace-id": {testWS, testOtherWS},
		})})
		requireCode(t, p.traces.ConsumeTraces(ctx, newTraces("a")), codes.InvalidArgument)
	})
	assert.Equal(t, 0, sink.SpanCount())

	t.Run("any header case, stamped in canonical form", func(t *testing.T) {
		for _, name := range []string{"X-Workspace-Id", "x-workspace-id", "X-WORKSPACE-ID"} {
			sink.Reset()
			ctx := reqCtx(map[string]string{name: strings.ToUpper(testWS)}, nil)
			require.NoError(t, p.traces.ConsumeTraces(ctx, newTraces("a")))
			require.Len(t, sink.AllTraces(), 1)
			ws, ok := resourceAttr(t, sink.AllTraces()[0], attrWorkspaceID)
			require.True(t, ok)
			assert.Equal(t, testWS, ws)
		}
	})
	t.Run("client cannot spoof the workspace attribute", func(t *testing.T) {
		sink.Reset()
		td := newTraces("a")
		td.ResourceSpans().At(0).Resource().Attributes().PutStr(attrWorkspaceID, testOtherWS)
		require.NoError(t, p.traces.ConsumeTraces(reqCtx(wsHeaders(), nil), td))
		ws, _ := resourceAttr(t, sink.AllTraces()[0], attrWorkspaceID)
		assert.Equal(t, testWS, ws)
	})
}

func TestWorkspaceOptional(t *testing.T) {
	cfg := defaultConfig()
	cfg.RequireWorkspace = false
	sink := &consumertest.TracesSink{}
	p := startProcessors(t, cfg, nil, nexts{traces: sink})

	td := newTraces("a")
	td.ResourceSpans().At(0).Resource().Attributes().PutStr(attrWorkspaceID, testOtherWS)
	require.NoError(t, p.traces.ConsumeTraces(reqCtx(nil, nil), td))
	require.Len(t, sink.AllTraces(), 1)
	_, ok := resourceAttr(t, sink.AllTraces()[0], attrWorkspaceID)
	assert.False(t, ok, "an unverified client-sent workspace id must not survive")
	// Malformed is still rejected.
	requireCode(t, p.traces.ConsumeTraces(reqCtx(map[string]string{"x-workspace-id": "nope"}, nil), newTraces("a")), codes.InvalidArgument)
}

func TestPrincipal(t *testing.T) {
	traces, metrics, logs := &consumertest.TracesSink{}, &consumertest.MetricsSink{}, &consumertest.LogsSink{}
	p := startProcessors(t, defaultConfig(), nil, nexts{traces: traces, metrics: metrics, logs: logs})
	agent := &principal.Principal{
		Kind: principal.KindAPIKey, Subject: "key-1", KeyID: "key-1", AgentID: "agent-7",
		Workspaces: []string{testWS}, Scopes: []string{principal.SignalTraces, principal.SignalLogs},
	}

	t.Run("member with scope is stamped with agent and key", func(t *testing.T) {
		require.NoError(t, p.traces.ConsumeTraces(reqCtx(wsHeaders(), agent), newTraces("a")))
		td := traces.AllTraces()[0]
		agentID, _ := resourceAttr(t, td, attrAgentID)
		keyID, _ := resourceAttr(t, td, attrKeyID)
		assert.Equal(t, "agent-7", agentID)
		assert.Equal(t, "key-1", keyID)
		require.NoError(t, p.logs.ConsumeLogs(reqCtx(wsHeaders(), agent), newLogs("x")))
		assert.Equal(t, 1, logs.LogRecordCount())
	})
	t.Run("workspace not in the principal is forbidden", func(t *testing.T) {
		ctx := reqCtx(map[string]string{"x-workspace-id": testOtherWS}, agent)
		st := requireCode(t, p.traces.ConsumeTraces(ctx, newTraces("a")), codes.PermissionDenied)
		assert.Contains(t, st.Message(), testOtherWS)
	})
	t.Run("signal not in the scopes is forbidden", func(t *testing.T) {
		st := requireCode(t, p.metrics.ConsumeMetrics(reqCtx(wsHeaders(), agent), newMetrics()), codes.PermissionDenied)
		assert.Contains(t, st.Message(), "metrics")
		assert.Equal(t, 0, metrics.DataPointCount())
	})
	t.Run("wildcards grant everything", func(t *testing.T) {
		admin := &principal.Principal{Kind: principal.KindJWT, Subject: "ops", Workspaces: []string{principal.Wildcard}, Scopes: []string{principal.Wildcard}}
		ctx := reqCtx(map[string]string{"x-workspace-id": testOtherWS}, admin)
		require.NoError(t, p.metrics.ConsumeMetrics(ctx, newMetrics()))
		assert.Equal(t, 1, metrics.DataPointCount())
		// A JWT principal without a key id: a client-sent key id is dropped, not trusted.
		md := newMetrics()
		md.ResourceMetrics().At(0).Resource().Attributes().PutStr(attrKeyID, "forged")
		require.NoError(t, p.metrics.ConsumeMetrics(ctx, md))
		_, ok := metrics.AllMetrics()[1].ResourceMetrics().At(0).Resource().Attributes().Get(attrKeyID)
		assert.False(t, ok)
	})
}

func TestCorrelationID(t *testing.T) {
	sink := &consumertest.TracesSink{}
	p := startProcessors(t, defaultConfig(), nil, nexts{traces: sink})
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for name, tc := range map[string]struct {
		headers map[string]string
		want    string
	}{
		"x-request-id wins":                {wsHeaders("X-Request-Id", "req-42", "traceparent", traceparent), "req-42"},
		"traceparent trace id":             {wsHeaders("traceparent", traceparent), "4bf92f3577b34da6a3ce929d0e0e4736"},
		"invalid traceparent is ignored":   {wsHeaders("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"), ""},
		"oversized x-request-id ignored":   {wsHeaders("x-request-id", strings.Repeat("r", 129), "traceparent", traceparent), "4bf92f3577b34da6a3ce929d0e0e4736"},
		"neither: a generated random id":   {wsHeaders(), ""},
		"uppercase traceparent is invalid": {wsHeaders("traceparent", strings.ToUpper(traceparent)), ""},
	} {
		t.Run(name, func(t *testing.T) {
			sink.Reset()
			require.NoError(t, p.traces.ConsumeTraces(reqCtx(tc.headers, nil), newTraces("a")))
			got, ok := resourceAttr(t, sink.AllTraces()[0], attrCorrelationID)
			require.True(t, ok)
			if tc.want != "" {
				assert.Equal(t, tc.want, got)
				return
			}
			assert.Len(t, got, 36, "a generated UUID")
			require.NoError(t, p.traces.ConsumeTraces(reqCtx(tc.headers, nil), newTraces("a")))
			again, _ := resourceAttr(t, sink.AllTraces()[1], attrCorrelationID)
			assert.NotEqual(t, got, again, "each request gets its own id")
		})
	}
}

func TestIdempotencyDuplicateIsAcknowledgedNotForwarded(t *testing.T) {
	traces, logs := &consumertest.TracesSink{}, &consumertest.LogsSink{}
	p := startProcessors(t, defaultConfig(), nil, nexts{traces: traces, logs: logs})
	ctx := reqCtx(wsHeaders("Idempotency-Key", "batch-0001"), nil)
	for i := 0; i < 5; i++ {
		require.NoError(t, p.traces.ConsumeTraces(ctx, newTraces("a")))
	}
	assert.Equal(t, 1, traces.SpanCount())

	// Same key in another workspace is another key.
	other := reqCtx(map[string]string{"x-workspace-id": testOtherWS, "idempotency-key": "batch-0001"}, nil)
	require.NoError(t, p.traces.ConsumeTraces(other, newTraces("a")))
	assert.Equal(t, 2, traces.SpanCount())

	// The store is shared by the signals: the key is taken, and a logs payload is a different payload.
	st := requireCode(t, p.logs.ConsumeLogs(ctx, newLogs("x")), codes.InvalidArgument)
	assert.Contains(t, st.Message(), "different payload")
	assert.Equal(t, 0, logs.LogRecordCount())
}

func TestIdempotencyPayloadMismatch(t *testing.T) {
	sink := &consumertest.TracesSink{}
	p := startProcessors(t, defaultConfig(), nil, nexts{traces: sink})
	ctx := reqCtx(wsHeaders("Idempotency-Key", "k1"), nil)
	require.NoError(t, p.traces.ConsumeTraces(ctx, newTraces("a")))
	st := requireCode(t, p.traces.ConsumeTraces(ctx, newTraces("b")), codes.InvalidArgument)
	assert.Equal(t, "Idempotency-Key was already used for a different payload", st.Message())
	assert.Equal(t, 1, sink.SpanCount())

	// The fingerprint is taken before stamping: a request's own correlation id does not change it.
	ctx2 := reqCtx(wsHeaders("Idempotency-Key", "k2", "x-request-id", "first"), nil)
	require.NoError(t, p.traces.ConsumeTraces(ctx2, newTraces("a")))
	ctx2 = reqCtx(wsHeaders("Idempotency-Key", "k2", "x-request-id", "retry"), nil)
	require.NoError(t, p.traces.ConsumeTraces(ctx2, newTraces("a")))
	assert.Equal(t, 2, sink.SpanCount())
}

func TestIdempotencyPayloadCheckOff(t *testing.T) {
	cfg := defaultConfig()
	cfg.Idempotency.CheckPayload = false
	sink := &consumertest.TracesSink{}
	p := startProcessors(t, cfg, nil, nexts{traces: sink})
	ctx := reqCtx(wsHeaders("Idempotency-Key", "k1"), nil)
	require.NoError(t, p.traces.ConsumeTraces(ctx, newTraces("a")))
	require.NoError(t, p.traces.ConsumeTraces(ctx, newTraces("b")), "without payload checks the key alone decides")
	assert.Equal(t, 1, sink.SpanCount())
}

func TestIdempotencyKeyValidation(t *testing.T) {
	sink := &consumertest.TracesSink{}
	p := startProcessors(t, defaultConfig(), nil, nexts{traces: sink})
	for name, key := range map[string]string{
		"too long":      strings.Repeat("k", 256),
		"control char":  "abc\x01",
		"non-ASCII":     "clé",
		"only spaces":   "   ",
		"DEL character": "abc\x7f",
	} {
		t.Run(name, func(t *testing.T) {
			st := requireCode(t, p.traces.ConsumeTraces(reqCtx(wsHeaders("Idempotency-Key", key), nil), newTraces("a")), codes.InvalidArgument)
			assert.Contains(t, st.Message(), "Idempotency-Key")
		})
	}
	assert.Equal(t, 0, sink.SpanCount())
	for _, key := range []string{"k", strings.Repeat("k", 255), "a b~!{}"} {
		require.NoError(t, p.traces.ConsumeTraces(reqCtx(wsHeaders("IDEMPOTENCY-KEY", key), nil), newTraces("a")))
	}
	assert.Equal(t, 3, sink.SpanCount())
}

func TestIdempotencyKeyOptionalOrRequired(t *testing.T) {
	sink := &consumertest.TracesSink{}
	p := startProcessors(t, defaultConfig(), nil, nexts{traces: sink})
	for i := 0; i < 3; i++ {
		require.NoError(t, p.traces.ConsumeTraces(reqCtx(wsHeaders(), nil), newTraces("a")))
	}
	assert.Equal(t, 3, sink.SpanCount(), "without a key nothing is deduplicated")

	cfg := defaultConfig()
	cfg.Idempotency.RequireIdempotencyKey = true
	strict := startProcessors(t, cfg, nil, nexts{})
	st := requireCode(t, strict.traces.ConsumeTraces(reqCtx(wsHeaders(), nil), newTraces("a")), codes.InvalidArgument)
	assert.Contains(t, st.Message(), "Idempotency-Key")
}

// blockingTraces holds every call until released, counting deliveries.
type blockingTraces struct {
	entered   chan struct{}
	release   chan struct{}
	delivered atomic.Int32
}

func (b *blockingTraces) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (b *blockingTraces) ConsumeTraces(context.Context, ptrace.Traces) error {
	b.entered <- struct{}{}
	<-b.release
	b.delivered.Add(1)
	return nil
}

func TestIdempotencyInFlightIsRetryableRefusal(t *testing.T) {
	next := &blockingTraces{entered: make(chan struct{}, 10), release: make(chan struct{})}
	cfg := defaultConfig()
	cfg.Idempotency.RetryAfter = 2 * time.Second
	p := startProcessors(t, cfg, nil, nexts{traces: next})
	ctx := reqCtx(wsHeaders("Idempotency-Key", "slow"), nil)

	firstDone := make(chan error, 1)
	go func() { firstDone <- p.traces.ConsumeTraces(ctx, newTraces("a")) }()
	<-next.entered

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.traces.ConsumeTraces(ctx, newTraces("a"))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		st := requireCode(t, err, codes.Unavailable)
		require.Len(t, st.Details(), 1)
		info, ok := st.Details()[0].(*errdetails.RetryInfo)
		require.True(t, ok)
		assert.Equal(t, 2*time.Second, info.GetRetryDelay().AsDuration())
	}
	close(next.release)
	require.NoError(t, <-firstDone)
	require.NoError(t, p.traces.ConsumeTraces(ctx, newTraces("a")))
	assert.Equal(t, int32(1), next.delivered.Load())
}

func TestIdempotencyDownstreamFailureReleasesKey(t *testing.T) {
	sink := &consumertest.TracesSink{}
	var calls atomic.Int32
	downstreamErr := status.Error(codes.ResourceExhausted, "exporter queue is full")
	next, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		if calls.Add(1) == 1 {
			return downstreamErr
		}
		return sink.ConsumeTraces(ctx, td)
	})
	require.NoError(t, err)
	p := startProcessors(t, defaultConfig(), nil, nexts{traces: next})
	ctx := reqCtx(wsHeaders("Idempotency-Key", "retry-me"), nil)

	err = p.traces.ConsumeTraces(ctx, newTraces("a"))
	assert.Equal(t, downstreamErr, err, "the downstream error reaches the client unchanged")
	require.NoError(t, p.traces.ConsumeTraces(ctx, newTraces("a")), "the retry goes through")
	require.NoError(t, p.traces.ConsumeTraces(ctx, newTraces("a")), "and later replays are duplicates")
	assert.Equal(t, 1, sink.SpanCount())
	assert.Equal(t, int32(2), calls.Load())
}

func TestIdempotencyClientCancellationStillCompletes(t *testing.T) {
	sink := &consumertest.TracesSink{}
	ctx, cancel := context.WithCancel(reqCtx(wsHeaders("Idempotency-Key", "gone"), nil))
	next, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		cancel() // the client hangs up while the exporter is writing
		return sink.ConsumeTraces(ctx, td)
	})
	require.NoError(t, err)
	p := startProcessors(t, defaultConfig(), nil, nexts{traces: next})
	require.NoError(t, p.traces.ConsumeTraces(ctx, newTraces("a")))
	require.NoError(t, p.traces.ConsumeTraces(reqCtx(wsHeaders("Idempotency-Key", "gone"), nil), newTraces("a")))
	assert.Equal(t, 1, sink.SpanCount())
}

func TestAllSignalsStampAndDeduplicate(t *testing.T) {
	traces, metrics, logs := &consumertest.TracesSink{}, &consumertest.MetricsSink{}, &consumertest.LogsSink{}
	p := startProcessors(t, defaultConfig(), nil, nexts{traces: traces, metrics: metrics, logs: logs})
	for i := 0; i < 3; i++ {
		require.NoError(t, p.traces.ConsumeTraces(reqCtx(wsHeaders("Idempotency-Key", "t"), nil), newTraces("a")))
		require.NoError(t, p.metrics.ConsumeMetrics(reqCtx(wsHeaders("Idempotency-Key", "m"), nil), newMetrics()))
		require.NoError(t, p.logs.ConsumeLogs(reqCtx(wsHeaders("Idempotency-Key", "l"), nil), newLogs("x")))
	}
	require.Len(t, traces.AllTraces(), 1)
	require.Len(t, metrics.AllMetrics(), 1)
	require.Len(t, logs.AllLogs(), 1)
	for _, attrs := range []pcommon.Map{
		traces.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes(),
		metrics.AllMetrics()[0].ResourceMetrics().At(0).Resource().Attributes(),
		logs.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes(),
	} {
		ws, _ := attrs.Get(attrWorkspaceID)
		assert.Equal(t, testWS, ws.Str())
		_, ok := attrs.Get(attrCorrelationID)
		assert.True(t, ok)
	}
}

func TestFingerprintIgnoresWireEncoding(t *testing.T) {
	td := newTraces("a")
	pb, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	js, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	fromPB, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(pb)
	require.NoError(t, err)
	fromJSON, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(js)
	require.NoError(t, err)
	assert.Equal(t, fingerprintTraces(fromPB), fingerprintTraces(fromJSON))
	assert.NotEqual(t, fingerprintTraces(fromPB), fingerprintTraces(newTraces("b")))
	assert.NotZero(t, fingerprintLogs(newLogs("x")))
	assert.NotZero(t, fingerprintMetrics(newMetrics()))
}

// requestCounts returns tfocol_workspace_requests by "outcome/workspace".
func requestCounts(t *testing.T, tel *componenttest.Telemetry) map[string]int64 {
	t.Helper()
	m, err := tel.GetMetric("tfocol_workspace_requests")
	require.NoError(t, err)
	out := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		outcome, _ := dp.Attributes.Value("outcome")
		ws, _ := dp.Attributes.Value("workspace")
		out[outcome.AsString()+"/"+ws.AsString()] += dp.Value
	}
	return out
}

func TestMetrics(t *testing.T) {
	cfg := defaultConfig()
	cfg.Telemetry.MaxWorkspaces = 1
	next := &blockingTraces{entered: make(chan struct{}, 10), release: make(chan struct{})}
	failing, err := consumer.NewLogs(func(context.Context, plog.Logs) error { return errors.New("disk full") })
	require.NoError(t, err)
	p := startProcessors(t, cfg, nil, nexts{traces: next, logs: failing})

	ctx := reqCtx(wsHeaders("Idempotency-Key", "k"), nil)
	done := make(chan error, 1)
	go func() { done <- p.traces.ConsumeTraces(ctx, newTraces("a")) }()
	<-next.entered
	requireCode(t, p.traces.ConsumeTraces(ctx, newTraces("a")), codes.Unavailable)
	close(next.release)
	require.NoError(t, <-done)
	require.NoError(t, p.traces.ConsumeTraces(ctx, newTraces("a")))
	requireCode(t, p.traces.ConsumeTraces(ctx, newTraces("b")), codes.InvalidArgument)
	requireCode(t, p.traces.ConsumeTraces(reqCtx(nil, nil), newTraces("a")), codes.InvalidArgument)
	require.Error(t, p.logs.ConsumeLogs(reqCtx(wsHeaders(), nil), newLogs("x")))
	// A second workspace is over the label budget of 1.
	go func() { <-next.entered }()
	require.NoError(t, p.traces.ConsumeTraces(reqCtx(map[string]string{"x-workspace-id": testOtherWS}, nil), newTraces("a")))

	assert.Equal(t, map[string]int64{
		"accepted/" + testWS:           1,
		"in_flight_conflict/" + testWS: 1,
		"duplicate/" + testWS:          1,
		"mismatch/" + testWS:           1,
		"rejected/_none":               1,
		"downstream_error/" + testWS:   1,
		"accepted/_other":              1,
	}, requestCounts(t, p.tel))

	hist, err := p.tel.GetMetric("tfocol_workspace_store_duration")
	require.NoError(t, err)
	ops := map[string]uint64{}
	for _, dp := range hist.Data.(metricdata.Histogram[float64]).DataPoints {
		op, _ := dp.Attributes.Value("operation")
		store, _ := dp.Attributes.Value("store")
		assert.Equal(t, "memory", store.AsString())
		ops[op.AsString()] += dp.Count
	}
	assert.Equal(t, map[string]uint64{"begin": 4, "complete": 1}, ops)
}

// countingTraces counts deliveries; callers read the count after the calls returned.
func countingTraces(n *int) consumer.Traces {
	var mu sync.Mutex
	c, _ := consumer.NewTraces(func(context.Context, ptrace.Traces) error {
		mu.Lock()
		*n++
		mu.Unlock()
		return nil
	})
	return c
}

func TestWarnsOnceWhenReceiverDropsMetadata(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	set := processortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	tp, err := NewFactory().CreateTraces(context.Background(), set, defaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, tp.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { assert.NoError(t, tp.Shutdown(context.Background())) }()

	for i := 0; i < 3; i++ {
		requireCode(t, tp.ConsumeTraces(context.Background(), newTraces("a")), codes.InvalidArgument)
	}
	require.Equal(t, 1, logs.FilterMessageSnippet("include_metadata").Len())
	requireCode(t, tp.ConsumeTraces(reqCtx(map[string]string{"x-other": "1"}, nil), newTraces("a")), codes.InvalidArgument)
	assert.Equal(t, 1, logs.Len())
}
