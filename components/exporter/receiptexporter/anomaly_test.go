package receiptexporter

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/internal/receipts"
)

func anomalyConfig(dir string) *Config {
	cfg := testConfig(dir)
	cfg.Anomaly = AnomalyConfig{Enabled: true, History: 8, MinHistory: 6, ThresholdSigma: 4, MinRelativeSigma: 0.1, RatioMinSpans: 10}
	return cfg
}

// Steady traffic with noise: per one-minute window, "anchor" sends spansAt(i) server spans (2 or 3 of them
// errors) and "ledger" logsAt(i) log records.
var (
	spanNoise = []int{100, 104, 97, 101, 99, 103, 96, 100, 102, 98, 101, 97, 103, 99, 100, 102}
	logNoise  = []int{50, 47, 53, 51, 49, 52, 48, 50, 51, 49, 53, 47, 50, 52, 48, 51}
)

// anomalyScenario lists the windows' deviations from steady traffic.
type anomalyScenario struct {
	spikeWindow      int // this window's anchor spans are 4x (a rate anomaly); -1: none
	errorBurstWindow int // 40 of this window's anchor spans are errors (an error-ratio anomaly); -1: none
}

// feedAnomalyWindows delivers 16 windows starting at base.
func feedAnomalyWindows(t *testing.T, e *receiptExporter, lg *testLog, clock *fakeClock, sc anomalyScenario, windows int) {
	t.Helper()
	for i := 0; i < windows; i++ {
		at := base.Add(time.Duration(i)*time.Minute + 20*time.Second)
		clock.Set(at)
		n, errs := spanNoise[i], 2+i%2
		if i == sc.spikeWindow {
			n *= 4
			errs *= 4
		}
		if i == sc.errorBurstWindow {
			errs = 40
		}
		require.NoError(t, lg.traces(e, serviceSpans("ws", "anchor", at,
			spanSpec{kind: ptrace.SpanKindServer, n: n, errors: errs, dur: 10 * time.Millisecond, traceTag: byte(i + 1)})))
		ld := makeLogs("ws", logNoise[i], at, 9)
		ld.ResourceLogs().At(0).Resource().Attributes().PutStr("service.name", "ledger")
		require.NoError(t, lg.logs(e, ld))
	}
}

func anomalies(t *testing.T, dir string) []*receipts.Receipt {
	t.Helper()
	return receiptsOfType(t, dir, receipts.TypeAnomalyDetected)
}

// runAnomalyScenario feeds 16 windows, lets every window seal and be evaluated, and returns the anomalies.
func runAnomalyScenario(t *testing.T, sc anomalyScenario) []*receipts.Receipt {
	t.Helper()
	dir := t.TempDir()
	clock := &fakeClock{now: base}
	lg := newTestLog(clock)
	e := startExporter(t, anomalyConfig(dir), clock)
	feedAnomalyWindows(t, e, lg, clock, sc, 16)
	clock.Set(base.Add(17 * time.Minute))
	scroll := filepath.Join(dir, "ws")
	require.Eventually(t, func() bool {
		for _, r := range readReceipts(t, scroll) {
			if r.ID == "logs-2025-12-06T14:15:00Z" {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
	// Evaluation follows the seal on the same loop pass; one more pass settles it.
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, e.shutdown(context.Background()))
	verifyAll(t, dir)
	return anomalies(t, scroll)
}

// Steady noisy traffic never fires.
func TestAnomalyNoneInSteadyTraffic(t *testing.T) {
	require.Empty(t, runAnomalyScenario(t, anomalyScenario{spikeWindow: -1, errorBurstWindow: -1}))
}

// A rate spike and an error burst each fire exactly once, in their window, with the documented figures; the
// windows after them (whose baselines include them) do not fire.
func TestAnomalyKnownSpikeAndErrorBurstFireOnce(t *testing.T) {
	got := runAnomalyScenario(t, anomalyScenario{spikeWindow: 10, errorBurstWindow: 13})
	require.Len(t, got, 2)
	spike, burst := got[0], got[1]

	require.Equal(t, receipts.AnomalyID(base.Add(10*time.Minute), receipts.MetricSpans, "anchor"), spike.ID)
	require.Equal(t, "anchor", spike.Service)
	require.Equal(t, receipts.Period{Start: "2025-12-06T14:10:00Z", End: "2025-12-06T14:11:00Z"}, *spike.Period)
	require.Equal(t, "above", spike.Direction)
	// Baseline: windows 2..9 (history 8): 97 101 99 103 96 100 102 98, mean 99.5, stddev sqrt(5.25).
	require.Equal(t, uint64(8), spike.BaselineWindows)
	require.Equal(t, dec(t, "404"), *spike.ObservedValue)
	require.Equal(t, dec(t, "99.5"), *spike.BaselineMean)
	require.Equal(t, dec(t, "2.291288"), *spike.BaselineStddev)
	require.Equal(t, dec(t, "9.95"), *spike.EffectiveSigma, "10% of the mean is above the stddev")
	require.Equal(t, dec(t, "30.603015"), *spike.DeviationSigma)
	require.Equal(t, receipts.DecimalRange{Min: dec(t, "59.7"), Max: dec(t, "139.3")}, *spike.ExpectedRange)
	require.Equal(t, uint64(9), spike.LeafCount, "the 8 baseline trace batches and the observed one")

	require.Equal(t, receipts.AnomalyID(base.Add(13*time.Minute), receipts.MetricSpanErrorRatio, "anchor"), burst.ID)
	require.Equal(t, "above", burst.Direction)
	require.Equal(t, dec(t, "0.40404"), *burst.ObservedValue) // 40 / 99
	require.Equal(t, uint64(10), burst.Detector.RatioMinSpans)
}

// A crash in the middle and a replay of the log give the same anomalies, once each.
func TestAnomalyExactlyOnceAcrossCrash(t *testing.T) {
	sc := anomalyScenario{spikeWindow: 10, errorBurstWindow: 13}
	want := runAnomalyScenario(t, sc)
	require.Len(t, want, 2)
	for _, dropCache := range []bool{false, true} {
		dir := t.TempDir()
		clock := &fakeClock{now: base}
		lg := newTestLog(clock)
		e := startExporter(t, anomalyConfig(dir), clock)
		feedAnomalyWindows(t, e, lg, clock, sc, 12)
		scroll := filepath.Join(dir, "ws")
		require.Eventually(t, func() bool { return len(anomalies(t, scroll)) == 1 }, 10*time.Second, 10*time.Millisecond)
		require.NoError(t, e.shutdown(context.Background()))
		lg.restart()
		if dropCache {
			require.NoError(t, os.RemoveAll(filepath.Join(dir, derivedDir)))
		}
		e = startExporter(t, anomalyConfig(dir), clock)
		require.NoError(t, lg.redeliver(e, 1))
		for i := 12; i < 16; i++ {
			at := base.Add(time.Duration(i)*time.Minute + 20*time.Second)
			clock.Set(at)
			errs := 2 + i%2
			if i == sc.errorBurstWindow {
				errs = 40
			}
			require.NoError(t, lg.traces(e, serviceSpans("ws", "anchor", at,
				spanSpec{kind: ptrace.SpanKindServer, n: spanNoise[i], errors: errs, dur: 10 * time.Millisecond, traceTag: byte(i + 1)})))
			ld := makeLogs("ws", logNoise[i], at, 9)
			ld.ResourceLogs().At(0).Resource().Attributes().PutStr("service.name", "ledger")
			require.NoError(t, lg.logs(e, ld))
		}
		clock.Set(base.Add(17 * time.Minute))
		require.Eventually(t, func() bool { return len(anomalies(t, scroll)) == 2 }, 10*time.Second, 10*time.Millisecond)
		time.Sleep(200 * time.Millisecond)
		require.NoError(t, e.shutdown(context.Background()))
		got := anomalies(t, scroll)
		require.Len(t, got, 2, "drop_cache=%v", dropCache)
		for i := range want {
			require.Equal(t, want[i].ID, got[i].ID)
			require.Equal(t, *want[i].DeviationSigma, *got[i].DeviationSigma)
			require.Equal(t, want[i].LeafCount, got[i].LeafCount)
		}
		verifyAll(t, dir)
	}
}
