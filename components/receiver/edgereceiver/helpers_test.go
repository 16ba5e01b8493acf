package edgereceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tfocol/tfocol/components/extension/tfoauthextension"
	"github.com/tfocol/tfocol/components/receiver/edgereceiver/internal/metadata"
	"github.com/tfocol/tfocol/internal/credentials/keyfile"
	"github.com/tfocol/tfocol/internal/credentials/tokenfile"
)

const (
	wsA = "0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11"
	wsB = "5d1f3b9e-2c47-4e8a-b6d0-93a1c7e2f544"
)

var authID = component.MustNewID("tfo_auth")

// host offers extensions to the receiver.
type host struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.ext }

// captured is one call the pipeline got: the records and the request metadata the workspace processor would see.
type captured struct {
	logs plog.Logs
	md   client.Metadata
}

// pipeline stands in for the logs pipeline: it records each call and answers with err.
type pipeline struct {
	mu    sync.Mutex
	calls []captured
	err   error
}

func (p *pipeline) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (p *pipeline) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	cp := plog.NewLogs()
	ld.CopyTo(cp)
	p.calls = append(p.calls, captured{logs: cp, md: client.FromContext(ctx).Metadata})
	return nil
}

func (p *pipeline) got() []captured {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]captured(nil), p.calls...)
}

// fixture is a started receiver behind a real tfo_auth extension with one API key and enrollment-token keys.
type fixture struct {
	t          *testing.T
	dir        string
	cfg        *Config
	pipe       *pipeline
	tel        *componenttest.Telemetry
	rcv        *edgeReceiver
	base       string
	keyID      string
	keySecret  string
	adminID    string
	adminKey   string
	signingKey string
	tokensFile string
	host       host
}

// newFixture writes the credential files, then lets mut adjust the receiver config before start() starts it.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, pipe: &pipeline{}, tel: componenttest.NewTelemetry()}
	t.Cleanup(func() { require.NoError(t, f.tel.Shutdown(context.Background())) })

	keys := &keyfile.File{Version: keyfile.CurrentVersion}
	k, secret, err := keyfile.NewKey([]string{wsA}, []string{"logs"}, nil, "agent key", time.Now())
	require.NoError(t, err)
	admin, adminSecret, err := keyfile.NewKey([]string{wsA}, []string{"logs"}, nil, "edge admin", time.Now())
	require.NoError(t, err)
	keys.Keys = append(keys.Keys, k, admin)
	keysFile := filepath.Join(dir, "keys.yaml")
	require.NoError(t, keyfile.Save(keysFile, keys))
	f.keyID, f.keySecret, f.adminID, f.adminKey = k.ID, secret, admin.ID, adminSecret

	priv, pub, _, err := tokenfile.GenerateKey()
	require.NoError(t, err)
	f.signingKey = filepath.Join(dir, "jwt-signing.key")
	require.NoError(t, os.WriteFile(f.signingKey, priv, 0o600))
	pubFile := filepath.Join(dir, "jwt-public.pem")
	require.NoError(t, os.WriteFile(pubFile, pub, 0o644))
	f.tokensFile = filepath.Join(dir, "tokens.yaml")

	authCfg := tfoauthextension.NewFactory().CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"keys_file":       keysFile,
		"reload_interval": "50ms",
		"jwt": map[string]any{"public_keys_file": pubFile, "tokens_file": f.tokensFile, "issuer": "tfocol", "audience": "tfocol",
			"role_scopes": map[string]any{"edge-agent": []any{"logs"}, "edge-admin": []any{"logs"}}},
	}).Unmarshal(authCfg))
	ext, err := tfoauthextension.NewFactory().Create(context.Background(), extensiontest.NewNopSettings(tfoauthextension.NewFactory().Type()), authCfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	f.host = host{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{authID: ext}}

	f.cfg = createDefaultConfig()
	f.cfg.NetAddr.Endpoint = "127.0.0.1:0"
	f.cfg.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: authID}})
	f.cfg.Schemas = shippedSchemas()
	f.cfg.Enrollment.TokensFile = f.tokensFile
	f.cfg.Enrollment.Rotation.SigningKeyFile = f.signingKey
	f.cfg.Enrollment.Rotation.AdminKeys = []string{admin.ID}
	f.cfg.Enrollment.Rotation.AdminRoles = []string{"edge-admin"}
	f.cfg.Sirveo.Enabled = true
	return f
}

func (f *fixture) addExtension(id component.ID, ext extension.Extension) { f.host.ext[id] = ext }

func (f *fixture) start() *fixture {
	f.t.Helper()
	require.NoError(f.t, f.cfg.Validate())
	rcv, err := newReceiver(f.cfg, receiverSettings(f), f.pipe)
	require.NoError(f.t, err)
	require.NoError(f.t, rcv.Start(context.Background(), f.host))
	f.t.Cleanup(func() { require.NoError(f.t, rcv.Shutdown(context.Background())) })
	f.rcv, f.base = rcv, "http://"+rcv.addr.String()
	return f
}

func shippedSchemas() map[string]string {
	dir := filepath.Join("..", "..", "..", "configs", "schemas")
	return map[string]string{
		"HostHeartbeat":     filepath.Join(dir, "host_heartbeat.v2.json"),
		"PatchCompliance":   filepath.Join(dir, "patch_compliance.v1.json"),
		"BackupFailure":     filepath.Join(dir, "backup_failure.v1.json"),
		"ServiceDegraded":   filepath.Join(dir, "service_degraded.v1.json"),
		"PipelineFailure":   filepath.Join(dir, "pipeline_failure.v1.json"),
		"InstanceLifecycle": filepath.Join(dir, "instance_lifecycle.v1.json"),
	}
}

// issueToken records a token in the tokens file and returns it signed.
func (f *fixture) issueToken(ws, role, subject string) (string, string) {
	f.t.Helper()
	priv, err := tokenfile.LoadSigningKey(f.signingKey)
	require.NoError(f.t, err)
	unlock, err := tokenfile.Lock(f.tokensFile)
	require.NoError(f.t, err)
	defer unlock()
	st, err := tokenfile.LoadOrEmpty(f.tokensFile)
	require.NoError(f.t, err)
	id, err := tokenfile.NewID()
	require.NoError(f.t, err)
	now := time.Now().UTC().Truncate(time.Second)
	tk := tokenfile.Token{ID: id, Workspace: ws, Subject: subject, Role: role, Issuer: "tfocol", Audience: "tfocol",
		IssuedAt: now, ExpiresAt: now.Add(720 * time.Hour)}
	st.Tokens = append(st.Tokens, tk)
	require.NoError(f.t, tokenfile.Save(f.tokensFile, st))
	token, err := tokenfile.Sign(&tk, priv)
	require.NoError(f.t, err)
	return token, id
}

func (f *fixture) keyHeaders(ws string) map[string]string {
	return map[string]string{"X-TelemetryFlow-Key-ID": f.keyID, "X-TelemetryFlow-Key-Secret": f.keySecret, "x-workspace-id": ws}
}

func (f *fixture) adminHeaders(ws string) map[string]string {
	return map[string]string{"X-TelemetryFlow-Key-ID": f.adminID, "X-TelemetryFlow-Key-Secret": f.adminKey, "x-workspace-id": ws}
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// response is an answer with its body decoded as JSON (when it is JSON).
type response struct {
	code   int
	header http.Header
	raw    []byte
	json   map[string]any
}

func (f *fixture) do(method, path string, headers map[string]string, body any) response {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(f.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, f.base+path, rd)
	require.NoError(f.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	out := response{code: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.json)
	return out
}

// errorMessage is the error body's message, after checking the body has the documented shape.
func (r response) errorMessage(t *testing.T) string {
	t.Helper()
	e, ok := r.json["error"].(map[string]any)
	require.True(t, ok, "error body: %s", r.raw)
	require.Equal(t, float64(r.code), e["status"], "%s", r.raw)
	require.NotEmpty(t, e["code"])
	return e["message"].(string)
}

// requests sums tfocol_edge_requests for endpoint and reason.
func (f *fixture) requests(endpoint string, code int, reason string) int64 {
	f.t.Helper()
	return f.counter("tfocol_edge_requests", map[string]any{"endpoint": endpoint, "status_code": int64(code), "reason": reason})
}

func (f *fixture) counter(name string, want map[string]any) int64 {
	f.t.Helper()
	m, err := f.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		return 0
	}
	for _, dp := range sum.DataPoints {
		match := true
		for k, v := range want {
			got, ok := dp.Attributes.Value(attribute.Key(k))
			if !ok || got.AsInterface() != v {
				match = false
			}
		}
		if match {
			n += dp.Value
		}
	}
	return n
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return raw
}

func receiverSettings(f *fixture) receiver.Settings {
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = f.tel.NewTelemetrySettings()
	return set
}

// refusalCase is a request the receiver must refuse, and how.
type refusalCase struct {
	method  string // POST when empty
	headers map[string]string
	body    any
	code    int
	reason  string
	message string
}

// expectRefusal sends tc to path and checks the JSON error body, its message, and that it was counted.
func (f *fixture) expectRefusal(t *testing.T, path, endpoint string, tc refusalCase) response {
	t.Helper()
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	before := f.requests(endpoint, tc.code, tc.reason)
	resp := f.do(method, path, tc.headers, tc.body)
	require.Equal(t, tc.code, resp.code, "%s", resp.raw)
	assert.Contains(t, resp.errorMessage(t), tc.message)
	assert.Equal(t, "application/json", resp.header.Get("Content-Type"))
	assert.Equal(t, before+1, f.requests(endpoint, tc.code, tc.reason), "counted under %s", tc.reason)
	return resp
}
