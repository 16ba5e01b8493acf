package tfostatusextension

import (
	"net/http"

	"github.com/tfocol/tfocol/internal/ingeststatus"
	"github.com/tfocol/tfocol/internal/principal"
)

// headerWorkspace is where the edge receiver passes the caller's workspace, checked against its credential.
const headerWorkspace = "x-workspace-id"

// The edge receiver (components/receiver/edgereceiver, `status: tfo_status`) serves the two handlers below on the
// edge API, which faces agents rather than operators: GET /api/v1/edge-agent/ingest-status and
// GET /.well-known/engine-status.

// IngestStatusHandler serves the caller's workspace's report, in the shape of GET /v1/ingest-status?workspace=WS.
// The edge receiver has authenticated the request with tfo_auth and resolved the workspace: the context carries
// the principal, x-workspace-id the workspace (canonical). Both are checked again here, so a request that did not
// come through that path sees nothing.
func (e *statusExtension) IngestStatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws := r.Header.Get(headerWorkspace)
		p, ok := principal.FromContext(r.Context())
		if !ok || ws == "" || !p.AllowsWorkspace(ws) {
			ingeststatus.WriteError(w, http.StatusForbidden, "credentials do not grant this workspace")
			return
		}
		ingeststatus.ServeReport(w, e, ingeststatus.OneWorkspace(ws))
	})
}

// EngineStatusHandler serves the engine status document. The edge API may face the internet, so the document
// served there leaves out the components' error text (free text that may name paths, addresses or a
// workspace's data); the status, the components in error and since when stay. It needs credentials (the admin
// token or a tfo_auth credential) only with public_engine_status: false, as on the status endpoint.
func (e *statusExtension) EngineStatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !e.cfg.PublicEngineStatus {
			if e.auth == nil { // not started
				ingeststatus.WriteError(w, http.StatusServiceUnavailable, "the status is not running")
				return
			}
			if _, err := e.auth.authorize(r); err != nil {
				ingeststatus.WriteAuthError(w, err)
				return
			}
		}
		doc := e.EngineStatus()
		for i := range doc.Reasons {
			doc.Reasons[i].Error = ""
		}
		ingeststatus.WriteJSON(w, engineStatusCode(doc), doc)
	})
}

// engineStatusCode is 200 when the engine is ready, 503 otherwise (health checkers read the code).
func engineStatusCode(doc *ingeststatus.EngineStatus) int {
	if doc.Status == ingeststatus.EngineReady {
		return http.StatusOK
	}
	return http.StatusServiceUnavailable
}
