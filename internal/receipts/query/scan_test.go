package query

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/receipts"
)

var t0 = time.Date(2025, 12, 6, 14, 0, 0, 0, time.UTC)

func at(d time.Duration) string { return receipts.FormatTime(t0.Add(d)) }

// hourOf returns the receipts one gateway seals for a workspace in the hour starting at t0+h: a log batch
// (errors log errors), a trace batch, a significant trace of durMs and, for alertNode != "", an alert.
func hourOf(h int, errors uint64, durMs int64, node, alertNode string) []*receipts.Receipt {
	start := t0.Add(time.Duration(h) * time.Hour)
	period := &receipts.Period{Start: receipts.FormatTime(start), End: receipts.FormatTime(start.Add(time.Hour))}
	sealed := receipts.FormatTime(start.Add(time.Hour + time.Minute))
	status, errorSpans := "ok", uint64(0)
	if errors > 0 {
		status, errorSpans = "error", 1
	}
	rs := []*receipts.Receipt{
		{Type: receipts.TypeLogBatch, ID: receipts.BatchID("logs", start), Timestamp: sealed, Period: period,
			LogCounts: &receipts.LogCounts{Info: 10, Error: errors}, ServicesReporting: []string{"guardian"}, NodesReporting: []string{node},
			StoragePath: receipts.BatchPath("logs", start, time.Hour), LeafCount: 10 + errors},
		{Type: receipts.TypeTraceBatch, ID: receipts.BatchID("traces", start), Timestamp: sealed, Period: period, SpanCount: 5,
			TraceCount: 1, ServicesReporting: []string{"portal"}, NodesReporting: []string{node},
			StoragePath: receipts.BatchPath("traces", start, time.Hour), LeafCount: 5},
		{Type: receipts.TypeTraceComplete, ID: fmt.Sprintf("trace-%032x", h), Timestamp: sealed, TraceID: fmt.Sprintf("%032x", h),
			Name: "settle", DurationMs: durMs, Status: status, SpanCount: 5, ErrorSpans: errorSpans, EventTime: receipts.FormatTime(start.Add(20 * time.Minute)),
			ServicesReporting: []string{"portal"}, StoragePath: receipts.TracePath(fmt.Sprintf("%032x", h), start), LeafCount: 5},
	}
	if alertNode != "" {
		rs = append(rs, &receipts.Receipt{Type: receipts.TypeAlertFired, ID: receipts.AlertID([]byte{byte(h)}), Timestamp: at(time.Duration(h)*time.Hour + 40*time.Minute),
			Name: "BackupFailure", Severity: "error", Node: alertNode, Service: "backup",
			EventTime: at(time.Duration(h)*time.Hour + 40*time.Minute), Record: []byte{byte(h)}, LeafCount: 1})
	}
	return rs
}

// replicas lays out two gateway replicas (instances gw-1 and gw-2) side by side, each with the scrolls of
// workspaces ws-a and ws-b for hours 0..2.
func replicas(t *testing.T) (gw1, gw2 string) {
	root := t.TempDir()
	for _, inst := range []string{"gw-1", "gw-2"} {
		for wi, ws := range []string{"ws-a", "ws-b"} {
			var rs []*receipts.Receipt
			for h := range 3 {
				alert := ""
				if h == 1 && inst == "gw-2" {
					alert = "brick-09"
				}
				rs = append(rs, hourOf(h, uint64(h*(wi+1)), int64(1000+3000*h), fmt.Sprintf("brick-0%d", wi+1), alert)...)
			}
			writeLines(t, filepath.Join(root, inst, ws), receipts.DefaultOriginPrefix+"/"+inst+"/"+ws, ws, rs)
		}
	}
	return filepath.Join(root, "gw-1"), filepath.Join(root, "gw-2")
}

func ids(ms []Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Scroll.Instance+"/"+m.Receipt.Workspace+"/"+m.Receipt.ID)
	}
	return out
}

func scan(t *testing.T, dirs []string, f Filter) []Match {
	t.Helper()
	scrolls, err := FindScrolls(dirs, "")
	require.NoError(t, err)
	ms, err := Scan(scrolls, Options{Filter: f})
	require.NoError(t, err)
	return ms
}

func mustCompile(t *testing.T, src string) *Expr {
	e, err := CompileExpr(src)
	require.NoError(t, err)
	return e
}

func TestScanReplicasSideBySide(t *testing.T) {
	gw1, gw2 := replicas(t)
	dirs := []string{gw1, gw2}
	scrolls, err := FindScrolls(append(dirs, gw1), "")
	require.NoError(t, err)
	require.Len(t, scrolls, 4, "a directory given twice is read once")
	require.Equal(t, "gw-1", scrolls[0].Instance)
	require.Equal(t, "gw-2", scrolls[3].Instance)

	all := scan(t, dirs, Filter{})
	require.Len(t, all, 2*2*(3*3)+2)
	for i := 1; i < len(all); i++ {
		require.False(t, all[i].Time.Before(all[i-1].Time), "time order")
	}
	// Ties on time go by instance, then workspace.
	require.Equal(t, []string{"gw-1/ws-a/logs-2025-12-06T14:00:00Z", "gw-1/ws-a/traces-2025-12-06T14:00:00Z",
		"gw-1/ws-b/logs-2025-12-06T14:00:00Z"}, ids(all[:3]))

	require.Equal(t, []string{"gw-2/ws-a/" + receipts.AlertID([]byte{1}), "gw-2/ws-b/" + receipts.AlertID([]byte{1})},
		ids(scan(t, dirs, Filter{Types: []string{receipts.TypeAlertFired}})))
	require.Len(t, scan(t, dirs, Filter{Types: []string{receipts.TypeAlertFired, receipts.TypeTraceComplete}}), 2+12)

	// [from, to): the window start of batches, the event time of traces and alerts.
	hour1 := scan(t, dirs, Filter{From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour), Workspaces: []string{"ws-a"}, Instances: []string{"gw-2"}})
	require.Equal(t, []string{"gw-2/ws-a/logs-2025-12-06T15:00:00Z", "gw-2/ws-a/traces-2025-12-06T15:00:00Z",
		"gw-2/ws-a/trace-00000000000000000000000000000001", "gw-2/ws-a/" + receipts.AlertID([]byte{1})}, ids(hour1))

	// Node: an alert's node or nodes_reporting; service likewise.
	require.Len(t, scan(t, dirs, Filter{Nodes: []string{"brick-09"}}), 2)
	require.Len(t, scan(t, dirs, Filter{Nodes: []string{"brick-02"}}), 2*3*2, "ws-b's batches of both replicas")
	require.Len(t, scan(t, dirs, Filter{Services: []string{"guardian", "backup"}}), 2*2*3+2)

	// Expressions, alone and with other filters.
	errs := scan(t, dirs, Filter{Types: []string{receipts.TypeLogBatch}, Expr: mustCompile(t, `log_counts.error > 2`)})
	require.Equal(t, []string{"gw-1/ws-b/logs-2025-12-06T16:00:00Z", "gw-2/ws-b/logs-2025-12-06T16:00:00Z"}, ids(errs))
	slow := scan(t, dirs, Filter{Expr: mustCompile(t, `duration_ms > 5000`), Instances: []string{"gw-1"}})
	require.Equal(t, []string{"gw-1/ws-a/trace-00000000000000000000000000000002", "gw-1/ws-b/trace-00000000000000000000000000000002"}, ids(slow))
	require.Len(t, scan(t, dirs, Filter{Expr: mustCompile(t, `status != ok`)}), 2*2*2, "traces of hours 1 and 2 failed; nothing else has a status")
}

func TestScanOverlap(t *testing.T) {
	gw1, _ := replicas(t)
	// Around 15:25 ± 10m: the 15:00 windows overlap, the 15:20 trace is in, the 15:40 alert and 16:00 windows not.
	ms := scan(t, []string{gw1}, Filter{From: t0.Add(75 * time.Minute), To: t0.Add(95 * time.Minute), Overlap: true, Workspaces: []string{"ws-a"}})
	require.Equal(t, []string{"gw-1/ws-a/logs-2025-12-06T15:00:00Z", "gw-1/ws-a/traces-2025-12-06T15:00:00Z",
		"gw-1/ws-a/trace-00000000000000000000000000000001"}, ids(ms))
	// A window ending exactly at From does not overlap; an event exactly at To is in.
	ms = scan(t, []string{gw1}, Filter{From: t0.Add(time.Hour), To: t0.Add(80 * time.Minute), Overlap: true, Workspaces: []string{"ws-a"}})
	require.Equal(t, []string{"gw-1/ws-a/logs-2025-12-06T15:00:00Z", "gw-1/ws-a/traces-2025-12-06T15:00:00Z",
		"gw-1/ws-a/trace-00000000000000000000000000000001"}, ids(ms))
}

func TestInstanceOf(t *testing.T) {
	for _, c := range []struct{ origin, wsDir, prefix, want string }{
		{"tfocol/observability/ws-1", "ws-1", "tfocol/observability", ""},
		{"tfocol/observability/gw-1/ws-1", "ws-1", "tfocol/observability", "gw-1"},
		{"acme/obs/gw-2/~default", "~default", "acme/obs", "gw-2"},
		{"acme/obs/gw-2/~default", "~default", "tfocol/observability", "acme/obs/gw-2"},
		{"", "ws-1", "tfocol/observability", ""},
	} {
		require.Equal(t, c.want, instanceOf(c.origin, c.wsDir, c.prefix), c.origin)
	}
}

func TestScanTornTailAndBadLine(t *testing.T) {
	gw1, _ := replicas(t)
	log := filepath.Join(gw1, "ws-a", receipts.ReceiptsFile)
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	const half = `{"type":"obs_log_batch","id":"half`
	_, err = f.WriteString(half)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	scrolls, err := FindScrolls([]string{gw1}, "")
	require.NoError(t, err)
	var notes []string
	ms, err := Scan(scrolls, Options{Warn: func(m string) { notes = append(notes, m) }})
	require.NoError(t, err, "a line being written does not stop a query")
	require.Len(t, ms, 2*9)
	require.Len(t, notes, 1)
	require.Contains(t, notes[0], fmt.Sprintf("last line is incomplete (%d bytes", len(half)))

	// A complete line that is not a receipt stops the scan, naming the file and line, for every filter.
	data, err := os.ReadFile(log)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(log, append(data, []byte("\n{\"type\":\"obs_log_batch\"}\nnot json\n")...), 0o644))
	for _, f := range []Filter{{}, {Types: []string{receipts.TypeAlertFired}}} {
		_, err = Scan(scrolls, Options{Filter: f})
		require.ErrorContains(t, err, receipts.ReceiptsFile+" line 10:")
	}
	require.NoError(t, os.WriteFile(log, append(data[:len(data)-len(half)], []byte("not json\n")...), 0o644))
	_, err = Scan(scrolls, Options{Filter: Filter{Types: []string{receipts.TypeAlertFired}}})
	require.ErrorContains(t, err, receipts.ReceiptsFile+" line 10: invalid receipt JSON")
}

func TestParseTypes(t *testing.T) {
	got, err := ParseTypes([]string{"log_batch", "obs_alert_fired", " trace_complete "})
	require.NoError(t, err)
	require.Equal(t, []string{receipts.TypeLogBatch, receipts.TypeAlertFired, receipts.TypeTraceComplete}, got)
	got, err = ParseTypes([]string{"alert_resolved"})
	require.NoError(t, err)
	require.Equal(t, []string{receipts.TypeAlertResolved}, got)
	_, err = ParseTypes([]string{"alert_acknowledged"})
	require.ErrorContains(t, err, `unknown receipt type "alert_acknowledged"`)
}
