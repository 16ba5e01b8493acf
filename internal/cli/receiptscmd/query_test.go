package receiptscmd

import (
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/receipts"
)

// appendReceipts opens (or creates) the scroll of workspace under exporterDir with the origin of replica
// instance and appends rs; their batch files are not written (query reads only the receipt log).
func appendReceipts(t *testing.T, exporterDir, instance, workspace string, rs ...*receipts.Receipt) string {
	t.Helper()
	dir := filepath.Join(exporterDir, receipts.WorkspaceDir(workspace))
	origin := receipts.DefaultOriginPrefix + "/" + instance + "/" + receipts.WorkspaceDir(workspace)
	s, _, err := receipts.OpenScroll(dir, origin, nil)
	require.NoError(t, err)
	for _, r := range rs {
		r.Workspace = workspace
		if r.ContentHash == "" {
			r.ContentHash, r.MerkleRoot = receipts.ZeroHash, receipts.ZeroHash
		}
	}
	require.NoError(t, s.Append(rs...))
	return dir
}

func logBatch(start time.Time, errors uint64, nodes ...string) *receipts.Receipt {
	return &receipts.Receipt{Type: receipts.TypeLogBatch, ID: receipts.BatchID("logs", start), Timestamp: receipts.FormatTime(start.Add(time.Hour)),
		Period:    &receipts.Period{Start: receipts.FormatTime(start), End: receipts.FormatTime(start.Add(time.Hour))},
		LogCounts: &receipts.LogCounts{Info: 20, Error: errors}, ServicesReporting: []string{"guardian"}, NodesReporting: nodes,
		StoragePath: receipts.BatchPath("logs", start, time.Hour), LeafCount: 20 + errors}
}

// traceDone is the obs_trace_complete of trace id (its first hex digits; padded to 32 with zeros).
func traceDone(end time.Time, id string, ms int64, status string) *receipts.Receipt {
	id += strings.Repeat("0", 32-len(id))
	var errorSpans uint64
	if status == "error" {
		errorSpans = 1
	}
	return &receipts.Receipt{ErrorSpans: errorSpans, Type: receipts.TypeTraceComplete, ID: "trace-" + id, Timestamp: receipts.FormatTime(end.Add(time.Minute)),
		TraceID: id, Name: "treasury_settlement", DurationMs: ms, Status: status, SpanCount: 4, EventTime: receipts.FormatTime(end),
		ServicesReporting: []string{"portal", "treasury"}, NodesReporting: []string{"brick-01"}, StoragePath: receipts.TracePath(id, end), LeafCount: 4}
}

// queryFixture: replica gw-1 with workspaces ws-1 and ws-2, replica gw-2 with ws-1.
func queryFixture(t *testing.T) (gw1, gw2 string) {
	gw1, gw2 = t.TempDir(), t.TempDir()
	appendReceipts(t, gw1, "gw-1", "ws-1", logBatch(t0, 0, "brick-01"), traceDone(t0.Add(20*time.Minute), "aa", 1200, "ok"),
		logBatch(t0.Add(time.Hour), 3, "brick-01", "brick-02"), traceDone(t0.Add(80*time.Minute), "bb", 6400, "error"))
	appendReceipts(t, gw1, "gw-1", "ws-2", logBatch(t0, 1, "brick-03"))
	appendReceipts(t, gw2, "gw-2", "ws-1", logBatch(t0, 2, "brick-02"), traceDone(t0.Add(30*time.Minute), "cc", 5001, "ok"))
	return gw1, gw2
}

func TestQueryJSONLines(t *testing.T) {
	gw1, gw2 := queryFixture(t)
	out, err := run(t, "query", "--dir", gw1, "--dir", gw2, "--type", "log_batch", "--filter", "log_counts.error > 0", "-o", "jsonl")
	require.NoError(t, err, out)
	var got []matchLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m matchLine
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		got = append(got, m)
	}
	require.Len(t, got, 3)
	// Time order, then instance, then workspace; each receipt exactly as stored, so its hash chains.
	want := []struct{ time, instance, scroll, id string }{
		{"2025-12-06T14:00:00Z", "gw-1", filepath.Join(gw1, "ws-2"), "logs-2025-12-06T14:00:00Z"},
		{"2025-12-06T14:00:00Z", "gw-2", filepath.Join(gw2, "ws-1"), "logs-2025-12-06T14:00:00Z"},
		{"2025-12-06T15:00:00Z", "gw-1", filepath.Join(gw1, "ws-1"), "logs-2025-12-06T15:00:00Z"},
	}
	for i, w := range want {
		require.Equal(t, w.time, got[i].Time)
		require.Equal(t, w.instance, got[i].Instance)
		require.Equal(t, w.scroll, got[i].Scroll)
		lines, err := receipts.ScrollLines(w.scroll)
		require.NoError(t, err)
		require.Equal(t, string(lines[got[i].Line-1]), string(got[i].Receipt), "the stored line, byte for byte")
		r, err := receipts.ParseReceipt(got[i].Receipt)
		require.NoError(t, err)
		require.Equal(t, w.id, r.ID)
	}
}

func TestQueryFilters(t *testing.T) {
	gw1, gw2 := queryFixture(t)
	count := func(args ...string) int {
		t.Helper()
		out, err := run(t, append([]string{"query", "--dir", gw1, "--dir", gw2, "-o", "jsonl"}, args...)...)
		require.NoError(t, err, out)
		return strings.Count(out, "\n")
	}
	require.Equal(t, 7, count())
	require.Equal(t, 3, count("--type", "trace_complete"))
	require.Equal(t, 2, count("--type", "trace_complete", "--filter", "duration_ms > 5000"))
	require.Equal(t, 1, count("--filter", "status != ok"))
	require.Equal(t, 1, count("--filter", `status != "ok"`, "--type", "obs_trace_complete,obs_log_batch"))
	require.Equal(t, 3, count("--filter", "status == nil && log_counts.error >= 1"))
	require.Equal(t, 2, count("--node", "brick-02"))
	require.Equal(t, 3, count("--node", "brick-02,brick-03"))
	require.Equal(t, 3, count("--service", "treasury"))
	require.Equal(t, 6, count("--workspace", "ws-1"))
	require.Equal(t, 2, count("--instance", "gw-2"))
	require.Equal(t, 3, count("--from", "2025-12-06T14:20:00Z", "--to", "2025-12-06T15:20:00Z")) // [from, to): trace-bb… at 15:20 is out
	require.Equal(t, 2, count("--from", "2025-12-06T15:00:00Z"))
	require.Equal(t, 0, count("--last", "7d"), "the fixture is in 2025")

	for _, c := range []struct{ args []string }{
		{[]string{"-o", "xml"}},
		{[]string{"--type", "alert_acknowledged"}},
		{[]string{"--filter", "duraton_ms > 5"}},
		{[]string{"--last", "7x"}},
		{[]string{"--last", "7d", "--from", "2025-12-01"}},
		{[]string{"--from", "yesterday"}},
	} {
		_, err := run(t, append([]string{"query", "--dir", gw1}, c.args...)...)
		require.Error(t, err, "%v", c.args)
	}
}

func TestQueryLast(t *testing.T) {
	dir := t.TempDir()
	hour := time.Now().UTC().Truncate(time.Hour)
	appendReceipts(t, dir, "gw-1", "ws-1", logBatch(hour.AddDate(0, 0, -10), 0), logBatch(hour.Add(-48*time.Hour), 0),
		logBatch(hour.Add(-2*time.Hour), 0))
	for _, c := range []struct {
		last string
		want int
	}{{"7d", 2}, {"1w", 2}, {"24h", 1}, {"30d", 3}} {
		out, err := run(t, "query", "--dir", dir, "--last", c.last, "-o", "csv")
		require.NoError(t, err, out)
		require.Equal(t, c.want+1, strings.Count(out, "\n"), "--last %s", c.last)
	}
}

func TestQueryTableAndCSV(t *testing.T) {
	gw1, gw2 := queryFixture(t)
	out, err := run(t, "query", "--dir", gw1, "--dir", gw2, "--type", "trace_complete", "-o", "csv")
	require.NoError(t, err, out)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"time", "instance", "workspace", "seq", "type", "id", "records", "errors", "duration_ms", "status",
		"name", "services", "nodes"}, rows[0])
	require.Equal(t, [][]string{
		{"2025-12-06T14:20:00Z", "gw-1", "ws-1", "1", "obs_trace_complete", "trace-aa000000000000000000000000000000", "4", "0", "1200", "ok", "treasury_settlement", "portal,treasury", "brick-01"},
		{"2025-12-06T14:30:00Z", "gw-2", "ws-1", "1", "obs_trace_complete", "trace-cc000000000000000000000000000000", "4", "0", "5001", "ok", "treasury_settlement", "portal,treasury", "brick-01"},
		{"2025-12-06T15:20:00Z", "gw-1", "ws-1", "3", "obs_trace_complete", "trace-bb000000000000000000000000000000", "4", "1", "6400", "error", "treasury_settlement", "portal,treasury", "brick-01"},
	}, rows[1:])

	out, err = run(t, "query", "--dir", gw1, "--type", "log_batch")
	require.NoError(t, err, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	require.Equal(t, strings.Join(strings.Fields(lines[0]), " "), "TIME INSTANCE WORKSPACE SEQ TYPE ID RECORDS ERRORS DURATION_MS STATUS NAME SERVICES NODES")
	require.Equal(t, strings.Join(strings.Fields(lines[2]), " "), "2025-12-06T14:00:00Z gw-1 ws-2 0 obs_log_batch logs-2025-12-06T14:00:00Z 21 1 - - - guardian brick-03")
	// One column set for every type: a CSV of mixed types is rectangular.
	out, err = run(t, "query", "--dir", gw1, "--dir", gw2, "-o", "csv")
	require.NoError(t, err)
	rows, err = csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err, "csv.Reader checks every row has the header's field count")
	require.Len(t, rows, 8)
}
