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

	"github.com/tfocol/tfocol/components/extension/tfoauthextension/keyfile"
	"github.com/tfocol/tfocol/internal/principal"
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

	// Without x-workspace-id the request is accepted; the workspace processor decides what to do with it.
	_, err = f.auth(keyHeaders(id, secret))
	require.NoError(t, err)
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
		keyHeaders(id, "tfs_wrong-secret-value"), // now throttled
		keyHeaders(id, secret),                   // throttled although right
		keyHeaders("tfs_in-the-id-header", "x"),  // secret pasted into the id header
		bearerHeaders(token, "X-Workspace-Id", ws2),
		bearerHeaders(expired),
		bearerHeaders(token[:len(token)-3] + "AAA"),
	} {
		_, err := f.authFrom("198.51.100."+string(rune('0'+len(errs))), h)
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

func TestThrottlePerClientAddress(t *testing.T) {
	f := newFixture(t, withThrottle(3, 200*time.Millisecond))
	id, secret := f.addKey([]string{ws1})
	f.start()

	for range 3 {
		_, err := f.authFrom("203.0.113.5", keyHeaders("tfk_guess", "tfs_guess"))
		require.Equal(t, codes.Unauthenticated, status.Code(err))
	}
	_, err := f.authFrom("203.0.113.5", keyHeaders(id, secret))
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "blocked address is refused even with a valid key")
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		retry, _ = d.(*errdetails.RetryInfo)
	}
	require.NotNil(t, retry, "429 carries RetryInfo so exporters back off")
	assert.Positive(t, retry.GetRetryDelay().AsDuration())
	assert.Equal(t, int64(1), f.count("throttled", "client_throttled"))
	require.Len(t, f.logs.FilterMessage("Throttling client address after repeated authentication failures").All(), 1)

	_, err = f.authFrom("203.0.113.6", keyHeaders(id, secret))
	assert.NoError(t, err, "other addresses are unaffected")

	time.Sleep(250 * time.Millisecond)
	_, err = f.authFrom("203.0.113.5", keyHeaders(id, secret))
	assert.NoError(t, err, "the block lifts after the window")
}

func TestThrottlePerKeyID(t *testing.T) {
	f := newFixture(t, withThrottle(3, time.Minute))
	id, secret := f.addKey([]string{ws1})
	otherID, otherSecret := f.addKey([]string{ws1})
	f.start()

	// Wrong secrets for one key id from many addresses (a distributed guess).
	for i := range 3 {
		_, err := f.authFrom("203.0.113."+string(rune('1'+i)), keyHeaders(id, "tfs_guess"))
		require.Equal(t, codes.Unauthenticated, status.Code(err))
	}
	_, err := f.authFrom("203.0.113.9", keyHeaders(id, secret))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, int64(1), f.count("throttled", "key_throttled"))
	_, err = f.authFrom("203.0.113.9", keyHeaders(otherID, otherSecret))
	assert.NoError(t, err, "other keys are unaffected")

	// Malformed ids (here 64 KiB) are not tracked, so a client cannot fill the throttle's memory with them.
	tracked := f.ext.throttle.keys.Len()
	_, err = f.authFrom("203.0.113.10", keyHeaders("tfk_"+strings.Repeat("x", 64<<10), "tfs_guess"))
	assert.Equal(t, codes.Unauthenticated, status.Code(err))
	assert.Equal(t, tracked, f.ext.throttle.keys.Len())
}

func TestThrottleCountsOnlyAuthenticationFailures(t *testing.T) {
	f := newFixture(t, withThrottle(2, time.Minute))
	id, secret := f.addKey([]string{ws1})
	f.start()
	for range 5 {
		_, err := f.auth(keyHeaders(id, secret, "X-Workspace-Id", ws2))
		require.Equal(t, codes.PermissionDenied, status.Code(err))
	}
	_, err := f.auth(keyHeaders(id, secret))
	assert.NoError(t, err, "403s come from valid credentials and do not throttle")
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
	assert.Nil(t, info.Metadata.Get(HeaderKeySecret))
	assert.Nil(t, info.Metadata.Get("authorization"))
	assert.Equal(t, []string{id}, info.Metadata.Get(HeaderKeyID), "the key id is not a secret and stays")
	assert.Equal(t, []string{ws1}, info.Metadata.Get("x-workspace-id"))
	assert.Equal(t, []string{"k-1"}, info.Metadata.Get("idempotency-key"))
	assert.Equal(t, "192.0.2.1", info.Addr.String())
	p, ok := principal.FromContext(ctx)
	require.True(t, ok)
	assert.Equal(t, id, p.KeyID)
}
