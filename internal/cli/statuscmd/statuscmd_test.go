package statuscmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/ingeststatus"
)

const ws = "8c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f"

// gateway is a stand-in status endpoint: it answers the admin token "admin-token-0123456789" and the API key
// "tfk_1"/"tfs_1" (workspace scope), and reports engine status st.
func gateway(t *testing.T, st string) (*httptest.Server, *[]http.Header) {
	t.Helper()
	var seen []http.Header
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/engine-status", func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusOK
		doc := ingeststatus.EngineStatus{Status: st, Engine: "tfocol", Version: "0.1.0", UptimeSeconds: 65}
		if st != ingeststatus.EngineReady {
			code = http.StatusServiceUnavailable
			doc.Reasons = []ingeststatus.Reason{{Component: "tfo_log/forward", Kind: "receiver", Pipelines: []string{"logs/forward"},
				Status: "recoverable_error", Error: "upstream down", Since: time.Unix(0, 0)}}
		}
		ingeststatus.WriteJSON(w, code, doc)
	})
	mux.HandleFunc(ingeststatus.Path, func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Clone())
		scope := ingeststatus.ScopeAll
		switch {
		case r.Header.Get("Authorization") == "Bearer admin-token-0123456789":
		case r.Header.Get("X-TelemetryFlow-Key-ID") == "tfk_1" && r.Header.Get("X-TelemetryFlow-Key-Secret") == "tfs_1":
			scope = ingeststatus.ScopeWorkspace
		default:
			ingeststatus.WriteError(w, http.StatusUnauthorized, "send the admin token")
			return
		}
		last := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
		ingeststatus.WriteJSON(w, http.StatusOK, ingeststatus.Report{Scope: scope, Hours: 24,
			Workspaces: []ingeststatus.WorkspaceStatus{{Workspace: ws, Totals: ingeststatus.Totals{Batches: 7, Records: 59, Rejections: 1},
				LastBatchAt: &last, RejectionsByType: map[string]ingeststatus.Rejections{"PatchCompliance": {Total: 1, Reasons: map[string]uint64{"at '/body': bad": 1}}}}},
			Agents:        []ingeststatus.Agent{{Workspace: ws, InstanceID: "i-1", HostName: "host-01", State: ingeststatus.StateSilent, LastReason: "update", IntervalSeconds: 60}},
			AgentsByState: map[string]int{ingeststatus.StateSilent: 1},
			Instances: []ingeststatus.Instance{{Workspace: ws, InstanceID: "4915a241-ba4e-4c1d-9e8f-7a6b5c4d3e2f", Service: "sirveo",
				CustomID: "sirveo-eu-1", LastSeenAt: last, LastPhase: "update", LastReason: "license-state-change",
				Build: ingeststatus.InstanceBuild{Version: "0.1.0", Commit: "4379644"}, LicenseValid: new(bool), ChecksumStatus: "consistent"}},
			Upstream: ingeststatus.Upstream{PendingEntries: 4, Consumers: []ingeststatus.Consumer{{Name: "tfo_log/forward", LagEntries: 4}}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &seen
}

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := New()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func exitCode(err error) int {
	var e *ExitError
	if errors.As(err, &e) {
		return e.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func tokenFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "admin.token")
	require.NoError(t, os.WriteFile(p, []byte(content+"\n"), 0o600))
	return p
}

func TestReadyTableExitsZero(t *testing.T) {
	srv, seen := gateway(t, ingeststatus.EngineReady)
	out, _, err := runCmd(t, "--endpoint", srv.URL, "--token-file", tokenFile(t, "admin-token-0123456789"))
	require.NoError(t, err)
	assert.Contains(t, out, "ENGINE  READY  tfocol 0.1.0")
	assert.Regexp(t, ws+`\s+7\s+59\s`, out)
	assert.Contains(t, out, "PatchCompliance")
	assert.Regexp(t, `host-01\s+i-1\s+-\s+silent`, out)
	assert.Regexp(t, `sirveo\s+4915a241-ba4e-4c1d-9e8f-7a6b5c4d3e2f\s+sirveo-eu-1\s+0\.1\.0\s+4379644\s+INVALID\s+update\s+2026-05-04T10:00:00Z\s+license-state-change\s+consistent`, out)
	assert.Contains(t, out, "UPSTREAM  4 entries pending")
	require.Len(t, *seen, 1)
	assert.Equal(t, "Bearer admin-token-0123456789", (*seen)[0].Get("Authorization"))
}

// Degraded: exit 1, the reasons printed; --json prints both documents.
func TestDegradedExitsOneWithReasons(t *testing.T) {
	srv, _ := gateway(t, ingeststatus.EngineDegraded)
	tok := tokenFile(t, "admin-token-0123456789")
	out, stderr, err := runCmd(t, "--endpoint", srv.URL, "--token-file", tok)
	assert.Equal(t, exitNotReady, exitCode(err))
	assert.Contains(t, out, "ENGINE  DEGRADED")
	assert.Contains(t, out, "receiver tfo_log/forward [logs/forward]: recoverable_error since 1970-01-01T00:00:00Z: upstream down")
	assert.Contains(t, stderr, "engine is degraded")

	out, _, err = runCmd(t, "--endpoint", srv.URL, "--token-file", tok, "--json")
	assert.Equal(t, exitNotReady, exitCode(err))
	var o Output
	require.NoError(t, json.Unmarshal([]byte(out), &o))
	assert.Equal(t, ingeststatus.EngineDegraded, o.Engine.Status)
	require.Len(t, o.Ingest.Workspaces, 1)
	assert.EqualValues(t, 7, o.Ingest.Workspaces[0].Batches)
}

// Without a readable admin token, an API key from the environment is sent (workspace scope); refusals and an
// explicit token file that cannot be read exit 2.
func TestCredentialsAndUnreadableStatus(t *testing.T) {
	srv, seen := gateway(t, ingeststatus.EngineReady)
	t.Setenv("TELEMETRYFLOW_API_KEY_ID", "tfk_1")
	t.Setenv("TELEMETRYFLOW_API_KEY_SECRET", "tfs_1")
	t.Setenv("TFOCOL_DATA_DIR", t.TempDir()) // no admin token there
	_, _, err := runCmd(t, "--endpoint", srv.URL, "--workspace", ws)
	require.NoError(t, err)
	require.Len(t, *seen, 1)
	assert.Equal(t, "tfk_1", (*seen)[0].Get("X-TelemetryFlow-Key-ID"))
	assert.Equal(t, ws, (*seen)[0].Get("X-Workspace-Id"))
	assert.Empty(t, (*seen)[0].Get("Authorization"))

	t.Setenv("TELEMETRYFLOW_API_KEY_SECRET", "tfs_wrong")
	_, stderr, err := runCmd(t, "--endpoint", srv.URL)
	assert.Equal(t, exitUnreadable, exitCode(err))
	assert.Contains(t, stderr, "401: send the admin token")

	_, _, err = runCmd(t, "--endpoint", srv.URL, "--token-file", filepath.Join(t.TempDir(), "missing"))
	assert.Equal(t, exitUnreadable, exitCode(err))
	_, _, err = runCmd(t, "--endpoint", "127.0.0.1:1", "--timeout", "2s")
	assert.Equal(t, exitUnreadable, exitCode(err))
}

// The default token file is the gateway's: TFOCOL_STATUS_TOKEN_FILE relative to <TFOCOL_DATA_DIR>/status.
func TestDefaultTokenFile(t *testing.T) {
	t.Setenv("TFOCOL_DATA_DIR", "/data")
	t.Setenv("TFOCOL_STATUS_TOKEN_FILE", "")
	assert.Equal(t, "/data/status/admin.token", defaultTokenFile())
	t.Setenv("TFOCOL_STATUS_TOKEN_FILE", "other.token")
	assert.Equal(t, "/data/status/other.token", defaultTokenFile())
	t.Setenv("TFOCOL_STATUS_TOKEN_FILE", "/etc/tfocol/status.token")
	assert.Equal(t, "/etc/tfocol/status.token", defaultTokenFile())
}
