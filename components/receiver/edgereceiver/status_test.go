package edgereceiver

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/principal"
)

// IngestStatusHandler answers with who asked, for which workspace.
func (s *statusExt) IngestStatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := principal.FromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"workspace": r.Header.Get("x-workspace-id"), "subject": p.Subject})
	})
}

func (s *statusExt) EngineStatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"degraded"}`))
	})
}

// The status extension's handlers are mounted behind the receiver's authentication (ingest status, for the
// caller's workspace only) or without it (engine status); without a status extension both paths are 404.
func TestStatusSeam(t *testing.T) {
	f := newFixture(t)
	f.cfg.Status = &statusID
	f.addExtension(statusID, &statusExt{})
	f.start()
	token, _ := f.issueToken(wsA, "edge-agent", "host-01")

	resp := f.do(http.MethodGet, pathIngestStatus, bearer(token), nil)
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	assert.Equal(t, map[string]any{"workspace": wsA, "subject": "host-01"}, resp.json)
	resp = f.do(http.MethodGet, pathIngestStatus, map[string]string{"Authorization": "Bearer " + token, "x-workspace-id": wsB}, nil)
	assert.Equal(t, http.StatusForbidden, resp.code)
	resp = f.do(http.MethodGet, pathIngestStatus, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.code)
	// ?workspace= names the workspace as x-workspace-id does: checked against the credential, and it must agree.
	resp = f.do(http.MethodGet, pathIngestStatus+"?workspace="+wsB, bearer(token), nil)
	assert.Equal(t, http.StatusForbidden, resp.code, "%s", resp.raw)
	resp = f.do(http.MethodGet, pathIngestStatus+"?workspace="+strings.ToUpper(wsA), bearer(token), nil)
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	assert.Equal(t, wsA, resp.json["workspace"])
	resp = f.do(http.MethodGet, pathIngestStatus+"?workspace="+wsB, map[string]string{"Authorization": "Bearer " + token, "x-workspace-id": wsA}, nil)
	assert.Equal(t, http.StatusForbidden, resp.code, "every workspace named is checked: %s", resp.raw)

	resp = f.do(http.MethodGet, pathEngineStatus, nil, nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.code)
	assert.Equal(t, "degraded", resp.json["status"])
	assert.Equal(t, int64(1), f.requests(epEngineStatus, 503, "status_extension"))
	assert.Equal(t, int64(2), f.requests(epIngestStatus, 200, "ok"))

	g := newFixture(t).start()
	for _, p := range []string{pathIngestStatus, pathEngineStatus} {
		assert.Equal(t, http.StatusNotFound, g.do(http.MethodGet, p, bearer(token), nil).code, p)
	}
}

func TestStatusExtensionMustServeStatus(t *testing.T) {
	f := newFixture(t)
	f.cfg.Status = &authID // tfo_auth is no status extension
	require.NoError(t, f.cfg.Validate())
	rcv, err := newReceiver(f.cfg, receiverSettings(f), f.pipe)
	require.NoError(t, err)
	err = rcv.Start(t.Context(), f.host)
	require.ErrorContains(t, err, "does not serve ingest and engine status")
}
