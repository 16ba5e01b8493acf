package receiptexporter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/internal/receipts"
)

// AnomalyConfig configures the obs_anomaly_detected detector (docs/receipts.md §5): per workspace, service,
// metric and window, the observed value against the mean and standard deviation of the same metric in the
// scroll's previous windows.
type AnomalyConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// History is how many of the scroll's previous windows (those with any batch) the baseline is taken from.
	History int `mapstructure:"history"`
	// MinHistory is the least number of baseline windows a metric needs before it is evaluated.
	MinHistory int `mapstructure:"min_history"`
	// ThresholdSigma: an observed value this many sigmas or more from the baseline mean is an anomaly.
	ThresholdSigma float64 `mapstructure:"threshold_sigma"`
	// MinRelativeSigma is the least sigma as a fraction of the baseline mean (besides the fixed floors of one
	// record for rates and 0.01 for ratios), so a steady baseline does not turn noise into anomalies.
	MinRelativeSigma float64 `mapstructure:"min_relative_sigma"`
	// RatioMinSpans is the least number of spans a window needs for its error ratio to be observed or part of a
	// baseline.
	RatioMinSpans uint64 `mapstructure:"ratio_min_spans"`
	// Metrics are the metrics evaluated (default: all of them).
	Metrics []string `mapstructure:"metrics"`
}

func defaultAnomalyConfig() AnomalyConfig {
	return AnomalyConfig{History: 24, MinHistory: 12, ThresholdSigma: 4, MinRelativeSigma: 0.1, RatioMinSpans: 20}
}

func (a *AnomalyConfig) validate() error {
	if !a.Enabled {
		return nil
	}
	var errs []error
	if a.MinHistory < 2 || a.History < a.MinHistory || a.History > 10000 {
		errs = append(errs, fmt.Errorf("anomaly: need 2 <= min_history (%d) <= history (%d) <= 10000", a.MinHistory, a.History))
	}
	if _, ok := decimalOf(a.ThresholdSigma); !ok || a.ThresholdSigma <= 0 {
		errs = append(errs, errors.New("anomaly: threshold_sigma must be positive, with at most 6 decimals"))
	}
	if _, ok := decimalOf(a.MinRelativeSigma); !ok || a.MinRelativeSigma < 0 {
		errs = append(errs, errors.New("anomaly: min_relative_sigma must not be negative, with at most 6 decimals"))
	}
	if a.RatioMinSpans < 1 {
		errs = append(errs, errors.New("anomaly: ratio_min_spans must be at least 1"))
	}
	for _, m := range a.Metrics {
		if !slices.Contains(receipts.AnomalyMetrics, m) {
			errs = append(errs, fmt.Errorf("anomaly: unknown metric %q (known: %v)", m, receipts.AnomalyMetrics))
		}
	}
	return errors.Join(errs...)
}

func (a *AnomalyConfig) detector() *receipts.AnomalyDetector {
	k, _ := decimalOf(a.ThresholdSigma)
	rel, _ := decimalOf(a.MinRelativeSigma)
	return &receipts.AnomalyDetector{History: uint64(a.History), MinHistory: uint64(a.MinHistory), ThresholdSigma: k,
		MinRelativeSigma: rel, RatioMinSpans: a.RatioMinSpans}
}

// metrics are the configured metrics in evaluation order.
func (a *AnomalyConfig) metrics() []string {
	if len(a.Metrics) == 0 {
		return receipts.AnomalyMetrics
	}
	var out []string
	for _, m := range receipts.AnomalyMetrics {
		if slices.Contains(a.Metrics, m) {
			out = append(out, m)
		}
	}
	return out
}

// emitAnomalies evaluates the scroll's pending windows whose every window up to them is sealed, oldest first,
// and appends the anomalies found (one append per scroll).
func (e *engine) emitAnomalies(h *history, present, now time.Time, open map[string]int64) {
	var due []int64
	for w := range h.pending {
		if e.closedThrough(h.wsDir, w, present, open) {
			due = append(due, w)
		}
	}
	if len(due) == 0 {
		return
	}
	slices.Sort(due)
	var out []*receipts.Receipt
	for _, w := range due {
		out = append(out, e.evaluateWindow(h, w, now)...)
	}
	if len(out) > 0 {
		s, err := e.scroll(h.wsDir)
		if err == nil {
			err = e.appendReceipts(s, out...)
		}
		if err != nil {
			e.logger.Error("appending anomaly receipts failed; will retry", zap.String("scroll", h.wsDir), zap.Error(err))
			return
		}
		e.tel.TfocolReceiptWindowsSealed.Add(context.Background(), int64(len(out)), metric.WithAttributes(attribute.String("type", receipts.TypeAnomalyDetected)))
	}
	for _, w := range due {
		delete(h.pending, w)
	}
	last := due[len(due)-1]
	e.writeCache(h.wsDir, cacheLine{Evaluated: &last})
	h.changed = true
}

// evaluateWindow evaluates every metric of every service of the window starting at w against the scroll's
// previous history windows, and returns the receipts of the anomalies not receipted yet.
func (e *engine) evaluateWindow(h *history, w int64, now time.Time) []*receipts.Receipt {
	d := e.derived.detector
	starts := distinctStarts(h.batches, w)
	if len(starts) > int(d.History) {
		starts = starts[len(starts)-int(d.History):]
	}
	var out []*receipts.Receipt
	for _, m := range e.derived.metrics {
		sig := receipts.MetricSignal(m)
		at := map[int64]*histBatch{}
		for _, b := range h.batches {
			if b.signal == sig {
				at[b.start] = b
			}
		}
		count := func(start int64, svc string) receipts.ServiceCounts {
			if b := at[start]; b != nil {
				return b.facts.Services[svc]
			}
			return receipts.ServiceCounts{}
		}
		var services []string
		for _, s := range append(slices.Clone(starts), w) {
			if b := at[s]; b != nil {
				for svc := range b.facts.Services {
					services = append(services, svc)
				}
			}
		}
		slices.Sort(services)
		for _, svc := range slices.Compact(services) {
			hist := make([]receipts.ServiceCounts, len(starts))
			for i, s := range starts {
				hist[i] = count(s, svc)
			}
			res, ok := receipts.EvaluateAnomaly(m, hist, count(w, svc), *d)
			if !ok || !res.Fired {
				continue
			}
			start := time.Unix(w, 0).UTC()
			id := receipts.AnomalyID(start, m, svc)
			if s, ok := e.scrolls[h.wsDir]; ok && s.Has(id) {
				continue
			}
			var leaves []*histBatch
			if b := at[w]; b != nil {
				leaves = append(leaves, b)
			}
			for _, i := range res.Baseline {
				if b := at[starts[i]]; b != nil {
					leaves = append(leaves, b)
				}
			}
			det := *d
			if m != receipts.MetricSpanErrorRatio {
				det.RatioMinSpans = 0
			}
			r := &receipts.Receipt{
				Type: receipts.TypeAnomalyDetected, ID: id, Timestamp: receipts.FormatTime(now), Workspace: h.workspace,
				Period:  &receipts.Period{Start: receipts.FormatTime(start), End: receipts.FormatTime(start.Add(e.cfg.Interval))},
				Service: svc, Metric: m, DetectionMethod: receipts.DetectionMeanStddev, Detector: &det,
				Tags: []string{"observability", "anomaly", m},
			}
			receipts.FillAnomaly(r, res)
			r.ContentHash, r.MerkleRoot, r.LeafCount = commitment(leaves)
			out = append(out, r)
		}
	}
	return out
}
