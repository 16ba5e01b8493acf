// Package receipts is the one implementation of the receipt formats shared by the receipt exporter and the
// `tfocol receipts` CLI: receipt lines, batch files, leaf encoding, scroll layout, sealing and verification.
// docs/receipts.md is the normative description.
package receipts

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// Receipt types (seed 004 plus obs_trace_batch, which commits every span of a window).
const (
	TypeLogBatch       = "obs_log_batch"
	TypeMetricSnapshot = "obs_metric_snapshot"
	TypeTraceBatch     = "obs_trace_batch"
	TypeTraceComplete  = "obs_trace_complete"
	TypeAlertFired     = "obs_alert_fired"
	// TypeAlertResolved closes an obs_alert_fired of the same scroll (typecheck_alerts.go).
	TypeAlertResolved = "obs_alert_resolved"

	// ---- derived receipts (slo.go, anomaly.go): computed from sealed batches ----
	TypeSLOReport       = "obs_slo_report"
	TypeAnomalyDetected = "obs_anomaly_detected"
	// ---- end derived receipts ----

	// TypeRetentionApplied records batch files removed by retention (retention.go).
	TypeRetentionApplied = "obs_retention_applied"
)

// Types lists every receipt type the exporter writes; readers (query, verify) take the set from here.
var Types = []string{
	TypeLogBatch, TypeMetricSnapshot, TypeTraceBatch, TypeTraceComplete, TypeAlertFired, TypeAlertResolved,
	TypeSLOReport, TypeAnomalyDetected, TypeRetentionApplied,
}

// HashPrefix marks BLAKE3-256 hashes in receipts: "blake3:" followed by 64 lowercase hex digits.
const HashPrefix = "blake3:"

// ZeroHash is prev_hash of the first receipt of a scroll.
var ZeroHash = HashPrefix + strings.Repeat("0", 64)

// FormatHash renders a 32-byte hash as "blake3:<hex>".
func FormatHash(h []byte) string { return HashPrefix + hex.EncodeToString(h) }

// ParseHash parses "blake3:<64 lowercase hex>".
func ParseHash(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, HashPrefix)
	if !ok || len(rest) != 64 || strings.ToLower(rest) != rest {
		return nil, fmt.Errorf("hash %q is not blake3:<64 lowercase hex digits>", s)
	}
	return hex.DecodeString(rest)
}

// LineHash is the chain link: BLAKE3-256 of a receipt line's bytes without its newline.
func LineHash(line []byte) string {
	s := merkle.Sum(line)
	return FormatHash(s[:])
}

// Period is a half-open window [start, end) in UTC.
type Period struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// LogCounts counts log records per severity level (OTLP severity number ranges; 0 is unspecified).
type LogCounts struct {
	Unspecified uint64 `json:"unspecified"`
	Trace       uint64 `json:"trace"`
	Debug       uint64 `json:"debug"`
	Info        uint64 `json:"info"`
	Warn        uint64 `json:"warn"`
	Error       uint64 `json:"error"`
	Fatal       uint64 `json:"fatal"`
}

// Add counts one record of the given OTLP severity number.
func (c *LogCounts) Add(severity int32) {
	switch {
	case severity >= 1 && severity <= 4:
		c.Trace++
	case severity >= 5 && severity <= 8:
		c.Debug++
	case severity >= 9 && severity <= 12:
		c.Info++
	case severity >= 13 && severity <= 16:
		c.Warn++
	case severity >= 17 && severity <= 20:
		c.Error++
	case severity >= 21 && severity <= 24:
		c.Fatal++
	default:
		c.Unspecified++
	}
}

// Total is the number of records counted.
func (c LogCounts) Total() uint64 {
	return c.Unspecified + c.Trace + c.Debug + c.Info + c.Warn + c.Error + c.Fatal
}

// Receipt is one line of the receipt log. Field order is the JSON order the exporter writes; verifiers hash the
// stored line bytes and never re-encode.
type Receipt struct {
	Type      string  `json:"type"`
	ID        string  `json:"id"`
	Seq       uint64  `json:"seq"`
	Timestamp string  `json:"timestamp"`
	Workspace string  `json:"workspace"`
	Period    *Period `json:"period,omitempty"`

	// obs_log_batch
	LogCounts *LogCounts `json:"log_counts,omitempty"`
	// obs_metric_snapshot
	MetricsCollected uint64            `json:"metrics_collected,omitempty"`
	MetricNames      uint64            `json:"metric_names,omitempty"`
	DataPointTypes   map[string]uint64 `json:"data_point_types,omitempty"`
	// Aggregates are the configured per-metric figures over the window (aggregates.go).
	Aggregates map[string]*Aggregate `json:"aggregates,omitempty"`
	// obs_trace_batch and obs_trace_complete
	SpanCount  uint64 `json:"span_count,omitempty"`
	TraceCount uint64 `json:"trace_count,omitempty"`
	ErrorSpans uint64 `json:"error_spans,omitempty"`
	// obs_trace_complete
	TraceID    string `json:"trace_id,omitempty"`
	Name       string `json:"name,omitempty"`
	DurationMs int64  `json:"duration_ms,omitempty"`
	Status     string `json:"status,omitempty"`
	// obs_alert_fired
	Severity    string `json:"severity,omitempty"`
	Node        string `json:"node,omitempty"`
	Service     string `json:"service,omitempty"`
	EventTime   string `json:"event_time,omitempty"`
	Record      []byte `json:"record,omitempty"`
	Description string `json:"description,omitempty"`
	// ---- obs_alert_resolved (typecheck_alerts.go; record is the resolving event) ----
	AlertID         string  `json:"alert_id,omitempty"`
	FiredAt         string  `json:"fired_at,omitempty"`
	DurationMinutes *uint64 `json:"duration_minutes,omitempty"`
	ResolvedBy      string  `json:"resolved_by,omitempty"`
	// ---- end obs_alert_resolved ----

	// ---- obs_slo_report and obs_anomaly_detected (docs/receipts.md §5; typecheck_derived.go) ----
	// obs_slo_report (period = the longest objective window, ending at the report boundary)
	SLOs          []SLOResult `json:"slos,omitempty"`
	OverallStatus string      `json:"overall_status,omitempty"`
	// obs_anomaly_detected (period = the observed window; service = the service evaluated)
	Metric          string           `json:"metric,omitempty"`
	DetectionMethod string           `json:"detection_method,omitempty"`
	Detector        *AnomalyDetector `json:"detector,omitempty"`
	ObservedValue   *Decimal         `json:"observed_value,omitempty"`
	ExpectedRange   *DecimalRange    `json:"expected_range,omitempty"`
	BaselineWindows uint64           `json:"baseline_windows,omitempty"`
	BaselineMean    *Decimal         `json:"baseline_mean,omitempty"`
	BaselineStddev  *Decimal         `json:"baseline_stddev,omitempty"`
	EffectiveSigma  *Decimal         `json:"effective_sigma,omitempty"`
	DeviationSigma  *Decimal         `json:"deviation_sigma,omitempty"`
	Direction       string           `json:"direction,omitempty"`
	// ---- end obs_slo_report and obs_anomaly_detected ----

	// obs_retention_applied (docs/receipts.md §13; retention.go)
	Removed        []RetentionRemoval `json:"removed,omitempty"`
	MaxBytes       uint64             `json:"max_bytes,omitempty"`
	DirectoryBytes uint64             `json:"directory_bytes,omitempty"`

	ServicesReporting []string `json:"services_reporting,omitempty"`
	NodesReporting    []string `json:"nodes_reporting,omitempty"`

	StoragePath string   `json:"storage_path,omitempty"`
	ContentHash string   `json:"content_hash"`
	MerkleRoot  string   `json:"merkle_root"`
	LeafCount   uint64   `json:"leaf_count"`
	Tags        []string `json:"tags"` // required: nil is written as []
	PrevHash    string   `json:"prev_hash"`
}

// FormatTime renders receipt timestamps: RFC 3339 UTC with nanoseconds trimmed of trailing zeros.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Marshal encodes a receipt as one line without the newline.
func (r *Receipt) Marshal() ([]byte, error) {
	c := *r
	if c.Tags == nil {
		c.Tags = []string{} // tags is a required field (§5): never null
	}
	// JSON writes invalid UTF-8 as U+FFFD, which can reorder or merge names: write the sorted, distinct set of
	// what the line will hold, so the line meets its invariant (§7.2).
	c.ServicesReporting, c.NodesReporting = sortedValidNames(c.ServicesReporting), sortedValidNames(c.NodesReporting)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func sortedValidNames(names []string) []string {
	if len(names) == 0 {
		return names
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.ToValidUTF8(n, "\uFFFD"))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// commonFields are the fields every receipt line carries (docs/receipts.md §5), storage_path aside.
var commonFields = []string{"type", "id", "seq", "timestamp", "workspace", "content_hash", "merkle_root", "leaf_count", "tags", "prev_hash"}

// ParseReceipt decodes one receipt line strictly: the line syntax of §5 (no duplicate keys, no null, compact,
// valid UTF-8), every common field present, no unknown fields, and the checks of the receipt's type. It does not
// check hashes against files or the chain.
func ParseReceipt(line []byte) (*Receipt, error) {
	if len(line) == 0 {
		return nil, errors.New("empty line")
	}
	keys, err := checkLineSyntax(line)
	if err != nil {
		return nil, err
	}
	present := make(map[string]bool, len(keys))
	for _, k := range keys {
		present[k] = true
	}
	for _, k := range commonFields {
		if !present[k] {
			return nil, fmt.Errorf("receipt line has no %q field (required on every receipt)", k)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var r Receipt
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("invalid receipt JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after receipt JSON")
	}
	if err := r.validate(present); err != nil {
		return nil, err
	}
	return &r, nil
}

// CheckTime accepts a time in the one spelling FormatTime writes: RFC 3339 in UTC ("Z"), with a fraction of
// second only when nonzero and without trailing zeros.
func CheckTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("time %q is not RFC 3339", s)
	}
	if FormatTime(t) != s {
		return t, fmt.Errorf("time %q is not canonical RFC 3339 UTC (want %s)", s, FormatTime(t))
	}
	return t, nil
}

func (r *Receipt) validate(present map[string]bool) error {
	if r.ID == "" {
		return errors.New("receipt has no id")
	}
	if _, err := CheckTime(r.Timestamp); err != nil {
		return fmt.Errorf("receipt %s: timestamp: %w", r.ID, err)
	}
	if _, err := ParseHash(r.ContentHash); err != nil {
		return fmt.Errorf("receipt %s: content_hash: %w", r.ID, err)
	}
	if _, err := ParseHash(r.MerkleRoot); err != nil {
		return fmt.Errorf("receipt %s: merkle_root: %w", r.ID, err)
	}
	if _, err := ParseHash(r.PrevHash); err != nil {
		return fmt.Errorf("receipt %s: prev_hash: %w", r.ID, err)
	}
	if r.LeafCount == 0 {
		return fmt.Errorf("receipt %s: leaf_count is 0", r.ID)
	}
	if err := checkTypedFields(r); err != nil {
		return fmt.Errorf("receipt %s: %w", r.ID, err)
	}
	if r.StoragePath != "" {
		if err := CheckStoragePath(r.StoragePath); err != nil {
			return fmt.Errorf("receipt %s: %w", r.ID, err)
		}
	}
	if allowed, core := coreTypeFields[r.Type]; core {
		for k := range present {
			if !allowed[k] {
				return fmt.Errorf("receipt %s: field %q does not belong to %s", r.ID, k, r.Type)
			}
		}
	}
	check, ok := typeChecks[r.Type]
	if !ok {
		return fmt.Errorf("receipt %s: unknown type %q", r.ID, r.Type)
	}
	if err := check(r); err != nil {
		return fmt.Errorf("receipt %s: %s: %w", r.ID, r.Type, err)
	}
	return nil
}
