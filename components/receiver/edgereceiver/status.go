package edgereceiver

import (
	"net/http"
	"time"

	"github.com/tfocol/tfocol/internal/requestcontract"
)

// StatusProvider is the seam to the ingest-status extension (issue 14): the extension named by `status` serves the
// numbers, the receiver only mounts its handlers on the edge API. The receiver builds no status numbers itself.
type StatusProvider interface {
	// IngestStatusHandler serves GET /api/v1/edge-agent/ingest-status. The receiver authenticates the request
	// first: its context carries the tfo_auth principal, and its x-workspace-id header holds the caller's
	// workspace, checked against the principal and in canonical (lower-case) form, also when the agent sent none.
	IngestStatusHandler() http.Handler
	// EngineStatusHandler serves GET /.well-known/engine-status, without credentials (a health endpoint).
	EngineStatusHandler() http.Handler
}

// InstanceObserver is optional for the status extension: when it implements it, the receiver reports every Sirveo
// lifecycle event the pipeline accepted (durably), so ingest status can show per-instance last-seen, build and
// licence state.
type InstanceObserver interface {
	ObserveInstance(InstanceState)
}

// InstanceState is what one accepted Sirveo lifecycle event says about its instance.
type InstanceState struct {
	Workspace      string
	InstanceID     string
	Phase          string // begin, update, end
	Reason         string // as sent: begin, update, license-state-change, end
	SeenAt         time.Time
	BuildVersion   string
	BuildCommit    string
	BuildTime      string
	BuildMode      string
	BuildOS        string
	BuildArch      string
	LicenseValid   bool
	LicenseKeyHash string
	CustomID       string
	ChecksumStatus string // consistent, unverified, mismatch
}

func (r *edgeReceiver) handleIngestStatus(w http.ResponseWriter, req *http.Request) *refusal {
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
