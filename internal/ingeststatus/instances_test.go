package ingeststatus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sirveoInstance = "4915a241-ba4e-4c1d-9e8f-7a6b5c4d3e2f"

func instanceOf(t *testing.T, r *Report, ws, id string) Instance {
	t.Helper()
	for _, i := range r.Instances {
		if i.Workspace == ws && i.InstanceID == id {
			return i
		}
	}
	t.Fatalf("instance %s/%s not reported: %+v", ws, id, r.Instances)
	return Instance{}
}

// An instance's begin, update (a licence change) and end are its last-seen, build and licence state, kept across
// a snapshot; an older event replayed later does not undo a newer one; a rejected event is no sign of life; each
// workspace sees only its own instances; the licence key hash is never reported.
func TestInstanceLifecycleState(t *testing.T) {
	c := newClock()
	begin := c.t
	tl := NewTally(testLimits, c.now)
	tl.Apply(1, c.t, newLogs(wsA).lifecycle(sirveoInstance, "begin", "begin", "0.1.0", true).summary(t))
	c.advance(time.Minute)
	tl.Apply(2, c.t, newLogs(wsA).lifecycle(sirveoInstance, "update", "license-state-change", "0.1.0", false).summary(t))
	changed := c.t
	c.advance(time.Minute)
	b := newLogs(wsA).lifecycle(sirveoInstance, "end", "end", "0.2.0", true)
	b.sl.LogRecords().At(0).Attributes().PutStr(AttrRejectionReason, "at '/body': missing property 'buildTime'")
	tl.Apply(3, c.t, b.summary(t))
	tl.Apply(4, begin, newLogs(wsA).lifecycle(sirveoInstance, "begin", "begin", "0.0.9", true).summary(t)) // replayed late
	tl.Apply(5, c.t, newLogs(wsB).lifecycle("other-instance", "begin", "begin", "0.1.0", true).summary(t))

	invalid := false
	want := Instance{Workspace: wsA, InstanceID: sirveoInstance, Service: "sirveo", CustomID: "sirveo-eu-1",
		FirstSeenAt: begin, LastSeenAt: changed, LastPhase: "update", LastReason: "license-state-change",
		Build: InstanceBuild{Version: "0.1.0", Commit: "4379644", OS: "linux", Arch: "amd64"}, LicenseValid: &invalid,
		ChecksumStatus: "unverified"}
	r := tl.Report(OneWorkspace(wsA), Live{})
	require.Len(t, r.Instances, 1, "only the workspace's own instances")
	assert.Equal(t, want, r.Instances[0])
	assert.EqualValues(t, 1, workspaceOf(t, r, wsA).Rejections, "the rejected end counts as a rejection")
	raw, err := json.Marshal(r)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "e88394fedd71573f", "no licence key hash in the report")

	path := filepath.Join(t.TempDir(), "status.json")
	_, err = tl.Save(path)
	require.NoError(t, err)
	loaded, err := Load(path, testLimits, c.now)
	require.NoError(t, err)
	assert.Equal(t, want, instanceOf(t, loaded.Report(AllWorkspaces, Live{}), wsA, sirveoInstance))
	assert.Len(t, loaded.Report(AllWorkspaces, Live{}).Instances, 2)

	c.advance(time.Minute)
	loaded.Apply(6, c.t, newLogs(wsA).lifecycle(sirveoInstance, "end", "end", "0.1.0", true).summary(t))
	got := instanceOf(t, loaded.Report(AllWorkspaces, Live{}), wsA, sirveoInstance)
	assert.Equal(t, "end", got.LastPhase)
	assert.Equal(t, c.t, got.LastSeenAt)
	assert.Equal(t, begin, got.FirstSeenAt)
	require.NotNil(t, got.LicenseValid)
	assert.True(t, *got.LicenseValid)
}

// Beyond MaxInstances the least recently seen instance is dropped, counted; a snapshot written before instances
// were followed loads with none.
func TestInstancesAreBounded(t *testing.T) {
	c := newClock()
	tl := NewTally(Limits{MaxWorkspaces: 10, MaxAgents: 10, MaxInstances: 1, SilentAfter: 3}, c.now)
	tl.Apply(1, c.t, newLogs(wsA).lifecycle("first", "begin", "begin", "0.1.0", true).summary(t))
	tl.Apply(2, c.t, newLogs(wsA).lifecycle("second", "begin", "begin", "0.1.0", true).summary(t))
	r := tl.Report(AllWorkspaces, Live{})
	require.Len(t, r.Instances, 1)
	assert.Equal(t, "second", r.Instances[0].InstanceID)
	assert.EqualValues(t, 1, r.Accounting.EvictedInstances)

	path := filepath.Join(t.TempDir(), "status.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"version":1,"next_seq":3,"workspaces":[],"agents":[]}`), 0o600))
	old, err := Load(path, testLimits, c.now)
	require.NoError(t, err)
	assert.Empty(t, old.Report(AllWorkspaces, Live{}).Instances)
}
