package tfoauthextension

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/credentials/keyfile"
	"github.com/tfocol/tfocol/internal/principal"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

func TestValidKeyAttachesPrincipal(t *testing.T) {
	f := newFixture(t)
	id, secret := f.addKey([]string{ws1})
	f.start()

	ctx, err := f.auth(keyHeaders(id, secret, "X-Telemetryflow-Agent-Id", "agent-42", "X-Workspace-Id", ws1))
	require.NoError(t, err)
	p, ok := principal.FromContext(ctx)
	require.True(t, ok)
	assert.Equal(t, principal.KindAPIKey, p.Kind)
	assert.Equal(t, id, p.KeyID)
	assert.Equal(t, id, p.Subject)
	assert.Equal(t, "agent-42", p.AgentID)
	assert.Equal(t, []string{ws1}, p.Workspaces)
	assert.True(t, p.AllowsSignal(principal.SignalLogs))
	assert.Equal(t, int64(1), f.count("accepted", "api_key"))

	assert.True(t, p.ExpiresAt.IsZero(), "a key without expires_at never expires")

	// Without x-workspace-id the request is accepted; the workspace processor decides what to do with it.
	_, err = f.auth(keyHeaders(id, secret))
	require.NoError(t, err)
}

func TestKeyExpiryReachesThePrincipal(t *testing.T) {
	f := newFixture(t)
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	id, secret := f.addKey([]string{ws1}, func(k *keyfile.Key) { k.ExpiresAt = &expires })
	f.start()
	ctx, err := f.auth(keyHeaders(id, secret))
	require.NoError(t, err)
	p, _ := principal.FromContext(ctx)
	assert.True(t, expires.Equal(p.ExpiresAt))
	assert.Empty(t, p.TokenID)
}

func TestHeaderNamesAreCaseInsensitive(t *testing.T) {
	f := newFixture(t)
	id, secret := f.addKey([]string{ws1})
	f.start()
	for name, h := range map[string]map[string][]string{
		"http canonical": {"X-Telemetryflow-Key-Id": {id}, "X-Telemetryflow-Key-Secret": {secret}, "X-Workspace-Id": {ws1}},
		"grpc lowercase": {"x-telemetryflow-key-id": {id}, "x-telemetryflow-key-secret": {secret}, "x-workspace-id": {ws1}},
		"as documented":  {"X-TelemetryFlow-Key-ID": {id}, "X-TelemetryFlow-Key-Secret": {secret}, "x-workspace-id": {ws1}},
		"shouting":       {"X-TELEMETRYFLOW-KEY-ID": {id}, "X-TELEMETRYFLOW-KEY-SECRET": {secret}, "X-WORKSPACE-ID": {ws1}},
	} {
		_, err := f.auth(h)
		assert.NoError(t, err, name)
	}
	// The workspace check must see the header whatever its case.
	_, err := f.auth(map[string][]string{"x-telemetryflow-key-id": {id}, "x-telemetryflow-key-secret": {secret}, "X-WORKSPACE-ID": {ws2}})
	assert.Equal(t, codes.PermissionDenied, status.Code(err))
}

func TestRejections(t *testing.T) {
	f := newFixture(t, withThrottle(0, 0))
	id, secret := f.addKey([]string{ws1})
	disabledID, disabledSecret := f.addKey([]string{ws1}, func(k *keyfile.Key) { k.Disabled = true })
	past := time.Now().Add(-time.Hour)
	expiredID, expiredSecret := f.addKey([]string{ws1}, func(k *keyfile.Key) { k.ExpiresAt = &past })
	noScopeWS := []string{ws2}
	f.start()

	cases := []struct {
		name    string
		headers map[string][]string
		code    codes.Code
		reason  string
	}{
		{"no headers", map[string][]string{}, codes.Unauthenticated, "missing_credentials"},
		{"only user agent", map[string][]string{"User-Agent": {"x"}}, codes.Unauthenticated, "missing_credentials"},
		{"id without secret", map[string][]string{"X-Telemetryflow-Key-Id": {id}}, codes.Unauthenticated, "malformed_credentials"},
		{"basic auth", map[string][]string{"Authorization": {"Basic dXNlcjpwYXNz"}}, codes.Unauthenticated, "malformed_credentials"},
		{"wrong secret", keyHeaders(id, "tfs_wrong"), codes.Unauthenticated, "wrong_secret"},
		{"unknown key", keyHeaders("tfk_unknown", secret), codes.Unauthenticated, "unknown_key"},
		{"disabled key", keyHeaders(disabledID, disabledSecret), codes.Unauthenticated, "key_disabled"},
		{"expired key", keyHeaders(expiredID, expiredSecret), codes.Unauthenticated, "key_expired"},
		{"bearer without jwt configured", bearerHeaders("a.b.c"), codes.Unauthenticated, "jwt_not_enabled"},
		{"other workspace", keyHeaders(id, secret, "X-Workspace-Id", noScopeWS[0]), codes.PermissionDenied, "workspace_not_allowed"},
		{"one allowed one not", keyHeaders(id, secret, "X-Workspace-Id", ws1, "X-Workspace-Id", ws2), codes.PermissionDenied, "workspace_not_allowed"},
		{"control chars in agent id", keyHeaders(id, secret, "X-Telemetryflow-Agent-Id", "a\nb"), codes.InvalidArgument, "invalid_agent_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.count(outcomeResult(c.code), c.reason)
			ctx, err := f.auth(c.headers)
			require.Error(t, err)
			assert.Equal(t, c.code, status.Code(err))
			_, ok := principal.FromContext(ctx)
			assert.False(t, ok, "no principal on failure")
			assert.Equal(t, before+1, f.count(outcomeResult(c.code), c.reason))
		})
	}

	// Every bad credential gets the same message, so the response does not say which part was wrong.
	msgs := map[string]bool{}
	for _, h := range []map[string][]string{keyHeaders(id, "tfs_wrong"), keyHeaders("tfk_unknown", secret),
		keyHeaders(disabledID, disabledSecret), keyHeaders(expiredID, expiredSecret)} {
		_, err := f.auth(h)
		msgs[status.Convert(err).Message()] = true
	}
	assert.Equal(t, map[string]bool{msgFailed: true}, msgs)
}

func outcomeResult(c codes.Code) string {
	switch c {
	case codes.PermissionDenied:
		return "forbidden"
	case codes.ResourceExhausted:
		return "throttled"
	}
	return "unauthenticated"
}

func TestWildcardWorkspace(t *testing.T) {
	f := newFixture(t)
	id, secret := f.addKey([]string{principal.Wildcard})
	f.start()
	_, err := f.auth(keyHeaders(id, secret, "X-Workspace-Id", ws2))
	assert.NoError(t, err)
}

// No secret or token may appear in an error, a log line or a metric attribute, whatever the outcome.
func TestSecretsNeverLeak(t *testing.T) {
	signingKeys(t)
	pub := t.TempDir() + "/pub.pem"
	writePublicKeys(t, pub, edPub)
	f := newFixture(t, withThrottle(3, time.Minute), withJWT(func(j *JWTConfig) { j.PublicKeysFile = pub }))
	id, secret := f.addKey([]string{ws1})
	f.start()
	token := sign(t, jwt.SigningMethodEdDSA, edPriv, tokenClaims(ws1, time.Hour))
	expired := sign(t, jwt.SigningMethodEdDSA, edPriv, tokenClaims(ws1, -time.Hour))

	presented := []string{secret, "tfs_wrong-secret-value", token, expired, "tfs_in-the-id-header"}
	var errs []string
	for _, h := range []map[string][]string{
		keyHeaders(id, secret, "X-Workspace-Id", ws2), // forbidden
		keyHeaders(id, "tfs_wrong-secret-value"),      // wrong
		keyHeaders(id, "tfs_wrong-secret-value"),
		keyHeaders(id, "tfs_wrong-secret-value"), // the third reaches the limit
		keyHeaders(id, "tfs_wrong-secret-value"), // throttled
		keyHeaders("tfs_in-the-id-header", "x"),  // secret pasted into the id header
		bearerHeaders(token, "X-Workspace-Id", ws2),
		bearerHeaders(expired),
		bearerHeaders(token[:len(token)-3] + "AAA"),
	} {
		_, err := f.authFrom("198.51.100.7", h)
		require.Error(t, err)
		errs = append(errs, err.Error())
	}
	for _, e := range f.logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		errs = append(errs, line)
	}
	require.NotEmpty(t, f.logs.FilterMessage("Request failed authentication").All(), "failures are logged at debug level")
	for _, s := range errs {
		for _, p := range presented {
			assert.NotContains(t, s, p)
			assert.NotContains(t, s, strings.TrimPrefix(p, "tfs_"))
		}
	}
}

func retryInfo(err error) *errdetails.RetryInfo {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri
		}
	}
	return nil
}

// An address's failures throttle the failing presentations from it, never a valid credential from it.
func TestThrottlePerClientAddress(t *testing.T) {
	f := newFixture(t, withThrottle(3, 200*time.Millisecond)) // address limit: 5 × 3
	id, secret := f.addKey([]string{ws1})
	f.start()

	for i := range 15 {
		_, err := f.authFrom("203.0.113.5", keyHeaders(fmt.Sprintf("tfk_guess%d", i), "tfs_guess"))
		require.Equal(t, codes.Unauthenticated, status.Code(err), "failure %d", i+1)
	}
	_, err := f.authFrom("203.0.113.5", keyHeaders("tfk_guess-more", "tfs_guess"))
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "failing presentations from a throttled address get 429")
	require.NotNil(t, retryInfo(err), "429 carries RetryInfo so exporters back off")
	assert.Positive(t, retryInfo(err).GetRetryDelay().AsDuration())
	_, err = f.authFrom("203.0.113.5", nil)
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, int64(2), f.count("throttled", "client_throttled"))
	require.Len(t, f.logs.FilterMessage("Throttling failed authentication attempts from a client address").All(), 1)

	_, err = f.authFrom("203.0.113.5", keyHeaders(id, secret))
	assert.NoError(t, err, "a valid key from the throttled address is let through")
	_, err = f.authFrom("203.0.113.6", keyHeaders("tfk_guess", "tfs_guess"))
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "other addresses are unaffected")

	time.Sleep(250 * time.Millisecond)
	_, err = f.authFrom("203.0.113.5", keyHeaders("tfk_guess", "tfs_guess"))
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "the block lifts after the window")
}

// Wrong secrets for a key id throttle that key id from that address only, and never its correct secret.
func TestThrottlePerKeyIDAndAddress(t *testing.T) {
	f := newFixture(t, withThrottle(3, time.Minute))
	id, secret := f.addKey([]string{ws1})
	otherID, _ := f.addKey([]string{ws1})
	f.start()

	for range 3 {
		_, err := f.authFrom("203.0.113.2", keyHeaders(id, "tfs_guess"))
		require.Equal(t, codes.Unauthenticated, status.Code(err))
	}
	_, err := f.authFrom("203.0.113.2", keyHeaders(id, "tfs_guess"))
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "guessing beyond the limit gets 429")
	assert.Equal(t, int64(1), f.count("throttled", "key_throttled"))
	require.Len(t, f.logs.FilterMessage("Throttling failed authentication attempts for a key id from a client address").All(), 1)

	_, err = f.authFrom("203.0.113.1", keyHeaders(id, secret))
	assert.NoError(t, err, "the key's correct secret from another address")
	_, err = f.authFrom("203.0.113.2", keyHeaders(id, secret))
	assert.NoError(t, err, "the key's correct secret from the guessing address itself")
	_, err = f.authFrom("203.0.113.1", keyHeaders(id, "tfs_guess"))
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "the same key id from another address is counted apart")
	_, err = f.authFrom("203.0.113.2", keyHeaders(otherID, "tfs_guess"))
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "another key id from the same address is counted apart")

	// Malformed ids (here 64 KiB) are not tracked per pair, so a client cannot fill the throttle's memory with
	// them; unknown ids are not either (they count for their address only).
	tracked := f.ext.throttle.pairs.Len()
	_, err = f.authFrom("203.0.113.10", keyHeaders("tfk_"+strings.Repeat("x", 64<<10), "tfs_guess"))
	assert.Equal(t, codes.Unauthenticated, status.Code(err))
	_, err = f.authFrom("203.0.113.10", keyHeaders("tfk_unknown", "tfs_guess"))
	assert.Equal(t, codes.Unauthenticated, status.Code(err))
	assert.Equal(t, tracked, f.ext.throttle.pairs.Len())
}

// A revoked key that keeps retrying gets 401 every time and throttles only other failures from its address.
func TestThrottleRevokedKeyCostsNobody(t *testing.T) {
	f := newFixture(t, withThrottle(2, time.Minute)) // address limit 10
	revokedID, revokedSecret := f.addKey([]string{ws1}, func(k *keyfile.Key) { k.Disabled = true })
	id, secret := f.addKey([]string{ws1})
	f.start()
	for i := range 30 {
		_, err := f.authFrom("192.0.2.50", keyHeaders(revokedID, revokedSecret))
		require.Equal(t, codes.Unauthenticated, status.Code(err), "revoked key, attempt %d", i+1)
		_, err = f.authFrom("192.0.2.50", keyHeaders(id, secret))
		require.NoError(t, err, "valid key on the same address, attempt %d", i+1)
	}
	_, err := f.authFrom("192.0.2.50", keyHeaders("tfk_unknown", "tfs_guess"))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "the revoked key's failures count for its address")
}

// IPv6 sources are counted per /64: one host can use every address of its prefix.
func TestThrottleCountsIPv6PerSlash64(t *testing.T) {
	f := newFixture(t, withThrottle(1, time.Minute)) // address limit 5
	f.start()
	for i := range 5 {
		_, err := f.authFrom(fmt.Sprintf("2001:db8:1:2::%x", i+1), keyHeaders("tfk_guess", "tfs_guess"))
		require.Equal(t, codes.Unauthenticated, status.Code(err))
	}
	_, err := f.authFrom("2001:db8:1:2:ffff::1", keyHeaders("tfk_guess", "tfs_guess"))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	_, err = f.authFrom("2001:db8:1:3::1", keyHeaders("tfk_guess", "tfs_guess"))
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "another /64")
}

// The counters are bounded whatever is thrown at them.
func TestThrottleMemoryIsBounded(t *testing.T) {
	f := newFixture(t, withThrottle(3, time.Minute), func(c *Config) { c.Throttle.MaxTracked = 100 })
	id, _ := f.addKey([]string{ws1})
	f.start()
	for i := range 1000 {
		_, _ = f.authFrom(fmt.Sprintf("10.0.%d.%d", i/256, i%256), keyHeaders(id, "tfs_guess"))
	}
	assert.LessOrEqual(t, f.ext.throttle.addrs.Len(), 100)
	assert.LessOrEqual(t, f.ext.throttle.pairs.Len(), 100)
}

func TestThrottleCountsOnlyAuthenticationFailures(t *testing.T) {
	f := newFixture(t, withThrottle(2, time.Minute))
	id, secret := f.addKey([]string{ws1})
	f.start()
	for range 20 {
		_, err := f.auth(keyHeaders(id, secret, "X-Workspace-Id", ws2))
		require.Equal(t, codes.PermissionDenied, status.Code(err))
	}
	_, err := f.auth(keyHeaders(id, "tfs_wrong"))
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "403s come from valid credentials and do not throttle")
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmt.Sprint(v), "\n", " "), "\t", " "))
}

// With include_metadata, request headers are copied into client.Info.Metadata, which the persistent queue writes
// to disk; the secret and the bearer token must not be there after authentication.
func TestCredentialsAreRemovedFromClientMetadata(t *testing.T) {
	f := newFixture(t)
	id, secret := f.addKey([]string{ws1})
	f.start()
	headers := keyHeaders(id, secret, "X-Workspace-Id", ws1, "Idempotency-Key", "k-1", "Authorization", "Bearer ignored.when.key.present")
	ctx := client.NewContext(context.Background(), client.Info{
		Addr:     &net.IPAddr{IP: net.ParseIP("192.0.2.1")},
		Metadata: client.NewMetadata(headers),
	})
	ctx, err := f.ext.Authenticate(ctx, headers)
	require.NoError(t, err)
	info := client.FromContext(ctx)
	assert.Nil(t, info.Metadata.Get(requestcontract.HeaderKeySecret))
	assert.Nil(t, info.Metadata.Get("authorization"))
	assert.Equal(t, []string{id}, info.Metadata.Get(requestcontract.HeaderKeyID), "the key id is not a secret and stays")
	assert.Equal(t, []string{ws1}, info.Metadata.Get("x-workspace-id"))
	assert.Equal(t, []string{"k-1"}, info.Metadata.Get("idempotency-key"))
	assert.Equal(t, "192.0.2.1", info.Addr.String())
	p, ok := principal.FromContext(ctx)
	require.True(t, ok)
	assert.Equal(t, id, p.KeyID)
}
