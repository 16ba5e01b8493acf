package receipts

import (
	"errors"
	"fmt"
)

// Retention (docs/receipts.md §13): sealed batch files may be removed once their class's retention has passed
// (or early, to keep the exporter directory under max_bytes). The removal is itself a receipt,
// obs_retention_applied, appended and fsynced before any file is deleted, so the receipt log and ROOT stay
// complete and a removed file is told apart from a missing one.

// Retention classes of batch files, from their receipt's type and content.
const (
	ClassLogs              = "logs"               // obs_log_batch without error or fatal records
	ClassErrorLogs         = "error_logs"         // obs_log_batch with at least one error or fatal record
	ClassMetrics           = "metrics"            // obs_metric_snapshot
	ClassTraces            = "traces"             // obs_trace_batch
	ClassSignificantTraces = "significant_traces" // obs_trace_complete
)

// RetentionClasses lists every class, in the order configuration and documentation name them.
var RetentionClasses = []string{ClassLogs, ClassErrorLogs, ClassMetrics, ClassTraces, ClassSignificantTraces}

// Reasons a batch file is removed.
const (
	ReasonExpired  = "expired"   // its class's retention passed since it was sealed
	ReasonMaxBytes = "max_bytes" // removed early to keep the exporter directory under max_bytes
)

// RetainForever is the retain of a removal from a class kept forever (only ever removed for max_bytes).
const RetainForever = "forever"

// RetentionRemoval is one batch file an obs_retention_applied receipt removes.
type RetentionRemoval struct {
	ReceiptID   string `json:"receipt_id"`
	StoragePath string `json:"storage_path"`
	MerkleRoot  string `json:"merkle_root"`
	Class       string `json:"class"`
	Retain      string `json:"retain"`
	Reason      string `json:"reason"`
}

// RetentionClass is the retention class of a receipt's batch file ("" for receipts without one).
func RetentionClass(r *Receipt) string {
	switch r.Type {
	case TypeLogBatch:
		if r.LogCounts != nil && r.LogCounts.Error+r.LogCounts.Fatal > 0 {
			return ClassErrorLogs
		}
		return ClassLogs
	case TypeMetricSnapshot:
		return ClassMetrics
	case TypeTraceBatch:
		return ClassTraces
	case TypeTraceComplete:
		return ClassSignificantTraces
	}
	return ""
}

// RetentionID is the id of the obs_retention_applied receipt whose first removal is the batch of receipt first: a
// batch file is removed once, so the id is unique and the same when a crashed sweep is made again.
func RetentionID(first string) string { return "retention-" + first }

func init() { RegisterTypeCheck(TypeRetentionApplied, checkRetention) }

// checkRetention checks what an obs_retention_applied receipt says by itself; verify_retention.go checks it
// against the receipts before it and the files.
func checkRetention(r *Receipt) error {
	if r.StoragePath != "" || len(r.Record) > 0 || r.Period != nil {
		return errors.New("has storage_path, record or period")
	}
	if r.LogCounts != nil || r.MetricsCollected != 0 || r.MetricNames != 0 || len(r.DataPointTypes) > 0 || r.SpanCount != 0 ||
		r.TraceCount != 0 || r.ErrorSpans != 0 || r.TraceID != "" || r.Name != "" || r.DurationMs != 0 || r.Status != "" ||
		r.Severity != "" || r.Node != "" || r.Service != "" || r.EventTime != "" || r.Description != "" ||
		len(r.ServicesReporting) > 0 || len(r.NodesReporting) > 0 || len(r.SLOs) > 0 || r.OverallStatus != "" ||
		r.Metric != "" || r.DetectionMethod != "" || r.Detector != nil || r.ObservedValue != nil || r.ExpectedRange != nil ||
		r.BaselineWindows != 0 || r.BaselineMean != nil || r.BaselineStddev != nil || r.EffectiveSigma != nil ||
		r.DeviationSigma != nil || r.Direction != "" {
		return errors.New("has fields of another receipt type")
	}
	if len(r.Removed) == 0 {
		return errors.New("removes nothing")
	}
	if uint64(len(r.Removed)) != r.LeafCount {
		return fmt.Errorf("leaf_count %d but %d removals (one leaf per removed batch's receipt line)", r.LeafCount, len(r.Removed))
	}
	if r.ID != RetentionID(r.Removed[0].ReceiptID) {
		return fmt.Errorf("id must be %s", RetentionID(r.Removed[0].ReceiptID))
	}
	early := false
	ids, paths := map[string]bool{}, map[string]bool{}
	for i, m := range r.Removed {
		if m.ReceiptID == "" || ids[m.ReceiptID] {
			return fmt.Errorf("removed[%d]: receipt_id empty or repeated", i)
		}
		if err := CheckStoragePath(m.StoragePath); err != nil || paths[m.StoragePath] {
			return fmt.Errorf("removed[%d]: storage_path %q invalid or repeated", i, m.StoragePath)
		}
		ids[m.ReceiptID], paths[m.StoragePath] = true, true
		if _, err := ParseHash(m.MerkleRoot); err != nil {
			return fmt.Errorf("removed[%d]: merkle_root: %w", i, err)
		}
		if !validClass(m.Class) {
			return fmt.Errorf("removed[%d]: unknown class %q", i, m.Class)
		}
		if m.Retain == RetainForever {
			if m.Reason != ReasonMaxBytes {
				return fmt.Errorf("removed[%d]: retain forever, but reason %q", i, m.Reason)
			}
		} else if d, err := ParseWindow(m.Retain); err != nil || FormatWindow(d) != m.Retain {
			return fmt.Errorf("removed[%d]: retain %q is not forever or a canonical <n>d, <n>h, <n>m or <n>s", i, m.Retain)
		}
		switch m.Reason {
		case ReasonExpired:
		case ReasonMaxBytes:
			early = true
		default:
			return fmt.Errorf("removed[%d]: reason %q is not %s or %s", i, m.Reason, ReasonExpired, ReasonMaxBytes)
		}
	}
	if early != (r.MaxBytes > 0) || early != (r.DirectoryBytes > 0) {
		return errors.New("max_bytes and directory_bytes are given exactly when a removal has reason max_bytes")
	}
	if early && r.DirectoryBytes <= r.MaxBytes {
		return fmt.Errorf("directory_bytes %d is not above max_bytes %d", r.DirectoryBytes, r.MaxBytes)
	}
	return nil
}

func validClass(c string) bool {
	for _, k := range RetentionClasses {
		if k == c {
			return true
		}
	}
	return false
}
