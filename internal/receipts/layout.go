package receipts

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// Scroll layout, relative to a workspace's scroll directory (<directory>/<workspace dir>/).
const (
	ReceiptsFile = "receipts/observability/observability_events.jsonl"
	RootFile     = "ROOT.observability.txt"
	// BatchExt is the extension of batch files: uvarint-length-delimited leaf bytes.
	BatchExt = ".binpb"
)

// Signals as they appear in storage paths and receipt ids.
const (
	SignalLogs    = "logs"
	SignalMetrics = "metrics"
	SignalTraces  = "traces"
)

var plainWorkspace = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$`)

// DefaultWorkspace names data without a workspace attribute.
const DefaultWorkspace = "~default"

// WorkspaceDir maps a workspace id to its directory name: itself when it is a plain name, otherwise "~" and the
// first 32 hex digits of its BLAKE3 hash (so no id can escape the directory or collide with a plain name).
func WorkspaceDir(workspace string) string {
	if workspace == "" {
		return DefaultWorkspace
	}
	if plainWorkspace.MatchString(workspace) {
		return workspace
	}
	s := merkle.Sum([]byte(workspace))
	return "~" + hex.EncodeToString(s[:16])
}

// BatchPath is the storage path of a window's batch file: telemetry/<signal>/<YYYY-MM-DD>/hour-HH.binpb for
// hourly windows, hour-HH-MM-SS.binpb for shorter ones.
func BatchPath(signal string, start time.Time, interval time.Duration) string {
	start = start.UTC()
	name := start.Format("hour-15")
	if interval != time.Hour {
		name = start.Format("hour-15-04-05")
	}
	return path.Join("telemetry", signal, start.Format("2006-01-02"), name+BatchExt)
}

// TracePath is the storage path of an obs_trace_complete trace file.
func TracePath(traceID string, end time.Time) string {
	return path.Join("telemetry", "traces", "complete", end.UTC().Format("2006-01-02"), "trace-"+traceID+BatchExt)
}

// CheckStoragePath rejects storage paths that could point outside the scroll directory.
func CheckStoragePath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." ||
		strings.Contains(p, "\\") || !strings.HasPrefix(p, "telemetry/") {
		return fmt.Errorf("storage_path %q must be a clean relative path under telemetry/", p)
	}
	return nil
}

// BatchID is the receipt id of a window batch: "<signal>-<start RFC 3339>".
func BatchID(signal string, start time.Time) string {
	return signal + "-" + start.UTC().Format(time.RFC3339)
}

// AppendRecord appends one leaf to a batch file body: uvarint(len) ‖ leaf.
func AppendRecord(dst, leaf []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(leaf)))
	return append(dst, leaf...)
}

// MaxRecordSize bounds one record in a batch file.
const MaxRecordSize = 64 << 20

// RecordError names the record of a batch file that could not be read.
type RecordError struct {
	Index  int
	Offset int
	Err    error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record %d (byte offset %d): %v", e.Index, e.Offset, e.Err)
}

// ReadRecords splits a batch file body into its leaves (sub-slices of data).
func ReadRecords(data []byte) ([][]byte, error) { return readRecords(data, 0) }

// readRecords takes the expected record count as a capacity hint.
func readRecords(data []byte, hint int) ([][]byte, error) {
	out := make([][]byte, 0, hint)
	for off := 0; off < len(data); {
		n, w := binary.Uvarint(data[off:])
		if w <= 0 {
			return out, &RecordError{Index: len(out), Offset: off, Err: errors.New("bad length prefix")}
		}
		if n > MaxRecordSize || uint64(len(data)-off-w) < n {
			return out, &RecordError{Index: len(out), Offset: off, Err: fmt.Errorf("length %d runs past the end of the file", n)}
		}
		if enc := binary.AppendUvarint(nil, n); len(enc) != w {
			return out, &RecordError{Index: len(out), Offset: off, Err: errors.New("non-minimal length prefix")}
		}
		out = append(out, data[off+w:off+w+int(n)])
		off += w + int(n)
	}
	return out, nil
}
