package tfoauthextension

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tfocol/tfocol/internal/principal"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// httpGateway serves the middleware in front of a handler that reports the principal it was given.
func httpGateway(t *testing.T, f *fixture) *httptest.Server {
	t.Helper()
	wrap, err := f.ext.GetHTTPHandler(t.Context())
	require.NoError(t, err)
	h, err := wrap(t.Context(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := principal.FromContext(r.Context())
		if !ok {
			http.Error(w, "no principal", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, p.KeyID)
	}))
	require.NoError(t, err)
	// confighttp's outermost handler puts the peer address into client.Info before any middleware runs.
	withAddr := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr, _ := net.ResolveTCPAddr("tcp", r.RemoteAddr)
		h.ServeHTTP(w, r.WithContext(client.NewContext(r.Context(), client.Info{Addr: addr})))
	})
	srv := httptest.NewServer(withAddr)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, contentType string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/traces", bytes.NewReader([]byte{}))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// Over HTTP the middleware answers 401/403/429 (confighttp's `auth:` hook can only say 401) with an OTLP Status body.
func TestHTTPMiddlewareStatusCodes(t *testing.T) {
	f := newFixture(t, withThrottle(2, time.Minute))
	id, secret := f.addKey([]string{ws1})
	f.start()
	srv := httpGateway(t, f)
	creds := func(secret string, kv ...string) map[string]string {
		h := map[string]string{requestcontract.HeaderKeyID: id, requestcontract.HeaderKeySecret: secret}
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}

	resp, body := post(t, srv.URL, "application/x-protobuf", creds(secret, requestcontract.HeaderWorkspaceID, ws1))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, id, string(body), "principal reached the handler")

	resp, body = post(t, srv.URL, "application/x-protobuf", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, `Bearer realm="tfocol"`, resp.Header.Get("WWW-Authenticate"))
	var st spb.Status
	require.NoError(t, proto.Unmarshal(body, &st))
	assert.Equal(t, int32(codes.Unauthenticated), st.Code)
	assert.Equal(t, msgMissing, st.Message)

	resp, body = post(t, srv.URL, "application/json", creds(secret, requestcontract.HeaderWorkspaceID, ws2))
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.NoError(t, protojson.Unmarshal(body, &st))
	assert.Equal(t, int32(codes.PermissionDenied), st.Code)

	for range 2 {
		resp, body = post(t, srv.URL, "application/x-protobuf", creds("tfs_wrong-guess"))
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.NotContains(t, string(body), "wrong-guess")
	}
	resp, body = post(t, srv.URL, "application/x-protobuf", creds("tfs_wrong-guess"))
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "60", resp.Header.Get("Retry-After"))
	assert.NotContains(t, string(body), "wrong-guess")
	resp, body = post(t, srv.URL, "application/x-protobuf", creds(secret))
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the correct secret is never throttled")
	assert.Equal(t, id, string(body))
}
