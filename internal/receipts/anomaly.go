package receipts

import (
	"encoding/hex"
	"math"
	"time"

	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// Anomaly metrics (docs/receipts.md §5, obs_anomaly_detected), per workspace and service, per window: records
// per window of one signal, and the error ratio of spans.
const (
	MetricSpans          = "spans_per_window"
	MetricLogRecords     = "log_records_per_window"
	MetricDataPoints     = "data_points_per_window"
	MetricSpanErrorRatio = "span_error_ratio"

	// DetectionMeanStddev is the one detection method: mean and population standard deviation of a baseline.
	DetectionMeanStddev = "mean_stddev"

	// RateSigmaFloor and RatioSigmaFloor are the least sigma a deviation is measured in: one record for rates,
	// one percentage point for ratios, so a flat baseline does not make every small change an anomaly.
	RateSigmaFloor  = 1.0
	RatioSigmaFloor = 0.01
)

// AnomalyMetrics are the metrics in the order the exporter evaluates them.
var AnomalyMetrics = []string{MetricSpans, MetricLogRecords, MetricDataPoints, MetricSpanErrorRatio}

// MetricSignal is the signal whose batches a metric is computed from ("" for an unknown metric).
func MetricSignal(metric string) string {
	switch metric {
	case MetricSpans, MetricSpanErrorRatio:
		return SignalTraces
	case MetricLogRecords:
		return SignalLogs
	case MetricDataPoints:
		return SignalMetrics
	}
	return ""
}

// AnomalyDetector is the detector's parameters, written into every obs_anomaly_detected so that a verifier can
// recompute it.
type AnomalyDetector struct {
	// History is how many windows before the observed one form the baseline's candidates.
	History uint64 `json:"history"`
	// MinHistory is the least number of baseline windows needed to evaluate at all.
	MinHistory       uint64  `json:"min_history"`
	ThresholdSigma   Decimal `json:"threshold_sigma"`
	MinRelativeSigma Decimal `json:"min_relative_sigma"`
	// RatioMinSpans is the least number of spans a window needs for its error ratio to count (ratio metrics).
	RatioMinSpans uint64 `json:"ratio_min_spans,omitempty"`
}

// DecimalRange is an expected range [min, max].
type DecimalRange struct {
	Min Decimal `json:"min"`
	Max Decimal `json:"max"`
}

// AnomalyResult is one evaluation of a metric for a service in a window.
type AnomalyResult struct {
	Observed, Mean, Stddev, Sigma, Deviation, Min, Max float64
	// Baseline are the indexes (into the history given) of the baseline windows.
	Baseline []int
	Fired    bool
}

// EvaluateAnomaly evaluates one metric of one service: hist are its counts in the history windows (oldest
// first, zero where it had no records), obs in the observed window. ok is false when the metric is not
// evaluated (too little baseline, or too few spans for a ratio). All arithmetic is IEEE-754 double precision in
// the order written in docs/receipts.md.
func EvaluateAnomaly(metric string, hist []ServiceCounts, obs ServiceCounts, d AnomalyDetector) (res AnomalyResult, ok bool) {
	ratio := metric == MetricSpanErrorRatio
	value := func(c ServiceCounts) float64 {
		if ratio {
			return float64(c.Errors) / float64(c.Records)
		}
		return float64(c.Records)
	}
	var base []float64
	if ratio {
		if obs.Records < max(d.RatioMinSpans, 1) {
			return res, false
		}
		for i, c := range hist {
			if c.Records >= max(d.RatioMinSpans, 1) {
				res.Baseline = append(res.Baseline, i)
				base = append(base, value(c))
			}
		}
	} else {
		// A service's baseline starts at its first window with records: windows before it existed are not zeros.
		first := -1
		for i, c := range hist {
			if first < 0 && c.Records > 0 {
				first = i
			}
			if first >= 0 {
				res.Baseline = append(res.Baseline, i)
				base = append(base, value(c))
			}
		}
	}
	if len(base) == 0 || uint64(len(base)) < d.MinHistory {
		return res, false
	}
	n := float64(len(base))
	sum := 0.0
	for _, v := range base {
		sum += v
	}
	res.Mean = sum / n
	ss := 0.0
	for _, v := range base {
		ss += (v - res.Mean) * (v - res.Mean)
	}
	res.Stddev = math.Sqrt(ss / n)
	floor := RateSigmaFloor
	if ratio {
		floor = RatioSigmaFloor
	}
	res.Sigma = max(res.Stddev, d.MinRelativeSigma.Float()*math.Abs(res.Mean), floor)
	res.Observed = value(obs)
	res.Deviation = (res.Observed - res.Mean) / res.Sigma
	k := d.ThresholdSigma.Float()
	res.Min = max(res.Mean-k*res.Sigma, 0)
	res.Max = res.Mean + k*res.Sigma
	if ratio {
		res.Max = min(res.Max, 1)
	}
	res.Fired = math.Abs(res.Deviation) >= k
	return res, true
}

// Direction is "above" or "below" the baseline.
func (r AnomalyResult) Direction() string {
	if r.Deviation > 0 {
		return "above"
	}
	return "below"
}

// AnomalyID is the id of an anomaly of metric for service in the window starting at start.
func AnomalyID(start time.Time, metric, service string) string {
	h := merkle.Sum([]byte(service))
	return "anomaly-" + start.UTC().Format(time.RFC3339) + "-" + metric + "-" + hex.EncodeToString(h[:16])
}

// FillAnomaly sets the obs_anomaly_detected result fields of r from res.
func FillAnomaly(r *Receipt, res AnomalyResult) {
	obs, mean, sd, sig, dev := DecimalOf(res.Observed), DecimalOf(res.Mean), DecimalOf(res.Stddev), DecimalOf(res.Sigma), DecimalOf(math.Abs(res.Deviation))
	r.ObservedValue, r.BaselineMean, r.BaselineStddev, r.EffectiveSigma, r.DeviationSigma = &obs, &mean, &sd, &sig, &dev
	r.ExpectedRange = &DecimalRange{Min: DecimalOf(res.Min), Max: DecimalOf(res.Max)}
	r.BaselineWindows = uint64(len(res.Baseline))
	r.Direction = res.Direction()
}

// DerivedCommitment is the content_hash, merkle_root and leaf_count of a derived receipt (obs_slo_report,
// obs_anomaly_detected), whose leaves are the receipt lines of the batches it was computed from, given by their
// leaf hashes LH(line) in receipt-log order: merkle_root = MTH of those lines, content_hash = H of the
// concatenated 32-byte leaf hashes.
func DerivedCommitment(lineHashes [][]byte) (contentHash, merkleRoot string, leafCount uint64) {
	cat := make([]byte, 0, len(lineHashes)*merkle.HashSize)
	for _, h := range lineHashes {
		cat = append(cat, h...)
	}
	sum := merkle.Sum(cat)
	return FormatHash(sum[:]), FormatHash(merkle.Root(merkle.BLAKE3, lineHashes)), uint64(len(lineHashes))
}
