package tfoauthextension

import (
	"context"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tfocol/tfocol/internal/credentials/keyfile"
	"github.com/tfocol/tfocol/internal/credentials/tokenfile"
	"github.com/tfocol/tfocol/internal/httpstatus"
	"github.com/tfocol/tfocol/internal/principal"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// outcome is one authentication decision; each maps to a status code, a client message and metric attributes.
type outcome uint8

const (
	outAPIKey outcome = iota
	outJWT
	outMissing
	outMalformed
	outUnknownKey
	outWrongSecret
	outKeyDisabled
	outKeyExpired
	outAPIKeysOff
	outJWTOff
	outInvalidToken
	outTokenExpired
	outTokenNotYetValid
	outTokenClaims
	outTokenRevoked
	outTokenSuperseded
	outBadAgentID
	outWorkspaceForbidden
	outNoScopes
	outClientThrottled
	outKeyThrottled
	numOutcomes
)

// Client-facing messages. Every failed credential check gets the same message, so responses tell an attacker
// nothing about which part was wrong (the reason is in metrics and debug logs only).
const (
	msgMissing   = "missing credentials: send X-TelemetryFlow-Key-ID and X-TelemetryFlow-Key-Secret, or Authorization: Bearer <enrollment token>"
	msgFailed    = "authentication failed"
	msgAgentID   = "invalid X-TelemetryFlow-Agent-ID: at most 256 printable characters"
	msgWorkspace = "credentials are not allowed to write to the requested workspace"
	msgNoScopes  = "credentials do not grant any signal"
	msgThrottled = "too many failed authentication attempts; retry later"
)

var outcomeTable = [numOutcomes]struct {
	result, reason string
	code           codes.Code
	msg            string
}{
	outAPIKey:             {"accepted", "api_key", codes.OK, ""},
	outJWT:                {"accepted", "jwt", codes.OK, ""},
	outMissing:            {"unauthenticated", "missing_credentials", codes.Unauthenticated, msgMissing},
	outMalformed:          {"unauthenticated", "malformed_credentials", codes.Unauthenticated, msgFailed},
	outUnknownKey:         {"unauthenticated", "unknown_key", codes.Unauthenticated, msgFailed},
	outWrongSecret:        {"unauthenticated", "wrong_secret", codes.Unauthenticated, msgFailed},
	outKeyDisabled:        {"unauthenticated", "key_disabled", codes.Unauthenticated, msgFailed},
	outKeyExpired:         {"unauthenticated", "key_expired", codes.Unauthenticated, msgFailed},
	outAPIKeysOff:         {"unauthenticated", "api_keys_not_enabled", codes.Unauthenticated, msgFailed},
	outJWTOff:             {"unauthenticated", "jwt_not_enabled", codes.Unauthenticated, msgFailed},
	outInvalidToken:       {"unauthenticated", "invalid_token", codes.Unauthenticated, msgFailed},
	outTokenExpired:       {"unauthenticated", "token_expired", codes.Unauthenticated, msgFailed},
	outTokenNotYetValid:   {"unauthenticated", "token_not_yet_valid", codes.Unauthenticated, msgFailed},
	outTokenClaims:        {"unauthenticated", "token_claims", codes.Unauthenticated, msgFailed},
	outTokenRevoked:       {"unauthenticated", "token_revoked", codes.Unauthenticated, msgFailed},
	outTokenSuperseded:    {"unauthenticated", "token_superseded", codes.Unauthenticated, msgFailed},
	outBadAgentID:         {"unauthenticated", "invalid_agent_id", codes.InvalidArgument, msgAgentID},
	outWorkspaceForbidden: {"forbidden", "workspace_not_allowed", codes.PermissionDenied, msgWorkspace},
	outNoScopes:           {"forbidden", "no_scopes", codes.PermissionDenied, msgNoScopes},
	outClientThrottled:    {"throttled", "client_throttled", codes.ResourceExhausted, msgThrottled},
	outKeyThrottled:       {"throttled", "key_throttled", codes.ResourceExhausted, msgThrottled},
}

// countsAsFailure: outcomes that feed the throttle. Forbidden workspaces come from valid credentials and
// throttles are already throttled, so neither counts.
func (o outcome) countsAsFailure() bool {
	return outcomeTable[o].code == codes.Unauthenticated || o == outBadAgentID
}

var (
	// Pre-built so the hot path does not allocate them.
	outcomeErrs  [numOutcomes]error
	outcomeAttrs [numOutcomes]metric.AddOption
)

func init() {
	for o := range numOutcomes {
		e := outcomeTable[o]
		if e.code != codes.OK {
			outcomeErrs[o] = status.Error(e.code, e.msg)
		}
		outcomeAttrs[o] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("result", e.result), attribute.String("reason", e.reason)))
	}
}

// throttledError is ResourceExhausted with RetryInfo, which OTLP exporters honour as "retry after".
func throttledError(retryAfter time.Duration) error {
	st := status.New(codes.ResourceExhausted, msgThrottled)
	secs := max(time.Second, retryAfter.Round(time.Second))
	if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(secs)}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// Authenticate implements extensionauth.Server. Errors are gRPC status errors: Unauthenticated (401),
// PermissionDenied (403), ResourceExhausted with RetryInfo (429), InvalidArgument (400). They never contain the
// presented secret or token.
func (e *authExtension) Authenticate(ctx context.Context, sources map[string][]string) (context.Context, error) {
	now := e.now()
	addr := clientAddr(client.FromContext(ctx).Addr)
	p, out, retryAfter := e.authenticate(sources, addr, now)
	e.telemetry.TfocolAuthRequests.Add(ctx, 1, outcomeAttrs[out])
	switch out {
	case outAPIKey, outJWT:
		return withoutCredentials(principal.NewContext(ctx, p)), nil
	case outClientThrottled, outKeyThrottled:
		return ctx, throttledError(retryAfter)
	}
	return ctx, outcomeErrs[out]
}

// credentialMetadataKeys are request headers that must not travel further than this extension.
var credentialMetadataKeys = []string{strings.ToLower(requestcontract.HeaderKeySecret), strings.ToLower(requestcontract.HeaderAuthorization)}

// withoutCredentials drops the secret and the bearer token from client.Info.Metadata. With include_metadata on
// a receiver, every request header is copied there, and exporterhelper's persistent queue (feature gate
// exporter.PersistRequestContext, beta and on in v0.149.0) writes that metadata to disk with each queued
// request: without this, API key secrets and tokens would end up in the gateway's queue files.
func withoutCredentials(ctx context.Context) context.Context {
	info := client.FromContext(ctx)
	kept := scratchMaps.Get().(map[string][]string)
	defer func() {
		clear(kept)
		scratchMaps.Put(kept)
	}()
	found := false
	for k := range info.Metadata.Keys() { // keys are lower case
		if k == credentialMetadataKeys[0] || k == credentialMetadataKeys[1] {
			found = true
			continue
		}
		kept[k] = info.Metadata.Get(k)
	}
	if !found {
		return ctx // include_metadata is off, or the credentials were not in it
	}
	info.Metadata = client.NewMetadata(kept) // copies the map, so the scratch map can be reused
	return client.NewContext(ctx, info)
}

// scratchMaps recycles the temporary header map withoutCredentials builds for every request.
var scratchMaps = sync.Pool{New: func() any { return make(map[string][]string, 16) }}

// authenticate verifies the presented credential first and consults the throttle only when it failed: a
// credential that verifies is always let through, whatever else came from its address or for its key id.
func (e *authExtension) authenticate(sources map[string][]string, addr netip.Addr, now time.Time) (*principal.Principal, outcome, time.Duration) {
	cred := parseCredentials(sources)
	var p *principal.Principal
	var out outcome
	knownKeyID := ""
	switch cred.kind {
	case credNone:
		out = outMissing
	case credIncomplete, credUnsupported:
		out = outMalformed
	case credBadAgentID:
		out = outBadAgentID
	case credAPIKey:
		p, out = e.authenticateKey(cred, now)
		if idx := e.keys.Load(); idx != nil && idx.Has(cred.keyID) {
			knownKeyID = cred.keyID // only ids that exist are logged: a client may put anything in the header
		}
	case credBearer:
		p, out = e.authenticateToken(cred, now)
	}
	if !out.countsAsFailure() {
		return p, out, 0
	}

	throttleKey := ""
	if out == outWrongSecret && keyfile.ValidID(cred.keyID) {
		// Only a wrong secret for an existing key id is counted for the (key id, address) pair; unknown ids,
		// revoked and expired keys count for their address only, so random ids cannot fill the pair table.
		throttleKey = cred.keyID
	}
	v := e.throttle.failure(addr, throttleKey, now)
	if v.addrNowBlocked {
		e.logger.Warn("Throttling failed authentication attempts from a client address",
			zap.Stringer("client_address", addr), zap.Duration("for", e.cfg.Throttle.Window))
	}
	if v.pairNowBlocked {
		e.logger.Warn("Throttling failed authentication attempts for a key id from a client address",
			zap.String("key_id", knownKeyID), zap.Stringer("client_address", addr), zap.Duration("for", e.cfg.Throttle.Window))
	}
	// A revoked or expired key presented with its own secret, and a genuine token that was revoked or rotated out,
	// get a definitive 401 even when their address is throttled: retrying later will not help, and the answer
	// reveals nothing about any other credential.
	definitive := out == outKeyDisabled || out == outKeyExpired || out == outTokenRevoked || out == outTokenSuperseded
	switch {
	case definitive:
	case v.pairThrottled:
		return nil, outKeyThrottled, v.retryAfter
	case v.addrThrottled:
		return nil, outClientThrottled, v.retryAfter
	}
	e.logger.Debug("Request failed authentication",
		zap.String("reason", outcomeTable[out].reason), zap.Stringer("client_address", addr), zap.String("key_id", knownKeyID))
	return p, out, 0
}

func (e *authExtension) authenticateKey(cred presented, now time.Time) (*principal.Principal, outcome) {
	idx := e.keys.Load()
	if idx == nil {
		return nil, outAPIKeysOff
	}
	key, res := idx.Verify(cred.keyID, cred.secret, now)
	switch res {
	case keyfile.UnknownKey:
		return nil, outUnknownKey
	case keyfile.WrongSecret:
		return nil, outWrongSecret
	case keyfile.Disabled:
		return nil, outKeyDisabled
	case keyfile.Expired:
		return nil, outKeyExpired
	}
	p := &principal.Principal{
		Kind:       principal.KindAPIKey,
		Subject:    key.ID,
		KeyID:      key.ID,
		AgentID:    cred.agentID,
		Workspaces: key.Workspaces,
		Scopes:     key.Scopes,
	}
	if key.ExpiresAt != nil {
		p.ExpiresAt = *key.ExpiresAt
	}
	return p, e.authorize(p, cred.workspaces)
}

func (e *authExtension) authenticateToken(cred presented, now time.Time) (*principal.Principal, outcome) {
	if e.jwt == nil {
		return nil, outJWTOff
	}
	vt, res := e.jwt.verify(cred.token)
	switch res {
	case tokenInvalid:
		return nil, outInvalidToken
	case tokenExpired:
		return nil, outTokenExpired
	case tokenNotYetValid:
		return nil, outTokenNotYetValid
	case tokenBadClaims:
		return nil, outTokenClaims
	}
	if idx := e.tokens.Load(); idx != nil && vt.id != "" {
		switch idx.Check(vt.id, now) {
		case tokenfile.StatusRevoked:
			return nil, outTokenRevoked
		case tokenfile.StatusSuperseded:
			return nil, outTokenSuperseded
		}
	}
	p := &principal.Principal{
		Kind:       principal.KindJWT,
		Subject:    vt.subject,
		AgentID:    cred.agentID,
		Workspaces: []string{vt.workspace},
		Scopes:     vt.scopes,
		TokenID:    vt.id,
		Roles:      vt.roles,
		ExpiresAt:  vt.expiresAt,
	}
	return p, e.authorize(p, cred.workspaces)
}

// authorize checks the requested workspaces (every x-workspace-id value sent) and that some signal is granted.
func (e *authExtension) authorize(p *principal.Principal, requested []string) outcome {
	for _, ws := range requested {
		if !p.AllowsWorkspace(ws) {
			return outWorkspaceForbidden
		}
	}
	if len(p.Scopes) == 0 {
		return outNoScopes
	}
	if p.Kind == principal.KindJWT {
		return outJWT
	}
	return outAPIKey
}

// GetHTTPHandler implements extensionmiddleware.HTTPServer (`middlewares: [{id: tfo_auth}]` on an HTTP
// receiver). It authenticates like Authenticate but answers with the right HTTP status: confighttp v0.149.0 turns
// every error from an `auth:` authenticator into 401, so 403 and 429 are only possible through this path.
func (e *authExtension) GetHTTPHandler(context.Context) (func(context.Context, http.Handler) (http.Handler, error), error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := principal.FromContext(r.Context()); ok {
				next.ServeHTTP(w, r) // already authenticated by tfo_auth as the `auth:` authenticator
				return
			}
			ctx, err := e.Authenticate(r.Context(), r.Header)
			if err != nil {
				writeHTTPError(w, r, status.Convert(err))
				return
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		}), nil
	}, nil
}

// writeHTTPError answers like the OTLP/HTTP receiver does: a google.rpc.Status body in the request's encoding.
func writeHTTPError(w http.ResponseWriter, r *http.Request, st *status.Status) {
	code := httpstatus.FromGRPC(st.Code())
	h := w.Header()
	switch code {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="tfocol"`)
	case http.StatusTooManyRequests:
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				h.Set("Retry-After", strconv.FormatInt(int64(ri.GetRetryDelay().AsDuration()/time.Second), 10))
			}
		}
	}
	var body []byte
	var err error
	switch contentType(r) {
	case "application/json":
		h.Set("Content-Type", "application/json")
		body, err = protojson.Marshal(st.Proto())
	case "application/x-protobuf":
		h.Set("Content-Type", "application/x-protobuf")
		body, err = proto.Marshal(st.Proto())
	default:
		h.Set("Content-Type", "text/plain; charset=utf-8")
		body = []byte(st.Message() + "\n")
	}
	if err != nil {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		body = []byte(st.Message() + "\n")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func contentType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}
