package edgereceiver

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector"
	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
	"github.com/tfocol/tfocol/components/receiver/edgereceiver/edgetest"
)

var eventTime = time.Date(2026, 1, 1, 1, 17, 42, 0, time.UTC)

func loadEdgeFixtures(t *testing.T) ([]eventtest.Fixture, []any) {
	t.Helper()
	all, err := eventtest.Load(filepath.Join("..", "..", "..", "testdata", "events"))
	require.NoError(t, err)
	var fixtures []eventtest.Fixture
	var events []any
	for _, fx := range all {
		if ev, ok := edgetest.Event(fx, eventTime); ok {
			fixtures, events = append(fixtures, fx), append(events, ev)
		}
	}
	require.Greater(t, len(fixtures), 25, "most fixtures are expressible as edge events")
	return fixtures, events
}

// Every fixture posted as an edge event gets the verdict and the reason the event_router gives the same event
// over OTLP, and becomes exactly the log record docs/events.md describes.
func TestIngestAnswersEachEventWithItsContractVerdict(t *testing.T) {
	f := newFixture(t).start()
	fixtures, events := loadEdgeFixtures(t)
	h := f.keyHeaders(strings.ToUpper(wsA))
	h["Idempotency-Key"] = "batch-1"
	h["x-request-id"] = "req-1"
	resp := f.do(http.MethodPost, pathIngest, h, map[string]any{"events": events})
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	assert.Equal(t, wsA, resp.json["workspace_id"])

	results := resp.json["events"].([]any)
	require.Len(t, results, len(fixtures))
	accepted, rejected := 0, 0
	for i, fx := range fixtures {
		res := results[i].(map[string]any)
		assert.Equal(t, float64(i), res["index"])
		if fx.Expect.Outcome == "rejected" {
			rejected++
			assert.Equal(t, "rejected", res["status"], fx.Name)
			assert.Equal(t, fx.Expect.Reason, res["reason"], fx.Name)
			assert.True(t, strings.HasPrefix(res["schema_id"].(string), "urn:tfocol:schema:"), fx.Name)
		} else {
			accepted++
			assert.Equal(t, "accepted", res["status"], "%s: %v", fx.Name, res["reason"])
		}
	}
	assert.Equal(t, float64(accepted), resp.json["accepted"])
	assert.Equal(t, float64(rejected), resp.json["rejected"])

	calls := f.pipe.got()
	require.Len(t, calls, 1, "one batch, one pipeline call")
	md := calls[0].md
	assert.Equal(t, []string{wsA}, md.Get("x-workspace-id"), "canonical workspace")
	assert.Equal(t, []string{"batch-1"}, md.Get("Idempotency-Key"))
	assert.Equal(t, []string{"req-1"}, md.Get("x-request-id"))
	assert.Empty(t, md.Get("X-TelemetryFlow-Key-Secret"), "credentials stay in the receiver")

	// Every contract-checked event is in the request (rejected ones too: the event_router annotates them for the
	// log), as the record the router checks: the same verdict again, on the record the pipeline got.
	ld := calls[0].logs
	require.Equal(t, len(fixtures), ld.LogRecordCount())
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i, fx := range fixtures {
		lr := lrs.At(i)
		assert.Equal(t, fx.EventName, lr.EventName())
		assert.Equal(t, eventTime, lr.Timestamp().AsTime())
		c, err := eventrouterconnector.LoadContract(f.cfg.Schemas[fx.EventName])
		require.NoError(t, err)
		assert.Equal(t, fx.Expect.Reason, c.Check(lr), fx.Name)
		for k, v := range fx.Attributes {
			got, ok := lr.Attributes().Get(k)
			if assert.True(t, ok, "%s: %s", fx.Name, k) {
				assert.Equal(t, v, got.AsString())
			}
		}
		assert.Equal(t, len(fx.Attributes), lr.Attributes().Len(), "%s: no attribute added", fx.Name)
	}
	assert.Equal(t, int64(accepted), f.counter("tfocol_edge_events", map[string]any{"endpoint": "ingest", "outcome": "accepted"}))
	assert.Equal(t, int64(rejected), f.counter("tfocol_edge_events", map[string]any{"endpoint": "ingest", "outcome": "rejected"}))
	assert.Equal(t, int64(1), f.requests(epIngest, 200, "accepted"))
}

// What makes an entry an event at all is checked by the receiver: such entries are answered "invalid" and not
// passed on; the rest of the batch is.
func TestIngestInvalidEventsAreAnsweredAndNotPassedOn(t *testing.T) {
	f := newFixture(t).start()
	fixtures, events := loadEdgeFixtures(t)
	var valid map[string]any
	for i, fx := range fixtures {
		if fx.Name == "BackupFailure/valid" {
			valid = events[i].(map[string]any)
		}
	}
	require.NotNil(t, valid)
	noTime := clone(valid)
	delete(noTime, "time")
	badTime := clone(valid)
	badTime["time"] = "yesterday"
	unknown := clone(valid)
	unknown["type"] = "DiskFull"
	extraField := clone(valid)
	extraField["tags"] = []string{"x"}
	batch := map[string]any{
		"agent":  map[string]any{"id": "5f0c2d9e-8a41-4d3b-9c7e-2b6f1e0a4d11"},
		"events": []any{noTime, badTime, unknown, extraField, "not an object", valid},
	}
	h := f.keyHeaders(wsA)
	h["Idempotency-Key"] = "batch-2"
	resp := f.do(http.MethodPost, pathIngest, h, batch)
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	results := resp.json["events"].([]any)
	reasons := []string{}
	for _, r := range results[:5] {
		res := r.(map[string]any)
		assert.Equal(t, "invalid", res["status"])
		reasons = append(reasons, res["reason"].(string))
	}
	assert.Contains(t, reasons[0], "time: want an RFC 3339")
	assert.Contains(t, reasons[1], "time: want an RFC 3339")
	assert.Contains(t, reasons[2], `type: "DiskFull" is not an event type; want one of BackupFailure, HostHeartbeat`)
	assert.Contains(t, reasons[3], `unknown field "tags"`)
	assert.Contains(t, reasons[4], "event: json: cannot unmarshal string")
	assert.Equal(t, "accepted", results[5].(map[string]any)["status"])
	assert.Equal(t, float64(5), resp.json["invalid"])
	calls := f.pipe.got()
	require.Len(t, calls, 1)
	assert.Equal(t, 1, calls[0].logs.LogRecordCount(), "only the event")
	assert.Equal(t, int64(5), f.counter("tfocol_edge_events", map[string]any{"outcome": "invalid"}))

	// A batch of nothing but invalid entries is answered the same way and reaches no pipeline.
	h["Idempotency-Key"] = "batch-3"
	resp = f.do(http.MethodPost, pathIngest, h, map[string]any{"events": []any{unknown}})
	require.Equal(t, http.StatusOK, resp.code)
	assert.Len(t, f.pipe.got(), 1)
}

// The batch agent and host apply to every event unless it names its own; the agent id falls back to the
// X-TelemetryFlow-Agent-ID the request authenticated with.
func TestIngestBatchDefaultsAndAgentIDFallback(t *testing.T) {
	f := newFixture(t).start()
	ev := map[string]any{"type": "ServiceDegraded", "id": "8a0c3c1e-54a4-4fd2-9d44-3d7ab1c2e001", "time": "2026-01-01T00:00:00.5Z",
		"severity": "warning", "payload": map[string]any{"serviceName": "api", "indicator": "latency", "observedValue": 812.5,
			"threshold": 500, "unit": "ms", "windowSeconds": 300, "detectedAt": "2026-01-01T00:00:00Z", "status": "degraded"}}
	own := clone(ev)
	own["host"] = map[string]any{"name": "edge-02"}
	own["agent"] = map[string]any{"id": "agent-b", "version": "2.0.0"}
	h := f.keyHeaders(wsA)
	h["Idempotency-Key"] = "batch-4"
	h["X-TelemetryFlow-Agent-ID"] = "agent-a"
	resp := f.do(http.MethodPost, pathIngest, h, map[string]any{"host": map[string]any{"name": "edge-01", "id": "i-01"}, "events": []any{ev, own}})
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	assert.Equal(t, float64(2), resp.json["accepted"], "%s", resp.raw)

	ld := f.pipe.got()[0].logs
	res, _ := ld.ResourceLogs().At(0).Resource().Attributes().Get("host.name")
	assert.Equal(t, "edge-01", res.Str(), "the batch host is the resource")
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	attrs := func(i int) map[string]any { return lrs.At(i).Attributes().AsRaw() }
	assert.Equal(t, map[string]any{"tfo.event.contract_version": "1", "event.id": ev["id"], "event.severity": "warning",
		"host.name": "edge-01", "host.id": "i-01", "agent.id": "agent-a"}, attrs(0))
	assert.Equal(t, map[string]any{"tfo.event.contract_version": "1", "event.id": ev["id"], "event.severity": "warning",
		"host.name": "edge-02", "agent.id": "agent-b", "agent.version": "2.0.0"}, attrs(1))
	assert.Equal(t, plog.SeverityNumberWarn, lrs.At(0).SeverityNumber())
	body := lrs.At(0).Body().Map().AsRaw()
	assert.Equal(t, int64(300), body["windowSeconds"], "integers stay integers")
	assert.Equal(t, 812.5, body["observedValue"])
	assert.Equal(t, int64(500_000_000), int64(lrs.At(0).Timestamp())%int64(time.Second))
}

func TestIngestRefusals(t *testing.T) {
	f := newFixture(t)
	f.cfg.Ingest.MaxEvents = 2
	f.cfg.MaxRequestBodySize = 4096
	f.start()
	ev := map[string]any{"type": "BackupFailure", "time": "2026-01-01T00:00:00Z"}
	keyed := func(key string) map[string]string {
		h := f.keyHeaders(wsA)
		h["Idempotency-Key"] = key
		return h
	}
	textPlain := keyed("k6")
	textPlain["Content-Type"] = "text/plain"
	for name, tc := range map[string]refusalCase{
		"no credentials":      {"", map[string]string{"x-workspace-id": wsA, "Idempotency-Key": "k"}, map[string]any{"events": []any{ev}}, 401, "unauthenticated", "missing credentials"},
		"wrong secret":        {"", map[string]string{"X-TelemetryFlow-Key-ID": f.keyID, "X-TelemetryFlow-Key-Secret": "tfs_wrong", "x-workspace-id": wsA}, map[string]any{"events": []any{ev}}, 401, "unauthenticated", "authentication failed"},
		"other workspace":     {"", keyedWS(f, wsB), map[string]any{"events": []any{ev}}, 403, "forbidden", "not allowed"},
		"bad workspace":       {"", keyedWS(f, "not-a-uuid"), map[string]any{"events": []any{ev}}, 403, "forbidden", "not allowed"}, // tfo_auth checks it first
		"no idempotency key":  {"", f.keyHeaders(wsA), map[string]any{"events": []any{ev}}, 400, "missing_idempotency_key", "Idempotency-Key"},
		"not json":            {"", keyed("k1"), "{events", 400, "bad_json", "request body"},
		"unknown field":       {"", keyed("k2"), map[string]any{"events": []any{ev}, "version": 2}, 400, "bad_json", `unknown field "version"`},
		"no events":           {"", keyed("k3"), map[string]any{"events": []any{}}, 400, "no_events", "no events"},
		"too many events":     {"", keyed("k4"), map[string]any{"events": []any{ev, ev, ev}}, 413, "too_many_events", "at most 2"},
		"body too large":      {"", keyed("k5"), map[string]any{"events": []any{map[string]any{"type": strings.Repeat("x", 5000)}}}, 413, "body_too_large", "larger than 4096 bytes"},
		"wrong content type":  {"", textPlain, "x", 415, "unsupported_media_type", "application/json"},
		"wrong method is 405": {http.MethodGet, nil, nil, 405, "method_not_allowed", "use POST"},
	} {
		t.Run(name, func(t *testing.T) {
			resp := f.expectRefusal(t, pathIngest, epIngest, tc)
			if tc.code == 401 {
				assert.Equal(t, `Bearer realm="tfocol"`, resp.header.Get("WWW-Authenticate"))
			}
		})
	}
	assert.Empty(t, f.pipe.got(), "no refused request reached the pipeline")

	resp := f.do(http.MethodGet, "/api/v1/nothing", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.code)
	assert.Equal(t, int64(1), f.requests(epOther, 404, "not_found"))
}

func keyedWS(f *fixture, ws string) map[string]string {
	h := f.keyHeaders(ws)
	h["Idempotency-Key"] = "k"
	return h
}

// The pipeline's answer is the client's: 2xx only when it returned nil, its gRPC code otherwise (the durable log
// full is a 503 with Retry-After), a plain error is retryable (503), a permanent one a 500.
func TestIngestPipelineErrors(t *testing.T) {
	f := newFixture(t).start()
	_, events := loadEdgeFixtures(t)
	st, err := status.New(codes.Unavailable, "durable log is full").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(3 * time.Second)})
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		err    error
		code   int
		reason string
	}{
		"unavailable with retry info": {st.Err(), 503, "pipeline_unavailable"},
		"reused key":                  {status.Error(codes.InvalidArgument, "Idempotency-Key was already used for a different payload"), 400, "pipeline_invalid_argument"},
		"plain error":                 {assert.AnError, 503, "pipeline_unavailable"},
		"permanent":                   {consumererror.NewPermanent(assert.AnError), 500, "pipeline_internal"},
	} {
		t.Run(name, func(t *testing.T) {
			f.pipe.err = tc.err
			h := f.keyHeaders(wsA)
			h["Idempotency-Key"] = name
			before := f.requests(epIngest, tc.code, tc.reason)
			resp := f.do(http.MethodPost, pathIngest, h, map[string]any{"events": events[:1]})
			require.Equal(t, tc.code, resp.code, "%s", resp.raw)
			resp.errorMessage(t)
			assert.Equal(t, before+1, f.requests(epIngest, tc.code, tc.reason))
			if name == "unavailable with retry info" {
				assert.Equal(t, "3", resp.header.Get("Retry-After"))
				assert.Equal(t, "durable log is full", resp.errorMessage(t))
			}
		})
	}
	assert.Equal(t, int64(0), f.counter("tfocol_edge_events", nil), "events of refused batches are not counted as judged")
}

// A gzip body is accepted like any OTLP/HTTP body (confighttp decompresses it); a corrupt one is a JSON 400.
func TestIngestCompressedBody(t *testing.T) {
	f := newFixture(t).start()
	_, events := loadEdgeFixtures(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(mustJSON(t, map[string]any{"events": events[:2]}))
	require.NoError(t, zw.Close())
	h := f.keyHeaders(wsA)
	h["Idempotency-Key"] = "gz"
	h["Content-Encoding"] = "gzip"
	resp := f.do(http.MethodPost, pathIngest, h, buf.Bytes())
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	h["Idempotency-Key"] = "gz-bad"
	resp = f.do(http.MethodPost, pathIngest, h, []byte("not gzip"))
	require.Equal(t, http.StatusBadRequest, resp.code, "%s", resp.raw)
	resp.errorMessage(t)
	assert.Equal(t, int64(1), f.requests(epIngest, 400, "bad_encoding"))
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// A payload nested deeper than the receiver decodes is an invalid event, not a deep record for the pipeline.
func TestIngestDeepPayloadIsInvalid(t *testing.T) {
	f := newFixture(t).start()
	deep := strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200)
	body := `{"events":[{"type":"BackupFailure","time":"2026-01-01T00:00:00Z","payload":` + deep + `}]}`
	resp := f.do(http.MethodPost, pathIngest, withKey(f.keyHeaders(wsA), "deep"), body)
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	res := resp.json["events"].([]any)[0].(map[string]any)
	assert.Equal(t, "invalid", res["status"])
	assert.Equal(t, "payload: nests deeper than 128 levels", res["reason"])
	assert.Empty(t, f.pipe.got())
}
