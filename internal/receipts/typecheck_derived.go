package receipts

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Strict checks of the derived receipt types that need nothing but the receipt (docs/receipts.md §5 and §7.1);
// verify_derived.go checks what they were computed from.
func init() {
	RegisterTypeCheck(TypeSLOReport, checkSLOReport)
	RegisterTypeCheck(TypeAnomalyDetected, checkAnomaly)
}

var sloIDSyntax = regexp.MustCompile(`^slo:[A-Za-z0-9._-]{1,100}$`)

// parsePeriod parses a period of whole-second RFC 3339 UTC times with start < end.
func parsePeriod(p *Period) (start, end time.Time, err error) {
	if p == nil {
		return start, end, errors.New("no period")
	}
	for i, s := range []string{p.Start, p.End} {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil || t.Format(time.RFC3339) != s || t.Location() != time.UTC {
			return start, end, fmt.Errorf("period time %q is not whole-second RFC 3339 UTC", s)
		}
		if i == 0 {
			start = t
		} else {
			end = t
		}
	}
	if !start.Before(end) {
		return start, end, errors.New("period start is not before its end")
	}
	return start, end, nil
}

func checkDerivedCommon(r *Receipt) error {
	if r.StoragePath != "" || len(r.Record) > 0 {
		return errors.New("has storage_path or record (its leaves are receipt lines of the scroll)")
	}
	if r.LogCounts != nil || r.MetricsCollected != 0 || r.MetricNames != 0 || len(r.DataPointTypes) > 0 || r.SpanCount != 0 ||
		r.TraceCount != 0 || r.ErrorSpans != 0 || r.TraceID != "" || r.Name != "" || r.DurationMs != 0 || r.Status != "" ||
		r.Severity != "" || r.Node != "" || r.EventTime != "" || r.Description != "" || len(r.ServicesReporting) > 0 || len(r.NodesReporting) > 0 {
		return errors.New("has fields of another receipt type")
	}
	return nil
}

func checkSLOReport(r *Receipt) error {
	if err := checkDerivedCommon(r); err != nil {
		return err
	}
	if r.Service != "" || r.Metric != "" || r.DetectionMethod != "" || r.Detector != nil || r.ObservedValue != nil ||
		r.ExpectedRange != nil || r.BaselineWindows != 0 || r.BaselineMean != nil || r.BaselineStddev != nil ||
		r.EffectiveSigma != nil || r.DeviationSigma != nil || r.Direction != "" {
		return errors.New("has obs_anomaly_detected fields")
	}
	start, end, err := parsePeriod(r.Period)
	if err != nil {
		return err
	}
	if r.ID != SLOReportID(end) {
		return fmt.Errorf("id must be %s", SLOReportID(end))
	}
	if len(r.SLOs) == 0 {
		return errors.New("no slos")
	}
	var longest time.Duration
	for i, s := range r.SLOs {
		if err := checkSLOResult(s, end); err != nil {
			return fmt.Errorf("slos[%d] (%s): %w", i, s.SLOID, err)
		}
		if i > 0 && r.SLOs[i-1].SLOID >= s.SLOID {
			return errors.New("slos are not sorted by slo_id without repeats")
		}
		w, _ := ParseWindow(s.Window)
		longest = max(longest, w)
	}
	if end.Sub(start) != longest {
		return fmt.Errorf("period is %s long, want the longest window %s", end.Sub(start), FormatWindow(longest))
	}
	if want := OverallStatus(r.SLOs); r.OverallStatus != want {
		return fmt.Errorf("overall_status %q, want %q", r.OverallStatus, want)
	}
	return nil
}

func checkSLOResult(s SLOResult, end time.Time) error {
	if !sloIDSyntax.MatchString(s.SLOID) {
		return errors.New("slo_id must be slo:<name> with letters, digits, '.', '_' or '-'")
	}
	if s.Service == "" {
		return errors.New("no service")
	}
	switch {
	case s.Kind == SLOAvailability && s.ThresholdMs != 0:
		return errors.New("availability objective with threshold_ms")
	case s.Kind == SLOLatency && s.ThresholdMs <= 0:
		return errors.New("latency objective without a positive threshold_ms")
	case s.Kind != SLOAvailability && s.Kind != SLOLatency:
		return fmt.Errorf("kind %q is not availability or latency", s.Kind)
	}
	if s.Target <= 0 || s.Target >= DecimalScale || s.AtRiskBudget <= 0 || s.AtRiskBudget >= DecimalScale {
		return errors.New("target and at_risk_budget must be between 0 and 1 exclusive")
	}
	w, err := ParseWindow(s.Window)
	if err != nil {
		return err
	}
	if FormatWindow(w) != s.Window {
		return fmt.Errorf("window %q is not canonical (%s)", s.Window, FormatWindow(w))
	}
	ps, pe, err := parsePeriod(&s.Period)
	if err != nil {
		return err
	}
	if !pe.Equal(end) || pe.Sub(ps) != w {
		return errors.New("period must be the window ending at the report's end")
	}
	achieved, status, eb := SLOFigures(s.Good, s.Bad, s.Target, s.AtRiskBudget)
	if s.Status != status {
		return fmt.Errorf("status %q, want %q for good %d bad %d", s.Status, status, s.Good, s.Bad)
	}
	if !equalDecimal(s.Achieved, achieved) || !equalDecimal(s.ErrorBudget.ConsumedRatio, eb.ConsumedRatio) ||
		s.ErrorBudget.Total != eb.Total || s.ErrorBudget.Consumed != eb.Consumed || s.ErrorBudget.Remaining != eb.Remaining {
		return fmt.Errorf("achieved or error_budget do not follow from good %d bad %d and target %s", s.Good, s.Bad, s.Target)
	}
	return nil
}

func equalDecimal(a, b *Decimal) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func checkAnomaly(r *Receipt) error {
	if err := checkDerivedCommon(r); err != nil {
		return err
	}
	if len(r.SLOs) > 0 || r.OverallStatus != "" {
		return errors.New("has obs_slo_report fields")
	}
	start, _, err := parsePeriod(r.Period)
	if err != nil {
		return err
	}
	if !slices.Contains(AnomalyMetrics, r.Metric) {
		return fmt.Errorf("metric %q is not one of %v", r.Metric, AnomalyMetrics)
	}
	if r.ID != AnomalyID(start, r.Metric, r.Service) {
		return fmt.Errorf("id must be %s", AnomalyID(start, r.Metric, r.Service))
	}
	if r.DetectionMethod != DetectionMeanStddev {
		return fmt.Errorf("detection_method %q, want %q", r.DetectionMethod, DetectionMeanStddev)
	}
	d := r.Detector
	if d == nil || d.MinHistory < 2 || d.History < d.MinHistory || d.ThresholdSigma <= 0 || d.MinRelativeSigma < 0 {
		return errors.New("detector needs 2 <= min_history <= history, threshold_sigma > 0, min_relative_sigma >= 0")
	}
	if (r.Metric == MetricSpanErrorRatio) != (d.RatioMinSpans > 0) {
		return errors.New("ratio_min_spans is set for ratio metrics only, and must be set for them")
	}
	if r.ObservedValue == nil || r.ExpectedRange == nil || r.BaselineMean == nil || r.BaselineStddev == nil ||
		r.EffectiveSigma == nil || r.DeviationSigma == nil {
		return errors.New("observed_value, expected_range, baseline_mean, baseline_stddev, effective_sigma and deviation_sigma are required")
	}
	if r.BaselineWindows < d.MinHistory || r.BaselineWindows > d.History {
		return fmt.Errorf("baseline_windows %d outside [min_history, history]", r.BaselineWindows)
	}
	if r.ExpectedRange.Min > r.ExpectedRange.Max || *r.BaselineStddev < 0 || *r.EffectiveSigma < *r.BaselineStddev {
		return errors.New("expected_range or sigmas inconsistent")
	}
	// A receipt exists only for a detection: |deviation| reached the threshold (6-digit rounding allowed).
	if *r.DeviationSigma < d.ThresholdSigma-1 {
		return fmt.Errorf("deviation_sigma %s below threshold_sigma %s", *r.DeviationSigma, d.ThresholdSigma)
	}
	if r.Direction != "above" && r.Direction != "below" {
		return fmt.Errorf("direction %q is not above or below", r.Direction)
	}
	return nil
}
