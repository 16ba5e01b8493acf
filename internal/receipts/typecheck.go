package receipts

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// typeChecks are the strict, type-specific checks of receipt types registered with RegisterTypeCheck; ParseReceipt
// runs the one of a receipt's type after the common checks, and a type without one is unknown.
var typeChecks = map[string]func(*Receipt) error{}

// RegisterTypeCheck registers the check of a receipt type (from an init function).
func RegisterTypeCheck(typ string, fn func(*Receipt) error) { typeChecks[typ] = fn }

// The checks of the five core types. docs/receipts.md §5 ("Invariants checked") lists them one by one; keep the
// two in step.
func init() {
	RegisterTypeCheck(TypeLogBatch, checkLogBatch)
	RegisterTypeCheck(TypeMetricSnapshot, checkMetricSnapshot)
	RegisterTypeCheck(TypeTraceBatch, checkTraceBatch)
	RegisterTypeCheck(TypeTraceComplete, checkTraceComplete)
	RegisterTypeCheck(TypeAlertFired, checkAlertFired)
}

func fieldSet(groups ...[]string) map[string]bool {
	m := map[string]bool{}
	for _, g := range groups {
		for _, f := range g {
			m[f] = true
		}
	}
	return m
}

var reportingFields = []string{"services_reporting", "nodes_reporting"}

// coreTypeFields are the only fields a line of a core type may carry (written or not).
var coreTypeFields = map[string]map[string]bool{
	TypeLogBatch:       fieldSet(commonFields, reportingFields, []string{"storage_path", "period", "log_counts"}),
	TypeMetricSnapshot: fieldSet(commonFields, reportingFields, []string{"storage_path", "period", "metrics_collected", "metric_names", "data_point_types"}),
	TypeTraceBatch:     fieldSet(commonFields, reportingFields, []string{"storage_path", "period", "span_count", "trace_count", "error_spans"}),
	TypeTraceComplete: fieldSet(commonFields, reportingFields, []string{"storage_path", "trace_id", "name", "duration_ms", "status",
		"span_count", "error_spans", "event_time"}),
	TypeAlertFired: fieldSet(commonFields, []string{"name", "severity", "node", "service", "event_time", "record", "description"}),
}

// RegisterTypeFields allows more fields on a core type (from an init function of the file that adds them and
// checks them, e.g. with a type check wrapping the core one). Without it a core-type line carrying the field is
// invalid (docs/receipts.md §7.2).
func RegisterTypeFields(typ string, fields ...string) {
	m, ok := coreTypeFields[typ]
	if !ok {
		panic("receipts: RegisterTypeFields of " + typ + ", which is not a core type")
	}
	for _, f := range fields {
		m[f] = true
	}
}

// PointTypes are the data_point_types keys of obs_metric_snapshot.
var PointTypes = []string{"gauge", "sum", "histogram", "exponential_histogram", "summary"}

// Severities are the levels of an OTLP severity number (the level of LogCounts a record counts in).
var Severities = []string{"unspecified", "trace", "debug", "info", "warn", "error", "fatal"}

// ContractSeverities are the values of the event contracts' event.severity that are not OTLP levels.
var ContractSeverities = []string{"warning", "critical"}

// IsAlertSeverity tells whether s is a severity obs_alert_fired may carry: an OTLP level or a contract's value.
func IsAlertSeverity(s string) bool {
	return slices.Contains(Severities, s) || slices.Contains(ContractSeverities, s)
}

// checkWindow checks a batch's period, id and storage path against each other: a UTC-aligned window of whole
// seconds whose length divides 24h, id <signal>-<start>, and the batch file of that window.
func checkWindow(r *Receipt, signal string) error {
	start, end, err := parsePeriod(r.Period)
	if err != nil {
		return err
	}
	interval := end.Sub(start)
	if (24*time.Hour)%interval != 0 || start.UnixNano()%int64(interval) != 0 {
		return fmt.Errorf("period [%s, %s) is not a window of a length dividing 24h aligned to Unix time", r.Period.Start, r.Period.End)
	}
	if want := BatchID(signal, start); r.ID != want {
		return fmt.Errorf("id %s disagrees with period start %s (want %s)", r.ID, r.Period.Start, want)
	}
	if want := BatchPath(signal, start, interval); r.StoragePath != want {
		return fmt.Errorf("storage_path %q disagrees with period [%s, %s) (want %s)", r.StoragePath, r.Period.Start, r.Period.End, want)
	}
	return nil
}

// checkReporting requires services_reporting and nodes_reporting sorted (byte order), distinct and non-empty.
func checkReporting(r *Receipt) error {
	for _, l := range []struct {
		name string
		vs   []string
	}{{"services_reporting", r.ServicesReporting}, {"nodes_reporting", r.NodesReporting}} {
		for i, v := range l.vs {
			if v == "" {
				return fmt.Errorf("%s[%d] is empty", l.name, i)
			}
			if i > 0 && l.vs[i-1] >= v {
				return fmt.Errorf("%s is not sorted without repeats (%q then %q)", l.name, l.vs[i-1], v)
			}
		}
	}
	return nil
}

func checkLogBatch(r *Receipt) error {
	if err := checkWindow(r, SignalLogs); err != nil {
		return err
	}
	if r.LogCounts == nil || r.LogCounts.Total() != r.LeafCount {
		return fmt.Errorf("log_counts do not add up to leaf_count %d", r.LeafCount)
	}
	return checkReporting(r)
}

func checkMetricSnapshot(r *Receipt) error {
	if err := checkWindow(r, SignalMetrics); err != nil {
		return err
	}
	if r.MetricsCollected != r.LeafCount {
		return fmt.Errorf("metrics_collected %d differs from leaf_count %d", r.MetricsCollected, r.LeafCount)
	}
	if r.MetricNames == 0 || r.MetricNames > r.LeafCount {
		return fmt.Errorf("metric_names %d is not between 1 and leaf_count %d", r.MetricNames, r.LeafCount)
	}
	var sum uint64
	for k, n := range r.DataPointTypes {
		if !slices.Contains(PointTypes, k) {
			return fmt.Errorf("data_point_types has %q, not one of %v", k, PointTypes)
		}
		if n == 0 {
			return fmt.Errorf("data_point_types[%s] is 0 (a type without points is omitted)", k)
		}
		sum += n
	}
	if sum != r.LeafCount {
		return fmt.Errorf("data_point_types add up to %d, not leaf_count %d", sum, r.LeafCount)
	}
	return checkReporting(r)
}

func checkTraceBatch(r *Receipt) error {
	if err := checkWindow(r, SignalTraces); err != nil {
		return err
	}
	if r.SpanCount != r.LeafCount {
		return fmt.Errorf("span_count %d differs from leaf_count %d", r.SpanCount, r.LeafCount)
	}
	if r.TraceCount == 0 || r.TraceCount > r.SpanCount {
		return fmt.Errorf("trace_count %d is not between 1 and span_count %d", r.TraceCount, r.SpanCount)
	}
	if r.ErrorSpans > r.SpanCount {
		return fmt.Errorf("error_spans %d exceeds span_count %d", r.ErrorSpans, r.SpanCount)
	}
	return checkReporting(r)
}

func isTraceID(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 16 && strings.ToLower(s) == s
}

func checkTraceComplete(r *Receipt) error {
	if !isTraceID(r.TraceID) {
		return fmt.Errorf("trace_id %q is not 32 lowercase hex digits", r.TraceID)
	}
	if r.ID != "trace-"+r.TraceID {
		return fmt.Errorf("id must be trace-%s", r.TraceID)
	}
	end, err := CheckTime(r.EventTime)
	if err != nil {
		return fmt.Errorf("event_time: %w", err)
	}
	if want := TracePath(r.TraceID, end); r.StoragePath != want {
		return fmt.Errorf("storage_path %q disagrees with trace_id and event_time (want %s)", r.StoragePath, want)
	}
	if r.SpanCount != r.LeafCount {
		return fmt.Errorf("span_count %d differs from leaf_count %d", r.SpanCount, r.LeafCount)
	}
	if r.ErrorSpans > r.SpanCount {
		return fmt.Errorf("error_spans %d exceeds span_count %d", r.ErrorSpans, r.SpanCount)
	}
	if want := map[bool]string{true: "error", false: "ok"}[r.ErrorSpans > 0]; r.Status != want {
		return fmt.Errorf("status %q, want %q for error_spans %d", r.Status, want, r.ErrorSpans)
	}
	if r.DurationMs < 0 {
		return fmt.Errorf("duration_ms %d is negative", r.DurationMs)
	}
	return checkReporting(r)
}

// AlertID is the id of the obs_alert_fired receipt of a record: "alert-" and the first 32 hex digits of LH(leaf).
func AlertID(leaf []byte) string {
	return "alert-" + hex.EncodeToString(merkle.BLAKE3.HashLeaf(leaf)[:16])
}

func checkAlertFired(r *Receipt) error {
	if len(r.Record) == 0 || r.LeafCount != 1 {
		return errors.New("obs_alert_fired carries exactly one embedded record (leaf_count 1)")
	}
	if want := AlertID(r.Record); r.ID != want {
		return fmt.Errorf("id must be %s (from the record)", want)
	}
	if r.Name == "" {
		return errors.New("no name")
	}
	if !IsAlertSeverity(r.Severity) {
		return fmt.Errorf("severity %q is not one of %v or %v", r.Severity, Severities, ContractSeverities)
	}
	if r.EventTime != "" {
		if _, err := CheckTime(r.EventTime); err != nil {
			return fmt.Errorf("event_time: %w", err)
		}
	}
	return nil
}
