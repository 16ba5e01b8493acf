package reliability

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/receipts"
)

// badInputEnv is a running shipped gateway plus what the bad-input cases need to check it afterwards.
type badInputEnv struct {
	gw *e2etest.Gateway
	// A second key that may write to every workspace, so that workspace-header cases reach the workspace
	// processor instead of being refused by tfo_auth's workspace check.
	wildID, wildSecret string

	acked   map[string]int // spans acknowledged (2xx / OK), by tag
	secrets []string       // strings no response and no log line may contain
	seen    []string       // every response body, header and error text a client got
	probes  atomic.Int64
	checks  map[string]func(t *testing.T, rs ptrace.ResourceSpans) // by tag
}

// badCase is one row of the bad-input table (docs/reliability.md).
type badCase struct {
	name string
	// send delivers the input tagged with tag and returns the answer as "HTTP <status>", "gRPC <Code>" or a
	// transport-level outcome, plus the number of spans it carried (counted as acknowledged on success).
	send func(t *testing.T, e *badInputEnv, tag string) (answer string, spans int)
	want string
	// delivered, when set, checks the resource spans of the case's batch as the upstream received them.
	delivered func(t *testing.T, rs ptrace.ResourceSpans)
}

func startBadInputGateway(t *testing.T, overlays []string, env map[string]string) *badInputEnv {
	t.Helper()
	all := map[string]string{
		"TFOCOL_SPANMETRICS_FLUSH_INTERVAL": "1h",
		"TFOCOL_RECEIPT_INTERVAL":           "2s",
	}
	for k, v := range env {
		all[k] = v
	}
	gw := e2etest.StartGateway(t, e2etest.Options{Configs: overlays, Env: all})
	e := &badInputEnv{gw: gw, acked: map[string]int{}, secrets: []string{gw.KeySecret},
		checks: map[string]func(*testing.T, ptrace.ResourceSpans){}}
	e.wildID, e.wildSecret = e2etest.MintKey(t, gw.KeysFile, "*", "*")
	e.secrets = append(e.secrets, e.wildSecret)
	// The key file is watched; wait until the new key is live.
	e2etest.Eventually(t, 15*time.Second, func() bool {
		res, err := e2etest.ExportHTTP(context.Background(), gw.HTTP(e.wildHeaders(e2etest.DefaultWorkspace)), tracesTagged("wildcard-ready", 1))
		if err == nil && res.Status == http.StatusOK {
			e.acked["wildcard-ready"]++
			return true
		}
		return false
	}, "the wildcard key never became valid")
	return e
}

func (e *badInputEnv) wildHeaders(workspace string) map[string]string {
	return e2etest.KeyHeaders(e.wildID, e.wildSecret, workspace)
}

// run plays the cases in order; after each one a valid request must still be accepted.
func (e *badInputEnv) run(t *testing.T, cases []badCase) []string {
	t.Helper()
	var table []string
	for i, c := range cases {
		tag := fmt.Sprintf("case-%02d", i)
		got, spans := c.send(t, e, tag)
		if strings.HasPrefix(got, "HTTP 2") || got == "gRPC OK" {
			e.acked[tag] += spans
		}
		assert.Equal(t, c.want, got, "case %q", c.name)
		table = append(table, fmt.Sprintf("| %s | %s |", c.name, got))
		if c.delivered != nil {
			e.checks[tag] = c.delivered
		}
		require.True(t, e.gw.Running(), "the gateway died after case %q", c.name)
		e.probe(t, c.name)
	}
	return table
}

// probe sends a valid batch and requires it to be accepted.
func (e *badInputEnv) probe(t *testing.T, after string) {
	t.Helper()
	tag := fmt.Sprintf("probe-%03d", e.probes.Add(1))
	res, err := e2etest.ExportHTTP(context.Background(), e.gw.HTTP(e.gw.Headers()), tracesTagged(tag, 2))
	require.NoError(t, err, "valid request after %q", after)
	require.Equal(t, http.StatusOK, res.Status, "valid request after %q: %s", after, res.Body)
	e.acked[tag] += 2
}

func (e *badInputEnv) httpResult(res *e2etest.HTTPResult, err error) string {
	if err != nil {
		e.seen = append(e.seen, err.Error())
		return "transport error: " + err.Error()
	}
	e.seen = append(e.seen, string(res.Body))
	for k, v := range res.Header {
		e.seen = append(e.seen, k+": "+strings.Join(v, ","))
	}
	return fmt.Sprintf("HTTP %d", res.Status)
}

func (e *badInputEnv) grpcResult(err error) string {
	if err != nil {
		e.seen = append(e.seen, err.Error())
	}
	return "gRPC " + grpcCodeName(err)
}

// postHTTP sends body uncompressed to path.
func (e *badInputEnv) postHTTP(headers map[string]string, path, contentType string, body []byte) string {
	tgt := e.gw.HTTP(headers)
	tgt.Gzip = false
	return e.httpResult(e2etest.PostRaw(context.Background(), tgt, path, contentType, body))
}

func (e *badInputEnv) exportHTTP(headers map[string]string, td ptrace.Traces) string {
	return e.httpResult(e2etest.ExportHTTP(context.Background(), e.gw.HTTP(headers), td))
}

func (e *badInputEnv) exportGRPC(headers map[string]string, td ptrace.Traces) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.grpcResult(e2etest.ExportGRPC(ctx, e.gw.GRPC(headers), td))
}

func (e *badInputEnv) raw(req []byte) string {
	res, err := rawHTTP(e.gw.Ports.OTLPHTTP, req)
	if err != nil {
		// A server may also just drop the connection; that is an answer too, the probe then shows it still serves.
		e.seen = append(e.seen, err.Error())
		return "connection closed without response"
	}
	e.seen = append(e.seen, res.Body)
	for k, v := range res.Header {
		e.seen = append(e.seen, k+": "+strings.Join(v, ","))
	}
	return fmt.Sprintf("HTTP %d", res.Status)
}

func (e *badInputEnv) rawGRPC(md [][2]string, td ptrace.Traces) string {
	body, _, err := e2etest.MarshalOTLP(td)
	if err != nil {
		panic(err)
	}
	res, err := rawGRPC(e.gw.Ports.OTLPGRPC, grpcTracesPath, md, body)
	if err != nil {
		e.seen = append(e.seen, err.Error())
		return "transport error: " + err.Error()
	}
	e.seen = append(e.seen, res.GRPCMsg)
	if res.WasReset || res.GoAway {
		return res.String()
	}
	return "gRPC " + grpcStatusName(res.GRPCStatus)
}

// with returns a copy of h with the extra headers set, case-insensitively (the value deleteHeader removes one).
func with(h map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(h)+len(kv)/2)
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		for k := range out {
			if strings.EqualFold(k, kv[i]) {
				delete(out, k)
			}
		}
		if kv[i+1] != deleteHeader {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

const deleteHeader = "\x00delete"

// keyLines are the fixture key's credential header lines for hand-written requests.
func (e *badInputEnv) keyLines() []string {
	return []string{"X-TelemetryFlow-Key-ID: " + e.gw.KeyID, "X-TelemetryFlow-Key-Secret: " + e.gw.KeySecret}
}

func (e *badInputEnv) keyMD() [][2]string {
	return [][2]string{{"x-telemetryflow-key-id", e.gw.KeyID}, {"x-telemetryflow-key-secret", e.gw.KeySecret}}
}

// checkDelivered waits until the upstream sink holds every acknowledged batch, then checks that nothing was
// delivered twice and nothing refused was delivered at all.
func (e *badInputEnv) checkDelivered(t *testing.T) {
	t.Helper()
	want := 0
	for _, n := range e.acked {
		want += n
	}
	e2etest.Eventually(t, 30*time.Second, func() bool { return e.gw.Upstream.SpanCount() >= want },
		"upstream sink never got the %d acknowledged spans (has %d)", want, e.gw.Upstream.SpanCount())
	time.Sleep(time.Second) // a late duplicate would show now
	assert.Equal(t, e.acked, spansByTag(e.gw.Upstream), "spans per batch at the upstream: exactly the acknowledged ones, once")
	for _, td := range e.gw.Upstream.Traces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			if v, ok := rs.Resource().Attributes().Get(tagAttr); ok && e.checks[v.AsString()] != nil {
				e.checks[v.AsString()](t, rs)
			}
		}
	}
}

// checkNoSecrets: no answer a client got, no gateway log line and no file the gateway wrote (upstream queue,
// idempotency state, receipts) contains a secret or token.
func (e *badInputEnv) checkNoSecrets(t *testing.T) {
	t.Helper()
	logs := e.gw.Logs()
	stored := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(e.gw.DataDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		stored[path] = data
		return err
	}))
	require.NotEmpty(t, stored)
	for _, s := range e.secrets {
		if len(s) < 16 {
			panic("secret too short to search for: " + s)
		}
		secretBody := strings.TrimPrefix(s, "tfs_")
		for _, seen := range e.seen {
			assert.NotContains(t, seen, secretBody, "a response echoed a secret")
		}
		assert.NotContains(t, logs, secretBody, "the gateway log contains a secret")
		for path, data := range stored {
			assert.False(t, bytes.Contains(data, []byte(secretBody)), "%s contains a secret", path)
		}
	}
}

// checkReceipts waits until the receipt windows holding the acknowledged spans are sealed and runs
// `tfocol receipts verify` on them: accepted odd input must not break the hash chain.
func (e *badInputEnv) checkReceipts(t *testing.T) {
	t.Helper()
	dir := filepath.Join(e.gw.DataDir, "receipts")
	want := uint64(0)
	for _, n := range e.acked {
		want += uint64(n)
	}
	var got uint64
	e2etest.Eventually(t, 30*time.Second, func() bool {
		got = sealedRecords(dir)
		return got >= want
	}, "sealed receipt records under %s: want %d", dir, want)
	assert.Equal(t, want, got, "every acknowledged span is sealed exactly once")
	out, err := exec.Command(e2etest.Binary(t), "receipts", "verify", "--dir", dir, "--no-signature-check").CombinedOutput()
	require.NoError(t, err, "tfocol receipts verify:\n%s", out)
}

// sealedRecords counts the records of every verifiable scroll under dir (0 while one is mid-write).
func sealedRecords(dir string) uint64 {
	scrolls, err := receipts.FindScrolls(dir)
	if err != nil {
		return 0
	}
	var n uint64
	for _, s := range scrolls {
		rep, err := receipts.VerifyScroll(s, receipts.VerifyOptions{})
		if err != nil {
			return 0
		}
		n += rep.Records
	}
	return n
}

// fastReceiptsOverlay shortens the receipt exporters' grace period so windows seal within seconds.
const fastReceiptsOverlay = "tests/reliability/testdata/fast-receipts.yaml"

// TestBadInput sends malformed, oversized, odd and hostile requests to the shipped gateway over OTLP/HTTP and
// OTLP/gRPC. Each gets its documented answer, a valid request succeeds after each one, every acknowledged
// batch reaches the upstream exactly once and is sealed, and no secret appears in an answer or the log.
func TestBadInput(t *testing.T) {
	e := startBadInputGateway(t, []string{fastReceiptsOverlay}, nil)
	ws := e2etest.DefaultWorkspace
	upperWS := strings.ToUpper(ws)

	cases := []badCase{
		// Body encoding.
		{name: "HTTP: malformed protobuf body", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.postHTTP(e.gw.Headers(), "/v1/traces", "application/x-protobuf", []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01}), 0
		}},
		{name: "HTTP: malformed JSON body", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.postHTTP(e.gw.Headers(), "/v1/traces", "application/json", []byte(`{"resourceSpans":[{"scopeSpans":[`)), 0
		}},
		{name: "HTTP: JSON body sent as application/x-protobuf", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.postHTTP(e.gw.Headers(), "/v1/traces", "application/x-protobuf", []byte(`{"resourceSpans":[]}`)), 0
		}},
		{name: "HTTP: Content-Type text/plain", want: "HTTP 415", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			body, _, _ := e2etest.MarshalOTLP(tracesTagged(tag, 1))
			return e.postHTTP(e.gw.Headers(), "/v1/traces", "text/plain", body), 0
		}},
		{name: "HTTP: no Content-Type", want: "HTTP 415", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			body, _, _ := e2etest.MarshalOTLP(tracesTagged(tag, 1))
			return e.postHTTP(e.gw.Headers(), "/v1/traces", "", body), 0
		}},
		{name: "HTTP: GET instead of POST", want: "HTTP 405", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			req, _ := http.NewRequest(http.MethodGet, e.gw.OTLPHTTPURL()+"/v1/traces", nil)
			for k, v := range e.gw.Headers() {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return "transport error: " + err.Error(), 0
			}
			defer res.Body.Close()
			return e.httpResult(&e2etest.HTTPResult{Status: res.StatusCode, Header: res.Header}, nil), 0
		}},
		{name: "HTTP: unsupported Content-Encoding (br)", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			body, _, _ := e2etest.MarshalOTLP(tracesTagged(tag, 1))
			return e.postHTTP(with(e.gw.Headers(), "Content-Encoding", "br"), "/v1/traces", "application/x-protobuf", body), 0
		}},
		{name: "HTTP: Content-Encoding gzip, body not gzip", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			body, _, _ := e2etest.MarshalOTLP(tracesTagged(tag, 1))
			return e.postHTTP(with(e.gw.Headers(), "Content-Encoding", "gzip"), "/v1/traces", "application/x-protobuf", body), 0
		}},
		{name: "HTTP: body of 21 MiB (limit 20 MiB)", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.postHTTP(e.gw.Headers(), "/v1/traces", "application/x-protobuf", make([]byte, 21<<20)), 0
		}},
		{name: "HTTP: gzip bomb (30 KiB inflating to 30 MiB)", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			_, _ = zw.Write(make([]byte, 30<<20))
			_ = zw.Close()
			return e.postHTTP(with(e.gw.Headers(), "Content-Encoding", "gzip"), "/v1/traces", "application/x-protobuf", buf.Bytes()), 0
		}},
		{name: "gRPC: malformed protobuf message", want: "gRPC Internal", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			md := map[string]string{"x-telemetryflow-key-id": e.gw.KeyID, "x-telemetryflow-key-secret": e.gw.KeySecret, "x-workspace-id": ws}
			return e.grpcResult(invokeRawGRPC(context.Background(), e.gw.Ports.OTLPGRPC, grpcTracesPath, md, []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})), 0
		}},
		{name: "gRPC: message of 5 MiB (limit 4 MiB)", want: "gRPC ResourceExhausted", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			td := tracesTagged(tag, 1)
			td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("big", strings.Repeat("x", 5<<20))
			tgt := e.gw.GRPC(e.gw.Headers())
			tgt.Gzip = true // compressed on the wire; the limit applies to the decompressed message
			return e.grpcResult(e2etest.ExportGRPC(context.Background(), tgt, td)), 0
		}},

		// Odd but valid data: accepted and delivered intact.
		{name: "HTTP: one span with 10,000 attributes", want: "HTTP 200", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			td := tracesTagged(tag, 1)
			attrs := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
			for i := range 10000 {
				attrs.PutStr(fmt.Sprintf("attr.%05d", i), "value")
			}
			return e.exportHTTP(e.gw.Headers(), td), 1
		}, delivered: func(t *testing.T, rs ptrace.ResourceSpans) {
			assert.Equal(t, 10001, rs.ScopeSpans().At(0).Spans().At(0).Attributes().Len(), "10,000 attributes + seq arrive")
		}},
		{name: "gRPC: one span with 10,000 attributes", want: "gRPC OK", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			td := tracesTagged(tag, 1)
			attrs := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
			for i := range 10000 {
				attrs.PutInt(fmt.Sprintf("attr.%05d", i), int64(i))
			}
			return e.exportGRPC(e.gw.Headers(), td), 1
		}},
		{name: "HTTP: attribute nested 100,000 arrays deep (protobuf)", want: "HTTP 200", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(e.gw.Headers(), nestedTraces(tag, 100_000)), 1
		}, delivered: func(t *testing.T, rs ptrace.ResourceSpans) {
			v, _ := rs.ScopeSpans().At(0).Spans().At(0).Attributes().Get("nested")
			depth := 0
			for v.Type() == pcommon.ValueTypeSlice && v.Slice().Len() == 1 {
				v, depth = v.Slice().At(0), depth+1
			}
			assert.Equal(t, 100_000, depth, "the nesting arrives whole")
			assert.Equal(t, "leaf", v.AsString())
		}},
		{name: "HTTP: attribute nested 100,000 arrays deep (JSON)", want: "HTTP 200", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.postHTTP(e.gw.Headers(), "/v1/traces", "application/json", nestedJSON(tag, 100_000)), 1
		}},
		{name: "gRPC: attribute nested 100,000 maps deep", want: "gRPC OK", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			td := tracesTagged(tag, 1)
			m := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutEmptyMap("nested")
			for range 100_000 {
				m = m.PutEmptyMap("k")
			}
			m.PutStr("leaf", "x")
			return e.exportGRPC(e.gw.Headers(), td), 1
		}},
		{name: "HTTP: invalid UTF-8 in span name, service.name and attribute values (protobuf)", want: "HTTP 200", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(e.gw.Headers(), invalidUTF8Traces(tag)), 1
		}, delivered: func(t *testing.T, rs ptrace.ResourceSpans) {
			svc, _ := rs.Resource().Attributes().Get("service.name")
			assert.Equal(t, "svc-\xff\xfe-\xc3\x28", svc.Str(), "bytes are passed on unchanged")
			assert.Equal(t, "op-\xed\xa0\x80-surrogate", rs.ScopeSpans().At(0).Spans().At(0).Name())
		}},
		{name: "gRPC: invalid UTF-8 in span name, service.name and attribute values", want: "gRPC OK", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportGRPC(e.gw.Headers(), invalidUTF8Traces(tag)), 1
		}},
		{name: "HTTP: invalid UTF-8 inside a JSON string", want: "HTTP 200", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			body := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":%q,"value":{"stringValue":%q}}]},`+
				`"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"bad-`+"\xff\xfe"+`"}]}]}]}`, tagAttr, tag)
			return e.postHTTP(e.gw.Headers(), "/v1/traces", "application/json", []byte(body)), 1
		}},

		// x-workspace-id.
		{name: "HTTP: no x-workspace-id", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(with(e.gw.Headers(), "x-workspace-id", deleteHeader), tracesTagged(tag, 1)), 0
		}},
		{name: "HTTP: x-workspace-id not a UUID, key for one workspace", want: "HTTP 403", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(with(e.gw.Headers(), "x-workspace-id", "not-a-uuid"), tracesTagged(tag, 1)), 0
		}},
		{name: "HTTP: x-workspace-id not a UUID, key for all workspaces", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(e.wildHeaders("not-a-uuid"), tracesTagged(tag, 1)), 0
		}},
		{name: "HTTP: x-workspace-id in braces {uuid}", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(e.wildHeaders("{"+ws+"}"), tracesTagged(tag, 1)), 0
		}},
		{name: "HTTP: x-workspace-id urn:uuid:", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(e.wildHeaders("urn:uuid:"+ws), tracesTagged(tag, 1)), 0
		}},
		{name: "HTTP: x-workspace-id 32 hex digits without hyphens", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(e.wildHeaders(strings.ReplaceAll(ws, "-", "")), tracesTagged(tag, 1)), 0
		}},
		{name: "HTTP: x-workspace-id with a non-ASCII digit", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(e.wildHeaders(strings.Replace(ws, "8", "٨", 1)), tracesTagged(tag, 1)), 0
		}},
		{name: "HTTP: x-workspace-id upper case, key for all workspaces (stamped lower case)", want: "HTTP 200", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(e.wildHeaders(upperWS), tracesTagged(tag, 1)), 1
		}, delivered: func(t *testing.T, rs ptrace.ResourceSpans) {
			v, _ := rs.Resource().Attributes().Get("tfo.workspace.id")
			assert.Equal(t, ws, v.Str(), "the workspace is stamped in canonical lower case")
		}},
		{name: "HTTP: x-workspace-id upper case, key for that workspace", want: "HTTP 200", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(with(e.gw.Headers(), "x-workspace-id", upperWS), tracesTagged(tag, 1)), 1
		}},
		{name: "HTTP: two different x-workspace-id headers", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			body, _, _ := e2etest.MarshalOTLP(tracesTagged(tag, 1))
			lines := []string{"X-TelemetryFlow-Key-ID: " + e.wildID, "X-TelemetryFlow-Key-Secret: " + e.wildSecret,
				"X-Workspace-Id: " + ws, "X-Workspace-Id: 5d1f3b9e-2c47-4e8a-b6d0-93a1c7e2f544"}
			return e.raw(httpRequestBytes(e.gw.Ports.OTLPHTTP, "/v1/traces", lines, body)), 0
		}},
		{name: "gRPC: x-workspace-id not a UUID, key for all workspaces", want: "gRPC InvalidArgument", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportGRPC(e.wildHeaders("not-a-uuid"), tracesTagged(tag, 1)), 0
		}},
		{name: "gRPC: x-workspace-id of another workspace", want: "gRPC PermissionDenied", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportGRPC(with(e.gw.Headers(), "x-workspace-id", "5d1f3b9e-2c47-4e8a-b6d0-93a1c7e2f544"), tracesTagged(tag, 1)), 0
		}},

		// Idempotency-Key.
		{name: "HTTP: Idempotency-Key of 255 characters", want: "HTTP 200", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(with(e.gw.Headers(), "Idempotency-Key", tag+strings.Repeat("k", 255-len(tag))), tracesTagged(tag, 1)), 1
		}},
		{name: "HTTP: Idempotency-Key of 256 characters", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(with(e.gw.Headers(), "Idempotency-Key", strings.Repeat("k", 256)), tracesTagged(tag, 1)), 0
		}},
		{name: "HTTP: Idempotency-Key of 64 KiB", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(with(e.gw.Headers(), "Idempotency-Key", strings.Repeat("k", 64<<10)), tracesTagged(tag, 1)), 0
		}},
		{name: "HTTP: Idempotency-Key of 2 MiB (above the 1 MiB header limit)", want: "HTTP 431", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(with(e.gw.Headers(), "Idempotency-Key", strings.Repeat("k", 2<<20)), tracesTagged(tag, 1)), 0
		}},
		{name: "HTTP: non-ASCII Idempotency-Key (UTF-8)", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(with(e.gw.Headers(), "Idempotency-Key", "batch-ключ-1"), tracesTagged(tag, 1)), 0
		}},
		{name: "HTTP: Idempotency-Key with a raw 0xFF byte", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			body, _, _ := e2etest.MarshalOTLP(tracesTagged(tag, 1))
			lines := append(e.keyLines(), "X-Workspace-Id: "+ws, "Idempotency-Key: batch-\xff-1")
			return e.raw(httpRequestBytes(e.gw.Ports.OTLPHTTP, "/v1/traces", lines, body)), 0
		}},
		{name: "HTTP: Idempotency-Key with a TAB", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(with(e.gw.Headers(), "Idempotency-Key", "batch\t1"), tracesTagged(tag, 1)), 0
		}},
		{name: "gRPC: Idempotency-Key of 256 characters", want: "gRPC InvalidArgument", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportGRPC(with(e.gw.Headers(), "idempotency-key", strings.Repeat("k", 256)), tracesTagged(tag, 1)), 0
		}},
		{name: "gRPC (raw HTTP/2): non-ASCII Idempotency-Key bytes", want: "gRPC InvalidArgument", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			md := append(e.keyMD(), [2]string{"x-workspace-id", ws}, [2]string{"idempotency-key", "batch-ключ-1"})
			return e.rawGRPC(md, tracesTagged(tag, 1)), 0
		}},

		// Credentials.
		{name: "HTTP: wrong key secret", want: "HTTP 401", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			wrong := "tfs_" + strings.Repeat("A", 43)
			e.secrets = append(e.secrets, wrong)
			return e.exportHTTP(with(e.gw.Headers(), "X-TelemetryFlow-Key-Secret", wrong), tracesTagged(tag, 1)), 0
		}},
		// Throttling (default limits: 20 wrong secrets per key id and address, 100 failures per address, 1m).
		// The probe after each case sends the fixture key from 127.0.0.1 and must be accepted.
		{name: "HTTP: 25 wrong secrets for the fixture key's id from 127.0.0.2 (the 25th)", want: "HTTP 429", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			var last string
			for i := range 25 {
				wrong := fmt.Sprintf("tfs_guess%02d%s", i, strings.Repeat("Q", 32))
				e.secrets = append(e.secrets, wrong)
				tgt := e.gw.HTTP(with(e.gw.Headers(), "X-TelemetryFlow-Key-Secret", wrong)).From("127.0.0.2")
				last = e.httpResult(e2etest.ExportHTTP(context.Background(), tgt, tracesTagged(tag, 1)))
				if i < 20 && last != "HTTP 401" {
					return fmt.Sprintf("wrong secret %d: %s", i+1, last), 0
				}
			}
			return last, 0
		}},
		{name: "HTTP: then the fixture key's correct secret from 127.0.0.2", want: "HTTP 200", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.httpResult(e2etest.ExportHTTP(context.Background(), e.gw.HTTP(e.gw.Headers()).From("127.0.0.2"), tracesTagged(tag, 1))), 1
		}},
		{name: "gRPC: then a wrong secret for the fixture key's id from 127.0.0.2", want: "gRPC ResourceExhausted", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tgt := e.gw.GRPC(with(e.gw.Headers(), "x-telemetryflow-key-secret", "tfs_"+strings.Repeat("B", 43))).From("127.0.0.2")
			return e.grpcResult(e2etest.ExportGRPC(ctx, tgt, tracesTagged(tag, 1))), 0
		}},
		{name: "HTTP: X-TelemetryFlow-Agent-ID of 300 characters", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.exportHTTP(with(e.gw.Headers(), "X-TelemetryFlow-Agent-ID", strings.Repeat("a", 300)), tracesTagged(tag, 1)), 0
		}},
		{name: "gRPC: malformed protobuf without credentials", want: "gRPC Internal", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			return e.grpcResult(invokeRawGRPC(context.Background(), e.gw.Ports.OTLPGRPC, grpcTracesPath, nil, []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})), 0
		}},
		{name: "gRPC: key secret only in a -bin metadata key", want: "gRPC Unauthenticated", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			h := with(e.gw.Headers(), "x-telemetryflow-key-secret", deleteHeader, "x-telemetryflow-key-secret-bin", e.gw.KeySecret)
			return e.exportGRPC(h, tracesTagged(tag, 1)), 0
		}},
		{name: "gRPC: extra binary metadata (x-workspace-id-bin with 0x00-0xFF bytes)", want: "gRPC OK", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			odd := make([]byte, 256)
			for i := range odd {
				odd[i] = byte(i)
			}
			return e.exportGRPC(with(e.gw.Headers(), "x-workspace-id-bin", string(odd)), tracesTagged(tag, 1)), 1
		}},

		// Header injection: bytes the Go client refuses to send, written by hand.
		{name: "HTTP (raw TCP): CR inside x-workspace-id value", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			body, _, _ := e2etest.MarshalOTLP(tracesTagged(tag, 1))
			lines := append(e.keyLines(), "X-Workspace-Id: "+ws+"\rX-Injected: yes")
			return e.raw(httpRequestBytes(e.gw.Ports.OTLPHTTP, "/v1/traces", lines, body)), 0
		}},
		{name: "HTTP (raw TCP): NUL inside Idempotency-Key value", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			body, _, _ := e2etest.MarshalOTLP(tracesTagged(tag, 1))
			lines := append(e.keyLines(), "X-Workspace-Id: "+ws, "Idempotency-Key: a\x00b")
			return e.raw(httpRequestBytes(e.gw.Ports.OTLPHTTP, "/v1/traces", lines, body)), 0
		}},
		{name: "HTTP (raw TCP): obs-fold continuation line appending a second workspace", want: "HTTP 403", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			body, _, _ := e2etest.MarshalOTLP(tracesTagged(tag, 1))
			lines := append(e.keyLines(), "X-Workspace-Id: "+ws, " 5d1f3b9e-2c47-4e8a-b6d0-93a1c7e2f544")
			return e.raw(httpRequestBytes(e.gw.Ports.OTLPHTTP, "/v1/traces", lines, body)), 0
		}},
		{name: "HTTP (raw TCP): space before the colon of the secret header", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			body, _, _ := e2etest.MarshalOTLP(tracesTagged(tag, 1))
			lines := []string{"X-TelemetryFlow-Key-ID: " + e.gw.KeyID, "X-TelemetryFlow-Key-Secret : " + e.gw.KeySecret, "X-Workspace-Id: " + ws}
			return e.raw(httpRequestBytes(e.gw.Ports.OTLPHTTP, "/v1/traces", lines, body)), 0
		}},
		{name: "HTTP (raw TCP): Content-Length and Transfer-Encoding both set", want: "HTTP 400", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			body, _, _ := e2etest.MarshalOTLP(tracesTagged(tag, 1))
			lines := append(e.keyLines(), "X-Workspace-Id: "+ws, "Transfer-Encoding: chunked")
			return e.raw(httpRequestBytes(e.gw.Ports.OTLPHTTP, "/v1/traces", lines, body)), 0
		}},
		{name: "gRPC (raw HTTP/2): CR LF inside x-workspace-id value", want: "RST_STREAM PROTOCOL_ERROR", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			md := append(e.keyMD(), [2]string{"x-workspace-id", ws + "\r\nx-injected: yes"})
			return e.rawGRPC(md, tracesTagged(tag, 1)), 0
		}},
		{name: "gRPC (raw HTTP/2): NUL inside the key id", want: "RST_STREAM PROTOCOL_ERROR", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			md := [][2]string{{"x-telemetryflow-key-id", e.gw.KeyID + "\x00"}, {"x-telemetryflow-key-secret", e.gw.KeySecret}, {"x-workspace-id", ws}}
			return e.rawGRPC(md, tracesTagged(tag, 1)), 0
		}},
		{name: "gRPC (raw HTTP/2): upper-case metadata name", want: "RST_STREAM PROTOCOL_ERROR", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			md := append(e.keyMD(), [2]string{"X-Workspace-Id", ws})
			return e.rawGRPC(md, tracesTagged(tag, 1)), 0
		}},
		{name: "gRPC (raw HTTP/2): valid request (control)", want: "gRPC OK", send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
			md := append(e.keyMD(), [2]string{"x-workspace-id", ws})
			return e.rawGRPC(md, tracesTagged(tag, 1)), 1
		}},
	}
	table := e.run(t, cases)
	e.checkDelivered(t)
	e.checkReceipts(t)
	e.checkNoSecrets(t)
	t.Logf("bad-input answers:\n| case | answer |\n|---|---|\n%s", strings.Join(table, "\n"))
}

// nestedTraces returns one span whose attribute "nested" is depth arrays deep.
func nestedTraces(tag string, depth int) ptrace.Traces {
	td := tracesTagged(tag, 1)
	v := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutEmpty("nested")
	for range depth {
		v = v.SetEmptySlice().AppendEmpty()
	}
	v.SetStr("leaf")
	return td
}

// nestedJSON is an OTLP/JSON trace request with one span whose attribute "nested" is depth arrays deep.
func nestedJSON(tag string, depth int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"resourceSpans":[{"resource":{"attributes":[{"key":%q,"value":{"stringValue":%q}}]},`+
		`"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"deep",`+
		`"attributes":[{"key":"nested","value":`, tagAttr, tag)
	b.WriteString(strings.Repeat(`{"arrayValue":{"values":[`, depth))
	b.WriteString(`{"stringValue":"leaf"}`)
	b.WriteString(strings.Repeat(`]}}`, depth))
	b.WriteString(`}]}]}]}]}`)
	return []byte(b.String())
}

func invalidUTF8Traces(tag string) ptrace.Traces {
	td := tracesTagged(tag, 1)
	rs := td.ResourceSpans().At(0)
	rs.Resource().Attributes().PutStr("service.name", "svc-\xff\xfe-\xc3\x28")
	sp := rs.ScopeSpans().At(0).Spans().At(0)
	sp.SetName("op-\xed\xa0\x80-surrogate")
	sp.Attributes().PutStr("user.input", "\x80\x81\x82")
	sp.Attributes().PutStr("key-\xff", "v")
	return td
}

// TestBadInputTokens tries expired, tampered and forged enrollment tokens against the gateway with a `jwt:`
// block (overlay; the shipped gateway has API keys only): each is a 401 / Unauthenticated with the same
// message, no token or HMAC secret is echoed or logged, and the gateway keeps serving.
func TestBadInputTokens(t *testing.T) {
	hmacSecret := make([]byte, 32)
	_, err := rand.Read(hmacSecret)
	require.NoError(t, err)
	secretHex := hex.EncodeToString(hmacSecret)
	secretFile := filepath.Join(t.TempDir(), "hs256.secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(secretHex+"\n"), 0o600))

	e := startBadInputGateway(t, []string{fastReceiptsOverlay, "tests/reliability/testdata/jwt.yaml"},
		map[string]string{"TFOCOL_JWT_HMAC_SECRET_FILE": secretFile})
	e.secrets = append(e.secrets, secretHex)
	ws := e2etest.DefaultWorkspace

	sign := func(method jwt.SigningMethod, key any, mutate func(jwt.MapClaims)) string {
		now := time.Now()
		c := jwt.MapClaims{"sub": "edge-agent-1", "iss": "https://anchor.reliability.test", "aud": "tfocol-reliability",
			"workspace_id": ws, "role": "edge-agent", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if mutate != nil {
			mutate(c)
		}
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		require.NoError(t, err)
		e.secrets = append(e.secrets, s)
		return s
	}
	key := []byte(secretHex)
	valid := sign(jwt.SigningMethodHS256, key, nil)
	expired := sign(jwt.SigningMethodHS256, key, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() })
	notYet := sign(jwt.SigningMethodHS256, key, func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })
	otherKey := sign(jwt.SigningMethodHS256, []byte("not-the-gateway-secret-0123456789"), nil)
	none := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil)
	// Tampered: the payload of a valid token swapped for one naming another workspace, signature kept.
	other := sign(jwt.SigningMethodHS256, []byte("x"), func(c jwt.MapClaims) { c["workspace_id"] = "5d1f3b9e-2c47-4e8a-b6d0-93a1c7e2f544" })
	vp, op := strings.Split(valid, "."), strings.Split(other, ".")
	tampered := vp[0] + "." + op[1] + "." + vp[2]
	// Tampered: one bit of the signature flipped.
	sig := []byte(vp[2])
	sig[3] ^= 0x01
	flipped := vp[0] + "." + vp[1] + "." + string(sig)

	bearer := func(tok string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok, "x-workspace-id": ws}
	}
	var cases []badCase
	for _, tc := range []struct {
		name, token, want string
	}{
		{"valid token (control)", valid, "200"},
		{"expired token", expired, "401"},
		{"token not valid yet (nbf in an hour)", notYet, "401"},
		{"token signed with another HMAC secret", otherKey, "401"},
		{"token with alg none", none, "401"},
		{"token with the payload swapped (other workspace), signature kept", tampered, "401"},
		{"token with one signature bit flipped", flipped, "401"},
		{"three dots of garbage", "a.b.c", "401"},
		{"2 KiB of random base64 as token", base64.RawURLEncoding.EncodeToString(make([]byte, 1536)), "401"},
	} {
		spans := 0
		if tc.want == "200" {
			spans = 1
		}
		grpcWant := map[string]string{"200": "gRPC OK", "401": "gRPC Unauthenticated"}[tc.want]
		cases = append(cases,
			badCase{name: "HTTP: " + tc.name, want: "HTTP " + tc.want, send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
				return e.exportHTTP(bearer(tc.token), tracesTagged(tag, 1)), spans
			}},
			badCase{name: "gRPC: " + tc.name, want: grpcWant, send: func(t *testing.T, e *badInputEnv, tag string) (string, int) {
				return e.exportGRPC(bearer(tc.token), tracesTagged(tag, 1)), spans
			}})
	}
	table := e.run(t, cases)
	// Every refusal says only "authentication failed": the reason stays in metrics and debug logs.
	for _, s := range e.seen {
		for _, reason := range []string{"expired", "signature", "not valid yet", "issuer", "audience", "alg", "workspace_id"} {
			assert.NotContains(t, strings.ToLower(s), reason, "the client is told why its token failed")
		}
	}
	e.checkDelivered(t)
	e.checkReceipts(t)
	e.checkNoSecrets(t)
	t.Logf("token answers:\n| case | answer |\n|---|---|\n%s", strings.Join(table, "\n"))
}

// TestBadInputDeepNestingAtTheBodyLimit sends, over OTLP/HTTP with valid credentials, one span whose attribute
// is nested as deep as the receiver's body limit allows. The receiver may refuse it (400) or take it (200), but
// the gateway must survive: pdata v1.55.0 unmarshals AnyValue recursively without a depth limit
// (open-telemetry/opentelemetry-collector#15301), and ~1.4 million levels (~13 MB) overflow the 1 GB goroutine
// stack, a fatal error that kills the process for every workspace.
func TestBadInputDeepNestingAtTheBodyLimit(t *testing.T) {
	e := startBadInputGateway(t, nil, nil)
	for _, depth := range []int{800_000, 1_800_000} {
		body, _, err := e2etest.MarshalOTLP(nestedTraces(fmt.Sprintf("deep-%d", depth), depth))
		require.NoError(t, err)
		require.Less(t, len(body), 20<<20, "fits the receiver's default max_request_body_size (20 MiB)")
		// gzip shrinks it to ~1% of that: the limit that matters is the decompressed one.
		answer := e.httpResult(e2etest.PostRaw(context.Background(), e.gw.HTTP(e.gw.Headers()), "/v1/traces", "application/x-protobuf", body))
		t.Logf("%d levels, %d bytes: %s", depth, len(body), answer)
		if strings.HasPrefix(answer, "transport error") {
			time.Sleep(time.Second) // a dying process may still be exiting
		}
		require.True(t, e.gw.Running(), "the gateway died on a %d-byte deeply nested request (answer: %s)", len(body), answer)
		assert.Contains(t, []string{"HTTP 200", "HTTP 400"}, answer)
		e.probe(t, "deep nesting")
	}
}

// TestBadInputDeepNestingBeforeAuthentication: over gRPC, the message is unmarshalled before the auth
// interceptor runs, so a client without credentials reaches pdata's recursive decoder. Within the 4 MiB
// default message limit it must get Unauthenticated and leave the gateway serving (and its RSS bounded).
func TestBadInputDeepNestingBeforeAuthentication(t *testing.T) {
	e := startBadInputGateway(t, nil, nil)
	td := nestedTraces("deep-unauth", 440_000)
	body, _, err := e2etest.MarshalOTLP(td)
	require.NoError(t, err)
	require.Less(t, len(body), 4<<20, "fits the gRPC receiver's default 4 MiB message limit")
	before := vmRSSKiB(e.gw.Pid())
	err = invokeRawGRPC(context.Background(), e.gw.Ports.OTLPGRPC, grpcTracesPath, map[string]string{"x-workspace-id": e2etest.DefaultWorkspace}, body)
	after := vmRSSKiB(e.gw.Pid())
	t.Logf("%d bytes without credentials: %s; gateway RSS %d MiB -> %d MiB", len(body), grpcCodeName(err), before/1024, after/1024)
	require.True(t, e.gw.Running(), "the gateway died on an unauthenticated deeply nested request")
	assert.Equal(t, "Unauthenticated", grpcCodeName(err))
	assert.Less(t, after/1024, 1024, "RSS stays under the shipped memory_limiter limit (1024 MiB)")
	e.probe(t, "unauthenticated deep nesting")
}

// TestBadInputLargeBatchReachesUpstream: a 6 MiB OTLP/HTTP request is within the HTTP receiver's 20 MiB limit,
// so the gateway acknowledges it; it must then reach the upstream, whose OTLP/gRPC receiver (like the
// gateway's own, and the sink here) takes messages of at most 4 MiB.
func TestBadInputLargeBatchReachesUpstream(t *testing.T) {
	e := startBadInputGateway(t, nil, nil)
	ld := logsTagged("large", 6000)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for k := 0; k < lrs.Len(); k++ {
		lrs.At(k).Body().SetStr(strings.Repeat("x", 1024))
	}
	res, err := e2etest.ExportHTTP(context.Background(), e.gw.HTTP(e.gw.Headers()), ld)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	e2etest.Eventually(t, 20*time.Second, func() bool { return e.gw.Upstream.LogRecordCount() >= 6000 },
		"the acknowledged 6 MiB batch never reached the upstream (has %d records)", e.gw.Upstream.LogRecordCount())
	assert.Equal(t, 6000, len(logRecordsAtSink(e.gw.Upstream)))
}
