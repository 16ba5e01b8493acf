package tfoauthextension

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/requestcontract"
)

// Client-side credential states (authExtension.credState).
const (
	credUnknown int32 = iota
	credValid
	credRefused
)

// CredentialState reports the server's last verdict on this client's credentials: known is false until the
// first response; valid is false after a 401/403 (HTTP) or Unauthenticated/PermissionDenied (gRPC) and true
// after any other answer. The heartbeat receiver reports it (credentialsValid) and sends an event when it changes.
func (e *authExtension) CredentialState() (valid, known bool) {
	switch e.credState.Load() {
	case credValid:
		return true, true
	case credRefused:
		return false, true
	}
	return false, false
}

// observe records a server answer: refused or not.
func (e *authExtension) observe(refused bool) {
	if refused {
		e.credState.Store(credRefused)
	} else {
		e.credState.Store(credValid)
	}
}

// idempotencyNamespace scopes the name-based Idempotency-Key UUIDs to tfocol.
var idempotencyNamespace = uuid.MustParse("6f1c4c3e-5a0b-4f4e-9a55-7c7466636f6c")

var errNotClient = errors.New("tfo_auth: key_id and key_secret, or token_file, must be configured to use this extension on an exporter")

var hdrAuthorizationLower = strings.ToLower(requestcontract.HeaderAuthorization)

// clientHeaders are the static headers every outgoing request carries, in lower case (gRPC metadata wants lower
// case; HTTP canonicalises on Set). With token_file, Authorization is added per request (see bearerHeader).
func (e *authExtension) clientHeaders() map[string]string {
	h := map[string]string{}
	if e.cfg.TokenFile == "" {
		h[strings.ToLower(requestcontract.HeaderKeyID)] = e.cfg.KeyID
		h[strings.ToLower(requestcontract.HeaderKeySecret)] = string(e.cfg.KeySecret)
	}
	if e.cfg.AgentID != "" {
		h[strings.ToLower(requestcontract.HeaderAgentID)] = e.cfg.AgentID
	}
	if e.cfg.WorkspaceID != "" {
		h[strings.ToLower(requestcontract.HeaderWorkspaceID)] = e.cfg.WorkspaceID
	}
	return h
}

// PerRPCCredentials implements extensionauth.GRPCClient.
func (e *authExtension) PerRPCCredentials() (credentials.PerRPCCredentials, error) {
	if !e.cfg.clientEnabled() {
		return nil, errNotClient
	}
	return &perRPCCredentials{ext: e, headers: e.clientHeaders()}, nil
}

// bearerHeader is the current "Bearer <token>" from token_file, or "" when the agent sends API keys. It is
// swapped atomically when the file changes, so a rotated token is picked up by the next request.
func (e *authExtension) bearerHeader() string {
	if p := e.bearer.Load(); p != nil {
		return *p
	}
	return ""
}

type perRPCCredentials struct {
	ext     *authExtension
	headers map[string]string
}

func (c *perRPCCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	b := c.ext.bearerHeader()
	if b == "" {
		return c.headers, nil
	}
	h := make(map[string]string, len(c.headers)+1)
	for k, v := range c.headers {
		h[k] = v
	}
	h[hdrAuthorizationLower] = b
	return h, nil
}

// RequireTransportSecurity is false so agents can reach a gateway over plaintext on loopback, inside a trusted
// network or behind a TLS-terminating sidecar; configure TLS on the exporter everywhere else (configs/agent-tls.yaml,
// docs/security.md).
func (c *perRPCCredentials) RequireTransportSecurity() bool { return false }

// RoundTripper implements extensionauth.HTTPClient.
func (e *authExtension) RoundTripper(base http.RoundTripper) (http.RoundTripper, error) {
	if !e.cfg.clientEnabled() {
		return nil, errNotClient
	}
	return &roundTripper{base: base, ext: e, headers: e.clientHeaders()}, nil
}

type roundTripper struct {
	base    http.RoundTripper
	ext     *authExtension
	headers map[string]string
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context()) // a RoundTripper must not modify the caller's request
	for k, v := range rt.headers {
		r.Header.Set(k, v)
	}
	if b := rt.ext.bearerHeader(); b != "" {
		r.Header.Set(requestcontract.HeaderAuthorization, b)
	}
	if rt.ext.cfg.IdempotencyKey && r.Header.Get(requestcontract.HeaderIdempotencyKey) == "" && r.Body != nil && r.Body != http.NoBody {
		key, err := idempotencyKey(r, rt.ext.cfg.WorkspaceID)
		if err != nil {
			return nil, err
		}
		r.Header.Set(requestcontract.HeaderIdempotencyKey, key)
	}
	resp, err := rt.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	refused := resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden
	rt.ext.observe(refused)
	if !rt.ext.cfg.RetryOnAuthFailure {
		return resp, err
	}
	if refused {
		rt.ext.logRefused(zap.Int("http_status", resp.StatusCode), zap.String("url", r.URL.Redacted()))
		// The OTLP/HTTP exporter drops data on 401/403; 503 makes it retry with backoff.
		resp.StatusCode = http.StatusServiceUnavailable
		resp.Status = "503 Service Unavailable (credentials refused)"
	}
	return resp, nil
}

// idempotencyKey derives a UUID from the request path, workspace and body, so the same payload sent again (a retry,
// or a replay from the persistent queue after a restart) carries the same key.
func idempotencyKey(r *http.Request, workspace string) (string, error) {
	var body []byte
	var err error
	if r.GetBody != nil {
		var rc io.ReadCloser
		if rc, err = r.GetBody(); err != nil {
			return "", err
		}
		body, err = io.ReadAll(rc)
		_ = rc.Close()
	} else {
		body, err = io.ReadAll(r.Body)
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if err != nil {
		return "", err
	}
	name := make([]byte, 0, len(r.URL.Path)+len(workspace)+2+len(body))
	name = append(name, r.URL.Path...)
	name = append(name, 0)
	name = append(name, workspace...)
	name = append(name, 0)
	name = append(name, body...)
	// Version 8 (RFC 9562 custom) with SHA-256: a name-based UUID without SHA-1.
	return uuid.NewHash(sha256.New(), idempotencyNamespace, name, 8).String(), nil
}

// GetGRPCClientOptions implements extensionmiddleware.GRPCClient (`middlewares: [{id: tfo_auth/agent}]` on an
// otlp exporter). Its interceptor
//   - adds the Idempotency-Key (with idempotency_key), derived like the HTTP one from the method, the workspace and
//     the request's protobuf encoding, so a retry, or a replay from the persistent queue after a restart, carries
//     the same key;
//   - turns Unauthenticated/PermissionDenied (on which the OTLP gRPC exporter drops data) into Unavailable (with
//     retry_on_auth_failure), so the data stays queued while the credentials are wrong;
//   - records the server's verdict on the credentials (CredentialState).
func (e *authExtension) GetGRPCClientOptions(context.Context) ([]grpc.DialOption, error) {
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if e.cfg.IdempotencyKey {
				if key, ok := grpcIdempotencyKey(ctx, method, e.cfg.WorkspaceID, req); ok {
					ctx = metadata.AppendToOutgoingContext(ctx, strings.ToLower(requestcontract.HeaderIdempotencyKey), key)
				}
			}
			err := invoker(ctx, method, req, reply, cc, opts...)
			c := status.Code(err)
			refused := c == codes.Unauthenticated || c == codes.PermissionDenied
			if err == nil || refused { // other errors say nothing about the credentials
				e.observe(refused)
			}
			if refused && e.cfg.RetryOnAuthFailure {
				e.logRefused(zap.String("grpc_code", c.String()), zap.String("method", method))
				return status.Error(codes.Unavailable, "credentials refused by the server ("+c.String()+"): "+status.Convert(err).Message())
			}
			return err
		})}, nil
}

// protoMarshaler is what pdata's OTLP export requests implement (and what its gRPC codec encodes them with).
type protoMarshaler interface {
	SizeProto() int
	MarshalProto([]byte) int
}

// grpcIdempotencyKey derives the Idempotency-Key of a unary call from its method, the workspace and the request's
// encoding; ok is false when the caller set one already or the request is not an OTLP export request.
func grpcIdempotencyKey(ctx context.Context, method, workspace string, req any) (string, bool) {
	if md, ok := metadata.FromOutgoingContext(ctx); ok && len(md.Get(requestcontract.HeaderIdempotencyKey)) > 0 {
		return "", false
	}
	m, ok := req.(protoMarshaler)
	if !ok {
		return "", false
	}
	size := m.SizeProto()
	name := make([]byte, 0, len(method)+len(workspace)+2+size)
	name = append(name, method...)
	name = append(name, 0)
	name = append(name, workspace...)
	name = append(name, 0)
	body := make([]byte, size)
	n := m.MarshalProto(body)
	name = append(name, body[:n]...)
	return uuid.NewHash(sha256.New(), idempotencyNamespace, name, 8).String(), true
}

// refusalLogInterval spaces out the refusal warning: the exporter retries every few seconds for as long as the
// credentials stay wrong.
const refusalLogInterval = 10 * time.Second

func (e *authExtension) logRefused(fields ...zap.Field) {
	now := time.Now().UnixNano()
	last := e.lastRefusalLog.Load()
	if now-last < int64(refusalLogInterval) || !e.lastRefusalLog.CompareAndSwap(last, now) {
		return
	}
	if e.cfg.TokenFile != "" {
		e.logger.Warn("Gateway refused this agent's enrollment token; keeping the data queued and retrying. Check the token in token_file (expired, revoked or rotated?) and workspace_id.",
			append(fields, zap.String("token_file", e.cfg.TokenFile))...)
		return
	}
	e.logger.Warn("Gateway refused this agent's credentials; keeping the data queued and retrying. Check key_id, key_secret and workspace_id.",
		append(fields, zap.String("key_id", e.cfg.KeyID))...)
}
