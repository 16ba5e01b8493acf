package ingeststatus

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type tallySource struct{ t *Tally }

func (s tallySource) IngestStatus(scope Scope) *Report { return s.t.Report(scope, Live{}) }

func get(t *testing.T, h http.Handler, method, target string) (int, *Report, ErrorBody, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	var rep Report
	var eb ErrorBody
	if rec.Code == http.StatusOK {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &rep))
	} else {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb))
		assert.Equal(t, rec.Code, eb.Code)
	}
	return rec.Code, &rep, eb, rec.Header()
}

// The handler answers the authorizer's verdict with its HTTP status, narrows to ?workspace= within the
// caller's scope and refuses a workspace outside it; every answer is counted through done.
func TestHandlerScopes(t *testing.T) {
	c := newClock()
	tl := NewTally(testLimits, c.now)
	tl.Apply(1, c.t, tracesSummary(t, wsA, 1))
	tl.Apply(2, c.t, tracesSummary(t, wsB, 1))
	var answered []int
	done := func(code int) { answered = append(answered, code) }
	byHeader := func(r *http.Request) (Scope, error) {
		switch r.Header.Get("Authorization") {
		case "admin":
			return AllWorkspaces, nil
		case "a":
			return OneWorkspace(wsA), nil
		case "throttled":
			return Scope{}, status.Error(codes.ResourceExhausted, "slow down")
		}
		return Scope{}, status.Error(codes.Unauthenticated, "who are you")
	}
	h := Handler(tallySource{tl}, func(r *http.Request) (Scope, error) { return byHeader(r) }, done)
	with := func(auth string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Set("Authorization", auth)
			h.ServeHTTP(w, r)
		})
	}

	code, _, eb, hdr := get(t, with(""), http.MethodGet, Path)
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Equal(t, "who are you", eb.Error)
	assert.Contains(t, hdr.Get("WWW-Authenticate"), "Bearer")
	code, _, _, _ = get(t, with("throttled"), http.MethodGet, Path)
	assert.Equal(t, http.StatusTooManyRequests, code)

	code, rep, _, _ := get(t, with("admin"), http.MethodGet, Path)
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, rep.Workspaces, 2)
	assert.Equal(t, ScopeAll, rep.Scope)
	code, rep, _, _ = get(t, with("admin"), http.MethodGet, Path+"?workspace="+wsB)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, rep.Workspaces, 1)
	assert.Equal(t, wsB, rep.Workspaces[0].Workspace)

	code, rep, _, _ = get(t, with("a"), http.MethodGet, Path)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, rep.Workspaces, 1)
	assert.Equal(t, wsA, rep.Workspaces[0].Workspace)
	code, _, _, _ = get(t, with("a"), http.MethodGet, Path+"?workspace="+wsB)
	assert.Equal(t, http.StatusForbidden, code)

	code, _, _, hdr = get(t, with("admin"), http.MethodPost, Path)
	assert.Equal(t, http.StatusMethodNotAllowed, code)
	assert.Equal(t, "GET, HEAD", hdr.Get("Allow"))
	assert.Equal(t, []int{401, 429, 200, 200, 200, 403, 405}, answered)
}

type recorderExt struct {
	component.StartFunc
	component.ShutdownFunc
	rec Recorder
}

func (e recorderExt) IngestStatusRecorder() Recorder { return e.rec }
func (e recorderExt) IngestStatus(Scope) *Report     { return &Report{Scope: "test"} }

type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }

// Components find the recorder through the host; without the extension, recording does nothing.
func TestFindRecorderAndSource(t *testing.T) {
	assert.Equal(t, Nop{}, FindRecorder(componenttest.NewNopHost()))
	assert.Equal(t, Nop{}, FindRecorder(nil))
	_, ok := FindSource(componenttest.NewNopHost())
	assert.False(t, ok)

	tl := NewTally(testLimits, newClock().now)
	host := hostWith{component.MustNewID("tfo_status"): recorderExt{rec: tl}}
	rec := FindRecorder(host)
	rec.Duplicate(wsA, "logs")
	assert.EqualValues(t, 1, tl.Report(AllWorkspaces, Live{}).Totals.Duplicates)
	src, ok := FindSource(host)
	require.True(t, ok)
	assert.Equal(t, "test", src.IngestStatus(AllWorkspaces).Scope)
}
