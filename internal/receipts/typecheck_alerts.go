package receipts

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Strict checks of obs_alert_resolved and of obs_metric_snapshot aggregates that need nothing but the receipt
// (docs/receipts.md §5); verify_alerts.go checks them against the scroll and the batch files.
func init() {
	RegisterTypeCheck(TypeAlertResolved, checkAlertResolved)
	RegisterTypeFields(TypeMetricSnapshot, "aggregates")
}

var aggregateName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// AlertResolvedID is the id of the obs_alert_resolved of the alert whose obs_alert_fired has id alertID: an
// alert resolves at most once.
func AlertResolvedID(alertID string) string {
	return "resolved-" + strings.TrimPrefix(alertID, "alert-")
}

// DurationMinutes is duration_minutes of an alert fired at firedAt and resolved at resolvedAt: whole minutes,
// rounded down.
func DurationMinutes(firedAt, resolvedAt time.Time) uint64 {
	return uint64(resolvedAt.Sub(firedAt) / time.Minute)
}

// checkTypedFields keeps the fields of obs_alert_resolved and the aggregates of obs_metric_snapshot on their
// own types.
func checkTypedFields(r *Receipt) error {
	if r.Type != TypeAlertResolved && (r.AlertID != "" || r.FiredAt != "" || r.DurationMinutes != nil || r.ResolvedBy != "") {
		return errors.New("has obs_alert_resolved fields")
	}
	if r.Aggregates == nil {
		return nil
	}
	if r.Type != TypeMetricSnapshot {
		return errors.New("has aggregates, which only obs_metric_snapshot has")
	}
	if len(r.Aggregates) == 0 {
		return errors.New("aggregates is empty (absent when none are configured)")
	}
	names := make([]string, 0, len(r.Aggregates))
	for name := range r.Aggregates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := checkAggregate(name, r.Aggregates[name]); err != nil {
			return fmt.Errorf("aggregates[%q]: %w", name, err)
		}
	}
	return nil
}

func checkAlertResolved(r *Receipt) error {
	if len(r.Record) == 0 || r.LeafCount != 1 || r.StoragePath != "" {
		return errors.New("carries exactly one embedded record (the resolving event)")
	}
	if !strings.HasPrefix(r.AlertID, "alert-") || r.ID != AlertResolvedID(r.AlertID) {
		return fmt.Errorf("id must be %s for alert_id %q", AlertResolvedID(r.AlertID), r.AlertID)
	}
	if r.Name == "" || r.ResolvedBy == "" || r.DurationMinutes == nil {
		return errors.New("name, resolved_by and duration_minutes are required")
	}
	fired, err := time.Parse(time.RFC3339Nano, r.FiredAt)
	if err != nil {
		return fmt.Errorf("fired_at: %w", err)
	}
	at, err := time.Parse(time.RFC3339Nano, r.EventTime)
	if err != nil {
		return fmt.Errorf("event_time (of the resolving event): %w", err)
	}
	if at.Before(fired) {
		return errors.New("resolved before it fired (event_time before fired_at)")
	}
	if want := DurationMinutes(fired, at); *r.DurationMinutes != want {
		return fmt.Errorf("duration_minutes %d, want %d (whole minutes from fired_at to event_time)", *r.DurationMinutes, want)
	}
	if r.Period != nil || r.LogCounts != nil || r.MetricsCollected != 0 || r.MetricNames != 0 || len(r.DataPointTypes) > 0 ||
		r.SpanCount != 0 || r.TraceCount != 0 || r.ErrorSpans != 0 || r.TraceID != "" || r.DurationMs != 0 || r.Status != "" ||
		r.Description != "" || len(r.ServicesReporting) > 0 || len(r.NodesReporting) > 0 || len(r.SLOs) > 0 ||
		r.OverallStatus != "" || r.Metric != "" || r.DetectionMethod != "" || r.Detector != nil || r.ObservedValue != nil ||
		r.ExpectedRange != nil || r.BaselineWindows != 0 || r.BaselineMean != nil || r.BaselineStddev != nil ||
		r.EffectiveSigma != nil || r.DeviationSigma != nil || r.Direction != "" {
		return errors.New("has fields of another receipt type")
	}
	return nil
}
