package ingeststatus

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func agentOf(t *testing.T, tl *Tally, instance string) Agent {
	t.Helper()
	for _, a := range tl.Report(AllWorkspaces, Live{}).Agents {
		if a.InstanceID == instance {
			return a
		}
	}
	t.Fatalf("agent %s not reported", instance)
	return Agent{}
}

// An agent is alive while its heartbeats come, silent once more than SilentAfter intervals passed without one
// (reported once), alive again with the next heartbeat, and stopped after its end heartbeat (never silent then).
func TestAgentLifecycle(t *testing.T) {
	c := newClock()
	tl := NewTally(testLimits, c.now)
	seq := uint64(0)
	beat := func(reason string) []Transition {
		seq++
		return tl.Apply(seq, c.t, newLogs(wsA).heartbeat("i-1", "host-1", reason, 10).summary(t))
	}
	assert.Empty(t, beat("begin"))
	a := agentOf(t, tl, "i-1")
	assert.Equal(t, Agent{Workspace: wsA, InstanceID: "i-1", AgentID: "agent-host-1", HostName: "host-1", AgentVersion: "0.1.0",
		FirstSeenAt: c.t, LastHeartbeatAt: c.t, LastReason: "begin", IntervalSeconds: 10, State: StateAlive}, a)

	c.advance(30 * time.Second) // exactly 3 intervals: not yet
	assert.Empty(t, tl.CheckAgents())
	c.advance(time.Second)
	tr := tl.CheckAgents()
	require.Len(t, tr, 1)
	assert.Equal(t, StateAlive, tr[0].From)
	assert.Equal(t, StateSilent, tr[0].To)
	assert.Empty(t, tl.CheckAgents(), "reported once per transition")
	assert.Equal(t, map[string]int{StateAlive: 0, StateSilent: 1, StateStopped: 0}, tl.AgentStates())
	assert.Equal(t, c.t, *agentOf(t, tl, "i-1").SilentSince)

	tr = beat("update")
	require.Len(t, tr, 1)
	assert.Equal(t, StateSilent, tr[0].From)
	assert.Equal(t, StateAlive, tr[0].To)
	assert.Nil(t, agentOf(t, tl, "i-1").SilentSince)

	tr = beat("end")
	require.Len(t, tr, 1)
	assert.Equal(t, StateStopped, tr[0].To)
	c.advance(time.Hour)
	assert.Empty(t, tl.CheckAgents(), "a stopped agent is not silent")
	assert.Equal(t, StateStopped, agentOf(t, tl, "i-1").State)

	tr = beat("begin")
	require.Len(t, tr, 1)
	assert.Equal(t, StateStopped, tr[0].From)
	assert.Equal(t, StateAlive, tr[0].To)
	assert.EqualValues(t, 4, workspaceOf(t, tl.Report(AllWorkspaces, Live{}), wsA).Heartbeats)
}

// A heartbeat that broke its contract is a rejection, not a sign of the agent's state; one without an instance
// id or interval cannot be followed.
func TestOnlyValidHeartbeatsFollowAgents(t *testing.T) {
	c := newClock()
	tl := NewTally(testLimits, c.now)
	b := newLogs(wsA).heartbeat("i-1", "h", "begin", 10)
	b.sl.LogRecords().At(0).Attributes().PutStr(AttrRejectionReason, "at '/body': missing properties 'os'")
	b.heartbeat("", "h", "begin", 10).heartbeat("i-3", "h", "begin", 0)
	b.sl.LogRecords().At(1).Attributes().Remove("agent.id") // no instance id and no agent id
	tl.Apply(1, c.t, b.summary(t))
	r := tl.Report(AllWorkspaces, Live{})
	assert.Empty(t, r.Agents)
	assert.EqualValues(t, 1, r.Totals.Rejections)
	assert.EqualValues(t, 3, r.Totals.Events)
}

// After a restart an agent's silence is measured from the restart at the earliest (it could not reach a gateway
// that was down), but an agent already silent stays silent without a second report.
func TestAgentSilenceAfterRestart(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "status.json")
	tl := NewTally(testLimits, c.now)
	tl.Apply(1, c.t, newLogs(wsA).heartbeat("quiet", "h1", "update", 10).summary(t))
	c.advance(time.Minute)
	require.Len(t, tl.CheckAgents(), 1)
	tl.Apply(2, c.t, newLogs(wsA).heartbeat("busy", "h2", "update", 10).summary(t))
	_, err := tl.Save(path)
	require.NoError(t, err)

	c.advance(time.Hour) // the gateway was down for an hour
	loaded, err := Load(path, testLimits, c.now)
	require.NoError(t, err)
	assert.Empty(t, loaded.CheckAgents())
	assert.Equal(t, StateSilent, agentOf(t, loaded, "quiet").State)
	assert.Equal(t, StateAlive, agentOf(t, loaded, "busy").State)
	c.advance(31 * time.Second)
	tr := loaded.CheckAgents()
	require.Len(t, tr, 1)
	assert.Equal(t, "busy", tr[0].Agent.InstanceID)
}

// A v1 HostHeartbeat has no instance id or reason: the agent id identifies it and it counts as an update.
func TestV1HeartbeatUsesAgentID(t *testing.T) {
	c := newClock()
	tl := NewTally(testLimits, c.now)
	b := newLogs(wsA).heartbeat("", "h", "", 60)
	b.sl.LogRecords().At(0).Body().Map().Remove("instanceId")
	b.sl.LogRecords().At(0).Body().Map().Remove("reason")
	tl.Apply(1, c.t, b.summary(t))
	a := agentOf(t, tl, "agent-h")
	assert.Equal(t, "update", a.LastReason)
	assert.EqualValues(t, 60, a.IntervalSeconds)
}
