package tfoauthextension

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/principal"
)

// jwtFixture: HS256 secret and Ed25519 + RSA public keys, issuer and audience enforced, edge-agent role → all signals.
func jwtFixture(t *testing.T, mut ...func(*JWTConfig)) *fixture {
	t.Helper()
	signingKeys(t)
	dir := t.TempDir()
	secretPath := filepath.Join(dir, "hs256.secret")
	require.NoError(t, os.WriteFile(secretPath, append(hmacSecret, '\n'), 0o600))
	pubPath := filepath.Join(dir, "public.pem")
	writePublicKeys(t, pubPath, edPub, &rsaPriv.PublicKey)
	f := newFixture(t, withThrottle(0, 0), withJWT(func(j *JWTConfig) {
		j.HMACSecretFile = secretPath
		j.PublicKeysFile = pubPath
		j.Issuer = "https://anchor.example.com"
		j.Audience = "tfocol"
		j.RoleScopes = map[string][]string{"edge-agent": {"traces", "metrics", "logs"}}
		for _, m := range mut {
			m(j)
		}
	}))
	return f.start()
}

func TestJWTValidTokensAllAlgorithms(t *testing.T) {
	f := jwtFixture(t)
	for name, token := range map[string]string{
		"HS256": sign(t, jwt.SigningMethodHS256, hmacSecret, tokenClaims(ws1, time.Hour)),
		"EdDSA": sign(t, jwt.SigningMethodEdDSA, edPriv, tokenClaims(ws1, time.Hour)),
		"RS256": sign(t, jwt.SigningMethodRS256, rsaPriv, tokenClaims(ws1, time.Hour)),
	} {
		ctx, err := f.auth(bearerHeaders(token, "X-Workspace-Id", ws1, "X-Telemetryflow-Agent-Id", "edge-1"))
		require.NoError(t, err, name)
		p, ok := principal.FromContext(ctx)
		require.True(t, ok)
		assert.Equal(t, principal.KindJWT, p.Kind)
		assert.Equal(t, "edge-agent-7", p.Subject)
		assert.Equal(t, "edge-1", p.AgentID)
		assert.Equal(t, []string{ws1}, p.Workspaces)
		assert.ElementsMatch(t, []string{"traces", "metrics", "logs"}, p.Scopes)
	}
	assert.Equal(t, int64(3), f.count("accepted", "jwt"))

	// The scheme is case-insensitive and gRPC sends a lower-case header name.
	token := sign(t, jwt.SigningMethodEdDSA, edPriv, tokenClaims(ws1, time.Hour))
	_, err := f.auth(map[string][]string{"authorization": {"bearer " + token}, "x-workspace-id": {ws1}})
	assert.NoError(t, err)
}

// The principal tells the components behind the receiver which token it is, its roles and when it expires (the
// edge receiver's enrollment endpoint reports them; rotation needs an admin role).
func TestJWTPrincipalCarriesTokenIDRolesAndExpiry(t *testing.T) {
	f := jwtFixture(t)
	claims := tokenClaims(ws1, time.Hour)
	claims["jti"] = "tft_0a1b2c"
	claims["role"] = []any{"edge-agent", "edge-admin"}
	exp := time.Unix(claims["exp"].(int64), 0)
	ctx, err := f.auth(bearerHeaders(sign(t, jwt.SigningMethodEdDSA, edPriv, claims)))
	require.NoError(t, err)
	p, ok := principal.FromContext(ctx)
	require.True(t, ok)
	assert.Equal(t, "tft_0a1b2c", p.TokenID)
	assert.Equal(t, []string{"edge-agent", "edge-admin"}, p.Roles)
	assert.True(t, exp.Equal(p.ExpiresAt), "%s != %s", exp, p.ExpiresAt)
}

func TestJWTRejections(t *testing.T) {
	f := jwtFixture(t)
	_, otherEdPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	claims := func(mut func(jwt.MapClaims)) jwt.MapClaims {
		c := tokenClaims(ws1, time.Hour)
		mut(c)
		return c
	}
	// The alg-confusion attack: an HS256 token whose HMAC key is the server's RSA public key PEM.
	der, _ := x509.MarshalPKIXPublicKey(&rsaPriv.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	cases := []struct {
		name   string
		token  string
		code   codes.Code
		reason string
	}{
		{"expired", sign(t, jwt.SigningMethodEdDSA, edPriv, tokenClaims(ws1, -time.Minute)), codes.Unauthenticated, "token_expired"},
		{"not yet valid", sign(t, jwt.SigningMethodEdDSA, edPriv, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), codes.Unauthenticated, "token_not_yet_valid"},
		{"no exp", sign(t, jwt.SigningMethodEdDSA, edPriv, claims(func(c jwt.MapClaims) { delete(c, "exp") })), codes.Unauthenticated, "token_claims"},
		{"wrong audience", sign(t, jwt.SigningMethodEdDSA, edPriv, claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" })), codes.Unauthenticated, "token_claims"},
		{"wrong issuer", sign(t, jwt.SigningMethodEdDSA, edPriv, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), codes.Unauthenticated, "token_claims"},
		{"no workspace claim", sign(t, jwt.SigningMethodEdDSA, edPriv, claims(func(c jwt.MapClaims) { delete(c, "workspace_id") })), codes.Unauthenticated, "token_claims"},
		{"signed by another key", sign(t, jwt.SigningMethodEdDSA, otherEdPriv, tokenClaims(ws1, time.Hour)), codes.Unauthenticated, "invalid_token"},
		{"wrong hmac secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-that-is-long-enough!!"), tokenClaims(ws1, time.Hour)), codes.Unauthenticated, "invalid_token"},
		{"alg confusion", sign(t, jwt.SigningMethodHS256, pubPEM, tokenClaims(ws1, time.Hour)), codes.Unauthenticated, "invalid_token"},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, tokenClaims(ws1, time.Hour)), codes.Unauthenticated, "invalid_token"},
		{"unsupported alg", sign(t, jwt.SigningMethodHS512, hmacSecret, tokenClaims(ws1, time.Hour)), codes.Unauthenticated, "invalid_token"},
		{"garbage", "not-a-jwt", codes.Unauthenticated, "invalid_token"},
		{"other workspace", sign(t, jwt.SigningMethodEdDSA, edPriv, tokenClaims(ws2, time.Hour)), codes.PermissionDenied, "workspace_not_allowed"},
		{"no scopes", sign(t, jwt.SigningMethodEdDSA, edPriv, claims(func(c jwt.MapClaims) { c["role"] = "viewer" })), codes.PermissionDenied, "no_scopes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.count(outcomeResult(c.code), c.reason)
			_, err := f.auth(bearerHeaders(c.token, "X-Workspace-Id", ws1))
			require.Error(t, err)
			assert.Equal(t, c.code, status.Code(err))
			assert.NotContains(t, err.Error(), c.token)
			assert.Equal(t, before+1, f.count(outcomeResult(c.code), c.reason))
		})
	}
}

func TestJWTClockSkewAndCachedExpiry(t *testing.T) {
	f := jwtFixture(t, func(j *JWTConfig) { j.ClockSkew = time.Minute })
	now := time.Now()
	f.ext.now = func() time.Time { return now }

	// Expired 30s ago but within the 1m skew: accepted, and cached.
	c := tokenClaims(ws1, time.Hour)
	c["exp"] = now.Add(-30 * time.Second).Unix()
	token := sign(t, jwt.SigningMethodEdDSA, edPriv, c)
	_, err := f.auth(bearerHeaders(token))
	require.NoError(t, err)

	// The cached verdict is re-checked against the clock: beyond the skew it is expired.
	now = now.Add(time.Minute)
	_, err = f.auth(bearerHeaders(token))
	assert.Equal(t, codes.Unauthenticated, status.Code(err))
	assert.Equal(t, int64(1), f.count("unauthenticated", "token_expired"))
}

func TestJWTScopesFromScopeClaim(t *testing.T) {
	f := jwtFixture(t)
	c := tokenClaims(ws1, time.Hour)
	delete(c, "role")
	c["scope"] = "ingest:traces metrics openid"
	ctx, err := f.auth(bearerHeaders(sign(t, jwt.SigningMethodHS256, hmacSecret, c)))
	require.NoError(t, err)
	p, _ := principal.FromContext(ctx)
	assert.Equal(t, []string{"traces", "metrics"}, p.Scopes)

	c["scope"] = []any{"logs"}
	ctx, err = f.auth(bearerHeaders(sign(t, jwt.SigningMethodHS256, hmacSecret, c)))
	require.NoError(t, err)
	p, _ = principal.FromContext(ctx)
	assert.Equal(t, []string{"logs"}, p.Scopes)
}

// Rotating the public keys file revokes tokens signed by a removed key, even ones already cached.
func TestJWTKeyRotationDropsCachedTokens(t *testing.T) {
	f := jwtFixture(t)
	token := sign(t, jwt.SigningMethodEdDSA, edPriv, tokenClaims(ws1, time.Hour))
	_, err := f.auth(bearerHeaders(token))
	require.NoError(t, err)

	newPub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pubPath := f.cfg.JWT.Get().PublicKeysFile
	tmp := pubPath + ".new"
	writePublicKeys(t, tmp, newPub, &rsaPriv.PublicKey)
	require.NoError(t, os.Rename(tmp, pubPath))

	require.Eventually(t, func() bool {
		_, err := f.auth(bearerHeaders(token))
		return status.Code(err) == codes.Unauthenticated
	}, 2*time.Second, 20*time.Millisecond)
	assert.GreaterOrEqual(t, f.counter("tfocol_auth_key_reloads", sourceJWTPublicKeys), int64(2))
}

func TestParsePublicKeysRejects(t *testing.T) {
	_, _, err := parsePublicKeys([]byte("nothing here"))
	assert.ErrorContains(t, err, "no PEM public keys")
	_, _, err = parsePublicKeys(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}))
	assert.ErrorContains(t, err, "unsupported type")
}
