package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/e2etest"
)

// testPKI is a throwaway CA that issues the gateway's server certificate and the agent's client certificate.
type testPKI struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	pool  *x509.CertPool
	dir   string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tfocol e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	p := &testPKI{ca: ca, caKey: key, pool: x509.NewCertPool(), dir: t.TempDir()}
	p.pool.AddCert(ca)
	require.NoError(t, os.WriteFile(p.path("ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	return p
}

func (p *testPKI) path(name string) string { return filepath.Join(p.dir, name) }

// issue writes <name>.crt and <name>.key (atomically, as a certificate renewal would) and returns the pair.
func (p *testPKI) issue(t *testing.T, name string, serial int64, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	for file, data := range map[string][]byte{name + ".key": keyPEM, name + ".crt": certPEM} {
		tmp := p.path(file + ".tmp")
		require.NoError(t, os.WriteFile(tmp, data, 0o600))
		require.NoError(t, os.Rename(tmp, p.path(file)))
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	return pair
}

// tokensCLI runs `tfocol tokens <args>` and returns its output.
func tokensCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(e2etest.Binary(t), append([]string{"tokens"}, args...)...).CombinedOutput()
	require.NoError(t, err, "tfocol tokens %v: %s", args, out)
	return string(out)
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

func tokenHeaders(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token, "x-workspace-id": authWS}
}

// tkSend sends one request straight to the gateway over TLS and returns the HTTP status (gRPC codes mapped).
func tkSend(t *testing.T, tgt e2etest.Target) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data := e2etest.GenTraces(1, map[string]string{"service.name": "tokens-direct"})
	if tgt.Protocol == "grpc" {
		err := e2etest.ExportGRPC(ctx, tgt, data)
		switch status.Code(err) {
		case codes.OK:
			return 200
		case codes.Unauthenticated:
			return 401
		}
		return 0
	}
	res, err := e2etest.ExportHTTP(ctx, tgt, data)
	if err != nil {
		return 0
	}
	return res.Status
}

// An agent enrolled with nothing but an issued token sends all three signals through mTLS to the gateway (traces
// over gRPC, metrics and logs over HTTP); its data is sealed in the token's workspace. After a rotation (twice
// with one rotation key: one new token) it keeps working on the new token, the old token stops after the
// overlap, a revoked token stops at once, and a renewed server certificate is served without a restart.
func TestTokensEnrolledAgentOverMTLS(t *testing.T) {
	pki := newTestPKI(t)
	pki.issue(t, "server", 10, true)
	clientCert := pki.issue(t, "client", 11, false)
	dir := t.TempDir()
	signingKey, publicKeys := filepath.Join(dir, "jwt-signing.key"), filepath.Join(dir, "jwt-public.pem")
	state, tokenFile := filepath.Join(dir, "tokens.yaml"), filepath.Join(dir, "agent.token")

	ports := e2etest.NewPorts(t)
	tokensCLI(t, "keygen", "--signing-key", signingKey, "--public-keys", publicKeys)
	out := tokensCLI(t, "issue", "--state", state, "--signing-key", signingKey, "--workspace", authWS, "--role", "edge-agent",
		"--scopes", "traces,metrics,logs", "--ttl", "720h", "--subject", "host-e2e", "--token-file", tokenFile,
		"--ingest-url", "https://"+ports.OTLPHTTP)
	assert.Contains(t, out, "ingest_url:   https://"+ports.OTLPHTTP)
	assert.Contains(t, out, "workspace_id: "+authWS)
	assert.Contains(t, out, "expires_at:")
	oldToken := readToken(t, tokenFile)
	assert.NotContains(t, out, oldToken, "with --token-file the token is not printed")

	gw := e2etest.StartGateway(t, e2etest.Options{
		Configs: []string{"configs/gateway-tls.yaml", rcOverlay},
		Ports:   &ports,
		Env: map[string]string{
			"TFOCOL_JWT_PUBLIC_KEYS_FILE": publicKeys,
			"TFOCOL_JWT_TOKENS_FILE":      state,
			"TFOCOL_TLS_CERT_FILE":        pki.path("server.crt"),
			"TFOCOL_TLS_KEY_FILE":         pki.path("server.key"),
			"TFOCOL_TLS_CLIENT_CA_FILE":   pki.path("ca.crt"),
			"TFOCOL_TLS_RELOAD_INTERVAL":  "1s",
		},
	})
	agent := e2etest.Start(t, e2etest.Options{
		Name:    "agent",
		Configs: []string{"configs/agent.yaml", "configs/agent-tls.yaml", "tests/e2e/testdata/tokens/agent.yaml"},
		Env: map[string]string{
			"TELEMETRYFLOW_ENDPOINT":            "https://" + gw.Ports.OTLPHTTP,
			"TFOCOL_E2E_GATEWAY_GRPC":           gw.Ports.OTLPGRPC,
			"TELEMETRYFLOW_TOKEN_FILE":          tokenFile,
			"TELEMETRYFLOW_AGENT_ID":            "host-e2e",
			"TELEMETRYFLOW_WORKSPACE_ID":        authWS,
			"TELEMETRYFLOW_CA_FILE":             pki.path("ca.crt"),
			"TELEMETRYFLOW_CLIENT_CERT_FILE":    pki.path("client.crt"),
			"TELEMETRYFLOW_CLIENT_KEY_FILE":     pki.path("client.key"),
			"TELEMETRYFLOW_TLS_RELOAD_INTERVAL": "1s",
		},
	})
	receiptsDir := filepath.Join(gw.DataDir, "receipts")
	sendAll := func(tag string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res := map[string]string{"service.name": "tokens-e2e", "case": tag}
		for _, data := range []any{e2etest.GenTraces(10, res), e2etest.GenMetrics(20, res), e2etest.GenLogs(30, res)} {
			r, err := e2etest.ExportHTTP(ctx, agent.HTTP(nil), data)
			require.NoError(t, err)
			require.Equal(t, 200, r.Status, "%s", r.Body)
		}
	}
	sendAll("enrolled")
	rcWaitRecords(t, filepath.Join(receiptsDir, authWS), 60, 60*time.Second)
	_, err := os.Stat(filepath.Join(receiptsDir, e2etest.DefaultWorkspace))
	assert.True(t, os.IsNotExist(err), "nothing sealed in any other workspace")

	mtls := &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{clientCert}}
	httpTLS, grpcTLS := gw.HTTP(nil).WithTLS(mtls), gw.GRPC(nil).WithTLS(mtls)
	withToken := func(tgt e2etest.Target, token string) e2etest.Target {
		tgt.Headers = tokenHeaders(token)
		return tgt
	}
	// Transport: no client certificate, or plaintext, gets nowhere, whatever the credentials.
	assert.Zero(t, tkSend(t, withToken(gw.HTTP(nil).WithTLS(&tls.Config{RootCAs: pki.pool}), oldToken)), "mTLS requires a client certificate")
	assert.Zero(t, tkSend(t, withToken(gw.GRPC(nil).WithTLS(&tls.Config{RootCAs: pki.pool}), oldToken)), "mTLS requires a client certificate (gRPC)")
	assert.NotEqual(t, 200, tkSend(t, withToken(gw.HTTP(nil), oldToken)), "no plaintext on the TLS listener")
	assert.Zero(t, tkSend(t, withToken(gw.GRPC(nil), oldToken)), "no plaintext on the TLS listener (gRPC)")
	assert.Equal(t, 200, tkSend(t, withToken(httpTLS, oldToken)))
	assert.Equal(t, 200, tkSend(t, withToken(grpcTLS, oldToken)))

	// Rotate twice under one rotation key: one new token.
	const overlap = 5 * time.Second
	rotated := time.Now()
	tokensCLI(t, "rotate", "--state", state, "--signing-key", signingKey, "--token-file", tokenFile, "--rotation-key", "e2e-rollover", "--overlap", overlap.String())
	newToken := readToken(t, tokenFile)
	require.NotEqual(t, oldToken, newToken)
	out = tokensCLI(t, "rotate", "--state", state, "--signing-key", signingKey, "--token-file", tokenFile, "--rotation-key", "e2e-rollover", "--overlap", overlap.String())
	assert.Contains(t, out, "already rotated")
	assert.Equal(t, newToken, readToken(t, tokenFile), "the second rotation under the same key issues nothing new")
	var listed []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(tokensCLI(t, "list", "--state", state, "-o", "json")), &listed))
	require.Len(t, listed, 2, "one issued + one rotated token")

	// Inside the overlap both tokens work; the agent re-reads its token file.
	assert.Equal(t, 200, tkSend(t, withToken(httpTLS, oldToken)), "old token inside the overlap")
	assert.Equal(t, 200, tkSend(t, withToken(httpTLS, newToken)))
	e2etest.Eventually(t, 10*time.Second, func() bool { return strings.Count(agent.Logs(), "Loaded enrollment token") >= 2 },
		"the agent did not re-read its token file")

	// After the overlap the old token is refused on both protocols, and the agent keeps delivering.
	time.Sleep(time.Until(rotated.Add(overlap + time.Second)))
	e2etest.Eventually(t, 10*time.Second, func() bool { return tkSend(t, withToken(httpTLS, oldToken)) == 401 }, "old token still accepted after the overlap")
	assert.Equal(t, 401, tkSend(t, withToken(grpcTLS, oldToken)))
	assert.Equal(t, 200, tkSend(t, withToken(grpcTLS, newToken)))
	sendAll("rotated")
	// 60 + 60 through the agent, plus the 5 single spans the direct checks above had accepted.
	rcWaitRecords(t, filepath.Join(receiptsDir, authWS), 125, 60*time.Second)

	metrics := gw.ScrapeMetrics(t)
	accepted, _ := e2etest.MetricSum(t, metrics, "tfocol_auth_requests_total", map[string]string{"result": "accepted", "reason": "jwt"})
	assert.Positive(t, accepted)
	superseded, _ := e2etest.MetricSum(t, metrics, "tfocol_auth_requests_total", map[string]string{"reason": "token_superseded"})
	assert.GreaterOrEqual(t, superseded, 2.0)
	apiKeys, _ := e2etest.MetricSum(t, metrics, "tfocol_auth_requests_total", map[string]string{"reason": "api_key"})
	assert.Zero(t, apiKeys, "the agent used no API key")

	// A renewed server certificate is served without a restart (reload_interval).
	pki.issue(t, "server", 12, true)
	e2etest.Eventually(t, 15*time.Second, func() bool {
		conn, err := tls.Dial("tcp", gw.Ports.OTLPHTTP, &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{clientCert}})
		if err != nil {
			return false
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64() == 12
	}, "the gateway still serves the old certificate")

	// Revocation takes effect at the next reload.
	newID := ""
	for _, l := range listed {
		if l.Status == "active" {
			newID = l.ID
		}
	}
	require.NotEmpty(t, newID)
	tokensCLI(t, "revoke", newID, "--state", state)
	e2etest.Eventually(t, 10*time.Second, func() bool { return tkSend(t, withToken(httpTLS, newToken)) == 401 }, "revoked token still accepted")

	stateData, err := os.ReadFile(state)
	require.NoError(t, err)
	for _, tok := range []string{oldToken, newToken} {
		sig := tok[strings.LastIndex(tok, ".")+1:]
		assert.NotContains(t, gw.Logs()+agent.Logs()+string(stateData), sig, "a token leaked into a log or the state file")
	}
}

// Server TLS without client certificates (TFOCOL_TLS_CLIENT_CA_FILE unset): an agent with an API key verifies the
// gateway's certificate and delivers; a client that does not trust the gateway's CA gets nowhere.
func TestTLSServerOnlyAgentWithAPIKey(t *testing.T) {
	pki := newTestPKI(t)
	pki.issue(t, "server", 20, true)
	gw := e2etest.StartGateway(t, e2etest.Options{
		Configs: []string{"configs/gateway-tls.yaml"},
		Env: map[string]string{
			"TFOCOL_TLS_CERT_FILE": pki.path("server.crt"),
			"TFOCOL_TLS_KEY_FILE":  pki.path("server.key"),
		},
	})
	env := gw.AgentEnv()
	env["TELEMETRYFLOW_ENDPOINT"] = "https://" + gw.Ports.OTLPHTTP
	env["TELEMETRYFLOW_CA_FILE"] = pki.path("ca.crt")
	agent := e2etest.Start(t, e2etest.Options{
		Name:    "agent",
		Configs: []string{"configs/agent.yaml", "configs/agent-tls.yaml", "tests/e2e/testdata/tfoauth/agent.yaml"},
		Env:     env,
	})
	authSendToAgent(t, agent, "tls", 10)
	e2etest.Eventually(t, 20*time.Second, func() bool { return authSpansTagged(gw.Upstream, "tls") == 10 }, "agent data not delivered over TLS")

	trusting := &tls.Config{RootCAs: pki.pool}
	assert.Equal(t, 200, tkSend(t, gw.HTTP(gw.Headers()).WithTLS(trusting)), "no client certificate needed without a client CA")
	assert.Equal(t, 200, tkSend(t, gw.GRPC(gw.Headers()).WithTLS(trusting)))
	assert.Zero(t, tkSend(t, gw.HTTP(gw.Headers()).WithTLS(&tls.Config{RootCAs: x509.NewCertPool()})), "the gateway's certificate must verify")
	assert.NotContains(t, agent.Logs()+gw.Logs(), gw.KeySecret)
}
