package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector"
	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
	"github.com/tfocol/tfocol/internal/e2etest"
)

const policyOverlay = "tests/e2e/testdata/policy/gateway.yaml"

func policyStart(t *testing.T) *e2etest.Gateway {
	t.Helper()
	return e2etest.StartGateway(t, e2etest.Options{Configs: []string{policyOverlay}, ShippedSampling: true,
		Env: map[string]string{"TFOCOL_SAMPLING_DECISION_WAIT": "2s", "TFOCOL_SPANMETRICS_FLUSH_INTERVAL": "1s"}})
}

// policyTraceID is a fixed trace id per (kind, i), so the probabilistic decisions are the same on every run.
func policyTraceID(kind string, i int) pcommon.TraceID {
	sum := sha256.Sum256([]byte(fmt.Sprintf("policy-%s-%d", kind, i)))
	var id pcommon.TraceID
	copy(id[:], sum[:16])
	return id
}

// addTrace appends one trace of `spans` spans of service to td; errSpan marks the last span ERROR, dur is the
// trace's length.
func addTrace(td ptrace.Traces, id pcommon.TraceID, service string, spans int, errSpan bool, dur time.Duration) {
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	now := time.Now()
	for i := range spans {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(id)
		sp.SetSpanID(pcommon.SpanID([8]byte{id[0], id[1], id[2], id[3], 0, 0, 0, byte(i + 1)}))
		sp.SetName(fmt.Sprintf("op-%d", i))
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-dur)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		if errSpan && i == spans-1 {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
	}
}

// traceBatchSpans sums span_count over the obs_trace_batch receipts of every scroll under dir.
func traceBatchSpans(t *testing.T, dir string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*", "receipts", "observability", "observability_events.jsonl"))
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var r struct {
				Type      string `json:"type"`
				SpanCount int    `json:"span_count"`
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
			if r.Type == "obs_trace_batch" {
				n += r.SpanCount
			}
		}
	}
	return n
}

// The shipped sampling rules (seed 004 §6.3) decide what the upstream gets: every error trace, every slow
// trace (> 5 s), every trace of a sensitive service, and about 10 % of the rest. The receipts seal every span
// received and spanmetrics counts every span: sampling happens only in the forward consumer.
func TestPolicySampling(t *testing.T) {
	gw := policyStart(t)
	const nErr, nSlow, nSensitive, nPlain, spans = 6, 6, 6, 300, 2
	td := ptrace.NewTraces()
	keep := map[pcommon.TraceID]string{}
	plain := map[pcommon.TraceID]bool{}
	for i := range nErr {
		id := policyTraceID("err", i)
		addTrace(td, id, "checkout", spans, true, 20*time.Millisecond)
		keep[id] = "error"
	}
	for i := range nSlow {
		id := policyTraceID("slow", i)
		addTrace(td, id, "checkout", spans, false, 6*time.Second)
		keep[id] = "slow"
	}
	for i := range nSensitive {
		id := policyTraceID("sensitive", i)
		addTrace(td, id, []string{"treasury", "identity", "offsec"}[i%3], spans, false, 20*time.Millisecond)
		keep[id] = "sensitive"
	}
	for i := range nPlain {
		id := policyTraceID("plain", i)
		addTrace(td, id, "catalog", spans, false, 20*time.Millisecond)
		plain[id] = true
	}
	total := td.SpanCount()
	ctx := context.Background()
	// In several requests, as SDKs send them.
	for _, part := range splitTraces(td, 4) {
		require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), part))
	}

	// The upstream: every kept trace whole, ~10 % of the plain ones, nothing else.
	e2etest.Eventually(t, 30*time.Second, func() bool {
		got := upstreamTraces(gw.Upstream)
		for id := range keep {
			if got[id] != spans {
				return false
			}
		}
		return true
	}, "upstream got every error, slow and sensitive trace")
	time.Sleep(3 * time.Second) // every decision_wait has passed
	got := upstreamTraces(gw.Upstream)
	keptPlain := 0
	for id, n := range got {
		_, kept := keep[id]
		require.True(t, kept || plain[id], "upstream got an unknown trace")
		assert.Equal(t, spans, n, "a forwarded trace is forwarded whole, once")
		if plain[id] {
			keptPlain++
		}
	}
	t.Logf("plain traces forwarded: %d of %d", keptPlain, nPlain)
	assert.InDelta(t, nPlain/10, keptPlain, float64(nPlain)/10*0.6, "about 10%% of the plain traces are forwarded")
	sampled, _ := e2etest.MetricSum(t, gw.ScrapeMetrics(t), "otelcol_processor_tail_sampling_count_traces_sampled_total", map[string]string{"sampled": "true"})
	t.Logf("tail_sampling traces sampled (per policy): %v", sampled)

	// Receipts seal what was received, spanmetrics counted it all.
	e2etest.Eventually(t, 30*time.Second, func() bool {
		return traceBatchSpans(t, filepath.Join(gw.DataDir, "receipts")) >= total
	}, "receipts seal every span received (%d)", total)
	assert.Equal(t, total, traceBatchSpans(t, filepath.Join(gw.DataDir, "receipts")))
	e2etest.Eventually(t, 30*time.Second, func() bool {
		n, _ := e2etest.MetricSum(t, e2etest.Scrape(t, "http://"+gw.Ports.Prometheus+"/metrics"), "traces_span_metrics_calls_total", nil)
		return n == float64(total)
	}, "spanmetrics counted all %d spans", total)
}

func splitTraces(td ptrace.Traces, parts int) []ptrace.Traces {
	out := make([]ptrace.Traces, parts)
	for i := range out {
		out[i] = ptrace.NewTraces()
	}
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		td.ResourceSpans().At(i).CopyTo(out[i%parts].ResourceSpans().AppendEmpty())
	}
	return out
}

// upstreamTraces counts the spans the sink received per trace id.
func upstreamTraces(s *e2etest.Sink) map[pcommon.TraceID]int {
	got := map[pcommon.TraceID]int{}
	for _, td := range s.Traces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					got[sp.TraceID()]++
				}
			}
		}
	}
	return got
}

// Secrets and PII seeded in every place a payload can carry them are masked at ingest: no pattern survives
// into the upstream's data, the receipts or any file under the data directory (the durable log included), the
// redaction counters count every masked value, and valid events still pass their contracts.
func TestPolicyRedaction(t *testing.T) {
	gw := policyStart(t)
	secrets := map[string]string{
		"bearer":     "Bearer q9Zt7XkLmN2pQr8sVw4y",
		"jwt":        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudC0xIiwid3MiOiJ4In0.c2lnbmF0dXJlLXBvbGljeQ",
		"tfo_secret": gw.KeySecret,
		"aws_key":    "AKIAIOSFODNN7POLICY1",
		"github":     "ghp_1234567890abcdefghijABCDEFGHIJklmnop",
		"stripe":     "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
		"api_key_kv": "api_key=Zx81kd0q2wPolicy",
		"url_pass":   "hunter2policy",
		"card_visa":  "4111 1111 1111 1111",
		"card_mc":    "5555555555554444",
		"card_amex":  "3782-822463-10005",
		"email":      "alice.policy@example.com",
	}
	// A secret without a recognisable shape: masked only where its key names a secret.
	const keyed = "s3cr3t-policy-value"
	require.True(t, strings.HasPrefix(gw.KeySecret, "tfs_"), "the fixture key secret is a TelemetryFlow secret")
	// Where each secret goes; the count is how many attribute values / bodies hold one (the masked count).
	text := func(k string) string {
		switch k {
		case "url_pass":
			return "connecting to postgres://app:" + secrets[k] + "@db.internal:5432/orders"
		default:
			return "value " + secrets[k] + " seen"
		}
	}

	// Traces: each secret in a span attribute, plus one in a resource attribute, one in a span event and one
	// under a secret-named key (masked whole).
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "identity")
	rs.Resource().Attributes().PutStr("deploy.owner", secrets["email"])
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(policyTraceID("redact", 0))
	sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	sp.SetName("login")
	now := time.Now()
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Millisecond)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	maskedTraces := 1
	for k := range secrets {
		sp.Attributes().PutStr("attr."+k, text(k))
		maskedTraces++
	}
	sp.Attributes().PutStr("http.request.header.authorization", "Basic "+keyed)
	sp.Attributes().PutStr("db.password", keyed)
	maskedTraces += 2
	ev := sp.Events().AppendEmpty()
	ev.SetName("exception")
	ev.Attributes().PutStr("exception.message", "token rejected: "+secrets["jwt"])
	maskedTraces++

	// Logs: each secret in a string body, one record with a map body, one in a log attribute.
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	maskedBodies, maskedLogAttrs := 0, 0
	for k := range secrets {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(now))
		lr.Body().SetStr("user login: " + text(k))
		maskedBodies++
	}
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(now))
	m := lr.Body().SetEmptyMap()
	m.PutStr("user", secrets["email"])
	m.PutStr("card", secrets["card_visa"])
	m.PutStr("note", "nothing secret here")
	maskedBodies += 2
	lr.Attributes().PutStr("enduser.email", secrets["email"])
	maskedLogAttrs++

	// Metrics: a data point attribute.
	md := pmetric.NewMetrics()
	g := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("login.attempts")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
	dp.SetIntValue(1)
	dp.Attributes().PutStr("user", secrets["email"])
	maskedMetrics := 1

	// Valid and invalid events: the contract outcome is the same as without redaction.
	fixtures, err := eventtest.Load(filepath.Join(e2etest.RepoRoot(t), "testdata", "events"))
	require.NoError(t, err)
	evLogs := plog.NewLogs()
	esl := evLogs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	rejected := 0
	for _, fx := range fixtures {
		require.NoError(t, fx.CopyTo(esl.LogRecords().AppendEmpty()))
		if fx.Expect.Outcome == "rejected" {
			rejected++
		}
	}

	ctx := context.Background()
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), td))
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), ld))
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), md))
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), evLogs))

	nLogs := ld.LogRecordCount() + evLogs.LogRecordCount()
	e2etest.Eventually(t, 30*time.Second, func() bool {
		return gw.Upstream.SpanCount() >= 1 && gw.Upstream.LogRecordCount() >= nLogs && gw.Upstream.DataPointCount() >= 1
	}, "upstream got everything")
	rcWaitRecords(t, filepath.Join(gw.DataDir, "receipts"), uint64(nLogs+1+1+policyAlerts(fixtures)), 30*time.Second)

	// Counters.
	exp := gw.ScrapeMetrics(t)
	count := func(signal, part string) float64 {
		n, _ := e2etest.MetricSum(t, exp, "tfocol_redaction_masked_total", map[string]string{"signal": signal, "part": part})
		return n
	}
	assert.Equal(t, float64(maskedTraces), count("traces", "attributes"), "masked trace attribute values")
	assert.Equal(t, float64(maskedLogAttrs), count("logs", "attributes"), "masked log attribute values")
	assert.Equal(t, float64(maskedBodies), count("logs", "body"), "masked log body values")
	assert.Equal(t, float64(maskedMetrics), count("metrics", "attributes"), "masked data point attribute values")

	// Events: valid ones stay valid, invalid ones are annotated as before; no bookkeeping attribute is left.
	annotated := 0
	var upstream bytes.Buffer
	for _, b := range gw.Upstream.Logs() {
		for _, rl := range b.ResourceLogs().All() {
			for _, s := range rl.ScopeLogs().All() {
				for _, r := range s.LogRecords().All() {
					if _, ok := r.Attributes().Get(eventrouterconnector.AttrRejectionReason); ok {
						annotated++
					}
					for k := range r.Attributes().All() {
						assert.False(t, strings.HasPrefix(k, "redaction."), "bookkeeping attribute %s left on a record", k)
					}
				}
			}
		}
		raw, err := (&plog.JSONMarshaler{}).MarshalLogs(b)
		require.NoError(t, err)
		upstream.Write(raw)
	}
	assert.Equal(t, rejected, annotated, "redaction changes no event's contract outcome")
	for _, b := range gw.Upstream.Traces() {
		raw, err := (&ptrace.JSONMarshaler{}).MarshalTraces(b)
		require.NoError(t, err)
		upstream.Write(raw)
	}
	for _, b := range gw.Upstream.Metrics() {
		raw, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(b)
		require.NoError(t, err)
		upstream.Write(raw)
	}
	require.Contains(t, upstream.String(), "****", "masked values are forwarded as ****")
	require.Contains(t, upstream.String(), "nothing secret here")

	// No secret anywhere: upstream, and every file under the data directory (log segments, receipts, spools,
	// idempotency state), while the gateway runs and after it stopped.
	secrets["keyed"] = keyed
	check := func(when string) {
		for k, v := range secrets {
			needle := v
			if k == "card_visa" {
				needle = "4111 1111 1111 1111"
			}
			assert.NotContains(t, upstream.String(), needle, "%s: %s reached the upstream", when, k)
			_ = filepath.Walk(gw.DataDir, func(path string, info os.FileInfo, err error) error {
				if err != nil || info.IsDir() {
					return nil
				}
				data, rerr := os.ReadFile(path)
				if rerr == nil && bytes.Contains(data, []byte(needle)) {
					t.Errorf("%s: %s found in %s", when, k, path)
				}
				return nil
			})
		}
	}
	check("running")
	gw.Stop()
	check("stopped")
}

func policyAlerts(fixtures []eventtest.Fixture) int {
	n := 0
	for _, fx := range fixtures {
		switch typ := fx.EventType(); {
		case fx.Expect.Outcome == "rejected":
		case typ == "BackupFailure" || typ == "ServiceDegraded" || typ == "PipelineFailure":
			n++
		}
	}
	return n
}

// The per-workspace overlay: a workspace that opts in (TFOCOL_REDACTION_STRICT_WORKSPACES) also gets IP
// addresses and phone numbers masked; every other workspace only the shipped patterns.
func TestPolicyRedactionWorkspaceOptIn(t *testing.T) {
	const strict = "5f0c1e2d-7a8b-4c9d-8e1f-2a3b4c5d6e7f"
	gw := e2etest.StartGateway(t, e2etest.Options{
		Configs: []string{policyOverlay, "configs/overlays/redaction-workspace.yaml"},
		Env:     map[string]string{"TFOCOL_REDACTION_STRICT_WORKSPACES": "^" + strict + "$"},
	})
	id, secret := e2etest.MintKey(t, gw.KeysFile, strict, "traces,metrics,logs")
	body := "client 10.1.2.3 called +4915112345678, mail bob.policy@example.com"
	logs := func(ws string) plog.Logs {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "web-"+ws)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		lr.Body().SetStr(body)
		lr.Attributes().PutStr("client.address", "10.1.2.3")
		return ld
	}
	ctx := context.Background()
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), logs("default")))
	// The key file is reloaded when it changes.
	e2etest.Eventually(t, 15*time.Second, func() bool {
		return e2etest.ExportGRPC(ctx, gw.GRPC(e2etest.KeyHeaders(id, secret, strict)), logs("strict")) == nil
	}, "the strict workspace's key is loaded")
	e2etest.Eventually(t, 15*time.Second, func() bool { return gw.Upstream.LogRecordCount() >= 2 }, "upstream got both records")
	got := map[string]plog.LogRecord{}
	for _, b := range gw.Upstream.Logs() {
		for _, rl := range b.ResourceLogs().All() {
			svc, _ := rl.Resource().Attributes().Get("service.name")
			got[svc.Str()] = rl.ScopeLogs().At(0).LogRecords().At(0)
		}
	}
	require.Contains(t, got, "web-default")
	require.Contains(t, got, "web-strict")
	assert.Equal(t, "client 10.1.2.3 called +4915112345678, mail ****", got["web-default"].Body().Str())
	assert.Equal(t, "client **** called ****, mail ****", got["web-strict"].Body().Str())
	ip, _ := got["web-default"].Attributes().Get("client.address")
	assert.Equal(t, "10.1.2.3", ip.Str())
	ip, _ = got["web-strict"].Attributes().Get("client.address")
	assert.Equal(t, "****", ip.Str())
}

// tail_sampling has acknowledged the spans before the backend answers, so the exporter of kept traces queues
// and retries: kept traces decided while the backend is down reach it once it is back.
func TestPolicyKeptTracesSurviveBackendOutage(t *testing.T) {
	gw := policyStart(t)
	gw.Upstream.Intercept(func(e2etest.SinkRequest) error { return status.Error(codes.Unavailable, "backend down") })
	td := ptrace.NewTraces()
	for i := range 10 {
		addTrace(td, policyTraceID("outage", i), "checkout", 3, true, 10*time.Millisecond)
	}
	require.NoError(t, e2etest.ExportGRPC(context.Background(), gw.GRPC(gw.Headers()), td))
	time.Sleep(4 * time.Second) // decided (2 s) and refused by the backend at least once
	require.Zero(t, gw.Upstream.SpanCount())
	gw.Upstream.Intercept(nil)
	e2etest.Eventually(t, 30*time.Second, func() bool { return gw.Upstream.SpanCount() >= 30 }, "kept traces reach the backend after the outage")
	time.Sleep(time.Second)
	assert.Equal(t, 30, gw.Upstream.SpanCount(), "each kept span once")
}
