package edgereceiver

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPolicyPerWorkspace(t *testing.T) {
	f := newFixture(t)
	off := false
	f.cfg.Policy.Default.Events = map[string]EventPolicy{
		"HostHeartbeat":     {Interval: time.Minute},
		"InstanceLifecycle": {Enabled: &off},
	}
	f.cfg.Policy.Workspaces = map[string]Policy{
		"0B7E6C1A-8D2F-4C39-9A51-2F0F2B8E4D11": {FlushInterval: 10 * time.Second, MaxBatchEvents: 200,
			Events: map[string]EventPolicy{"PatchCompliance": {Interval: 6 * time.Hour}}},
	}
	f.start()
	token, _ := f.issueToken(wsA, "edge-agent", "host-01")
	resp := f.do(http.MethodGet, pathPolicy, bearer(token), nil)
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	assert.Equal(t, wsA, resp.json["workspace_id"])
	assert.Equal(t, float64(10), resp.json["flush_interval_seconds"], "the workspace's own")
	assert.Equal(t, float64(200), resp.json["max_batch_events"])
	assert.Equal(t, float64(f.cfg.MaxRequestBodySize), resp.json["max_body_bytes"])
	events := map[string]map[string]any{}
	for _, e := range resp.json["events"].([]any) {
		ev := e.(map[string]any)
		events[ev["type"].(string)] = ev
	}
	assert.Len(t, events, len(f.cfg.Schemas), "every contract is listed")
	assert.Equal(t, float64(60), events["HostHeartbeat"]["interval_seconds"], "default per type")
	assert.Equal(t, float64(6*3600), events["PatchCompliance"]["interval_seconds"], "workspace per type")
	assert.Equal(t, float64(300), events["BackupFailure"]["interval_seconds"], "default interval")
	assert.Equal(t, false, events["InstanceLifecycle"]["enabled"])
	assert.Equal(t, true, events["BackupFailure"]["enabled"])
	assert.Equal(t, "urn:tfocol:schema:backup_failure:v1", events["BackupFailure"]["schema_id"])

	// Another workspace gets the default; a cached policy is answered 304.
	g := f.do(http.MethodGet, pathPolicy, f.adminHeaders(wsA), nil)
	assert.Equal(t, resp.json["version"], g.json["version"], "same workspace, same policy")
	notModified := f.do(http.MethodGet, pathPolicy, map[string]string{"Authorization": "Bearer " + token,
		"If-None-Match": resp.header.Get("ETag")}, nil)
	assert.Equal(t, http.StatusNotModified, notModified.code)
	assert.Equal(t, int64(1), f.requests(epPolicy, 304, "not_modified"))

	tokenB, _ := f.issueToken(wsB, "edge-agent", "host-b")
	other := f.do(http.MethodGet, pathPolicy, bearer(tokenB), nil)
	require.Equal(t, http.StatusOK, other.code)
	assert.Equal(t, float64(30), other.json["flush_interval_seconds"])
	assert.Equal(t, float64(f.cfg.Ingest.MaxEvents), other.json["max_batch_events"])
	assert.NotEqual(t, resp.json["version"], other.json["version"])

	// A workspace's agent sees only its workspace.
	denied := f.do(http.MethodGet, pathPolicy, map[string]string{"Authorization": "Bearer " + tokenB, "x-workspace-id": wsA}, nil)
	assert.Equal(t, http.StatusForbidden, denied.code)
}
