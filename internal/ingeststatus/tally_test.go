package ingeststatus

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/tfocol/tfocol/internal/durablelog/loghost"
)

// Each durable log entry is counted once, whatever its position is delivered again (the cursor restarts from its
// committed position after a restart): batches, records, events by type, rejections by type and reason.
func TestApplyCountsEachEntryOnce(t *testing.T) {
	c := newClock()
	tl := NewTally(testLimits, c.now)
	logs := newLogs(wsA).plain(3).event("PatchCompliance", "").event("PatchCompliance", "at '/body/status': bad").
		event("BackupFailure", "at '/': missing properties 'job'").summary(t)
	tl.Apply(1, c.t, logs)
	tl.Apply(1, c.t, logs) // delivered again: skipped
	tl.Apply(2, c.t, tracesSummary(t, wsA, 7))
	tl.Apply(3, c.t, tracesSummary(t, wsB, 2))

	r := tl.Report(AllWorkspaces, Live{})
	a := workspaceOf(t, r, wsA)
	assert.EqualValues(t, 2, a.Batches)
	assert.Equal(t, map[string]uint64{"traces": 1, "metrics": 0, "logs": 1}, a.BatchesBySignal)
	assert.EqualValues(t, 13, a.Records, "6 log records + 7 spans")
	assert.Equal(t, map[string]uint64{"PatchCompliance": 2, "BackupFailure": 1}, a.EventsByType)
	assert.EqualValues(t, 2, a.Rejections)
	assert.Equal(t, map[string]Rejections{
		"PatchCompliance": {Total: 1, Reasons: map[string]uint64{"at '/body/status': bad": 1}},
		"BackupFailure":   {Total: 1, Reasons: map[string]uint64{"at '/': missing properties 'job'": 1}},
	}, a.RejectionsByType)
	assert.EqualValues(t, 3, r.Totals.Batches)
	assert.EqualValues(t, 15, r.Totals.Records)
	assert.EqualValues(t, 4, tl.Next())
}

func TestSummarizeCountsDataPointsPerWorkspace(t *testing.T) {
	md := pmetric.NewMetrics()
	for _, ws := range []string{"8C5D7F4E-3B2A-4C1D-9E8F-7A6B5C4D3E2F", ""} {
		rm := md.ResourceMetrics().AppendEmpty()
		if ws != "" {
			rm.Resource().Attributes().PutStr(AttrWorkspace, ws)
		}
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		g := ms.AppendEmpty().SetEmptyGauge()
		g.DataPoints().AppendEmpty()
		g.DataPoints().AppendEmpty()
		ms.AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty()
	}
	raw, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	require.NoError(t, err)
	s, err := Summarize(loghost.SignalMetrics, raw)
	require.NoError(t, err)
	assert.Equal(t, wsA, s.Workspace, "workspace ids are compared in lower case")
	assert.Equal(t, map[string]uint64{wsA: 3, NoWorkspace: 3}, s.Records)

	_, err = Summarize(loghost.SignalMetrics, []byte{0xff, 0xff})
	assert.Error(t, err)
	_, err = Summarize(9, raw)
	assert.Error(t, err)
}

// The status covers the current hour and the 23 before it: a count leaves it 24 hours after its hour began.
func TestHoursRollOff(t *testing.T) {
	c := newClock() // 10:30
	tl := NewTally(testLimits, c.now)
	tl.Apply(1, c.t, tracesSummary(t, wsA, 1))
	tl.Duplicate(wsA, "traces")
	c.advance(23 * time.Hour) // 09:30 next day: 10:00 is still the oldest hour
	r := tl.Report(AllWorkspaces, Live{})
	assert.EqualValues(t, 1, workspaceOf(t, r, wsA).Batches)
	assert.EqualValues(t, 1, workspaceOf(t, r, wsA).Duplicates)
	assert.Len(t, workspaceOf(t, r, wsA).Hourly, 1)

	c.advance(time.Hour) // 10:30: the hour of 10:00 the day before is gone
	tl.Apply(2, c.t, tracesSummary(t, wsA, 1))
	r = tl.Report(AllWorkspaces, Live{})
	assert.EqualValues(t, 1, workspaceOf(t, r, wsA).Batches, "only today's 10:00 batch")
	assert.EqualValues(t, 0, workspaceOf(t, r, wsA).Duplicates)

	// An entry older than the window (replayed from an old log) moves the position but counts nowhere.
	tl.Apply(3, c.t.Add(-48*time.Hour), tracesSummary(t, wsA, 1))
	assert.EqualValues(t, 1, tl.Report(AllWorkspaces, Live{}).Totals.Batches)
	assert.EqualValues(t, 4, tl.Next())
}

// Rejection reasons are validator messages: at most maxReasonsPerType per type and hour are kept apart.
func TestRejectionReasonsAreBounded(t *testing.T) {
	c := newClock()
	tl := NewTally(testLimits, c.now)
	b := newLogs(wsA)
	for i := range maxReasonsPerType + 4 {
		b.event("PatchCompliance", fmt.Sprintf("reason %02d", i))
	}
	tl.Apply(1, c.t, b.summary(t))
	rj := workspaceOf(t, tl.Report(AllWorkspaces, Live{}), wsA).RejectionsByType["PatchCompliance"]
	assert.EqualValues(t, maxReasonsPerType+4, rj.Total)
	assert.Len(t, rj.Reasons, maxReasonsPerType+1)
	assert.EqualValues(t, 4, rj.Reasons[OtherLabel], "the reasons after the 16th distinct one")
}

// Beyond max_workspaces the least recently active workspace is dropped, and counted.
func TestWorkspacesAreBounded(t *testing.T) {
	c := newClock()
	tl := NewTally(Limits{MaxWorkspaces: 2, MaxAgents: 1, SilentAfter: 3}, c.now)
	tl.Apply(1, c.t, tracesSummary(t, wsA, 1))
	tl.Apply(2, c.t, tracesSummary(t, wsB, 1))
	tl.Duplicate(wsA, "traces") // wsA is now the most recently active
	tl.Apply(3, c.t, tracesSummary(t, "11111111-2222-4333-8444-555555555555", 1))
	r := tl.Report(AllWorkspaces, Live{})
	var ids []string
	for _, w := range r.Workspaces {
		ids = append(ids, w.Workspace)
	}
	assert.ElementsMatch(t, []string{wsA, "11111111-2222-4333-8444-555555555555"}, ids)
	assert.EqualValues(t, 1, r.Accounting.EvictedWorkspaces)

	tl.Apply(4, c.t, newLogs(wsA).heartbeat("i-1", "h1", "begin", 60).heartbeat("i-2", "h2", "begin", 60).summary(t))
	assert.Len(t, tl.Report(AllWorkspaces, Live{}).Agents, 1)
	assert.EqualValues(t, 1, tl.Accounting().EvictedAgents)
}

// Recorder calls count in the current hour of their workspace; open windows are the receipt exporter's last word.
func TestRecorderCounts(t *testing.T) {
	c := newClock()
	tl := NewTally(testLimits, c.now)
	tl.Duplicate(strings.ToUpper(wsA), "logs")
	tl.Duplicate(wsA, "metrics")
	tl.Duplicate(wsA, "bogus") // not a signal: ignored
	tl.Sealed(wsA, "traces")
	tl.PendingWindows(map[string]int{wsA: 2, wsB: 1})
	tl.PendingWindows(map[string]int{wsA: 3})
	tl.DeliveryFailed("tfo_log/forward")
	tl.DeliveryFailed("tfo_log/forward")
	r := tl.Report(AllWorkspaces, Live{Upstream: []string{"tfo_log/forward"},
		Consumers: []LiveConsumer{{Name: "tfo_log/forward", LagEntries: 5, LagBytes: 500}, {Name: "tfo_log/seal", LagEntries: 1}}})
	a := workspaceOf(t, r, wsA)
	assert.EqualValues(t, 2, a.Duplicates)
	assert.Equal(t, map[string]uint64{"traces": 0, "metrics": 1, "logs": 1}, a.DuplicatesBySignal)
	assert.EqualValues(t, 1, a.ReceiptsSealed)
	assert.Equal(t, 3, a.WindowsPending)
	assert.Len(t, r.Workspaces, 1, "wsB has no open window any more and nothing else")
	assert.EqualValues(t, 5, r.Upstream.PendingEntries)
	assert.EqualValues(t, 500, r.Upstream.PendingBytes)
	assert.EqualValues(t, 2, r.Upstream.Failures)
	require.Len(t, r.Upstream.Consumers, 2)
	assert.NotNil(t, r.Upstream.Consumers[0].FailingSince)
	tl.DeliveryRecovered("tfo_log/forward")
	assert.Nil(t, tl.Report(AllWorkspaces, Live{}).Upstream.Consumers[0].FailingSince)
}

// A workspace credential sees its workspace (even before it sent anything) and its agents, nothing else.
func TestReportScope(t *testing.T) {
	c := newClock()
	tl := NewTally(testLimits, c.now)
	tl.Apply(1, c.t, newLogs(wsA).heartbeat("i-a", "ha", "begin", 60).summary(t))
	tl.Apply(2, c.t, newLogs(wsB).heartbeat("i-b", "hb", "begin", 60).summary(t))

	r := tl.Report(OneWorkspace(wsB), Live{})
	assert.Equal(t, ScopeWorkspace, r.Scope)
	require.Len(t, r.Workspaces, 1)
	assert.Equal(t, wsB, r.Workspaces[0].Workspace)
	require.Len(t, r.Agents, 1)
	assert.Equal(t, "i-b", r.Agents[0].InstanceID)

	empty := "11111111-2222-4333-8444-555555555555"
	r = tl.Report(ScopeOf([]string{empty}), Live{})
	require.Len(t, r.Workspaces, 1)
	assert.Equal(t, empty, r.Workspaces[0].Workspace)
	assert.Zero(t, r.Totals.Batches)
	assert.Empty(t, r.Agents)

	assert.Equal(t, AllWorkspaces, ScopeOf([]string{"*"}))
	assert.Len(t, tl.Report(AllWorkspaces, Live{}).Workspaces, 2)
}

// The counters, the agents and the counted position survive a Save and Load; Dirty tells whether to save.
func TestSnapshotRoundTrip(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "status.json")
	tl := NewTally(testLimits, c.now)
	tl.Apply(7, c.t, newLogs(wsA).plain(2).event("PatchCompliance", "bad").heartbeat("i-a", "ha", "update", 60).summary(t))
	tl.Duplicate(wsA, "logs")
	tl.Sealed(wsA, "logs")
	tl.DeliveryFailed("tfo_log/forward")
	tl.PendingWindows(map[string]int{wsA: 1})
	require.True(t, tl.Dirty())
	next, err := tl.Save(path)
	require.NoError(t, err)
	assert.EqualValues(t, 8, next)
	assert.False(t, tl.Dirty())

	c.advance(time.Minute)
	loaded, err := Load(path, testLimits, c.now)
	require.NoError(t, err)
	want := tl.Report(AllWorkspaces, Live{})
	got := loaded.Report(AllWorkspaces, Live{})
	assert.EqualValues(t, 8, loaded.Next())
	assert.Equal(t, want.CountingSince, got.CountingSince)
	wa, ga := workspaceOf(t, want, wsA), workspaceOf(t, got, wsA)
	wa.WindowsPending = 0 // open windows are live state, reported again by the receipt exporter
	assert.Equal(t, wa, ga)
	assert.Equal(t, want.Agents, got.Agents)
	assert.Equal(t, want.Upstream.Failures, got.Upstream.Failures)

	_, err = Load(filepath.Join(t.TempDir(), "none.json"), testLimits, c.now)
	assert.ErrorIs(t, err, ErrNoSnapshot)
}
