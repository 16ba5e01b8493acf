package receipts

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

func TestDecimalCanonicalSpelling(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 0.999: "0.999", 1.5: "1.5", -0.25: "-0.25", 42: "42", 0.0000004: "0", 0.0000005: "0.000001", 2.0000001: "2"} {
		require.Equal(t, want, DecimalOf(in).String(), "%v", in)
		back, err := ParseDecimal(want)
		require.NoError(t, err)
		require.Equal(t, DecimalOf(in), back)
	}
	for _, bad := range []string{"1.50", "1e3", "01", "-0", "0.1234567", ".5", "1.", "+1", `"1"`, "1.0"} {
		_, err := ParseDecimal(bad)
		require.Error(t, err, bad)
	}
}

func TestSLOFiguresAreExact(t *testing.T) {
	d := func(s string) Decimal { v, err := ParseDecimal(s); require.NoError(t, err); return v }
	// 0.999 of 3000 events: budget exactly 3 bad events.
	a, status, eb := SLOFigures(2997, 3, d("0.999"), d("0.75"))
	require.Equal(t, SLOAtRisk, status, "3 of 3 consumed > 75%")
	require.Equal(t, d("0.999"), *a)
	require.Equal(t, ErrorBudget{Total: d("3"), Consumed: 3, Remaining: 0, ConsumedRatio: ptrDec(d("1"))}, eb)
	_, status, eb = SLOFigures(2996, 4, d("0.999"), d("0.75"))
	require.Equal(t, SLOMissed, status)
	require.Equal(t, d("-1"), eb.Remaining)
	_, status, _ = SLOFigures(2998, 2, d("0.999"), d("0.75"))
	require.Equal(t, SLOMet, status, "2 of 3 consumed = 66.7%")
	// Exactly at the at-risk fraction is not above it.
	_, status, _ = SLOFigures(3997, 3, d("0.999"), d("0.75"))
	require.Equal(t, SLOMet, status, "3 of 4 consumed = 75%, not above")
	// Rounding half up of a ratio with a 7th digit of exactly 5: 1999999/2000000 = 0.9999995.
	a, _, _ = SLOFigures(1999999, 1, d("0.5"), d("0.75"))
	require.Equal(t, d("1"), *a)
	a, status, eb = SLOFigures(0, 0, d("0.999"), d("0.75"))
	require.Nil(t, a)
	require.Equal(t, SLONoData, status)
	require.Equal(t, ErrorBudget{}, eb)
}

func ptrDec(d Decimal) *Decimal { return &d }

func TestEvaluateAnomalyFloorsAndBaseline(t *testing.T) {
	det := AnomalyDetector{History: 6, MinHistory: 4, ThresholdSigma: DecimalOf(3), MinRelativeSigma: DecimalOf(0.1), RatioMinSpans: 10}
	flat := []ServiceCounts{{Records: 100}, {Records: 100}, {Records: 100}, {Records: 100}, {Records: 100}}
	// A flat baseline has stddev 0: the relative floor (10 of 100) keeps 120 within 3 sigma.
	res, ok := EvaluateAnomaly(MetricSpans, flat, ServiceCounts{Records: 120}, det)
	require.True(t, ok)
	require.False(t, res.Fired)
	require.Equal(t, 10.0, res.Sigma)
	res, _ = EvaluateAnomaly(MetricSpans, flat, ServiceCounts{Records: 131}, det)
	require.True(t, res.Fired)
	// A small service: the absolute floor of one record keeps 0 -> 3 from firing... and 0 -> 4 fires.
	small := []ServiceCounts{{Records: 1}, {Records: 1}, {Records: 1}, {Records: 1}}
	res, _ = EvaluateAnomaly(MetricSpans, small, ServiceCounts{Records: 3}, det)
	require.False(t, res.Fired)
	res, _ = EvaluateAnomaly(MetricSpans, small, ServiceCounts{Records: 4}, det)
	require.True(t, res.Fired)
	// A new service: windows before its first records are not part of its baseline.
	young := []ServiceCounts{{}, {}, {}, {Records: 50}, {Records: 50}}
	_, ok = EvaluateAnomaly(MetricSpans, young, ServiceCounts{Records: 500}, det)
	require.False(t, ok, "2 baseline windows < min_history 4")
	// Ratios need ratio_min_spans spans in a window, observed and baseline.
	ratios := []ServiceCounts{{Records: 100, Errors: 1}, {Records: 5, Errors: 5}, {Records: 100, Errors: 2}, {Records: 100, Errors: 1}, {Records: 100, Errors: 2}}
	res, ok = EvaluateAnomaly(MetricSpanErrorRatio, ratios, ServiceCounts{Records: 100, Errors: 30}, det)
	require.True(t, ok)
	require.Equal(t, []int{0, 2, 3, 4}, res.Baseline)
	require.True(t, res.Fired)
	require.Equal(t, 0.01, res.Sigma, "floor of one percentage point")
	_, ok = EvaluateAnomaly(MetricSpanErrorRatio, ratios, ServiceCounts{Records: 9, Errors: 9}, det)
	require.False(t, ok)
}

// derivedScroll writes a scroll of one-minute trace batches (anchor server spans: n per window, errs errors)
// and returns it.
type derivedScroll struct {
	t     *testing.T
	dir   string
	s     *Scroll
	start time.Time
	// facts per batch, in order
	batches []*BatchFacts
	hashes  [][]byte
}

var derivedBase = time.Date(2025, 12, 6, 0, 0, 0, 0, time.UTC)

func newDerivedScroll(t *testing.T) *derivedScroll {
	return newDerivedScrollIn(t, filepath.Join(t.TempDir(), "ws"))
}

func newDerivedScrollIn(t *testing.T, dir string) *derivedScroll {
	s, _, err := OpenScroll(dir, DefaultOriginPrefix+"/ws", nil)
	require.NoError(t, err)
	return &derivedScroll{t: t, dir: dir, s: s, start: derivedBase}
}

func (d *derivedScroll) traceBatch(n, errs int, inds []SLOIndicator) {
	t := d.t
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "anchor")
	ss := rs.ScopeSpans().AppendEmpty()
	start := d.start.Add(time.Duration(len(d.batches)) * time.Minute)
	for i := 0; i < n; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{byte(len(d.batches)), byte(i), 1})
		sp.SetSpanID(pcommon.SpanID{byte(i), 1})
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Second)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Second + time.Duration(i)*time.Millisecond)))
		if i < errs {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	facts := NewBatchFacts(inds)
	var leaves [][]byte
	require.NoError(t, EncodeTraces(td, "tfo.workspace.id", func(r Record) error {
		leaves = append(leaves, r.Leaf)
		facts.Add(SignalTraces, r.Info, inds)
		return nil
	}))
	r := &Receipt{Type: TypeTraceBatch, ID: BatchID(SignalTraces, start), Timestamp: FormatTime(start), Workspace: "ws",
		Period: &Period{Start: FormatTime(start), End: FormatTime(start.Add(time.Minute))}, SpanCount: uint64(n), TraceCount: uint64(n), Tags: []string{"t"}}
	require.NoError(t, d.s.SealFile(BatchPath(SignalTraces, start, time.Minute), leaves, r))
	line, err := r.Marshal()
	require.NoError(t, err)
	d.batches = append(d.batches, facts)
	d.hashes = append(d.hashes, merkle.BLAKE3.HashLeaf(line))
}

func (d *derivedScroll) append(r *Receipt) { require.NoError(d.t, d.s.Append(r)) }

func (d *derivedScroll) verify() error {
	_, err := VerifyScroll(d.dir, VerifyOptions{})
	return err
}

func availability() SLOIndicator { return SLOIndicator{Service: "anchor", Kind: SLOAvailability} }

// sloReport is a correct report over all batches so far (window = their span), with good/bad overridable.
func (d *derivedScroll) sloReport(mutate func(*Receipt)) *Receipt {
	end := d.start.Add(time.Duration(len(d.batches)) * time.Minute)
	window := time.Duration(len(d.batches)) * time.Minute
	var good, bad uint64
	for _, f := range d.batches {
		gb := f.SLO[availability().Key()]
		good, bad = good+gb.Good, bad+gb.Bad
	}
	target, atRisk := DecimalOf(0.9), DecimalOf(0.75)
	res := SLOResult{SLOID: "slo:a", Kind: SLOAvailability, Service: "anchor", Target: target, AtRiskBudget: atRisk,
		Window: FormatWindow(window), Period: Period{Start: FormatTime(end.Add(-window)), End: FormatTime(end)},
		Batches: uint64(len(d.batches)), Good: good, Bad: bad}
	res.Achieved, res.Status, res.ErrorBudget = SLOFigures(good, bad, target, atRisk)
	r := &Receipt{Type: TypeSLOReport, ID: SLOReportID(end), Timestamp: FormatTime(end), Workspace: "ws",
		Period: &Period{Start: res.Period.Start, End: res.Period.End}, SLOs: []SLOResult{res}, OverallStatus: OverallStatus([]SLOResult{res}), Tags: []string{"slo"}}
	r.ContentHash, r.MerkleRoot, r.LeafCount = DerivedCommitment(d.hashes)
	if mutate != nil {
		mutate(r)
	}
	return r
}

// The verifier counts an obs_slo_report's events again from the batch files its leaves name, and requires the
// leaves to be exactly the trace batches of its period.
func TestVerifySLOReportRecountsBatches(t *testing.T) {
	build := func(mutate func(*Receipt)) error {
		d := newDerivedScroll(t)
		d.traceBatch(10, 1, []SLOIndicator{availability()})
		d.traceBatch(20, 0, []SLOIndicator{availability()})
		d.append(d.sloReport(mutate))
		return d.verify()
	}
	require.NoError(t, build(nil))
	err := build(func(r *Receipt) {
		// one bad event hidden, with figures consistent with the lie
		s := &r.SLOs[0]
		s.Good, s.Bad = 30, 0
		s.Achieved, s.Status, s.ErrorBudget = SLOFigures(30, 0, s.Target, s.AtRiskBudget)
	})
	require.ErrorContains(t, err, "hold good 29 bad 1")
	err = build(func(r *Receipt) {
		// a batch left out of the commitment
		d := newDerivedScroll(t)
		d.traceBatch(10, 1, nil)
		r.ContentHash, r.MerkleRoot, r.LeafCount = DerivedCommitment(d.hashes[:1])
	})
	require.ErrorContains(t, err, "do not commit to the 2 receipt lines")
	err = build(func(r *Receipt) { r.SLOs[0].Status = SLOMet; r.SLOs[0].Good = 5 })
	require.ErrorContains(t, err, "status")
	err = build(func(r *Receipt) { r.OverallStatus = "healthy"; r.SLOs[0].Bad = 29; r.SLOs[0].Good = 1 })
	require.Error(t, err)
}

func TestVerifyRejectsNonCanonicalDecimalsAndForeignFields(t *testing.T) {
	d := newDerivedScroll(t)
	d.traceBatch(10, 1, []SLOIndicator{availability()})
	r := d.sloReport(nil)
	r.PrevHash = ZeroHash
	line, err := r.Marshal()
	require.NoError(t, err)
	_, err = ParseReceipt(line)
	require.NoError(t, err)
	for _, tc := range []struct{ from, to string }{
		{`"target":0.9`, `"target":0.90`},
		{`"target":0.9`, `"target":9e-1`},
		{`"overall_status"`, `"metric":"x","overall_status"`},
		{`"slo_id":"slo:a"`, `"slo_id":"a"`},
		{`"window":"1m"`, `"window":"60s"`},
	} {
		bad := strings.Replace(string(line), tc.from, tc.to, 1)
		require.NotEqual(t, string(line), bad, tc.from)
		_, err := ParseReceipt([]byte(bad))
		require.Error(t, err, tc.to)
	}
}

// An obs_anomaly_detected is verified by evaluating the detector again over the batches before it.
func TestVerifyAnomalyRecomputesDetector(t *testing.T) {
	det := AnomalyDetector{History: 5, MinHistory: 4, ThresholdSigma: DecimalOf(3), MinRelativeSigma: DecimalOf(0.1)}
	build := func(observed int, mutate func(*Receipt)) error {
		d := newDerivedScroll(t)
		for _, n := range []int{20, 22, 19, 21, 20, observed} {
			d.traceBatch(n, 0, nil)
		}
		hist := make([]ServiceCounts, 5)
		for i := range hist {
			hist[i] = d.batches[i].Services["anchor"]
		}
		res, _ := EvaluateAnomaly(MetricSpans, hist, d.batches[5].Services["anchor"], det)
		w := d.start.Add(5 * time.Minute)
		r := &Receipt{Type: TypeAnomalyDetected, ID: AnomalyID(w, MetricSpans, "anchor"), Timestamp: FormatTime(w), Workspace: "ws",
			Period: &Period{Start: FormatTime(w), End: FormatTime(w.Add(time.Minute))}, Service: "anchor", Metric: MetricSpans,
			DetectionMethod: DetectionMeanStddev, Detector: &det, Tags: []string{"anomaly"}}
		FillAnomaly(r, res)
		r.ContentHash, r.MerkleRoot, r.LeafCount = DerivedCommitment(d.hashes)
		if mutate != nil {
			mutate(r)
		}
		d.append(r)
		return d.verify()
	}
	require.NoError(t, build(60, nil))
	require.ErrorContains(t, build(60, func(r *Receipt) { v := *r.ObservedValue + DecimalOf(1); r.ObservedValue = &v }), "differ from the receipt")
	// The same figures claimed for a window that is no anomaly (its deviation is made up to pass the field checks).
	require.ErrorContains(t, build(24, func(r *Receipt) { v := DecimalOf(5); r.DeviationSigma = &v }), "do not make")
	require.ErrorContains(t, build(60, func(r *Receipt) {
		r.Service = "ledger"
		r.ID = AnomalyID(derivedBase.Add(5*time.Minute), MetricSpans, "ledger")
	}), "do not make")
	err := build(60, func(r *Receipt) { r.ID = "anomaly-1" })
	require.ErrorContains(t, err, "id must be")
}
