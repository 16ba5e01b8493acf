package receiptexporter

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/internal/receipts"
)

// spanSpec describes the spans of one request batch for serviceSpans.
type spanSpec struct {
	kind     ptrace.SpanKind
	n        int
	errors   int           // the first errors spans have status ERROR
	slow     int           // the last slow spans last slowDur instead of dur
	dur      time.Duration // duration of the others
	slowDur  time.Duration
	traceTag byte
}

// serviceSpans are spans of one service (one trace per call), ending at end.
func serviceSpans(ws, service string, end time.Time, specs ...spanSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("tfo.workspace.id", ws)
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	id := 0
	for _, s := range specs {
		for i := 0; i < s.n; i++ {
			id++
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(pcommon.TraceID{s.traceTag, byte(id >> 8), byte(id), 7})
			sp.SetSpanID(pcommon.SpanID{byte(id >> 8), byte(id), 1})
			sp.SetKind(s.kind)
			sp.SetName("GET /anchor")
			d := s.dur
			if i >= s.n-s.slow {
				d = s.slowDur
			}
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-d)))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
			if i < s.errors {
				sp.Status().SetCode(ptrace.StatusCodeError)
			}
		}
	}
	return td
}

func sloConfig(dir string) *Config {
	cfg := testConfig(dir)
	cfg.SLOReportInterval = 2 * time.Minute
	cfg.SLOs = []SLOConfig{
		{Name: "anchor-availability", Service: "anchor", Kind: "availability", Target: 0.9, Window: "2m"},
		{Name: "anchor-latency", Service: "anchor", Kind: "latency", ThresholdMs: 100, Target: 0.8, Window: "4m", AtRiskBudget: 0.5},
		{Name: "oracle-availability", Workspace: "other", Service: "oracle", Kind: "availability", Target: 0.99, Window: "2m"},
	}
	return cfg
}

func sloReports(t *testing.T, dir string) []*receipts.Receipt {
	t.Helper()
	return receiptsOfType(t, dir, receipts.TypeSLOReport)
}

// feedSLOWindows delivers four one-minute windows of "anchor" spans (base = 14:00, a report boundary every 2m):
//
//	14:00  10 server spans, 1 error, 2 slow        14:01  5 consumer spans, 0 errors, 5 slow
//	14:02  10 server spans, 4 errors, 0 slow       14:03  nothing
//
// plus spans that never count: client and internal spans of anchor, server spans of another service.
func feedSLOWindows(t *testing.T, e *receiptExporter, lg *testLog, clock *fakeClock) {
	t.Helper()
	fast, slow := 20*time.Millisecond, 300*time.Millisecond
	at := func(min int) time.Time { return base.Add(time.Duration(min)*time.Minute + 30*time.Second) }
	clock.Set(at(0))
	require.NoError(t, lg.traces(e, serviceSpans("ws", "anchor", at(0),
		spanSpec{kind: ptrace.SpanKindServer, n: 10, errors: 1, slow: 2, dur: fast, slowDur: slow, traceTag: 1},
		spanSpec{kind: ptrace.SpanKindClient, n: 7, errors: 7, dur: slow, traceTag: 2},
		spanSpec{kind: ptrace.SpanKindInternal, n: 3, errors: 3, dur: slow, traceTag: 3})))
	require.NoError(t, lg.traces(e, serviceSpans("ws", "ledger", at(0), spanSpec{kind: ptrace.SpanKindServer, n: 4, errors: 4, dur: slow, traceTag: 4})))
	clock.Set(at(1))
	require.NoError(t, lg.traces(e, serviceSpans("ws", "anchor", at(1),
		spanSpec{kind: ptrace.SpanKindConsumer, n: 5, slow: 5, dur: fast, slowDur: slow, traceTag: 5})))
	clock.Set(at(2))
	require.NoError(t, lg.traces(e, serviceSpans("ws", "anchor", at(2),
		spanSpec{kind: ptrace.SpanKindServer, n: 10, errors: 4, dur: fast, traceTag: 6})))
	// Logs in 14:03 only: a window without trace batch.
	clock.Set(at(3))
	require.NoError(t, lg.logs(e, makeLogs("ws", 3, at(3), 9)))
}

// startFedSLOExporter starts an exporter with cfg on a fake clock at base and feeds it feedSLOWindows.
func startFedSLOExporter(t *testing.T, cfg *Config) (*fakeClock, *testLog, *receiptExporter) {
	t.Helper()
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	e := startExporter(t, cfg, clock)
	feedSLOWindows(t, e, lg, clock)
	return clock, lg, e
}

// sealSLOReports moves the clock to base+at, waits for the scroll dir/ws to hold n SLO reports and shuts e down.
func sealSLOReports(t *testing.T, e *receiptExporter, dir string, clock *fakeClock, at time.Duration, n int) {
	t.Helper()
	clock.Set(base.Add(at))
	require.Eventually(t, func() bool { return len(sloReports(t, filepath.Join(dir, "ws"))) == n }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, e.shutdown(context.Background()))
}

func findSLO(t *testing.T, r *receipts.Receipt, id string) receipts.SLOResult {
	t.Helper()
	for _, s := range r.SLOs {
		if s.SLOID == id {
			return s
		}
	}
	t.Fatalf("report %s has no %s", r.ID, id)
	return receipts.SLOResult{}
}

func dec(t *testing.T, s string) receipts.Decimal {
	t.Helper()
	d, err := receipts.ParseDecimal(s)
	require.NoError(t, err)
	return d
}

// Reports at each 2-minute boundary count the SERVER and CONSUMER spans of the objective's service in the sealed
// trace batches of each objective's window, exactly, with status and budget following from the counts; an
// objective of another workspace is not in this scroll; the scroll verifies (the verifier counts them again).
func TestSLOReportsCountSealedSpans(t *testing.T) {
	dir := t.TempDir()
	clock, _, e := startFedSLOExporter(t, sloConfig(dir))
	clock.Set(base.Add(6*time.Minute + 10*time.Second))
	scroll := filepath.Join(dir, "ws")
	require.Eventually(t, func() bool { return len(sloReports(t, scroll)) == 3 }, 10*time.Second, 10*time.Millisecond)
	reports := sloReports(t, scroll)

	// 14:02: availability over [14:00, 14:02): 15 events, 1 bad; budget 1.5, consumed 1/1.5 -> met.
	// latency over [13:58, 14:02): 15 events, 7 slow; budget 3, consumed 7 > 3 -> missed.
	r := reports[0]
	require.Equal(t, "slo-report-2025-12-06T14:02:00Z", r.ID)
	require.Equal(t, receipts.Period{Start: "2025-12-06T13:58:00Z", End: "2025-12-06T14:02:00Z"}, *r.Period)
	require.Len(t, r.SLOs, 2, "the oracle objective belongs to workspace other")
	require.Equal(t, uint64(2), r.LeafCount, "two trace batches inside the longest window")
	av := findSLO(t, r, "slo:anchor-availability")
	require.Equal(t, [3]uint64{15, 14, 1}, [3]uint64{av.Good + av.Bad, av.Good, av.Bad})
	require.Equal(t, uint64(2), av.Batches)
	require.Equal(t, receipts.SLOMet, av.Status)
	require.Equal(t, dec(t, "0.933333"), *av.Achieved)
	require.Equal(t, receipts.ErrorBudget{Total: dec(t, "1.5"), Consumed: 1, Remaining: dec(t, "0.5"), ConsumedRatio: ptr(dec(t, "0.666667"))}, av.ErrorBudget)
	lat := findSLO(t, r, "slo:anchor-latency")
	require.Equal(t, [2]uint64{8, 7}, [2]uint64{lat.Good, lat.Bad})
	require.Equal(t, receipts.SLOMissed, lat.Status)
	require.Equal(t, "breached", r.OverallStatus)

	// 14:04: availability over [14:02, 14:04): 10 events, 4 bad: missed. latency over [14:00, 14:04): 25
	// events, 7 slow; budget 5, consumed 7 -> missed.
	r = reports[1]
	require.Equal(t, "slo-report-2025-12-06T14:04:00Z", r.ID)
	av = findSLO(t, r, "slo:anchor-availability")
	require.Equal(t, [3]uint64{6, 4, 1}, [3]uint64{av.Good, av.Bad, av.Batches})
	require.Equal(t, receipts.SLOMissed, av.Status)
	lat = findSLO(t, r, "slo:anchor-latency")
	require.Equal(t, [3]uint64{18, 7, 3}, [3]uint64{lat.Good, lat.Bad, lat.Batches})

	// 14:06: the longest window [14:02, 14:06) still holds the 14:02 batch. availability over [14:04, 14:06) has
	// no events: no_data; latency: 10 events, none slow -> met.
	r = reports[2]
	require.Equal(t, "slo-report-2025-12-06T14:06:00Z", r.ID)
	av = findSLO(t, r, "slo:anchor-availability")
	require.Equal(t, receipts.SLOResult{SLOID: "slo:anchor-availability", Kind: "availability", Service: "anchor",
		Target: dec(t, "0.9"), AtRiskBudget: dec(t, "0.75"), Window: "2m",
		Period: receipts.Period{Start: "2025-12-06T14:04:00Z", End: "2025-12-06T14:06:00Z"}, Status: receipts.SLONoData}, av)
	lat = findSLO(t, r, "slo:anchor-latency")
	require.Equal(t, [3]uint64{10, 0, 1}, [3]uint64{lat.Good, lat.Bad, lat.Batches})
	require.Equal(t, receipts.SLOMet, lat.Status)
	require.Equal(t, "healthy", r.OverallStatus)

	// The 14:08 boundary's window [14:04, 14:08) holds no trace batch: no report, however far the clock goes.
	clock.Set(base.Add(time.Hour))
	require.Never(t, func() bool { return len(sloReports(t, scroll)) > 3 }, 300*time.Millisecond, 10*time.Millisecond)
	require.NoError(t, e.shutdown(context.Background()))
	verifyAll(t, dir)
}

func ptr[T any](v T) *T { return &v }

// A crash and replay of the log from the lowest held entry yields the same reports, counted once: the reports
// are made from sealed batches only, whose facts come from the cache or, when the cache is gone, from the batch
// files.
func TestSLOReportsExactlyOnceAcrossCrash(t *testing.T) {
	want := func() []*receipts.Receipt {
		dir := t.TempDir()
		clock, _, e := startFedSLOExporter(t, sloConfig(dir))
		sealSLOReports(t, e, dir, clock, 6*time.Minute+10*time.Second, 3)
		return sloReports(t, filepath.Join(dir, "ws"))
	}()
	for _, cacheCase := range []string{"cache", "no_cache", "stale_cache"} {
		t.Run(cacheCase, func(t *testing.T) {
			dir := t.TempDir()
			clock, lg, e := startFedSLOExporter(t, sloConfig(dir))
			// Seal the first three windows and the first report, then crash before the second.
			sealSLOReports(t, e, dir, clock, 3*time.Minute+10*time.Second, 1)
			old := lg.restart()
			from := uint64(1)
			if held := old.heldSeqs(); len(held) > 0 {
				from = held[0]
			} else {
				from = lg.last() + 1
			}
			switch cacheCase {
			case "no_cache":
				require.NoError(t, os.RemoveAll(filepath.Join(dir, derivedDir)))
			case "stale_cache":
				// Entries that do not name the batch's receipt line are not trusted (here: wrong counts).
				path := filepath.Join(dir, derivedDir, "ws.jsonl")
				raw, err := os.ReadFile(path)
				require.NoError(t, err)
				stale := regexp.MustCompile(`"lh":"[0-9a-f]{8}`).ReplaceAll(raw, []byte(`"lh":"00000000`))
				stale = regexp.MustCompile(`"g":[0-9]+`).ReplaceAll(stale, []byte(`"g":999`))
				require.NotEqual(t, raw, stale)
				require.NoError(t, os.WriteFile(path, stale, 0o644))
			}
			e = startExporter(t, sloConfig(dir), clock)
			// The receiver delivers again from its cursor; a replay from the very start is harmless too.
			require.NoError(t, lg.redeliver(e, 1))
			require.NoError(t, lg.redeliver(e, from))
			sealSLOReports(t, e, dir, clock, 6*time.Minute+10*time.Second, 3)
			got := sloReports(t, filepath.Join(dir, "ws"))
			require.Len(t, got, 3)
			for i := range want {
				require.Equal(t, want[i].SLOs, got[i].SLOs)
				require.Equal(t, want[i].ID, got[i].ID)
				require.Equal(t, want[i].LeafCount, got[i].LeafCount) // lines differ (seal timestamps), batches do not
			}
			verifyAll(t, dir)
		})
	}
}

// A span's facts counted as it joins its window equal those a verifier counts from the sealed batch file.
func TestBatchFactsFromWindowEqualFactsFromFile(t *testing.T) {
	dir := t.TempDir()
	cfg := sloConfig(dir)
	cfg.Anomaly.Enabled = true
	clock, _, e := startFedSLOExporter(t, cfg)
	sealSLOReports(t, e, dir, clock, 6*time.Minute+10*time.Second, 3)
	cache, _ := (&engine{derived: newDerivedState(cfg)}).readCache("ws")
	require.NotEmpty(t, cache)
	inds := newDerivedState(cfg).indicators("ws")
	for _, r := range readReceipts(t, filepath.Join(dir, "ws")) {
		sig := receipts.SignalOf(r.Type)
		if sig == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "ws", r.StoragePath))
		require.NoError(t, err)
		var use []receipts.SLOIndicator
		if sig == receipts.SignalTraces {
			use = inds
		}
		f, err := receipts.ReadBatchFacts(sig, data, use)
		require.NoError(t, err)
		require.Contains(t, cache, r.ID)
		require.Equal(t, f, cache[r.ID].Facts, r.ID)
	}
}

// An objective added between runs is counted over its whole window, including batches sealed before it existed
// (their facts are counted again from the batch files: the cache does not count it).
func TestSLOAddedBetweenRunsCountsEarlierBatches(t *testing.T) {
	dir := t.TempDir()
	cfg := sloConfig(dir)
	cfg.SLOs = cfg.SLOs[:1] // availability only
	clock, lg, e := startFedSLOExporter(t, cfg)
	sealSLOReports(t, e, dir, clock, 3*time.Minute+10*time.Second, 1)
	require.Len(t, sloReports(t, filepath.Join(dir, "ws"))[0].SLOs, 1)

	lg.restart()
	e = startExporter(t, sloConfig(dir), clock)
	require.NoError(t, lg.redeliver(e, 1))
	sealSLOReports(t, e, dir, clock, 6*time.Minute+10*time.Second, 3)
	r := sloReports(t, filepath.Join(dir, "ws"))[1]
	require.Equal(t, "slo-report-2025-12-06T14:04:00Z", r.ID)
	lat := findSLO(t, r, "slo:anchor-latency")
	require.Equal(t, [3]uint64{18, 7, 3}, [3]uint64{lat.Good, lat.Bad, lat.Batches}, "the 14:00 and 14:01 batches were sealed before the objective existed")
	verifyAll(t, dir)
}

// A scroll whose sealed batches cannot be counted (a batch file is gone) gets no derived receipt, rather than one
// made from wrong counts, and the exporter still seals everything else.
func TestSLOScrollWithUnreadableBatchGetsNoReport(t *testing.T) {
	dir := t.TempDir()
	clock, lg, e := startFedSLOExporter(t, sloConfig(dir))
	sealSLOReports(t, e, dir, clock, 3*time.Minute+10*time.Second, 1)
	require.NoError(t, os.RemoveAll(filepath.Join(dir, derivedDir)))
	require.NoError(t, os.Remove(filepath.Join(dir, "ws", receipts.BatchPath(receipts.SignalTraces, base.Add(time.Minute), time.Minute))))

	lg.restart()
	e = startExporter(t, sloConfig(dir), clock)
	require.NoError(t, lg.redeliver(e, 1))
	clock.Set(base.Add(6*time.Minute + 10*time.Second))
	require.Eventually(t, func() bool {
		for _, r := range readReceipts(t, filepath.Join(dir, "ws")) {
			if r.ID == "logs-2025-12-06T14:03:00Z" {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "the open windows are still sealed")
	require.Never(t, func() bool { return len(sloReports(t, filepath.Join(dir, "ws"))) > 1 }, 300*time.Millisecond, 10*time.Millisecond)
	require.NoError(t, e.shutdown(context.Background()))
}
