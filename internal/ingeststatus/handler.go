package ingeststatus

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/httpstatus"
	"github.com/tfocol/tfocol/internal/principal"
)

// Path is where the ingest status is served.
const Path = "/v1/ingest-status"

// Source makes reports: the tfo_status extension. Another HTTP server (e.g. an edge API receiver) finds it with
// FindSource and serves one workspace's report with ServeReport after authorising the request its own way.
type Source interface {
	IngestStatus(scope Scope) *Report
}

// FindSource returns the status extension's Source among host's extensions.
func FindSource(host component.Host) (Source, bool) {
	for _, ext := range host.GetExtensions() {
		if s, ok := ext.(Source); ok {
			return s, true
		}
	}
	return nil, false
}

// Authorizer decides what a request may see. Its error is a gRPC status error (Unauthenticated → 401,
// PermissionDenied → 403, ResourceExhausted → 429, ...), whose message is sent to the client.
type Authorizer func(r *http.Request) (Scope, error)

// Handler serves GET Path[?workspace=ws]: the report of the request's scope, narrowed to ws when asked (403 when
// the scope does not include it). done, when not nil, is told each answer's HTTP status.
func Handler(src Source, authorize Authorizer, done func(code int)) http.Handler {
	if done == nil {
		done = func(int) {}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			done(WriteError(w, http.StatusMethodNotAllowed, "use GET"))
			return
		}
		scope, err := authorize(r)
		if err != nil {
			done(WriteAuthError(w, err))
			return
		}
		if ws := strings.TrimSpace(r.URL.Query().Get("workspace")); ws != "" {
			ws = canonicalWorkspace(ws)
			if !scope.allows(ws) {
				done(WriteError(w, http.StatusForbidden, "credentials do not grant this workspace"))
				return
			}
			scope = OneWorkspace(ws)
		}
		done(ServeReport(w, src, scope))
	})
}

// ServeReport writes src's report of scope as JSON and returns the HTTP status written.
func ServeReport(w http.ResponseWriter, src Source, scope Scope) int {
	return WriteJSON(w, http.StatusOK, src.IngestStatus(scope))
}

// WriteJSON writes v with code and returns code.
func WriteJSON(w http.ResponseWriter, code int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return code
}

// WriteAuthError writes the refusal of an Authorizer's error (a gRPC status) and returns the HTTP status.
func WriteAuthError(w http.ResponseWriter, err error) int {
	code := httpstatus.FromGRPC(status.Code(err))
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tfocol status"`)
	}
	return WriteError(w, code, status.Convert(err).Message())
}

// ErrorBody is the JSON of every refusal.
type ErrorBody struct {
	Error string `json:"error"`
	Code  int    `json:"code"`
}

// WriteError writes a refusal and returns code.
func WriteError(w http.ResponseWriter, code int, msg string) int {
	return WriteJSON(w, code, ErrorBody{Error: msg, Code: code})
}

// ScopeOf is the scope of a principal allowed the listed workspaces (principal.Wildcard grants all).
func ScopeOf(workspaces []string) Scope {
	if slices.Contains(workspaces, principal.Wildcard) {
		return AllWorkspaces
	}
	s := Scope{}
	for _, ws := range workspaces {
		s.Workspaces = append(s.Workspaces, canonicalWorkspace(ws))
	}
	return s
}
