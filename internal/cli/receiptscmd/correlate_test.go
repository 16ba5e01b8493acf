package receiptscmd

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
	"github.com/tfocol/tfocol/internal/receipts/pdataleaves"
	"github.com/tfocol/tfocol/internal/receipts/timeline"
)

type logRec struct {
	at   time.Duration // after t0
	sev  plog.SeverityNumber
	host string
	body string
}

func leavesOfLogs(t *testing.T, recs []logRec) [][]byte {
	ld := plog.NewLogs()
	for _, r := range recs {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "guardian")
		rl.Resource().Attributes().PutStr("host.name", r.host)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(r.at)))
		lr.SetSeverityNumber(r.sev)
		lr.Body().SetStr(r.body)
		if r.body == "BackupFailure" {
			lr.SetEventName("BackupFailure")
		}
	}
	return leavesOf(t, func(fn func(receipts.Record) error) error { return pdataleaves.EncodeLogs(ld, "tfo.workspace.id", fn) })
}

// leavesOf collects the leaves an Encode* function produces.
func leavesOf(t *testing.T, encode func(func(receipts.Record) error) error) [][]byte {
	var leaves [][]byte
	require.NoError(t, encode(func(r receipts.Record) error {
		leaves = append(leaves, r.Leaf)
		return nil
	}))
	return leaves
}

type point struct {
	at    time.Duration
	name  string
	value float64
}

func leavesOfMetrics(t *testing.T, pts []point) [][]byte {
	md := pmetric.NewMetrics()
	for _, p := range pts {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("host.name", "brick-02")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName(p.name)
		if p.name == "latency" {
			dp := m.SetEmptyHistogram().DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(p.at)))
			dp.SetCount(3)
			dp.SetMin(5)
			dp.SetMax(p.value)
			continue
		}
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(p.at)))
		dp.SetDoubleValue(p.value)
		dp.Attributes().PutStr("cpu", "total")
	}
	return leavesOf(t, func(fn func(receipts.Record) error) error {
		return pdataleaves.EncodeMetrics(md, "tfo.workspace.id", fn)
	})
}

// correlateFixture seals the hour 14:00–15:00 of workspace ws-1 (real batch files) plus receipts before and
// after it; the 15:00 log batch's file is removed, so reading it would leave a note.
func correlateFixture(t *testing.T) string {
	dir := t.TempDir()
	scroll := filepath.Join(dir, "ws-1")
	s, _, err := receipts.OpenScroll(scroll, receipts.DefaultOriginPrefix+"/ws-1", nil)
	require.NoError(t, err)
	period := &receipts.Period{Start: receipts.FormatTime(t0), End: receipts.FormatTime(t0.Add(time.Hour))}
	logs := leavesOfLogs(t, []logRec{
		{10 * time.Minute, plog.SeverityNumberError, "brick-01", "outside the window"},
		{25 * time.Minute, plog.SeverityNumberError, "brick-01", "anchor queue depth increasing"},
		{30 * time.Minute, plog.SeverityNumberInfo, "brick-01", "anchor cycle completed"},
		{35 * time.Minute, plog.SeverityNumberError, "brick-02", "BackupFailure"},
		{40 * time.Minute, plog.SeverityNumberFatal, "brick-01", "processing backlog"},
		{45 * time.Minute, plog.SeverityNumberWarn, "brick-01", "slow disk"},
	})
	sum := merkle.Sum(logs[3])
	require.NoError(t, s.Append(&receipts.Receipt{Type: receipts.TypeAlertFired, ID: receipts.AlertID(logs[3]), Timestamp: receipts.FormatTime(t0.Add(35 * time.Minute)),
		Workspace: "ws-1", Name: "BackupFailure", Severity: "error", Node: "brick-02", Service: "guardian",
		EventTime: receipts.FormatTime(t0.Add(35 * time.Minute)), Record: logs[3],
		ContentHash: receipts.FormatHash(sum[:]), MerkleRoot: receipts.FormatHash(merkle.BLAKE3.HashLeaf(logs[3])), LeafCount: 1}))
	require.NoError(t, s.SealFile(receipts.BatchPath("logs", t0, time.Hour), logs, &receipts.Receipt{Type: receipts.TypeLogBatch,
		ID: receipts.BatchID("logs", t0), Timestamp: receipts.FormatTime(t0.Add(61 * time.Minute)), Workspace: "ws-1", Period: period,
		LogCounts: &receipts.LogCounts{Info: 1, Warn: 1, Error: 3, Fatal: 1}, ServicesReporting: []string{"guardian"},
		NodesReporting: []string{"brick-01", "brick-02"}}))
	metrics := leavesOfMetrics(t, []point{
		{15 * time.Minute, "cpu_percent", 50}, {21 * time.Minute, "cpu_percent", 12}, {32 * time.Minute, "cpu_percent", 87.3},
		{44 * time.Minute, "cpu_percent", 40}, {30 * time.Minute, "memory_percent", 62}, {40 * time.Minute, "memory_percent", 62},
		{33 * time.Minute, "latency", 900},
	})
	require.NoError(t, s.SealFile(receipts.BatchPath("metrics", t0, time.Hour), metrics, &receipts.Receipt{Type: receipts.TypeMetricSnapshot,
		ID: receipts.BatchID("metrics", t0), Timestamp: receipts.FormatTime(t0.Add(61 * time.Minute)), Workspace: "ws-1", Period: period,
		MetricsCollected: 7, MetricNames: 3, DataPointTypes: map[string]uint64{"gauge": 7}, NodesReporting: []string{"brick-02"}}))
	tr := traceDone(t0.Add(30*time.Minute), "aa", 2345, "ok")
	tr.ContentHash, tr.MerkleRoot, tr.Workspace = receipts.ZeroHash, receipts.ZeroHash, "ws-1"
	late := traceDone(t0.Add(70*time.Minute), "bb", 100, "error")
	late.ContentHash, late.MerkleRoot, late.Workspace = receipts.ZeroHash, receipts.ZeroHash, "ws-1"
	next := logBatch(t0.Add(time.Hour), 5, "brick-01")
	next.ContentHash, next.MerkleRoot, next.Workspace = receipts.ZeroHash, receipts.ZeroHash, "ws-1"
	require.NoError(t, s.Append(tr, late, next))
	return dir
}

func correlateEvents(t *testing.T, args ...string) ([]timeline.Event, string) {
	t.Helper()
	out, err := run(t, append([]string{"correlate", "-o", "jsonl"}, args...)...)
	require.NoError(t, err, out)
	var events []timeline.Event
	var notes []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "note:") {
			notes = append(notes, l)
			continue
		}
		var e timeline.Event
		require.NoError(t, json.Unmarshal([]byte(l), &e), l)
		events = append(events, e)
	}
	return events, strings.Join(notes, "\n")
}

func summary(events []timeline.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Time.Format("15:04")+" "+e.Kind+" "+e.Text)
	}
	return out
}

func TestCorrelateTimeline(t *testing.T) {
	dir := correlateFixture(t)
	events, notes := correlateEvents(t, "--dir", dir, "--timestamp", "2025-12-06T14:35:00Z", "--window", "15m")
	require.Empty(t, notes, "only the batch files of windows in the range are read")
	require.Equal(t, []string{
		"14:00 window logs 2025-12-06T14:00:00Z – 2025-12-06T15:00:00Z: 6 records, 3 error, 1 fatal, 1 warn",
		"14:00 window metrics 2025-12-06T14:00:00Z – 2025-12-06T15:00:00Z: 7 data points of 3 metrics",
		"14:21 metric brick-02 cpu_percent{cpu=total} min 12 (3 points; max 87.3 at 2025-12-06T14:32:00Z)",
		"14:25 log ERROR guardian@brick-01: anchor queue depth increasing",
		"14:30 metric brick-02 memory_percent{cpu=total} = 62 (2 points, constant)",
		"14:30 trace trace aa000000000000000000000000000000 treasury_settlement completed (2345 ms, ok, 4 spans, 0 with errors)",
		"14:32 metric brick-02 cpu_percent{cpu=total} max 87.3 (3 points; min 12 at 2025-12-06T14:21:00Z)",
		"14:33 metric brick-02 latency max 900 (1 point; min 5 at 2025-12-06T14:33:00Z)",
		"14:33 metric brick-02 latency min 5 (1 point; max 900 at 2025-12-06T14:33:00Z)",
		"14:35 alert BackupFailure fired (error) on guardian@brick-02",
		"14:40 log FATAL guardian@brick-01: processing backlog",
	}, summary(events), "the alert's record is listed once, as the alert")
	fatal := events[10]
	require.Equal(t, "logs-2025-12-06T14:00:00Z", fatal.Receipt)
	require.Equal(t, 4, *fatal.Record, "index of the record in the batch file")
	require.Equal(t, "FATAL", fatal.Severity)
	require.Equal(t, 87.3, *events[6].Value)
	require.Equal(t, "max", events[6].Extreme)
	require.Equal(t, int64(2345), *events[5].DurationMs)

	// Node and metric filters apply to records too; --window is either side.
	events, _ = correlateEvents(t, "--dir", dir, "--timestamp", "2025-12-06T14:35:00Z", "--window", "15m", "--node", "brick-01")
	require.Equal(t, []string{
		"14:00 window logs 2025-12-06T14:00:00Z – 2025-12-06T15:00:00Z: 6 records, 3 error, 1 fatal, 1 warn",
		"14:25 log ERROR guardian@brick-01: anchor queue depth increasing",
		"14:30 trace trace aa000000000000000000000000000000 treasury_settlement completed (2345 ms, ok, 4 spans, 0 with errors)",
		"14:40 log FATAL guardian@brick-01: processing backlog",
	}, summary(events))
	events, _ = correlateEvents(t, "--dir", dir, "--timestamp", "2025-12-06T14:30:00Z", "--window", "3m", "--metric", "cpu_*")
	require.Equal(t, []string{
		"14:00 window logs 2025-12-06T14:00:00Z – 2025-12-06T15:00:00Z: 6 records, 3 error, 1 fatal, 1 warn",
		"14:00 window metrics 2025-12-06T14:00:00Z – 2025-12-06T15:00:00Z: 7 data points of 3 metrics",
		"14:30 trace trace aa000000000000000000000000000000 treasury_settlement completed (2345 ms, ok, 4 spans, 0 with errors)",
		"14:32 metric brick-02 cpu_percent{cpu=total} = 87.3 (1 point, constant)",
	}, summary(events))

	// A window reaching into the next hour reads its log batch, whose file is gone: a note, not a failure.
	events, notes = correlateEvents(t, "--dir", dir, "--timestamp", "2025-12-06T15:05:00Z", "--window", "10m")
	require.Contains(t, notes, "telemetry/logs/2025-12-06/hour-15.binpb (receipt logs-2025-12-06T15:00:00Z)")
	require.Equal(t, []string{
		"14:00 window logs 2025-12-06T14:00:00Z – 2025-12-06T15:00:00Z: 6 records, 3 error, 1 fatal, 1 warn",
		"14:00 window metrics 2025-12-06T14:00:00Z – 2025-12-06T15:00:00Z: 7 data points of 3 metrics",
		"15:00 window logs 2025-12-06T15:00:00Z – 2025-12-06T16:00:00Z: 25 records, 5 error, 0 fatal, 0 warn",
		"15:10 trace trace bb000000000000000000000000000000 treasury_settlement completed (100 ms, error, 4 spans, 1 with errors)",
	}, summary(events), "no record of 14:00–15:00 falls in 14:55–15:15")

	out, err := run(t, "correlate", "--dir", dir, "--timestamp", "2025-12-06T14:35:00Z")
	require.NoError(t, err)
	require.Contains(t, out, "Timeline around 2025-12-06T14:35:00Z (±15m), 11 events:")
	require.Contains(t, out, "logs-2025-12-06T14:00:00Z#4")
	for _, bad := range [][]string{{}, {"--timestamp", "x"}, {"--timestamp", "2025-12-06", "--window", "-1m"},
		{"--timestamp", "2025-12-06", "-o", "csv"}, {"--timestamp", "2025-12-06", "--metric", "["}} {
		_, err := run(t, append([]string{"correlate", "--dir", dir}, bad...)...)
		require.Error(t, err, "%v", bad)
	}
}
