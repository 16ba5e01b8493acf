// Package principal is the contract between the tfo_auth extension, which authenticates a request,
// and the components behind the receiver (workspace processor, receipts) that act on who sent it.
//
// tfo_auth stores a *Principal in client.Info.Auth; consumers read it back with FromContext.
package principal

import (
	"context"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/client"
)

// Credential kinds.
const (
	KindAPIKey = "api_key" // X-TelemetryFlow-Key-ID / X-TelemetryFlow-Key-Secret
	KindJWT    = "jwt"     // Authorization: Bearer <enrollment token>
)

// Signals a principal may be scoped to.
const (
	SignalTraces  = "traces"
	SignalMetrics = "metrics"
	SignalLogs    = "logs"
)

// Wildcard grants every workspace or every signal.
const Wildcard = "*"

// Attribute names exposed through client.AuthData (e.g. for `from_context` users in other components).
const (
	AttrKind       = "tfo.auth.kind"
	AttrSubject    = "tfo.auth.subject"
	AttrKeyID      = "tfo.key.id"
	AttrAgentID    = "tfo.agent.id"
	AttrWorkspaces = "tfo.auth.workspaces"
	AttrScopes     = "tfo.auth.scopes"
)

// Principal is an authenticated caller.
type Principal struct {
	Kind       string   // KindAPIKey or KindJWT
	Subject    string   // key id, or the token's subject
	KeyID      string   // set for KindAPIKey
	AgentID    string   // X-TelemetryFlow-Agent-ID, when sent
	Workspaces []string // workspace ids it may write to; Wildcard for all
	Scopes     []string // signals it may ingest; Wildcard for all
	// Set for KindJWT: the token's id (jti) and its role claim values, for endpoints that tell an agent about
	// its own enrollment or need an administrative role (the edge receiver).
	TokenID string
	Roles   []string
	// ExpiresAt is when the credential stops being accepted: the token's exp, the key's expires_at; zero when
	// the key does not expire.
	ExpiresAt time.Time
}

var _ client.AuthData = (*Principal)(nil)

// GetAttribute implements client.AuthData.
func (p *Principal) GetAttribute(name string) any {
	switch name {
	case AttrKind:
		return p.Kind
	case AttrSubject:
		return p.Subject
	case AttrKeyID:
		return p.KeyID
	case AttrAgentID:
		return p.AgentID
	case AttrWorkspaces:
		return p.Workspaces
	case AttrScopes:
		return p.Scopes
	}
	return nil
}

// GetAttributeNames implements client.AuthData.
func (p *Principal) GetAttributeNames() []string {
	return []string{AttrKind, AttrSubject, AttrKeyID, AttrAgentID, AttrWorkspaces, AttrScopes}
}

// AllowsWorkspace reports whether the principal may write to workspace id ws. Workspace ids are UUIDs, which
// compare case-insensitively (a key file may spell one in upper case, a client in lower case).
func (p *Principal) AllowsWorkspace(ws string) bool {
	return slices.ContainsFunc(p.Workspaces, func(w string) bool { return w == Wildcard || strings.EqualFold(w, ws) })
}

// AllowsSignal reports whether the principal may ingest the signal (SignalTraces, ...).
func (p *Principal) AllowsSignal(signal string) bool {
	return slices.Contains(p.Scopes, Wildcard) || slices.Contains(p.Scopes, signal)
}

// FromContext returns the principal tfo_auth attached to the request, if any.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := client.FromContext(ctx).Auth.(*Principal)
	return p, ok && p != nil
}

// NewContext returns ctx with p attached as the request's client.Info.Auth.
func NewContext(ctx context.Context, p *Principal) context.Context {
	info := client.FromContext(ctx)
	info.Auth = p
	return client.NewContext(ctx, info)
}
