package tfostatusextension

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/extension/extensionauth"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/ingeststatus"
	"github.com/tfocol/tfocol/internal/principal"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// authorizer decides what a status request may see: the admin token sees every workspace, a credential the
// workspace authenticator (tfo_auth) accepts sees the workspaces it may write to, and with neither configured
// (loopback only, see Config.Validate) every request sees everything.
type authorizer struct {
	admin     *adminToken
	workspace extensionauth.Server
}

var errNoCredentials = status.Error(codes.Unauthenticated,
	"send the admin token (Authorization: Bearer) or workspace credentials")

func (a *authorizer) open() bool { return a.admin == nil && a.workspace == nil }

func (a *authorizer) authorize(r *http.Request) (ingeststatus.Scope, error) {
	if a.open() {
		return ingeststatus.AllWorkspaces, nil
	}
	token, isBearer := bearer(r.Header.Get(requestcontract.HeaderAuthorization))
	if isBearer && a.admin != nil && a.admin.matches(token) {
		return ingeststatus.AllWorkspaces, nil
	}
	if a.workspace == nil || (!isBearer && r.Header.Get(requestcontract.HeaderKeyID) == "") {
		return ingeststatus.Scope{}, errNoCredentials
	}
	ctx, err := a.workspace.Authenticate(r.Context(), r.Header)
	if err != nil {
		if _, ok := status.FromError(err); !ok {
			err = status.Error(codes.Unauthenticated, "authentication failed")
		}
		return ingeststatus.Scope{}, err
	}
	p, ok := principal.FromContext(ctx)
	if !ok {
		return ingeststatus.Scope{}, errNoCredentials
	}
	return ingeststatus.ScopeOf(p.Workspaces), nil
}

// bearer returns the token of an "Authorization: Bearer <token>" value (scheme case-insensitive).
func bearer(v string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
