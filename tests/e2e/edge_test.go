package e2e

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector"
	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
	"github.com/tfocol/tfocol/components/receiver/edgereceiver/edgetest"
	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/ingeststatus"
	"github.com/tfocol/tfocol/internal/receipts"
)

// edgeEnv is a gateway (shipped config, short receipt windows) with enrollment tokens: an agent token and an
// admin token for e2etest.DefaultWorkspace, issued with `tfocol tokens`, and rotation over the edge API on.
type edgeEnv struct {
	gw         *e2etest.Gateway
	dir        string
	state      string
	signingKey string
	agentToken string
	adminToken string
	agentJSON  map[string]any // `tfocol tokens issue -o json` of the agent token
}

func edgeStart(t *testing.T, env map[string]string, overlays ...string) *edgeEnv {
	t.Helper()
	e := &edgeEnv{dir: t.TempDir()}
	e.signingKey, e.state = filepath.Join(e.dir, "jwt-signing.key"), filepath.Join(e.dir, "tokens.yaml")
	publicKeys := filepath.Join(e.dir, "jwt-public.pem")
	tokensCLI(t, "keygen", "--signing-key", e.signingKey, "--public-keys", publicKeys)
	issue := func(role, subject, file string) string {
		out := tokensCLI(t, "issue", "--state", e.state, "--signing-key", e.signingKey, "--workspace", e2etest.DefaultWorkspace,
			"--role", role, "--scopes", "logs", "--ttl", "720h", "--subject", subject, "--token-file", filepath.Join(e.dir, file), "-o", "json")
		if role == "edge-agent" {
			require.NoError(t, json.Unmarshal([]byte(out), &e.agentJSON))
		}
		return readToken(t, filepath.Join(e.dir, file))
	}
	e.agentToken = issue("edge-agent", "host-edge-01", "agent.token")
	e.adminToken = issue("edge-admin", "ops", "admin.token")
	all := map[string]string{
		"TFOCOL_JWT_PUBLIC_KEYS_FILE":           publicKeys,
		"TFOCOL_JWT_TOKENS_FILE":                e.state,
		"TFOCOL_EDGE_ROTATION_SIGNING_KEY_FILE": e.signingKey,
	}
	for k, v := range env {
		all[k] = v
	}
	e.gw = e2etest.StartGateway(t, e2etest.Options{Configs: append([]string{rcOverlay}, overlays...), Env: all})
	return e
}

// edgeAnswer is one HTTP exchange with the edge API, as curl or an agent would make it.
type edgeAnswer struct {
	code int
	raw  []byte
	json map[string]any
}

func (e *edgeEnv) call(t *testing.T, method, path string, headers map[string]string, body []byte) edgeAnswer {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+e.gw.Ports.Edge+path, bytes.NewReader(body))
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := edgeAnswer{code: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &a.json)
	return a
}

// sealedLogs decodes every log record sealed in the workspace's batch files (the receipts' leaves).
func sealedLogs(t *testing.T, gw *e2etest.Gateway, workspace string) []plog.Logs {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(gw.DataDir, "receipts", workspace, "telemetry", "logs", "*", "*"+receipts.BatchExt))
	require.NoError(t, err)
	var out []plog.Logs
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		leaves, err := receipts.ReadRecords(data)
		require.NoError(t, err)
		for _, leaf := range leaves {
			ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(leaf)
			require.NoError(t, err)
			out = append(out, ld)
		}
	}
	return out
}

func onlyRecord(ld plog.Logs) (plog.ResourceLogs, plog.LogRecord) {
	rl := ld.ResourceLogs().At(0)
	return rl, rl.ScopeLogs().At(0).LogRecords().At(0)
}

// An Anchor agent (curl, in effect) posts one batch of valid and invalid events of all five types with its
// enrollment token, x-workspace-id and an Idempotency-Key, and retries it: each invalid event is answered with the
// reason the event_router gives it over OTLP, every event is sealed exactly once in the workspace's receipts (the
// rejected ones annotated, as over OTLP), and a reused key with another batch is refused.
func TestEdgeAnchorBatchIsSealedOnceWithReasons(t *testing.T) {
	e := edgeStart(t, nil)
	all, err := eventtest.Load(filepath.Join(e2etest.RepoRoot(t), "testdata", "events"))
	require.NoError(t, err)
	now := time.Now().UTC()
	var fixtures []eventtest.Fixture
	var events []any
	// Each event's time tells it apart in the receipts (fixtures share event ids).
	at := func(i int) time.Time { return now.Add(time.Duration(i) * time.Millisecond) }
	for _, fx := range all {
		if ev, ok := edgetest.Event(fx, at(len(events))); ok {
			fixtures, events = append(fixtures, fx), append(events, ev)
		}
	}
	// Plus one entry that is no event at all: answered, never stored.
	events = append(events, map[string]any{"type": "DiskFull", "id": uuid.NewString(), "time": now.Format(time.RFC3339)})
	body, err := json.Marshal(map[string]any{"host": map[string]any{"name": "edge-host-01"}, "events": events})
	require.NoError(t, err)
	headers := map[string]string{"Authorization": "Bearer " + e.agentToken, "x-workspace-id": e2etest.DefaultWorkspace,
		"Idempotency-Key": uuid.NewString(), "x-request-id": "anchor-flush-1"}

	first := e.call(t, http.MethodPost, "/api/v1/events/ingest", headers, body)
	require.Equal(t, http.StatusOK, first.code, "%s", first.raw)
	results := first.json["events"].([]any)
	require.Len(t, results, len(fixtures)+1)
	for i, fx := range fixtures {
		res := results[i].(map[string]any)
		if fx.Expect.Outcome == "rejected" {
			assert.Equal(t, "rejected", res["status"], fx.Name)
			assert.Equal(t, fx.Expect.Reason, res["reason"], fx.Name)
		} else {
			assert.Equal(t, "accepted", res["status"], "%s: %v", fx.Name, res["reason"])
		}
	}
	last := results[len(fixtures)].(map[string]any)
	assert.Equal(t, "invalid", last["status"])
	assert.Contains(t, last["reason"], `"DiskFull" is not an event type`)

	// The agent's retry (its flush timed out, say) with the same key: the same answer, nothing stored again.
	again := e.call(t, http.MethodPost, "/api/v1/events/ingest", headers, body)
	require.Equal(t, http.StatusOK, again.code, "%s", again.raw)
	assert.JSONEq(t, string(first.raw), string(again.raw))

	// The same key with another batch is refused by the workspace processor.
	other, err := json.Marshal(map[string]any{"events": events[:1]})
	require.NoError(t, err)
	reused := e.call(t, http.MethodPost, "/api/v1/events/ingest", headers, other)
	require.Equal(t, http.StatusBadRequest, reused.code, "%s", reused.raw)
	assert.Contains(t, string(reused.raw), "Idempotency-Key was already used for a different payload")

	// Sealed once: every event that went to the pipeline, once, with its id; rejected ones carry their reason. The
	// scroll also holds one obs_alert_fired receipt per valid failure event (docs/receipts.md §5).
	alerts := 0
	for _, fx := range fixtures {
		if fx.Expect.Outcome == "routed" && eventtest.GatewayRoute(fx.EventName) == "failures" {
			alerts++
		}
	}
	require.Positive(t, alerts)
	scroll := filepath.Join(e.gw.DataDir, "receipts", e2etest.DefaultWorkspace)
	rcWaitRecords(t, scroll, uint64(len(fixtures)+alerts), 30*time.Second)
	time.Sleep(3 * time.Second) // a late duplicate would land in a later window
	n, _ := rcRecords(scroll)
	require.Equal(t, uint64(len(fixtures)+alerts), n, "the retry added nothing")
	sealed := sealedLogs(t, e.gw, e2etest.DefaultWorkspace)
	require.Len(t, sealed, len(fixtures), "each event in a sealed batch once")
	seen := map[int]int{}
	for _, ld := range sealed {
		rl, lr := onlyRecord(ld)
		i := int(lr.Timestamp().AsTime().Sub(now) / time.Millisecond)
		require.True(t, i >= 0 && i < len(fixtures), "sealed record of an event sent")
		seen[i]++
		fx := fixtures[i]
		assert.Equal(t, fx.EventName, lr.EventName())
		id, _ := lr.Attributes().Get("event.id")
		want, _ := fx.Attributes["event.id"].(string)
		assert.Equal(t, want, id.Str(), fx.Name)
		host, _ := rl.Resource().Attributes().Get("host.name")
		ws, _ := rl.Resource().Attributes().Get("tfo.workspace.id")
		corr, _ := rl.Resource().Attributes().Get("tfo.correlation.id")
		assert.Equal(t, "edge-host-01", host.Str())
		assert.Equal(t, e2etest.DefaultWorkspace, ws.Str())
		assert.Equal(t, "anchor-flush-1", corr.Str())
		reason, _ := lr.Attributes().Get(eventrouterconnector.AttrRejectionReason)
		assert.Equal(t, fx.Expect.Reason, reason.Str(), "%s: the reason answered is the one sealed", fx.Name)
	}
	for i := range fixtures {
		assert.Equal(t, 1, seen[i], "%s sealed once", fixtures[i].Name)
	}

	metrics := e.gw.ScrapeMetrics(t)
	assert.Regexp(t, `tfocol_edge_requests_total\{[^}]*endpoint="ingest"[^}]*reason="accepted"[^}]*status_code="200"[^}]*\} 2`, metrics)
	assert.Regexp(t, `tfocol_edge_requests_total\{[^}]*endpoint="ingest"[^}]*reason="pipeline_invalid_argument"[^}]*status_code="400"[^}]*\} 1`, metrics)
	assert.Regexp(t, `tfocol_workspace_requests_total\{[^}]*outcome="duplicate"[^}]*signal="logs"[^}]*\} 1`, metrics)

	out, err := rcCLI(t, "verify", "--dir", filepath.Join(e.gw.DataDir, "receipts"), "--no-signature-check") // unsigned gateway: integrity only
	require.NoError(t, err, out)
}

// The admin rotates the workspace's enrollment token over the edge API twice with one rotation key: one new token,
// which then authenticates; the agent's enrollment metadata show its expiry and, after the rotation, that it is
// rotating and what replaces it. Tokens are never echoed except the new one by the rotation itself.
func TestEdgeEnrollmentRotation(t *testing.T) {
	e := edgeStart(t, map[string]string{"TFOCOL_EDGE_PUBLIC_URL": "https://gateway.example.com:8088"})
	agent := map[string]string{"Authorization": "Bearer " + e.agentToken}

	enr := e.call(t, http.MethodGet, "/api/v1/edge-agent/enrollment", agent, nil)
	require.Equal(t, http.StatusOK, enr.code, "%s", enr.raw)
	assert.NotContains(t, string(enr.raw), e.agentToken)
	assert.Equal(t, "enrollment_token", enr.json["mode"])
	assert.Equal(t, "https://gateway.example.com:8088/api/v1/events/ingest", enr.json["ingest_url"])
	cred := enr.json["credential"].(map[string]any)
	assert.Equal(t, e.agentJSON["token_id"], cred["token_id"])
	assert.Equal(t, e.agentJSON["expires_at"], cred["expires_at"], "the expiry `tfocol tokens issue` printed")
	assert.Equal(t, "active", cred["status"])

	pol := e.call(t, http.MethodGet, "/api/v1/edge-agent/policy", agent, nil)
	require.Equal(t, http.StatusOK, pol.code, "%s", pol.raw)
	assert.Equal(t, float64(30), pol.json["flush_interval_seconds"])

	// An agent token may not rotate; the admin token may, twice with one key, getting one token.
	key := "rollover-" + uuid.NewString()
	denied := e.call(t, http.MethodPost, "/api/v1/edge-agent/enrollment/rotate", map[string]string{"Authorization": "Bearer " + e.agentToken, "Idempotency-Key": key}, nil)
	require.Equal(t, http.StatusForbidden, denied.code, "%s", denied.raw)
	admin := map[string]string{"Authorization": "Bearer " + e.adminToken, "x-workspace-id": e2etest.DefaultWorkspace, "Idempotency-Key": key}
	body, _ := json.Marshal(map[string]any{"token_id": e.agentJSON["token_id"]})
	first := e.call(t, http.MethodPost, "/api/v1/edge-agent/enrollment/rotate", admin, body)
	require.Equal(t, http.StatusOK, first.code, "%s", first.raw)
	second := e.call(t, http.MethodPost, "/api/v1/edge-agent/enrollment/rotate", admin, body)
	require.Equal(t, http.StatusOK, second.code, "%s", second.raw)
	newToken := first.json["token"].(string)
	assert.Equal(t, newToken, second.json["token"], "one rotation key, one new token")
	assert.Equal(t, true, second.json["already_rotated"])
	assert.NotEqual(t, e.agentToken, newToken)

	var listed []map[string]any
	require.NoError(t, json.Unmarshal([]byte(tokensCLI(t, "list", "--state", e.state, "-o", "json")), &listed))
	require.Len(t, listed, 3, "agent, admin, and one rotated token")
	status := map[string]string{}
	for _, row := range listed {
		status[row["id"].(string)] = row["status"].(string)
	}
	assert.Equal(t, "rotating", status[e.agentJSON["token_id"].(string)])
	assert.Equal(t, "active", status[first.json["token_id"].(string)])

	// The new token authenticates: the agent flushes a batch and reads its enrollment with it.
	newAgent := map[string]string{"Authorization": "Bearer " + newToken, "x-workspace-id": e2etest.DefaultWorkspace, "Idempotency-Key": uuid.NewString()}
	ev := map[string]any{"type": "ServiceDegraded", "id": uuid.NewString(), "time": time.Now().UTC().Format(time.RFC3339), "severity": "warning",
		"host": map[string]any{"name": "edge-host-01"}, "agent": map[string]any{"id": "host-edge-01"},
		"payload": map[string]any{"serviceName": "api", "indicator": "latency", "observedValue": 812.5, "threshold": 500,
			"unit": "ms", "windowSeconds": 300, "detectedAt": time.Now().UTC().Format(time.RFC3339), "status": "degraded"}}
	batch, _ := json.Marshal(map[string]any{"events": []any{ev}})
	ing := e.call(t, http.MethodPost, "/api/v1/events/ingest", newAgent, batch)
	require.Equal(t, http.StatusOK, ing.code, "%s", ing.raw)
	assert.Equal(t, float64(1), ing.json["accepted"], "%s", ing.raw)
	e2etest.Eventually(t, 10*time.Second, func() bool {
		enr = e.call(t, http.MethodGet, "/api/v1/edge-agent/enrollment", agent, nil)
		return enr.code == http.StatusOK && enr.json["credential"].(map[string]any)["status"] == "rotating"
	}, "the old token reports that it is rotating")
	cred = enr.json["credential"].(map[string]any)
	assert.Equal(t, first.json["token_id"], cred["replaced_by"])
	assert.Equal(t, first.json["old_token_valid_until"], cred["valid_until"])
	// Sealed in the workspace: the event in its batch, and its alert (ServiceDegraded is a failure event).
	rcWaitRecords(t, filepath.Join(e.gw.DataDir, "receipts", e2etest.DefaultWorkspace), 2, 30*time.Second)

	// No token in the gateway's logs.
	for _, tok := range []string{e.agentToken, e.adminToken, newToken} {
		assert.NotContains(t, e.gw.Logs(), tok)
	}
	assert.Contains(t, e.gw.Logs(), "Rotated an enrollment token")
}

// sirveoEvent is seed 003's payload; the checksum is some derivation of the other values (the seed publishes none).
func sirveoEvent(reason string) []byte {
	p := map[string]any{"build_version": "0.1.0", "build_commit": "4379644", "build_time": "2024-02-16T23:06:23+02:00",
		"build_mode": "licenced", "build_os": "windows", "build_arch": "amd64", "instance_id": "4915a241-ba4e-4c1d-9e8f-7a6b5c4d3e2f",
		"license_key_hash": "e88394fedd71573f9a2c37f2b8a1f0d2e6c4b9a87d65e4f3c2b1a09f8e7d6c5b", "license_valid": true,
		"reason": reason, "custom_id": "sirveo-eu-1"}
	sum := sha256.Sum256(fmt.Appendf(nil, "%v", p))
	p["checksum"] = hex.EncodeToString(sum[:8])
	raw, _ := json.Marshal(p)
	return raw
}

// A Sirveo server (bearer token, User-Agent: Sirveo, 5 s timeout, no retries) posts begin, update and end to
// the edge API's Sirveo URL for its workspace: three InstanceLifecycle events for its instance are sealed. The
// same update again with a tampered checksum is flagged (sealed as mismatch, severity warning) and a malformed
// checksum is refused.
func TestEdgeSirveoLifecycleIsSealed(t *testing.T) {
	e := edgeStart(t, nil)
	url := "/api/v1/sirveo/telemetry/" + e2etest.DefaultWorkspace
	sirveo := map[string]string{"Authorization": "Bearer " + e.agentToken, "User-Agent": "Sirveo"}
	for _, reason := range []string{"begin", "update", "end"} {
		a := e.call(t, http.MethodPost, url, sirveo, sirveoEvent(reason))
		require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
		assert.Equal(t, "accepted", a.json["status"], "%s", a.raw)
	}
	scroll := filepath.Join(e.gw.DataDir, "receipts", e2etest.DefaultWorkspace)
	rcWaitRecords(t, scroll, 3, 30*time.Second)

	var tampered map[string]any
	require.NoError(t, json.Unmarshal(sirveoEvent("update"), &tampered))
	tampered["checksum"] = "e7916a6b1daa5149"
	raw, _ := json.Marshal(tampered)
	flagged := e.call(t, http.MethodPost, url, sirveo, raw)
	require.Equal(t, http.StatusOK, flagged.code, "%s", flagged.raw)
	assert.Equal(t, "mismatch", flagged.json["checksum_status"])
	tampered["checksum"] = "not-a-checksum"
	raw, _ = json.Marshal(tampered)
	refused := e.call(t, http.MethodPost, url, sirveo, raw)
	require.Equal(t, http.StatusBadRequest, refused.code, "%s", refused.raw)
	rcWaitRecords(t, scroll, 4, 30*time.Second)

	var phases []string
	var flags []string
	for _, ld := range sealedLogs(t, e.gw, e2etest.DefaultWorkspace) {
		rl, lr := onlyRecord(ld)
		require.Equal(t, "InstanceLifecycle", lr.EventName())
		_, rejected := lr.Attributes().Get(eventrouterconnector.AttrRejectionReason)
		assert.False(t, rejected, "the event_router accepted it")
		inst, _ := rl.Resource().Attributes().Get("service.instance.id")
		assert.Equal(t, "4915a241-ba4e-4c1d-9e8f-7a6b5c4d3e2f", inst.Str())
		body := lr.Body().Map().AsRaw()
		sev, _ := lr.Attributes().Get("event.severity")
		if body["checksumStatus"] == "mismatch" {
			flags = append(flags, body["phase"].(string)+"/"+sev.Str())
			continue
		}
		phases = append(phases, body["phase"].(string))
	}
	assert.ElementsMatch(t, []string{"begin", "update", "end"}, phases)
	assert.Equal(t, []string{"update/warning"}, flags)

	metrics := e.gw.ScrapeMetrics(t)
	assert.Regexp(t, `tfocol_edge_sirveo_checksums_total\{[^}]*result="mismatch"[^}]*\} 1`, metrics)
	assert.Regexp(t, `tfocol_edge_requests_total\{[^}]*endpoint="sirveo"[^}]*reason="checksum_malformed"[^}]*status_code="400"[^}]*\} 1`, metrics)
	assert.Regexp(t, `tfocol_event_router_events_total\{[^}]*event_type="InstanceLifecycle"[^}]*outcome="default"[^}]*\} 4`, metrics)
}

// With configs/gateway-tls.yaml the edge API is served over TLS with the gateway's certificate (and without
// client certificates, which Sirveo servers do not have, even when OTLP requires them).
func TestEdgeAPIOverTLS(t *testing.T) {
	pki := newTestPKI(t)
	pki.issue(t, "server", 20, true)
	e := edgeStart(t, map[string]string{
		"TFOCOL_TLS_CERT_FILE":      pki.path("server.crt"),
		"TFOCOL_TLS_KEY_FILE":       pki.path("server.key"),
		"TFOCOL_TLS_CLIENT_CA_FILE": pki.path("ca.crt"),
	}, "configs/gateway-tls.yaml")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}}
	req, err := http.NewRequest(http.MethodPost, "https://"+e.gw.Ports.Edge+"/api/v1/sirveo/telemetry", bytes.NewReader(sirveoEvent("begin")))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.agentToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)

	// Plaintext is not served: Go's TLS server answers a bare 400 (or resets the connection).
	if plain, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + e.gw.Ports.Edge + "/api/v1/edge-agent/enrollment"); err == nil {
		plain.Body.Close()
		assert.Equal(t, http.StatusBadRequest, plain.StatusCode, "no plaintext on the TLS port")
	}
}

// edgeIngestStatus GETs the edge API's ingest status with headers (nil: no credential) and decodes the report.
func (e *edgeEnv) ingestStatus(t *testing.T, headers map[string]string) (edgeAnswer, *ingeststatus.Report) {
	t.Helper()
	a := e.call(t, http.MethodGet, "/api/v1/edge-agent/ingest-status", headers, nil)
	rep := &ingeststatus.Report{}
	if a.code == http.StatusOK {
		require.NoError(t, json.Unmarshal(a.raw, rep), "%s", a.raw)
	}
	return a, rep
}

// serviceDegraded is a ServiceDegraded event of the edge batch body; status "exploded" breaks its contract.
func serviceDegraded(status string) map[string]any {
	now := time.Now().UTC().Format(time.RFC3339)
	return map[string]any{"type": "ServiceDegraded", "id": uuid.NewString(), "time": now, "severity": "warning",
		"agent": map[string]any{"id": "host-edge-01"},
		"payload": map[string]any{"serviceName": "api", "indicator": "latency", "observedValue": 812.5, "threshold": 500,
			"unit": "ms", "windowSeconds": 300, "detectedAt": now, "status": status}}
}

// An agent reads its workspace's ingest status on the edge API with its enrollment token (curl, in effect): the
// batch it sent — N events accepted, K rejected by the router with their reasons — and nothing of another
// workspace; naming another workspace is 403, another workspace's token sees only its own numbers, no credential
// is 401. The document is tfo_status's report of that workspace (GET :13134/v1/ingest-status?workspace=).
func TestEdgeIngestStatusIsTheCallersWorkspace(t *testing.T) {
	e := edgeStart(t, nil, statusOverlay)
	otherFile := filepath.Join(e.dir, "other.token")
	tokensCLI(t, "issue", "--state", e.state, "--signing-key", e.signingKey, "--workspace", statusOtherWS, "--role", "edge-agent",
		"--scopes", "logs", "--ttl", "720h", "--subject", "host-other", "--token-file", otherFile)
	otherToken := readToken(t, otherFile)

	const accepted, rejected = 3, 2
	var events []any
	for range accepted {
		events = append(events, serviceDegraded("degraded"))
	}
	for range rejected {
		events = append(events, serviceDegraded("exploded"))
	}
	body, err := json.Marshal(map[string]any{"host": map[string]any{"name": "edge-host-01"}, "events": events})
	require.NoError(t, err)
	agent := map[string]string{"Authorization": "Bearer " + e.agentToken}
	ing := e.call(t, http.MethodPost, "/api/v1/events/ingest", map[string]string{"Authorization": "Bearer " + e.agentToken,
		"Idempotency-Key": uuid.NewString()}, body)
	require.Equal(t, http.StatusOK, ing.code, "%s", ing.raw)
	require.Equal(t, float64(accepted), ing.json["accepted"], "%s", ing.raw)
	require.Equal(t, float64(rejected), ing.json["rejected"], "%s", ing.raw)
	reason := ing.json["events"].([]any)[accepted].(map[string]any)["reason"].(string)
	body, err = json.Marshal(map[string]any{"host": map[string]any{"name": "other-host"}, "events": []any{serviceDegraded("degraded")}})
	require.NoError(t, err)
	other := e.call(t, http.MethodPost, "/api/v1/events/ingest", map[string]string{"Authorization": "Bearer " + otherToken,
		"Idempotency-Key": uuid.NewString()}, body)
	require.Equal(t, http.StatusOK, other.code, "%s", other.raw)
	require.Equal(t, float64(1), other.json["accepted"], "%s", other.raw)

	var a edgeAnswer
	var rep *ingeststatus.Report
	e2etest.Eventually(t, 10*time.Second, func() bool {
		a, rep = e.ingestStatus(t, agent)
		return a.code == http.StatusOK && len(rep.Workspaces) == 1 && rep.Workspaces[0].Events == accepted+rejected
	}, "the batch is counted")
	assert.Equal(t, ingeststatus.ScopeWorkspace, rep.Scope)
	ws := rep.Workspaces[0]
	assert.Equal(t, e2etest.DefaultWorkspace, ws.Workspace)
	assert.EqualValues(t, 1, ws.Batches)
	assert.EqualValues(t, accepted+rejected, ws.Records)
	assert.EqualValues(t, rejected, ws.Rejections)
	assert.Equal(t, map[string]uint64{"ServiceDegraded": accepted + rejected}, ws.EventsByType)
	assert.Equal(t, map[string]ingeststatus.Rejections{"ServiceDegraded": {Total: rejected, Reasons: map[string]uint64{reason: rejected}}},
		ws.RejectionsByType, "the reason answered at ingest")
	assert.NotContains(t, string(a.raw), statusOtherWS)

	// The same numbers as tfo_status's report of the workspace, read with its admin token.
	admin := readToken(t, filepath.Join(e.gw.DataDir, "status", "admin.token"))
	code, direct := ingestStatus(t, e.gw.Collector, "?workspace="+e2etest.DefaultWorkspace, map[string]string{"Authorization": "Bearer " + admin})
	require.Equal(t, http.StatusOK, code)
	require.Len(t, direct.Workspaces, 1)
	// Receipt counts move as windows seal between the two requests; the ingest counts do not.
	counts := func(w ingeststatus.WorkspaceStatus) []any {
		return []any{w.Workspace, w.Batches, w.Records, w.Events, w.Rejections, w.Duplicates, w.EventsByType, w.RejectionsByType, w.LastBatchAt}
	}
	assert.Equal(t, counts(direct.Workspaces[0]), counts(ws))
	assert.Equal(t, direct.Scope, rep.Scope)

	for name, h := range map[string]map[string]string{
		"another workspace by header": {"Authorization": "Bearer " + e.agentToken, "x-workspace-id": statusOtherWS},
		"the status admin token":      {"Authorization": "Bearer " + admin},
		"no credential":               nil,
	} {
		a, _ := e.ingestStatus(t, h)
		want := http.StatusForbidden
		if h["x-workspace-id"] == "" {
			want = http.StatusUnauthorized
		}
		assert.Equal(t, want, a.code, "%s: %s", name, a.raw)
		assert.NotContains(t, string(a.raw), "ServiceDegraded", name)
	}
	a = e.call(t, http.MethodGet, "/api/v1/edge-agent/ingest-status?workspace="+statusOtherWS, agent, nil)
	assert.Equal(t, http.StatusForbidden, a.code, "%s", a.raw)

	a, rep = e.ingestStatus(t, map[string]string{"Authorization": "Bearer " + otherToken})
	require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	require.Len(t, rep.Workspaces, 1)
	assert.Equal(t, statusOtherWS, rep.Workspaces[0].Workspace)
	assert.EqualValues(t, 1, rep.Workspaces[0].Batches)
	assert.EqualValues(t, 0, rep.Workspaces[0].Rejections)
	assert.NotContains(t, string(a.raw), e2etest.DefaultWorkspace)

	metrics := e.gw.ScrapeMetrics(t)
	assert.Regexp(t, `tfocol_edge_requests_total\{[^}]*endpoint="ingest_status"[^}]*reason="forbidden"[^}]*status_code="403"[^}]*\} 2`, metrics)
	for _, tok := range []string{e.agentToken, otherToken, admin} {
		assert.NotContains(t, e.gw.Logs(), tok)
	}
}

// The edge API's engine status needs no credential and is tfo_status's document, ready or degraded with the
// component named — but without the component's error text, which stays on the loopback status endpoint.
func TestEdgeEngineStatusWithoutErrorText(t *testing.T) {
	e := edgeStart(t, nil, stallOverlay)
	var a edgeAnswer
	e2etest.Eventually(t, 10*time.Second, func() bool {
		a = e.call(t, http.MethodGet, "/.well-known/engine-status", nil, nil)
		return a.code == http.StatusOK
	}, "ready once the pipelines run")
	var doc ingeststatus.EngineStatus
	require.NoError(t, json.Unmarshal(a.raw, &doc))
	_, direct := engineStatus(t, e.gw.Collector)
	direct.UptimeSeconds = doc.UptimeSeconds
	assert.Equal(t, *direct, doc)
	assert.Equal(t, ingeststatus.EngineReady, doc.Status)
	assert.Equal(t, "tfocol", doc.Engine)
	assert.NotEmpty(t, doc.Version)
	assert.NotEmpty(t, doc.Build.Commit)

	const marker = "upstream-secret-marker-7f3a"
	e.gw.Upstream.Intercept(func(e2etest.SinkRequest) error { return status.Error(codes.Unavailable, marker) })
	ev, err := json.Marshal(map[string]any{"host": map[string]any{"name": "edge-host-01"}, "events": []any{serviceDegraded("degraded")}})
	require.NoError(t, err)
	ing := e.call(t, http.MethodPost, "/api/v1/events/ingest", map[string]string{"Authorization": "Bearer " + e.agentToken,
		"Idempotency-Key": uuid.NewString()}, ev)
	require.Equal(t, http.StatusOK, ing.code, "%s", ing.raw)
	e2etest.Eventually(t, 20*time.Second, func() bool {
		a = e.call(t, http.MethodGet, "/.well-known/engine-status", nil, nil)
		return a.code == http.StatusServiceUnavailable && strings.Contains(string(a.raw), "tfo_log/forward")
	}, "degraded by the stalled forward consumer")
	doc = ingeststatus.EngineStatus{}
	require.NoError(t, json.Unmarshal(a.raw, &doc))
	assert.Equal(t, ingeststatus.EngineDegraded, doc.Status)
	require.NotEmpty(t, doc.Reasons)
	assert.NotContains(t, string(a.raw), marker)
	for _, r := range doc.Reasons {
		assert.Empty(t, r.Error, r.Component)
		assert.NotEmpty(t, r.Status, r.Component)
	}
	_, direct = engineStatus(t, e.gw.Collector)
	assert.True(t, slices.ContainsFunc(direct.Reasons, func(r ingeststatus.Reason) bool { return strings.Contains(r.Error, marker) }),
		"the loopback status endpoint has the error: %+v", direct.Reasons)
}

// A Sirveo server posts begin, a licence change and end: the workspace's ingest status on the edge API (and
// `tfocol status`) lists the instance with its last-seen time, build and licence state, the same after a graceful
// restart (persisted in <data>/status) and after a SIGKILL right after an accepted event (counted from the log).
func TestEdgeSirveoInstanceInIngestStatus(t *testing.T) {
	e := edgeStart(t, nil, statusOverlay)
	url := "/api/v1/sirveo/telemetry/" + e2etest.DefaultWorkspace
	sirveo := map[string]string{"Authorization": "Bearer " + e.agentToken, "User-Agent": "Sirveo"}
	agent := map[string]string{"Authorization": "Bearer " + e.agentToken}
	const instance = "4915a241-ba4e-4c1d-9e8f-7a6b5c4d3e2f"
	post := func(payload []byte) time.Time {
		t.Helper()
		before := time.Now().UTC()
		a := e.call(t, http.MethodPost, url, sirveo, payload)
		require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
		require.Equal(t, "accepted", a.json["status"], "%s", a.raw)
		return before
	}
	instanceNow := func(phase string) ingeststatus.Instance {
		t.Helper()
		var got ingeststatus.Instance
		e2etest.Eventually(t, 10*time.Second, func() bool {
			a, rep := e.ingestStatus(t, agent)
			if a.code != http.StatusOK || len(rep.Instances) != 1 {
				return false
			}
			got = rep.Instances[0]
			return got.LastPhase == phase
		}, "the instance's last phase is %s", phase)
		return got
	}

	begin := post(sirveoEvent("begin"))
	var change map[string]any
	require.NoError(t, json.Unmarshal(sirveoEvent("license-state-change"), &change))
	change["license_valid"] = false
	raw, _ := json.Marshal(change)
	changed := post(raw)
	inst := instanceNow("update")
	assert.Equal(t, instance, inst.InstanceID)
	assert.Equal(t, e2etest.DefaultWorkspace, inst.Workspace)
	assert.Equal(t, "sirveo", inst.Service)
	assert.Equal(t, "sirveo-eu-1", inst.CustomID)
	assert.Equal(t, "license-state-change", inst.LastReason)
	assert.Equal(t, ingeststatus.InstanceBuild{Version: "0.1.0", Commit: "4379644", Time: "2024-02-16T23:06:23+02:00",
		Mode: "licenced", OS: "windows", Arch: "amd64"}, inst.Build)
	require.NotNil(t, inst.LicenseValid)
	assert.False(t, *inst.LicenseValid)
	assert.False(t, inst.FirstSeenAt.Before(begin.Truncate(time.Second)))
	assert.False(t, inst.LastSeenAt.Before(changed.Truncate(time.Second)))
	assert.True(t, inst.LastSeenAt.Before(time.Now().Add(time.Second)))

	post(sirveoEvent("end"))
	inst = instanceNow("end")
	require.NotNil(t, inst.LicenseValid)
	assert.True(t, *inst.LicenseValid)
	a, _ := e.ingestStatus(t, agent)
	assert.NotContains(t, string(a.raw), "e88394fedd71573f", "no licence key hash in the status")

	out, code := tfocolStatus(t, e.gw.Collector)
	assert.Equal(t, 0, code, out)
	assert.Regexp(t, `sirveo\s+`+instance+`\s+sirveo-eu-1\s+0\.1\.0\s+4379644\s+valid\s+end\s`, out)

	e.gw.Restart(t)
	assert.Equal(t, inst, instanceNow("end"), "after a graceful restart")

	// SIGKILL right after an accepted event: the next start counts it from the durable log.
	post(sirveoEvent("begin"))
	e.gw.Kill()
	e.gw.Restart(t)
	after := instanceNow("begin")
	assert.Equal(t, inst.FirstSeenAt, after.FirstSeenAt)
	assert.True(t, after.LastSeenAt.After(inst.LastSeenAt))
}
