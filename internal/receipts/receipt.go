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

	// ---- derived receipts (slo.go, anomaly.go): computed from sealed batches ----
	TypeSLOReport       = "obs_slo_report"
	TypeAnomalyDetected = "obs_anomaly_detected"
	// ---- end derived receipts ----

	// TypeRetentionApplied records batch files removed by retention (retention.go).
	TypeRetentionApplied = "obs_retention_applied"
)

// Types lists every receipt type the exporter writes; readers (query, verify) take the set from here.
var Types = []string{
	TypeLogBatch, TypeMetricSnapshot, TypeTraceBatch, TypeTraceComplete, TypeAlertFired,
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

	// obs_retention_applied (docs/receipts.md §12; retention.go)
	Removed        []RetentionRemoval `json:"removed,omitempty"`
	MaxBytes       uint64             `json:"max_bytes,omitempty"`
	DirectoryBytes uint64             `json:"directory_bytes,omitempty"`

	ServicesReporting []string `json:"services_reporting,omitempty"`
	NodesReporting    []string `json:"nodes_reporting,omitempty"`

	StoragePath string   `json:"storage_path,omitempty"`
	ContentHash string   `json:"content_hash"`
	MerkleRoot  string   `json:"merkle_root"`
	LeafCount   uint64   `json:"leaf_count"`
	Tags        []string `json:"tags,omitempty"`
	PrevHash    string   `json:"prev_hash"`
}

// FormatTime renders receipt timestamps: RFC 3339 UTC with nanoseconds trimmed of trailing zeros.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Marshal encodes a receipt as one line without the newline.
func (r *Receipt) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ParseReceipt decodes one receipt line strictly: unknown fields, trailing data and missing required fields are
// errors. It does not check hashes against files or the chain.
func ParseReceipt(line []byte) (*Receipt, error) {
	if len(line) == 0 {
		return nil, errors.New("empty line")
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
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *Receipt) validate() error {
	if r.ID == "" {
		return errors.New("receipt has no id")
	}
	if _, err := time.Parse(time.RFC3339Nano, r.Timestamp); err != nil {
		return fmt.Errorf("receipt %s: bad timestamp: %w", r.ID, err)
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
	switch r.Type {
	case TypeLogBatch, TypeMetricSnapshot, TypeTraceBatch:
		if r.Period == nil {
			return fmt.Errorf("receipt %s: %s without period", r.ID, r.Type)
		}
		for _, ts := range []string{r.Period.Start, r.Period.End} {
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				return fmt.Errorf("receipt %s: bad period: %w", r.ID, err)
			}
		}
		if r.StoragePath == "" {
			return fmt.Errorf("receipt %s: %s without storage_path", r.ID, r.Type)
		}
		if r.Type == TypeLogBatch && (r.LogCounts == nil || r.LogCounts.Total() != r.LeafCount) {
			return fmt.Errorf("receipt %s: log_counts do not add up to leaf_count %d", r.ID, r.LeafCount)
		}
	case TypeTraceComplete:
		if r.StoragePath == "" || r.TraceID == "" {
			return fmt.Errorf("receipt %s: obs_trace_complete needs trace_id and storage_path", r.ID)
		}
	case TypeAlertFired:
		if len(r.Record) == 0 || r.LeafCount != 1 || r.StoragePath != "" {
			return fmt.Errorf("receipt %s: obs_alert_fired carries exactly one embedded record", r.ID)
		}
	default:
		check, ok := typeChecks[r.Type]
		if !ok {
			return fmt.Errorf("receipt %s: unknown type %q", r.ID, r.Type)
		}
		if err := check(r); err != nil {
			return fmt.Errorf("receipt %s: %s: %w", r.ID, r.Type, err)
		}
	}
	if r.StoragePath != "" {
		if err := CheckStoragePath(r.StoragePath); err != nil {
			return fmt.Errorf("receipt %s: %w", r.ID, err)
		}
	}
	return nil
}
