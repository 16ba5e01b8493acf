package receiptexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
)

// A call that does not come from a tfo_log receiver is refused for good: without the entry's position nothing
// could be sealed exactly once.
func TestCallWithoutDeliveryIsPermanentError(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	e := startExporter(t, testConfig(dir), clock)
	ctx := context.Background()
	for _, err := range []error{
		e.pushLogs(ctx, makeLogs("ws", 1, base, 9)),
		e.pushMetrics(ctx, makeMetrics("ws", 1, base)),
		e.pushTraces(ctx, makeTrace("ws", 1, base, time.Millisecond, 1, false)),
	} {
		require.Error(t, err)
		require.True(t, consumererror.IsPermanent(err), err)
		require.ErrorContains(t, err, "tfo_log receiver")
	}
	require.NoError(t, e.shutdown(ctx))
}

// event_router splits one entry into several calls with the same Delivery; each is applied, and a call the
// receiver delivers again (another part of the entry failed) is not applied twice.
func TestSplitCallsOfAnEntryAreAppliedOnceEach(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	stream := newFakeStream(clock)
	e := startExporter(t, testConfig(dir), clock)
	ctx := durablelog.WithDelivery(context.Background(), durablelog.Delivery{Seq: 1, Arrival: clock.Now().UnixNano(), Stream: stream})
	a := makeLogs("ws", 2, base, plog.SeverityNumberInfo)
	b := makeLogs("ws", 3, base, plog.SeverityNumberError)
	require.NoError(t, e.pushLogs(ctx, a))
	require.NoError(t, e.pushLogs(ctx, b))
	require.NoError(t, e.pushLogs(ctx, a))
	require.Equal(t, []uint64{1}, stream.heldSeqs())
	require.Equal(t, 1, stream.maxHoldsPerSeq())
	clock.Set(base.Add(2 * time.Minute))
	rs := waitReceipts(t, filepath.Join(dir, "ws"), 1)
	require.Equal(t, uint64(5), rs[0].LeafCount)
	require.Equal(t, receipts.LogCounts{Info: 2, Error: 3}, *rs[0].LogCounts)
	require.Eventually(t, func() bool { return len(stream.heldSeqs()) == 0 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, e.shutdown(context.Background()))
}

// Failure events get an obs_alert_fired receipt in their workspace's scroll before the call returns, and stay in
// their window batch; retries and replays of the entry never add a second alert.
func TestAlertsLandInTheWorkspaceScrollOnceAcrossReplay(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	ctx := context.Background()
	e := startExporter(t, testConfig(dir), clock)
	ld := makeLogs("ws", 4, base, plog.SeverityNumberError)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	lrs.At(0).SetEventName("BackupFailure")
	lrs.At(1).Attributes().PutStr("event.name", "PipelineFailure")
	lrs.At(2).SetEventName("ServiceDegraded")
	lrs.At(2).Attributes().PutStr(rejectionAttr, "missing field") // failed its contract: no alert
	lrs.At(3).SetEventName("UserLoggedIn")                        // not a failure event
	require.NoError(t, lg.logs(e, ld))
	scroll := filepath.Join(dir, "ws")
	// Receipts exist as soon as the call returns.
	rs := readReceipts(t, scroll)
	require.Len(t, rs, 2)
	require.Equal(t, receipts.TypeAlertFired, rs[0].Type)
	require.Equal(t, "BackupFailure", rs[0].Name)
	require.Equal(t, "PipelineFailure", rs[1].Name)
	require.Equal(t, "error", rs[0].Severity)
	require.Regexp(t, `^alert-[0-9a-f]{32}$`, rs[0].ID)
	// The receiver delivers the entry again (a retry): nothing is added.
	require.NoError(t, lg.redeliver(e, 1))
	require.Len(t, readReceipts(t, scroll), 2)
	require.NoError(t, e.shutdown(ctx))

	// Crash before the window sealed: the entry is delivered again; the alerts are recognised by their ids.
	require.Equal(t, uint64(1), lg.resume())
	lg.restart()
	e = startExporter(t, testConfig(dir), clock)
	require.NoError(t, lg.redeliver(e, 1))
	require.Len(t, readReceipts(t, scroll), 2)
	clock.Set(base.Add(2 * time.Minute))
	rs = waitReceipts(t, scroll, 3)
	require.Equal(t, receipts.TypeLogBatch, rs[2].Type)
	require.Equal(t, uint64(4), rs[2].LeafCount, "alert events are sealed in their window too")
	require.NoError(t, e.shutdown(ctx))
	require.Equal(t, uint64(2+4), verifyAll(t, dir))
	// One scroll, one origin per workspace.
	scrolls, err := receipts.FindScrolls(dir)
	require.NoError(t, err)
	require.Len(t, scrolls, 1)
}

// openFiles counts this process's descriptors on window spools and on receipt logs under dir.
func openFiles(t *testing.T, dir string) (spools, receiptLogs int) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	for _, ent := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", ent.Name()))
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(target, filepath.Join(dir, spoolDir)+"/") && !strings.HasPrefix(filepath.Base(target), traceSpoolPrefix):
			spools++
		case strings.HasPrefix(target, dir) && filepath.Base(target) == filepath.Base(receipts.ReceiptsFile):
			receiptLogs++
		}
	}
	return spools, receiptLogs
}

// With more workspaces than max_open_files, at most max_open_files spools are open at any time (the least
// recently written are closed and reopened for append), no receipt log is held open, and every window is sealed
// with all its records.
func TestSpoolFilesAreBoundedByMaxOpenFiles(t *testing.T) {
	const workspaces, maxOpen = 12, 4
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	cfg := testConfig(dir)
	cfg.MaxOpenFiles = maxOpen
	peak := 0
	e := startExporter(t, cfg, clock, func(en *engine) {
		en.beforeCommit = func() {
			n, _ := openFiles(t, dir)
			peak = max(peak, n)
		}
	})
	for round := 0; round < 3; round++ {
		for i := 0; i < workspaces; i++ {
			require.NoError(t, lg.logs(e, makeLogs(fmt.Sprintf("ws-%02d", i), round+1, base.Add(time.Duration(round)*time.Second), 9)))
			spools, logs := openFiles(t, dir)
			require.LessOrEqual(t, spools, maxOpen)
			require.Zero(t, logs)
		}
	}
	require.Equal(t, maxOpen, peak, "spools are closed and reopened, never more than max_open_files")
	clock.Set(base.Add(2 * time.Minute))
	for i := 0; i < workspaces; i++ {
		rs := waitReceipts(t, filepath.Join(dir, fmt.Sprintf("ws-%02d", i)), 1)
		require.Equal(t, uint64(1+2+3), rs[0].LeafCount)
	}
	spools, logs := openFiles(t, dir)
	require.Zero(t, spools)
	require.Zero(t, logs)
	require.NoError(t, e.shutdown(context.Background()))
	require.Equal(t, uint64(workspaces*6), verifyAll(t, dir))
}

// A replica with an instance name publishes its checkpoints under <origin>/<instance>/<workspace dir>; an auditor
// verifies its scrolls with that prefix.
func TestInstanceNamesTheCheckpointOrigin(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	cfg := testConfig(dir)
	cfg.Instance = "gw-2"
	e := startExporter(t, cfg, clock)
	require.NoError(t, lg.logs(e, makeLogs("ws", 2, base, 9)))
	clock.Set(base.Add(2 * time.Minute))
	scroll := filepath.Join(dir, "ws")
	waitReceipts(t, scroll, 1)
	require.NoError(t, e.shutdown(context.Background()))
	raw, err := os.ReadFile(filepath.Join(scroll, receipts.RootFile))
	require.NoError(t, err)
	cp, err := checkpoint.Parse(raw, nil)
	require.NoError(t, err)
	require.Equal(t, receipts.DefaultOriginPrefix+"/gw-2/ws", cp.Origin)
	_, err = receipts.VerifyScroll(scroll, receipts.VerifyOptions{OriginPrefix: receipts.DefaultOriginPrefix + "/gw-2"})
	require.NoError(t, err)
	_, err = receipts.VerifyScroll(scroll, receipts.VerifyOptions{})
	require.ErrorContains(t, err, "origin")
}

// A spool write failure answers with a retryable error (the receiver keeps the entry), and so does every later
// call until a restart rebuilds the windows from the log.
func TestSpoolFailureIsRetryable(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	e := startExporter(t, testConfig(dir), clock)
	require.NoError(t, os.RemoveAll(filepath.Join(dir, spoolDir)))
	err := lg.logs(e, makeLogs("ws", 2, base, 9))
	require.Error(t, err)
	require.False(t, consumererror.IsPermanent(err))
	err = lg.logs(e, makeLogs("ws", 1, base, 9))
	require.ErrorContains(t, err, "restart")
	require.NoError(t, e.shutdown(context.Background()))

	lg.restart()
	e = startExporter(t, testConfig(dir), clock)
	require.NoError(t, lg.redeliver(e, 1))
	clock.Set(base.Add(2 * time.Minute))
	rs := waitReceipts(t, filepath.Join(dir, "ws"), 1)
	require.Equal(t, uint64(3), rs[0].LeafCount)
	require.NoError(t, e.shutdown(context.Background()))
}

// Window assignment depends on the record's time and its entry's arrival only (interval 1m, grace 5s).
func TestAssignDependsOnlyOnEventTimeAndArrival(t *testing.T) {
	e := &engine{interval: 60, grace: 5 * time.Second}
	at := func(d time.Duration) int64 { return base.Add(d).UnixNano() }
	w := func(d time.Duration) int64 { return base.Add(d).Unix() }
	for _, c := range []struct {
		name           string
		event, arrival time.Duration
		noEvent        bool
		want           time.Duration
	}{
		{name: "own window", event: 10 * time.Second, arrival: 20 * time.Second, want: 0},
		{name: "previous window within grace", event: 59 * time.Second, arrival: 64 * time.Second, want: 0},
		{name: "previous window at end + grace", event: 59 * time.Second, arrival: 65 * time.Second, want: time.Minute},
		{name: "long ago", event: -time.Hour, arrival: 20 * time.Second, want: 0},
		{name: "future", event: 2 * time.Minute, arrival: 20 * time.Second, want: 0},
		{name: "no time", noEvent: true, arrival: 90 * time.Second, want: time.Minute},
	} {
		ev := at(c.event)
		if c.noEvent {
			ev = 0
		}
		require.Equal(t, w(c.want), e.assign(ev, at(c.arrival)), c.name)
	}
}
