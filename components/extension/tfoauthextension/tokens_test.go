package tfoauthextension

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/credentials/tokenfile"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

func issuedToken(id string, now time.Time) tokenfile.Token {
	return tokenfile.Token{ID: id, Workspace: ws1, Subject: "edge-agent-7", Role: "edge-agent",
		Issuer: "https://anchor.example.com", Audience: "tfocol", IssuedAt: now.Add(-time.Minute).Truncate(time.Second),
		ExpiresAt: now.Add(time.Hour).Truncate(time.Second)}
}

// The tokens file (tfocol tokens state) refuses revoked tokens and rotated tokens past their overlap window,
// and is reloaded while running; a missing tokens file at start is not an error.
func TestTokensStateRevocationAndOverlap(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "tokens.yaml")
	f := jwtFixture(t, func(j *JWTConfig) { j.TokensFile = statePath })
	now := time.Now()
	active, rotating, superseded, revoked, unlisted := issuedToken("tft_active", now), issuedToken("tft_rotating", now),
		issuedToken("tft_superseded", now), issuedToken("tft_revoked", now), issuedToken("tft_unlisted", now)
	tokens := map[string]string{}
	for _, tk := range []*tokenfile.Token{&active, &rotating, &superseded, &revoked, &unlisted} {
		s, err := tokenfile.Sign(tk, edPriv)
		require.NoError(t, err)
		tokens[tk.ID] = s
	}
	authToken := func(id string) codes.Code {
		_, err := f.auth(bearerHeaders(tokens[id], "X-Workspace-Id", ws1))
		return status.Code(err)
	}
	// No state yet: every validly signed token is accepted.
	for id := range tokens {
		assert.Equal(t, codes.OK, authToken(id), id)
	}

	later, past := now.Add(time.Hour), now.Add(-time.Second)
	rotating.NotAfter, rotating.ReplacedBy = &later, "tft_active"
	superseded.NotAfter, superseded.ReplacedBy = &past, "tft_active"
	revokedAt := now.Truncate(time.Second)
	revoked.RevokedAt = &revokedAt
	st := &tokenfile.State{Version: tokenfile.CurrentVersion, Tokens: []tokenfile.Token{active, rotating, superseded, revoked}}
	require.NoError(t, tokenfile.Save(statePath, st))

	require.Eventually(t, func() bool { return authToken("tft_revoked") == codes.Unauthenticated }, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, codes.Unauthenticated, authToken("tft_superseded"))
	assert.Equal(t, codes.OK, authToken("tft_rotating"), "inside its overlap window")
	assert.Equal(t, codes.OK, authToken("tft_active"))
	assert.Equal(t, codes.OK, authToken("tft_unlisted"), "tokens the state does not know are judged by signature")
	assert.Equal(t, int64(1), f.count("unauthenticated", "token_revoked"))
	assert.Equal(t, int64(1), f.count("unauthenticated", "token_superseded"))

	// A broken state file keeps the last good one.
	require.NoError(t, os.WriteFile(statePath, []byte("version: 7\n"), 0o600))
	require.Eventually(t, func() bool { return f.counter("tfocol_auth_key_reload_failures", sourceJWTTokens) == 1 }, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, codes.Unauthenticated, authToken("tft_revoked"))
	for _, e := range f.logs.All() {
		for _, tok := range tokens {
			assert.NotContains(t, e.Message+fmt.Sprint(e.ContextMap()), tok)
		}
	}
}

func TestTokensMissingPublicKeysFileAtStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-yet")
	f := newFixture(t, withJWT(func(j *JWTConfig) {
		j.PublicKeysFile = filepath.Join(dir, "jwt-public.pem")
		j.TokensFile = filepath.Join(dir, "tokens.yaml")
	}))
	f.start()
	signingKeys(t)
	token := sign(t, jwt.SigningMethodEdDSA, edPriv, tokenClaims(ws1, time.Hour))
	_, err := f.auth(bearerHeaders(token))
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "no public keys yet: no token is accepted")
}

// The agent side sends Authorization: Bearer from token_file (and no key headers) and picks up a rotated token.
func TestTokensClientSendsBearerFromFile(t *testing.T) {
	tokenPath := filepath.Join(t.TempDir(), "agent.token")
	require.NoError(t, os.WriteFile(tokenPath, []byte("header.payload.sig1\n"), 0o600))
	ext, logs := newClientExt(t, func(c *Config) {
		c.KeyID, c.KeySecret, c.TokenFile = "", "", tokenPath
		c.ReloadInterval = 0
	})
	t.Cleanup(func() { _ = ext.Shutdown(t.Context()) })
	srv, seen := recordingServer(t, http.StatusOK)
	rt, err := ext.RoundTripper(http.DefaultTransport)
	require.NoError(t, err)
	send := func() http.Header {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/traces", http.NoBody)
		require.NoError(t, err)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		all := seen()
		return all[len(all)-1].header
	}
	h := send()
	assert.Equal(t, "Bearer header.payload.sig1", h.Get("Authorization"))
	assert.Empty(t, h.Get(requestcontract.HeaderKeyID))
	assert.Empty(t, h.Get(requestcontract.HeaderKeySecret))
	assert.Equal(t, ws1, h.Get(requestcontract.HeaderWorkspaceID))

	creds, err := ext.PerRPCCredentials()
	require.NoError(t, err)
	md, err := creds.GetRequestMetadata(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "Bearer header.payload.sig1", md["authorization"])

	tmp := tokenPath + ".new"
	require.NoError(t, os.WriteFile(tmp, []byte("header.payload.sig2\n"), 0o600))
	require.NoError(t, os.Rename(tmp, tokenPath))
	require.Eventually(t, func() bool { return send().Get("Authorization") == "Bearer header.payload.sig2" }, 5*time.Second, 20*time.Millisecond)
	md, err = creds.GetRequestMetadata(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "Bearer header.payload.sig2", md["authorization"])
	for _, e := range logs.All() {
		assert.NotContains(t, e.Message, "payload")
	}

	cfg := createDefaultConfig().(*Config)
	cfg.KeyID, cfg.KeySecret, cfg.TokenFile = "tfk_x", "tfs_y", tokenPath
	assert.ErrorContains(t, cfg.Validate(), "not both")
}
