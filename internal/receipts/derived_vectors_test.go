package receipts

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Conformance vectors for the derived receipt types: testdata/conformance/derived/<name>/ is a scroll and
// EXPECT says "ok" or "fail: <text the failure names>". Any implementation of docs/receipts.md can run them; this
// test checks the Go verifier against them, and with -update-derived-vectors writes them again.
var updateDerivedVectors = flag.Bool("update-derived-vectors", false, "rewrite testdata/conformance/derived")

const derivedVectorsDir = "testdata/conformance/derived"

// derivedVectors build each vector's scroll: eight one-minute trace batches of anchor server spans
// (vectorBatches), then the receipt under test.
var derivedVectors = map[string]struct {
	expect string
	build  func(d *derivedScroll)
}{
	"valid-slo-report": {"ok", func(d *derivedScroll) { d.append(d.sloReport(nil)) }},
	"slo-report-hides-a-bad-event": {"fail: hold good 214 bad 7, the receipt says 8 batches good 215 bad 6", func(d *derivedScroll) {
		d.append(d.sloReport(func(r *Receipt) {
			s := &r.SLOs[0]
			s.Good, s.Bad = 215, 6
			s.Achieved, s.Status, s.ErrorBudget = SLOFigures(215, 6, s.Target, s.AtRiskBudget)
		}))
	}},
	"slo-report-leaves-out-a-batch": {"fail: do not commit to the 8 receipt lines", func(d *derivedScroll) {
		d.append(d.sloReport(func(r *Receipt) { r.ContentHash, r.MerkleRoot, r.LeafCount = DerivedCommitment(d.hashes[1:]) }))
	}},
	"slo-report-status-does-not-follow": {"fail: status", func(d *derivedScroll) {
		d.append(d.sloReport(func(r *Receipt) { r.SLOs[0].Status = SLOMissed }))
	}},
	"valid-anomaly": {"ok", func(d *derivedScroll) { d.append(d.anomaly(nil)) }},
	"anomaly-observed-value-changed": {"fail: differ from the receipt", func(d *derivedScroll) {
		d.append(d.anomaly(func(r *Receipt) { v := *r.ObservedValue + DecimalOf(2); r.ObservedValue = &v }))
	}},
	"anomaly-of-a-service-without-one": {"fail: do not make", func(d *derivedScroll) {
		d.append(d.anomaly(func(r *Receipt) {
			r.Service = "ledger"
			r.ID = AnomalyID(derivedBase.Add(7*time.Minute), MetricSpans, "ledger")
		}))
	}},
}

// vectorBatches are the spans per window (errors 0, 1, 2, 0, ...): steady, then a spike in the last window.
var vectorBatches = []int{20, 21, 19, 20, 22, 20, 19, 80}

func buildVector(t *testing.T, dir string, build func(*derivedScroll)) {
	require.NoError(t, os.RemoveAll(dir))
	d := newDerivedScrollIn(t, dir)
	for i, n := range vectorBatches {
		d.traceBatch(n, i%3, []SLOIndicator{availability()})
	}
	build(d)
}

// anomaly is the correct obs_anomaly_detected of spans_per_window for anchor in the last window.
func (d *derivedScroll) anomaly(mutate func(*Receipt)) *Receipt {
	det := AnomalyDetector{History: 6, MinHistory: 4, ThresholdSigma: DecimalOf(4), MinRelativeSigma: DecimalOf(0.1)}
	last := len(d.batches) - 1
	hist := make([]ServiceCounts, 0, det.History)
	for i := max(0, last-int(det.History)); i < last; i++ {
		hist = append(hist, d.batches[i].Services["anchor"])
	}
	res, ok := EvaluateAnomaly(MetricSpans, hist, d.batches[last].Services["anchor"], det)
	require.True(d.t, ok && res.Fired)
	w := d.start.Add(time.Duration(last) * time.Minute)
	r := &Receipt{Type: TypeAnomalyDetected, ID: AnomalyID(w, MetricSpans, "anchor"), Timestamp: FormatTime(w.Add(time.Minute)),
		Workspace: "ws", Period: &Period{Start: FormatTime(w), End: FormatTime(w.Add(time.Minute))}, Service: "anchor",
		Metric: MetricSpans, DetectionMethod: DetectionMeanStddev, Detector: &det, Tags: []string{"observability", "anomaly"}}
	FillAnomaly(r, res)
	r.ContentHash, r.MerkleRoot, r.LeafCount = DerivedCommitment(d.hashes[last-len(hist):])
	if mutate != nil {
		mutate(r)
	}
	return r
}

func TestDerivedConformanceVectors(t *testing.T) {
	runScrollVectors(t, derivedVectorsDir, *updateDerivedVectors, "TestDerivedConformanceVectors -update-derived-vectors", derivedVectors, buildVector)
}
