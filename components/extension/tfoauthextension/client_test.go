package tfoauthextension

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/requestcontract"
)

func newClientExt(t *testing.T, mut func(*Config)) (*authExtension, *observer.ObservedLogs) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.KeyID, cfg.KeySecret, cfg.AgentID, cfg.WorkspaceID = "tfk_agent", "tfs_agent-secret", "host-1", ws1
	if mut != nil {
		mut(cfg)
	}
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zapcore.DebugLevel)
	set := componenttest.NewNopTelemetrySettings()
	set.Logger = zap.New(core)
	ext, err := newAuthExtension(cfg, set)
	require.NoError(t, err)
	require.NoError(t, ext.Start(t.Context(), componenttest.NewNopHost()))
	return ext, logs
}

type seenRequest struct {
	header http.Header
	body   []byte
}

func recordingServer(t *testing.T, code int) (*httptest.Server, func() []seenRequest) {
	var mu sync.Mutex
	var seen []seenRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, seenRequest{r.Header.Clone(), body})
		mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seenRequest { mu.Lock(); defer mu.Unlock(); return append([]seenRequest(nil), seen...) }
}

func TestRoundTripperAddsHeadersAndStableIdempotencyKey(t *testing.T) {
	ext, _ := newClientExt(t, nil)
	srv, seen := recordingServer(t, http.StatusOK)
	rt, err := ext.RoundTripper(http.DefaultTransport)
	require.NoError(t, err)
	hc := &http.Client{Transport: rt}

	send := func(path string, body []byte) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		require.NoError(t, err)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Empty(t, req.Header.Get(requestcontract.HeaderKeySecret), "the caller's request is not modified")
	}
	send("/v1/traces", []byte("payload-1"))
	send("/v1/traces", []byte("payload-1")) // a retry of the same batch
	send("/v1/traces", []byte("payload-2"))
	send("/v1/logs", []byte("payload-1"))

	got := seen()
	require.Len(t, got, 4)
	h := got[0].header
	assert.Equal(t, "tfk_agent", h.Get(requestcontract.HeaderKeyID))
	assert.Equal(t, "tfs_agent-secret", h.Get(requestcontract.HeaderKeySecret))
	assert.Equal(t, "host-1", h.Get(requestcontract.HeaderAgentID))
	assert.Equal(t, ws1, h.Get(requestcontract.HeaderWorkspaceID))
	assert.Equal(t, []byte("payload-1"), got[0].body, "body still sent after hashing")

	k := func(i int) string { return got[i].header.Get(requestcontract.HeaderIdempotencyKey) }
	_, err = uuid.Parse(k(0))
	require.NoError(t, err, "Idempotency-Key is a UUID")
	assert.Equal(t, k(0), k(1), "same body, same key")
	assert.NotEqual(t, k(0), k(2), "different body, different key")
	assert.NotEqual(t, k(0), k(3), "different signal, different key")

	// A second extension instance (an agent restart replaying its persistent queue) derives the same key.
	ext2, _ := newClientExt(t, nil)
	rt2, err := ext2.RoundTripper(http.DefaultTransport)
	require.NoError(t, err)
	hc = &http.Client{Transport: rt2}
	send("/v1/traces", []byte("payload-1"))
	assert.Equal(t, k(0), seen()[4].header.Get(requestcontract.HeaderIdempotencyKey))
}

func TestRoundTripperKeepsDataOnAuthFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		retry  bool
		server int
		want   int
	}{
		{"401 becomes retryable", true, http.StatusUnauthorized, http.StatusServiceUnavailable},
		{"403 becomes retryable", true, http.StatusForbidden, http.StatusServiceUnavailable},
		{"opt out keeps 401", false, http.StatusUnauthorized, http.StatusUnauthorized},
		{"other codes untouched", true, http.StatusBadRequest, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ext, logs := newClientExt(t, func(c *Config) { c.RetryOnAuthFailure = tc.retry })
			srv, _ := recordingServer(t, tc.server)
			rt, err := ext.RoundTripper(http.DefaultTransport)
			require.NoError(t, err)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader([]byte("x")))
			resp, err := rt.RoundTrip(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.want, resp.StatusCode)
			if tc.want != tc.server {
				require.Len(t, logs.FilterMessageSnippet("refused this agent's credentials").All(), 1)
				req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader([]byte("x")))
				resp, err = rt.RoundTrip(req)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Len(t, logs.FilterMessageSnippet("refused this agent's credentials").All(), 1, "repeats are not logged again at once")
			}
			for _, e := range logs.All() {
				assert.NotContains(t, fmt.Sprint(e.ContextMap()), "tfs_agent-secret")
			}
		})
	}
}

func TestClientRequiresCredentials(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.KeysFile = "keys.yaml"
	ext, err := newAuthExtension(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	_, err = ext.RoundTripper(http.DefaultTransport)
	assert.ErrorIs(t, err, errNotClient)
	_, err = ext.PerRPCCredentials()
	assert.ErrorIs(t, err, errNotClient)
}

// Agent and gateway in one process over real gRPC: the agent's PerRPCCredentials authenticate against the
// gateway's Authenticate (wired like configgrpc's auth interceptor), and a refusal becomes Unavailable.
func TestGRPCAgentToGateway(t *testing.T) {
	gw := newFixture(t)
	id, secret := gw.addKey([]string{ws1})
	gw.start()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		if p, ok := peer.FromContext(ctx); ok {
			ctx = client.NewContext(ctx, client.Info{Addr: p.Addr})
		}
		ctx, err := gw.ext.Authenticate(ctx, md)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	call := func(keySecret string) error {
		agent, _ := newClientExt(t, func(c *Config) { c.KeyID, c.KeySecret = id, configopaqueString(keySecret) })
		creds, err := agent.PerRPCCredentials()
		require.NoError(t, err)
		mw, err := agent.GetGRPCClientOptions(t.Context())
		require.NoError(t, err)
		opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds)}, mw...)
		conn, err := grpc.NewClient(lis.Addr().String(), opts...)
		require.NoError(t, err)
		defer conn.Close()
		_, err = healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
		return err
	}
	require.NoError(t, call(secret))
	assert.Equal(t, int64(1), gw.count("accepted", "api_key"))

	err = call("tfs_wrong")
	assert.Equal(t, codes.Unavailable, status.Code(err), "exporter keeps the data and retries")
	assert.NotContains(t, err.Error(), "tfs_wrong")
	assert.Equal(t, int64(1), gw.count("unauthenticated", "wrong_secret"))
}
