package tfoauthextension

import (
	"net/http"
	"strings"

	"github.com/tfocol/tfocol/internal/requestcontract"
)

// maxAgentIDLen bounds the agent id a client may send; it ends up in attributes and logs.
const maxAgentIDLen = 256

// header looks a header up case-insensitively in the sources map a receiver passes to Authenticate: HTTP
// receivers pass canonicalised names, gRPC lower-cased metadata keys, other callers anything.
type header struct{ canonical, lower string }

func newHeader(name string) header {
	return header{canonical: http.CanonicalHeaderKey(name), lower: strings.ToLower(name)}
}

var (
	hdrKeyID         = newHeader(requestcontract.HeaderKeyID)
	hdrKeySecret     = newHeader(requestcontract.HeaderKeySecret)
	hdrAgentID       = newHeader(requestcontract.HeaderAgentID)
	hdrWorkspaceID   = newHeader(requestcontract.HeaderWorkspaceID)
	hdrAuthorization = newHeader(requestcontract.HeaderAuthorization)
)

func (h header) values(src map[string][]string) []string {
	if v, ok := src[h.canonical]; ok {
		return v
	}
	if v, ok := src[h.lower]; ok {
		return v
	}
	for k, v := range src {
		if strings.EqualFold(k, h.lower) {
			return v
		}
	}
	return nil
}

func (h header) first(src map[string][]string) string {
	if v := h.values(src); len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// credentialKind is which credential a request presents.
type credentialKind uint8

const (
	credNone credentialKind = iota
	credAPIKey
	credBearer
	credIncomplete  // key id without secret or the reverse
	credUnsupported // an Authorization scheme other than Bearer
	credBadAgentID
)

// presented is what a request carries. It holds the secret or token; never log or return it.
type presented struct {
	kind       credentialKind
	keyID      string
	secret     string
	token      string
	agentID    string
	workspaces []string // x-workspace-id values, as sent
}

// parseCredentials extracts the credentials from request headers. API key headers win over a bearer token.
func parseCredentials(src map[string][]string) presented {
	p := presented{
		keyID:      hdrKeyID.first(src),
		secret:     hdrKeySecret.first(src),
		agentID:    hdrAgentID.first(src),
		workspaces: hdrWorkspaceID.values(src),
	}
	if !validAgentID(p.agentID) {
		return presented{kind: credBadAgentID}
	}
	switch {
	case p.keyID != "" && p.secret != "":
		p.kind = credAPIKey
	case p.keyID != "" || p.secret != "":
		p.kind = credIncomplete
	default:
		authz := hdrAuthorization.first(src)
		if authz == "" {
			p.kind = credNone
			break
		}
		token, ok := bearerToken(authz)
		if !ok {
			p.kind = credUnsupported
			break
		}
		p.kind, p.token = credBearer, token
	}
	return p
}

// bearerToken returns the token of an "Authorization: Bearer <token>" value; the scheme is case-insensitive.
func bearerToken(v string) (string, bool) {
	const scheme = "bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	t := strings.TrimSpace(v[len(scheme):])
	if t == "" || strings.ContainsAny(t, " \t") {
		return "", false
	}
	return t, true
}

func validAgentID(s string) bool {
	if len(s) > maxAgentIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
