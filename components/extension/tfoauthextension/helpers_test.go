package tfoauthextension

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tfocol/tfocol/internal/credentials/keyfile"
)

const (
	ws1 = "0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11"
	ws2 = "5d1f3b9e-2c47-4e8a-b6d0-93a1c7e2f544"
)

var hmacSecret = []byte("0123456789abcdef0123456789abcdef-test-only")

// fixture is a started server-side extension over files in a temp dir, with observed logs and metrics.
type fixture struct {
	t        *testing.T
	dir      string
	keysPath string
	cfg      *Config
	ext      *authExtension
	tel      *componenttest.Telemetry
	logs     *observer.ObservedLogs
	keys     *keyfile.File
}

type fixtureOpt func(*Config)

func withJWT(mut func(*JWTConfig)) fixtureOpt {
	return func(c *Config) {
		j := defaultJWTConfig()
		mut(&j)
		c.JWT = configoptional.Some(j)
	}
}

func withKeysFile(path string) fixtureOpt { return func(c *Config) { c.KeysFile = path } }

func withThrottle(maxFailures int, window time.Duration) fixtureOpt {
	return func(c *Config) { c.Throttle.MaxFailures, c.Throttle.Window = maxFailures, window }
}

func newFixture(t *testing.T, opts ...fixtureOpt) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, keys: &keyfile.File{Version: keyfile.CurrentVersion}}
	f.cfg = createDefaultConfig().(*Config)
	f.cfg.JWT = configoptional.None[JWTConfig]()
	f.cfg.ReloadInterval = 0 // tests rely on file events, not polling
	for _, o := range opts {
		o(f.cfg)
	}
	if f.cfg.KeysFile == "" {
		f.cfg.KeysFile = filepath.Join(dir, "keys.yaml")
		require.NoError(t, keyfile.Save(f.cfg.KeysFile, f.keys))
	}
	f.keysPath = f.cfg.KeysFile
	require.NoError(t, f.cfg.Validate())
	f.tel = componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, f.tel.Shutdown(context.Background())) })
	core, logs := observer.New(zapcore.DebugLevel)
	f.logs = logs
	set := f.tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	ext, err := newAuthExtension(f.cfg, set)
	require.NoError(t, err)
	f.ext = ext
	return f
}

func (f *fixture) start() *fixture {
	f.t.Helper()
	require.NoError(f.t, f.ext.Start(context.Background(), componenttest.NewNopHost()))
	f.t.Cleanup(func() { require.NoError(f.t, f.ext.Shutdown(context.Background())) })
	return f
}

// addKey mints a key into the key file (saved atomically) and returns its id and secret.
func (f *fixture) addKey(workspaces []string, mutate ...func(*keyfile.Key)) (string, string) {
	f.t.Helper()
	k, secret, err := keyfile.NewKey(workspaces, []string{"traces", "metrics", "logs"}, nil, "", time.Now())
	require.NoError(f.t, err)
	for _, m := range mutate {
		m(&k)
	}
	f.keys.Keys = append(f.keys.Keys, k)
	require.NoError(f.t, keyfile.Save(f.keysPath, f.keys))
	return k.ID, secret
}

func (f *fixture) auth(headers map[string][]string) (context.Context, error) {
	return f.authFrom("192.0.2.10", headers)
}

func (f *fixture) authFrom(ip string, headers map[string][]string) (context.Context, error) {
	ctx := client.NewContext(context.Background(), client.Info{Addr: &net.IPAddr{IP: net.ParseIP(ip)}})
	return f.ext.Authenticate(ctx, headers)
}

// count returns tfocol_auth_requests for result/reason.
func (f *fixture) count(result, reason string) int64 {
	f.t.Helper()
	m, err := f.tel.GetMetric("tfocol_auth_requests")
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		r, _ := dp.Attributes.Value("result")
		why, _ := dp.Attributes.Value("reason")
		if r.AsString() == result && why.AsString() == reason {
			n += dp.Value
		}
	}
	return n
}

func (f *fixture) counter(name, source string) int64 {
	m, err := f.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if s, _ := dp.Attributes.Value("source"); s.AsString() == source {
			n += dp.Value
		}
	}
	return n
}

func keyHeaders(id, secret string, extra ...string) map[string][]string {
	h := map[string][]string{"X-Telemetryflow-Key-Id": {id}, "X-Telemetryflow-Key-Secret": {secret}}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = append(h[extra[i]], extra[i+1])
	}
	return h
}

// JWT signing material shared by the tests; the RSA key is slow to generate, so it is made once.
var (
	signingOnce sync.Once
	edPriv      ed25519.PrivateKey
	edPub       ed25519.PublicKey
	rsaPriv     *rsa.PrivateKey
)

func signingKeys(t *testing.T) {
	signingOnce.Do(func() {
		var err error
		edPub, edPriv, err = ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		rsaPriv, err = rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
	})
}

func writePublicKeys(t *testing.T, path string, keys ...any) {
	t.Helper()
	var out []byte
	for _, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k)
		require.NoError(t, err)
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	require.NoError(t, os.WriteFile(path, out, 0o600))
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return s
}

func tokenClaims(ws string, ttl time.Duration) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub": "edge-agent-7", "iss": "https://anchor.example.com", "aud": "tfocol",
		"workspace_id": ws, "role": "edge-agent", "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
}

func bearerHeaders(token string, extra ...string) map[string][]string {
	h := map[string][]string{"Authorization": {"Bearer " + token}}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = append(h[extra[i]], extra[i+1])
	}
	return h
}

func configopaqueString(s string) configopaque.String { return configopaque.String(s) }

func nopSettings() component.TelemetrySettings { return componenttest.NewNopTelemetrySettings() }
