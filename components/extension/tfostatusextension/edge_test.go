package tfostatusextension

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/components/receiver/edgereceiver"
	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/durablelog/loghost"
	"github.com/tfocol/tfocol/internal/ingeststatus"
	"github.com/tfocol/tfocol/internal/principal"
)

// The edge receiver mounts the extension's handlers when its `status` names it.
var _ edgereceiver.StatusProvider = (*statusExtension)(nil)

const (
	otherWorkspace = "0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11"
	sirveoInstance = "4915a241-ba4e-4c1d-9e8f-7a6b5c4d3e2f"
)

// appendLifecycle appends an InstanceLifecycle record of ws as the edge receiver makes it of a Sirveo payload.
func appendLifecycle(t *testing.T, l *durablelog.Log, ws, phase, version string, licenseValid bool) {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(ingeststatus.AttrWorkspace, ws)
	rl.Resource().Attributes().PutStr("service.name", "sirveo")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName(ingeststatus.LifecycleEvent)
	body := lr.Body().SetEmptyMap()
	body.PutStr("phase", phase)
	body.PutStr("reason", phase)
	body.PutStr("instanceId", sirveoInstance)
	body.PutStr("buildVersion", version)
	body.PutStr("buildCommit", "4379644")
	body.PutBool("licenseValid", licenseValid)
	body.PutStr("licenseKeyHash", "e88394fedd71573f9a2c37f2b8a1f0d2e6c4b9a87d65e4f3c2b1a09f8e7d6c5b")
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	_, _, err = l.Append(context.Background(), durablelog.Record{Type: loghost.SignalLogs, Payload: raw})
	require.NoError(t, err)
}

// edgeGet calls h as the edge receiver does: after tfo_auth identified p (nil: nobody), with x-workspace-id.
func edgeGet(t *testing.T, h http.Handler, p *principal.Principal, ws string, header map[string]string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/edge-agent/ingest-status", nil)
	if p != nil {
		req = req.WithContext(principal.NewContext(req.Context(), p))
	}
	if ws != "" {
		req.Header.Set(headerWorkspace, ws)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// On the edge API an agent sees its workspace's report — the same document as /v1/ingest-status?workspace= —
// with its Sirveo instances' last-seen, build and licence state, which survive a crash (recounted from the log)
// and a graceful restart (persisted). Another workspace, or a request without the receiver's principal, is 403.
func TestEdgeIngestStatusIsTheCallersWorkspace(t *testing.T) {
	logDir, dir := filepath.Join(t.TempDir(), "log"), filepath.Join(t.TempDir(), "status")
	l := openLog(t, logDir)
	f := newFixture(t, l, dir)
	f.start()
	appendLogs(t, l, 2)
	appendLifecycle(t, l, testWorkspace, "begin", "0.1.0", true)
	appendLifecycle(t, l, otherWorkspace, "begin", "9.9.9", true)
	appendLifecycle(t, l, testWorkspace, "update", "0.1.0", false)
	f.waitBatches(4)
	agent := &principal.Principal{Subject: "host-01", Workspaces: []string{testWorkspace}}

	check := func(ext *statusExtension) {
		t.Helper()
		code, raw := edgeGet(t, ext.IngestStatusHandler(), agent, testWorkspace, nil)
		require.Equal(t, http.StatusOK, code, "%s", raw)
		assert.NotContains(t, string(raw), otherWorkspace)
		assert.NotContains(t, string(raw), "e88394fedd71573f", "no licence key hash")
		var rep ingeststatus.Report
		require.NoError(t, json.Unmarshal(raw, &rep))
		assert.Equal(t, ingeststatus.ScopeWorkspace, rep.Scope)
		require.Len(t, rep.Workspaces, 1)
		assert.Equal(t, testWorkspace, rep.Workspaces[0].Workspace)
		assert.EqualValues(t, 3, rep.Workspaces[0].Batches)
		assert.EqualValues(t, 4, rep.Workspaces[0].Records)
		assert.EqualValues(t, 2, rep.Workspaces[0].EventsByType[ingeststatus.LifecycleEvent])
		require.Len(t, rep.Instances, 1)
		inst := rep.Instances[0]
		assert.Equal(t, sirveoInstance, inst.InstanceID)
		assert.Equal(t, "sirveo", inst.Service)
		assert.Equal(t, "update", inst.LastPhase)
		assert.Equal(t, ingeststatus.InstanceBuild{Version: "0.1.0", Commit: "4379644"}, inst.Build)
		require.NotNil(t, inst.LicenseValid)
		assert.False(t, *inst.LicenseValid, "the last event's licence state")
		assert.False(t, inst.LastSeenAt.Before(inst.FirstSeenAt))

		// The same document as the status endpoint's for that workspace (but for when it was made).
		same := ext.IngestStatus(ingeststatus.OneWorkspace(testWorkspace))
		same.GeneratedAt = rep.GeneratedAt
		assert.Equal(t, same, &rep)

		for name, c := range map[string]struct {
			p  *principal.Principal
			ws string
		}{
			"another workspace":  {agent, otherWorkspace},
			"no principal":       {nil, testWorkspace},
			"no workspace named": {agent, ""},
		} {
			code, raw := edgeGet(t, ext.IngestStatusHandler(), c.p, c.ws, nil)
			assert.Equal(t, http.StatusForbidden, code, name)
			assert.NotContains(t, string(raw), sirveoInstance, name)
		}
	}
	check(f.ext)

	f.crash() // nothing persisted: the instance state comes back from the log
	require.NoError(t, l.Close())
	l = openLog(t, logDir)
	f = newFixture(t, l, dir)
	f.start()
	f.waitBatches(4)
	check(f.ext)
	require.NoError(t, f.ext.Shutdown(context.Background()))
	require.NoError(t, l.Close())

	l = openLog(t, logDir) // graceful: from the snapshot
	defer l.Close()
	f = newFixture(t, l, dir)
	f.start()
	defer f.ext.Shutdown(context.Background())
	check(f.ext) // at once: entries the snapshot covers are not counted again, so this is the snapshot's state
}

// The engine status on the edge API is the status endpoint's document without the components' error text; it
// needs a credential only with public_engine_status: false.
func TestEdgeEngineStatusLeavesOutErrors(t *testing.T) {
	_, f, ext := startOnFreshLog(t)
	require.NoError(t, ext.Ready())
	fwd := componentstatus.NewInstanceID(component.MustNewIDWithName("tfo_log", "forward"), component.KindReceiver)
	ext.ComponentStatusChanged(fwd, componentstatus.NewRecoverableErrorEvent(errors.New("dial tcp 10.0.0.7:14317: workspace 8c5d7f4e refused")))

	code, raw := edgeGet(t, ext.EngineStatusHandler(), nil, "", nil)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.NotContains(t, string(raw), "10.0.0.7")
	var doc ingeststatus.EngineStatus
	require.NoError(t, json.Unmarshal(raw, &doc))
	full := ext.EngineStatus()
	require.Len(t, full.Reasons, 1)
	assert.NotEmpty(t, full.Reasons[0].Error, "the status endpoint's document has the error")
	full.Reasons[0].Error = ""
	full.UptimeSeconds = doc.UptimeSeconds
	assert.Equal(t, full, &doc)

	ext.ComponentStatusChanged(fwd, componentstatus.NewEvent(componentstatus.StatusOK))
	code, _ = edgeGet(t, ext.EngineStatusHandler(), nil, "", nil)
	assert.Equal(t, http.StatusOK, code)

	f.cfg.PublicEngineStatus = false
	code, _ = edgeGet(t, ext.EngineStatusHandler(), nil, "", nil)
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = edgeGet(t, ext.EngineStatusHandler(), nil, "", map[string]string{"Authorization": "Bearer ws-token"})
	assert.Equal(t, http.StatusOK, code)
}
