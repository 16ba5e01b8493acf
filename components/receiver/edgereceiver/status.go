package edgereceiver

import (
	"net/http"

	"github.com/tfocol/tfocol/internal/requestcontract"
)

// StatusProvider is the seam to the ingest-status extension (tfo_status): the extension named by `status` serves
// the numbers, the receiver only mounts its handlers on the edge API. The receiver builds no status numbers
// itself: per-instance Sirveo state comes, like everything else in the status, from the durable log.
type StatusProvider interface {
	// IngestStatusHandler serves GET /api/v1/edge-agent/ingest-status. The receiver authenticates the request
	// first: its context carries the tfo_auth principal, and its x-workspace-id header holds the caller's
	// workspace, checked against the principal and in canonical (lower-case) form, also when the agent sent none.
	IngestStatusHandler() http.Handler
	// EngineStatusHandler serves GET /.well-known/engine-status. The receiver asks for no credentials (a health
	// endpoint); the extension decides what the document holds and whether it needs any.
	EngineStatusHandler() http.Handler
}

func (r *edgeReceiver) handleIngestStatus(w http.ResponseWriter, req *http.Request) *refusal {
	// ?workspace= (the status endpoint's way of naming one) is one more x-workspace-id: checked the same way,
	// and two that differ are refused.
	if q := req.URL.Query().Get("workspace"); q != "" {
		req.Header.Add(requestcontract.HeaderWorkspaceID, q)
	}
	ctx, _, ws, f := r.caller(req)
	if f != nil {
		return f
	}
	req = req.WithContext(ctx)
	req.Header.Set(requestcontract.HeaderWorkspaceID, ws)
	r.serveCounted(w, req, epIngestStatus, r.status.IngestStatusHandler())
	return nil
}

func (r *edgeReceiver) handleEngineStatus(w http.ResponseWriter, req *http.Request) *refusal {
	r.serveCounted(w, req, epEngineStatus, r.status.EngineStatusHandler())
	return nil
}

// serveCounted runs the status extension's handler and counts its answer.
func (r *edgeReceiver) serveCounted(w http.ResponseWriter, req *http.Request, endpoint string, h http.Handler) {
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	h.ServeHTTP(rec, req)
	reason := "ok"
	if rec.code >= 400 {
		reason = "status_extension"
	}
	r.countRequest(req.Context(), endpoint, rec.code, reason)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}
