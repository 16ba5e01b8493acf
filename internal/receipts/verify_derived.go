package receipts

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// derivedCheck verifies what obs_slo_report and obs_anomaly_detected receipts were computed from (docs/receipts.md
// §7.1): the batch receipts before them in the scroll, and the records of those batches' files, counted again.
type derivedCheck struct {
	dir     string
	batches []*verBatch // batch receipts so far, in log order
	// removed tells a source batch file removed by retention; notRechecked lists the receipts not recounted for
	// it (verify_retention.go).
	removed      func(storage string) bool
	notRechecked []string
}

type verBatch struct {
	id, signal, storage string
	start, end          time.Time
	lineHash            []byte
	facts               *BatchFacts
	inds                []SLOIndicator // the indicators facts counts
}

func newDerivedCheck(dir string) *derivedCheck { return &derivedCheck{dir: dir} }

// isDerived reports whether a receipt type is checked by derivedCheck (its leaves are receipt lines, not records).
func isDerived(typ string) bool { return typ == TypeSLOReport || typ == TypeAnomalyDetected }

// add records a verified receipt line.
func (c *derivedCheck) add(r *Receipt, line []byte) {
	sig := SignalOf(r.Type)
	if sig == "" {
		return
	}
	start, end, err := parsePeriod(r.Period)
	if err != nil {
		return // not whole seconds: no derived receipt can have counted it
	}
	c.batches = append(c.batches, &verBatch{id: r.ID, signal: sig, storage: r.StoragePath, start: start, end: end,
		lineHash: merkle.BLAKE3.HashLeaf(line)})
}

// factsOf counts a batch's facts from its file, again only when an indicator is new to it.
func (c *derivedCheck) factsOf(b *verBatch, inds []SLOIndicator) (*BatchFacts, error) {
	if b.facts != nil && b.facts.Counts(inds) {
		return b.facts, nil
	}
	for _, in := range inds {
		if !slices.Contains(b.inds, in) {
			b.inds = append(b.inds, in)
		}
	}
	data, err := os.ReadFile(filepath.Join(c.dir, filepath.FromSlash(b.storage)))
	if err != nil {
		return nil, err
	}
	f, err := ReadBatchFacts(b.signal, data, b.inds)
	if err != nil {
		return nil, err
	}
	b.facts = f
	return f, nil
}

func (c *derivedCheck) check(r *Receipt, ln int) error {
	if done, err := c.withoutSources(r, ln); done {
		return err
	}
	if r.Type == TypeSLOReport {
		return c.checkSLOReport(r, ln)
	}
	return c.checkAnomaly(r, ln)
}

func (c *derivedCheck) checkCommitment(r *Receipt, ln int, leaves []*verBatch, what string) error {
	hs := make([][]byte, len(leaves))
	for i, b := range leaves {
		hs[i] = b.lineHash
	}
	content, root, n := DerivedCommitment(hs)
	if n != r.LeafCount || root != r.MerkleRoot || content != r.ContentHash {
		return fail(ReceiptsFile, ln, -1, "%s: leaf_count, merkle_root or content_hash do not commit to the %d receipt lines of %s", r.ID, n, what)
	}
	return nil
}

func (c *derivedCheck) checkSLOReport(r *Receipt, ln int) error {
	start, end, _ := parsePeriod(r.Period)
	var leaves []*verBatch
	for _, b := range c.batches {
		if b.signal == SignalTraces && !b.start.Before(start) && !b.end.After(end) {
			leaves = append(leaves, b)
		}
	}
	if err := c.checkCommitment(r, ln, leaves, "the obs_trace_batch receipts inside its period"); err != nil {
		return err
	}
	for _, s := range r.SLOs {
		in := SLOIndicator{Service: s.Service, Kind: s.Kind, ThresholdMs: s.ThresholdMs}
		ps, _, _ := parsePeriod(&s.Period)
		var good, bad, batches uint64
		for _, b := range leaves {
			if b.start.Before(ps) {
				continue
			}
			f, err := c.factsOf(b, []SLOIndicator{in})
			if err != nil {
				return fail(b.storage, 0, -1, "counting %s for receipt line %d (%s): %v", s.SLOID, ln, r.ID, err)
			}
			gb := f.SLO[in.Key()]
			good, bad, batches = good+gb.Good, bad+gb.Bad, batches+1
		}
		if good != s.Good || bad != s.Bad || batches != s.Batches {
			return fail(ReceiptsFile, ln, -1, "%s %s: the %d trace batches of its period hold good %d bad %d, the receipt says %d batches good %d bad %d",
				r.ID, s.SLOID, batches, good, bad, s.Batches, s.Good, s.Bad)
		}
	}
	return nil
}

func (c *derivedCheck) checkAnomaly(r *Receipt, ln int) error {
	w, wEnd, _ := parsePeriod(r.Period)
	signal := MetricSignal(r.Metric)
	var starts []time.Time
	at := map[time.Time]*verBatch{}
	windowKnown := false
	for _, b := range c.batches {
		if b.start.Before(w) && !slices.ContainsFunc(starts, b.start.Equal) {
			starts = append(starts, b.start)
		}
		if b.start.Equal(w) && b.end.Equal(wEnd) {
			windowKnown = true
		}
		if b.signal == signal {
			at[b.start] = b
		}
	}
	if !windowKnown {
		return fail(ReceiptsFile, ln, -1, "%s: no batch receipt before it has its period", r.ID)
	}
	slices.SortFunc(starts, time.Time.Compare)
	if h := int(r.Detector.History); len(starts) > h {
		starts = starts[len(starts)-h:]
	}
	counts := func(t time.Time) (ServiceCounts, error) {
		b := at[t]
		if b == nil {
			return ServiceCounts{}, nil
		}
		f, err := c.factsOf(b, nil)
		if err != nil {
			return ServiceCounts{}, fail(b.storage, 0, -1, "counting for receipt line %d (%s): %v", ln, r.ID, err)
		}
		return f.Services[r.Service], nil
	}
	hist := make([]ServiceCounts, len(starts))
	for i, t := range starts {
		var err error
		if hist[i], err = counts(t); err != nil {
			return err
		}
	}
	obs, err := counts(w)
	if err != nil {
		return err
	}
	res, ok := EvaluateAnomaly(r.Metric, hist, obs, *r.Detector)
	if !ok || !res.Fired {
		return fail(ReceiptsFile, ln, -1, "%s: the batches before it do not make %s of %q an anomaly", r.ID, r.Metric, r.Service)
	}
	var want Receipt
	FillAnomaly(&want, res)
	near := func(a, b Decimal) bool { return math.Abs(float64(a-b)) <= 1 }
	if !near(*want.ObservedValue, *r.ObservedValue) || !near(*want.BaselineMean, *r.BaselineMean) ||
		!near(*want.BaselineStddev, *r.BaselineStddev) || !near(*want.EffectiveSigma, *r.EffectiveSigma) ||
		!near(*want.DeviationSigma, *r.DeviationSigma) || !near(want.ExpectedRange.Min, r.ExpectedRange.Min) ||
		!near(want.ExpectedRange.Max, r.ExpectedRange.Max) || want.BaselineWindows != r.BaselineWindows || want.Direction != r.Direction {
		return fail(ReceiptsFile, ln, -1, "%s: recomputed observed %s mean %s stddev %s sigma %s deviation %s range [%s, %s] over %d windows (%s) differ from the receipt",
			r.ID, want.ObservedValue, want.BaselineMean, want.BaselineStddev, want.EffectiveSigma, want.DeviationSigma,
			want.ExpectedRange.Min, want.ExpectedRange.Max, want.BaselineWindows, want.Direction)
	}
	used := map[*verBatch]bool{}
	if b := at[w]; b != nil {
		used[b] = true
	}
	for _, i := range res.Baseline {
		if b := at[starts[i]]; b != nil {
			used[b] = true
		}
	}
	var leaves []*verBatch
	for _, b := range c.batches {
		if used[b] {
			leaves = append(leaves, b)
		}
	}
	return c.checkCommitment(r, ln, leaves, "the "+signal+" batches of its baseline and observed window")
}
