package e2e

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/receipts"
)

// rqLogs is n log records of service guardian on host: record i has severity sev(i) and body "<host> log <i>".
func rqLogs(host string, n int, sev func(i int) plog.SeverityNumber) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "guardian")
	rl.Resource().Attributes().PutStr("host.name", host)
	sl := rl.ScopeLogs().AppendEmpty()
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(now)
		lr.SetSeverityNumber(sev(i))
		lr.Body().SetStr(fmt.Sprintf("%s log %d", host, i))
	}
	return ld
}

// rqTrace is one trace of service treasury: a root span lasting dur and spans-1 children, the last one with
// status ERROR when failed. It returns the trace id in hex.
func rqTrace(td ptrace.Traces, dur time.Duration, spans int, failed bool) string {
	var id pcommon.TraceID
	_, _ = rand.Read(id[:])
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "treasury")
	rs.Resource().Attributes().PutStr("host.name", "brick-01")
	ss := rs.ScopeSpans().AppendEmpty()
	end := time.Now()
	for i := range spans {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(id)
		sp.SetSpanID(pcommon.SpanID{byte(i + 1), 1, 2, 3, 4, 5, 6, 7})
		sp.SetName("settle")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-dur)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		if i > 0 {
			sp.SetParentSpanID(pcommon.SpanID{1, 1, 2, 3, 4, 5, 6, 7})
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-dur / 2)))
			if failed && i == spans-1 {
				sp.Status().SetCode(ptrace.StatusCodeError)
			}
		}
	}
	return hex.EncodeToString(id[:])
}

// rqCPU is a gauge cpu_percent on host brick-01 with the given values, 100 ms apart, ending now.
func rqCPU(values ...float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", "brick-01")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("cpu_percent")
	g := m.SetEmptyGauge()
	now := time.Now()
	for i, v := range values {
		dp := g.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i-len(values)+1) * 100 * time.Millisecond)))
		dp.SetDoubleValue(v)
	}
	return md
}

// rqJSONLines runs `tfocol receipts <args> -o jsonl` and decodes every output line into a T.
func rqJSONLines[T any](t *testing.T, args ...string) []T {
	t.Helper()
	out, err := rcCLI(t, append(args, "-o", "jsonl")...)
	require.NoError(t, err, out)
	var rows []T
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var row T
		require.NoError(t, json.Unmarshal([]byte(l), &row), "line %q", l)
		rows = append(rows, row)
	}
	return rows
}

type rqMatch struct {
	Instance string            `json:"instance"`
	Receipt  *receipts.Receipt `json:"receipt"`
}

type rqEvent struct {
	Kind       string   `json:"kind"`
	Instance   string   `json:"instance"`
	Text       string   `json:"text"`
	Node       string   `json:"node"`
	Severity   string   `json:"severity"`
	TraceID    string   `json:"trace_id"`
	DurationMs *int64   `json:"duration_ms"`
	Status     string   `json:"status"`
	Metric     string   `json:"metric"`
	Extreme    string   `json:"extreme"`
	Value      *float64 `json:"value"`
}

// Two gateway replicas seal known OTLP data; `receipts query` and `correlate` over both replicas' directories
// find exactly what was sent: the error logs, the long and the failed traces, the metric's extremes.
func TestReceiptsQueryAndCorrelate(t *testing.T) {
	keyFile, _ := rcKeygen(t)
	gw1 := rcStart(t, keyFile, map[string]string{"TFOCOL_INSTANCE_ID": "gw-1"})
	gw2 := rcStart(t, keyFile, map[string]string{"TFOCOL_INSTANCE_ID": "gw-2"})
	dir1, dir2 := filepath.Join(gw1.DataDir, "receipts"), filepath.Join(gw2.DataDir, "receipts")
	ctx := context.Background()
	sent := time.Now().UTC()

	// gw-1: 40 logs (7 ERROR, 3 FATAL), 4 traces (6 s; 7.5 s with an error span; 10 ms; 5 ms with an error span:
	// all but the third are significant), 3 cpu_percent points. gw-2: 10 logs (2 ERROR).
	require.NoError(t, e2etest.ExportGRPC(ctx, gw1.GRPC(gw1.Headers()), rqLogs("brick-01", 40, func(i int) plog.SeverityNumber {
		switch {
		case i < 7:
			return plog.SeverityNumberError
		case i < 10:
			return plog.SeverityNumberFatal
		}
		return plog.SeverityNumberInfo
	})))
	require.NoError(t, e2etest.ExportGRPC(ctx, gw2.GRPC(gw2.Headers()), rqLogs("brick-02", 10, func(i int) plog.SeverityNumber {
		if i%5 == 0 {
			return plog.SeverityNumberError2
		}
		return plog.SeverityNumberWarn
	})))
	td := ptrace.NewTraces()
	slow := rqTrace(td, 6*time.Second, 2, false)
	slowFailed := rqTrace(td, 7500*time.Millisecond, 3, true)
	rqTrace(td, 10*time.Millisecond, 1, false)
	fastFailed := rqTrace(td, 5*time.Millisecond, 2, true)
	require.NoError(t, e2etest.ExportGRPC(ctx, gw1.GRPC(gw1.Headers()), td))
	require.NoError(t, e2etest.ExportGRPC(ctx, gw1.GRPC(gw1.Headers()), rqCPU(40, 87.3, 12)))

	// Records sealed: logs + points + spans in window batches + the spans of the 3 significant traces.
	rcWaitRecordsOrigin(t, dir1, receipts.DefaultOriginPrefix+"/gw-1", 40+3+8+(2+3+2), 30*time.Second)
	rcWaitRecordsOrigin(t, dir2, receipts.DefaultOriginPrefix+"/gw-2", 10, 30*time.Second)
	gw1.Stop()
	gw2.Stop()
	dirs := []string{"--dir", dir1, "--dir", dir2}

	// Log batches with errors, over both replicas: every ERROR and FATAL record counted once.
	batches := rqJSONLines[rqMatch](t, append([]string{"query", "--type", "log_batch", "--filter", "log_counts.error > 0"}, dirs...)...)
	var errs, fatal uint64
	instances := map[string]bool{}
	for _, m := range batches {
		errs += m.Receipt.LogCounts.Error
		fatal += m.Receipt.LogCounts.Fatal
		instances[m.Instance] = true
		require.Equal(t, e2etest.DefaultWorkspace, m.Receipt.Workspace)
	}
	require.Equal(t, uint64(7+2), errs)
	require.Equal(t, uint64(3), fatal)
	require.Equal(t, map[string]bool{"gw-1": true, "gw-2": true}, instances)

	traceIDs := func(ms []rqMatch) []string {
		var out []string
		for _, m := range ms {
			require.Equal(t, receipts.TypeTraceComplete, m.Receipt.Type)
			require.Equal(t, "gw-1", m.Instance)
			out = append(out, m.Receipt.TraceID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	long := rqJSONLines[rqMatch](t, append([]string{"query", "--type", "trace_complete", "--filter", "duration_ms > 5000"}, dirs...)...)
	require.Equal(t, sorted(slow, slowFailed), traceIDs(long))
	for _, m := range long {
		want := map[string]int64{slow: 6000, slowFailed: 7500}[m.Receipt.TraceID]
		require.Equal(t, want, m.Receipt.DurationMs)
	}
	failed := rqJSONLines[rqMatch](t, append([]string{"query", "--filter", "status != ok"}, dirs...)...)
	require.Equal(t, sorted(slowFailed, fastFailed), traceIDs(failed))
	require.Len(t, rqJSONLines[rqMatch](t, append([]string{"query", "--type", "trace_complete", "--last", "1h"}, dirs...)...), 3)
	require.Empty(t, rqJSONLines[rqMatch](t, append([]string{"query", "--to", sent.Add(-time.Hour).Format(time.RFC3339)}, dirs...)...))

	// Node filter: brick-02 only sent to gw-2.
	for _, m := range rqJSONLines[rqMatch](t, append([]string{"query", "--node", "brick-02"}, dirs...)...) {
		require.Equal(t, "gw-2", m.Instance)
		require.Equal(t, receipts.TypeLogBatch, m.Receipt.Type)
	}

	out, err := rcCLI(t, append([]string{"query", "--filter", "status != ok", "-o", "csv"}, dirs...)...)
	require.NoError(t, err, out)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err, out)
	require.Len(t, rows, 1+2)
	require.Equal(t, "duration_ms", rows[0][8])

	// The timeline around the moment of sending holds each error log, each significant trace and the gauge's
	// extremes, from both replicas.
	events := rqJSONLines[rqEvent](t, append([]string{"correlate", "--timestamp", sent.Format(time.RFC3339Nano), "--window", "1m"}, dirs...)...)
	var logs, traces []string
	extremes := map[string]float64{}
	for _, e := range events {
		switch e.Kind {
		case "log":
			logs = append(logs, e.Instance+" "+e.Severity+" "+strings.TrimPrefix(e.Text, e.Severity+" guardian@"))
		case "trace":
			traces = append(traces, e.TraceID)
			require.Equal(t, map[string]int64{slow: 6000, slowFailed: 7500, fastFailed: 5}[e.TraceID], *e.DurationMs)
		case "metric":
			require.Equal(t, "cpu_percent", e.Metric)
			extremes[e.Extreme] = *e.Value
		}
	}
	var wantLogs []string
	for i := range 10 {
		sev := "FATAL"
		if i < 7 {
			sev = "ERROR"
		}
		wantLogs = append(wantLogs, fmt.Sprintf("gw-1 %s brick-01: brick-01 log %d", sev, i))
	}
	wantLogs = append(wantLogs, "gw-2 ERROR brick-02: brick-02 log 0", "gw-2 ERROR brick-02: brick-02 log 5")
	slices.Sort(logs)
	slices.Sort(wantLogs)
	require.Equal(t, wantLogs, logs)
	slices.Sort(traces)
	require.Equal(t, sorted(slow, slowFailed, fastFailed), traces)
	require.Equal(t, map[string]float64{"max": 87.3, "min": 12}, extremes)

	// Far from the moment: nothing.
	require.Empty(t, rqJSONLines[rqEvent](t, append([]string{"correlate", "--timestamp", sent.Add(-2 * time.Hour).Format(time.RFC3339), "--window", "15m"}, dirs...)...))
	out, err = rcCLI(t, append([]string{"correlate", "--timestamp", sent.Format(time.RFC3339Nano), "--window", "1m"}, dirs...)...)
	require.NoError(t, err, out)
	require.Contains(t, out, fmt.Sprintf("(±1m), %d events:", len(events)))
}
