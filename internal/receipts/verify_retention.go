package receipts

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// RemovedFile is a batch file verify found removed by retention, as an obs_retention_applied receipt records.
type RemovedFile struct {
	StoragePath string
	ReceiptID   string // the batch's receipt
	Line        int    // 1-based line of the obs_retention_applied receipt
	RemovalID   string // its id
	At          string // its timestamp: when the removal was recorded
	Reason      string
}

// retentionCheck verifies obs_retention_applied receipts (docs/receipts.md §13) and tells a batch file removed by
// retention from a missing one. A removal is recorded after the batch, so the log is read ahead once for them.
type retentionCheck struct {
	dir      string
	removals map[string]*removalRef // storage_path -> the first obs_retention_applied line naming it
	batches  map[string]*retBatch   // receipt id -> an earlier receipt with a batch file
	removed  []RemovedFile
}

type removalRef struct {
	line   int
	id, at string
	reason string
}

type retBatch struct {
	line      int
	r         *Receipt
	lineHash  []byte
	removedBy int
}

func newRetentionCheck(dir string, lines [][]byte) *retentionCheck {
	c := &retentionCheck{dir: dir, removals: map[string]*removalRef{}, batches: map[string]*retBatch{}}
	marker := []byte(`"` + TypeRetentionApplied + `"`)
	for i, line := range lines {
		if !bytes.Contains(line, marker) {
			continue // parsing every line twice would double verify's JSON work
		}
		r, err := ParseReceipt(line)
		if err != nil || r.Type != TypeRetentionApplied {
			continue // the main pass reports lines that do not parse
		}
		for _, m := range r.Removed {
			if _, ok := c.removals[m.StoragePath]; !ok {
				c.removals[m.StoragePath] = &removalRef{line: i + 1, id: r.ID, at: r.Timestamp, reason: m.Reason}
			}
		}
	}
	return c
}

// isRemoved reports whether a later obs_retention_applied receipt removed the file at storage (and it is gone).
func (c *retentionCheck) isRemoved(storage string) bool {
	if c.removals[storage] == nil {
		return false
	}
	_, err := os.Stat(filepath.Join(c.dir, filepath.FromSlash(storage)))
	return os.IsNotExist(err)
}

// check handles line ln: an obs_retention_applied receipt, or a receipt whose batch file a later one removed. It
// fails a batch file that is absent without such a record (MISSING) or present although recorded as removed.
// handled is false when the receipt's content is still to be verified from its file.
func (c *retentionCheck) check(r *Receipt, line []byte, ln int) (handled bool, err error) {
	if r.Type == TypeRetentionApplied {
		return true, c.checkRemoval(r, ln)
	}
	if r.StoragePath == "" {
		return false, nil
	}
	if RetentionClass(r) != "" {
		c.batches[r.ID] = &retBatch{line: ln, r: r, lineHash: merkle.BLAKE3.HashLeaf(line)}
	}
	ref := c.removals[r.StoragePath]
	_, statErr := os.Stat(filepath.Join(c.dir, filepath.FromSlash(r.StoragePath)))
	if ref != nil && ref.line > ln {
		if statErr == nil {
			return true, fail(r.StoragePath, 0, -1, "recorded as removed by retention (receipt line %d, %s at %s) but still present: the removal was not completed (the exporter completes it when it starts) or the file was put back",
				ref.line, ref.id, ref.at)
		}
		if !os.IsNotExist(statErr) {
			return true, fail(r.StoragePath, 0, -1, "referenced by receipt line %d (%s): %v", ln, r.ID, statErr)
		}
		c.removed = append(c.removed, RemovedFile{StoragePath: r.StoragePath, ReceiptID: r.ID, Line: ref.line, RemovalID: ref.id,
			At: ref.at, Reason: ref.reason})
		return true, nil
	}
	if os.IsNotExist(statErr) {
		return true, fail(r.StoragePath, 0, -1, "MISSING: the batch file of receipt line %d (%s) is absent and no obs_retention_applied receipt records its removal", ln, r.ID)
	}
	return false, nil
}

// checkRemoval checks an obs_retention_applied receipt against the batch receipts before it: each removal names
// an earlier batch receipt (same storage_path and merkle_root, its class, not removed before, in log order), an
// expired one was sealed at least its retention before the removal, and the receipt commits to those batch lines.
func (c *retentionCheck) checkRemoval(r *Receipt, ln int) error {
	at, err := time.Parse(time.RFC3339Nano, r.Timestamp)
	if err != nil {
		return fail(ReceiptsFile, ln, -1, "%s: bad timestamp", r.ID)
	}
	hs := make([][]byte, 0, len(r.Removed))
	last := 0
	for i, m := range r.Removed {
		b := c.batches[m.ReceiptID]
		if b == nil {
			return fail(ReceiptsFile, ln, -1, "%s: removed[%d] names %s, which is no earlier receipt with a batch file", r.ID, i, m.ReceiptID)
		}
		if b.r.StoragePath != m.StoragePath || b.r.MerkleRoot != m.MerkleRoot {
			return fail(ReceiptsFile, ln, -1, "%s: removed[%d] storage_path or merkle_root differ from receipt line %d (%s)", r.ID, i, b.line, m.ReceiptID)
		}
		if cls := RetentionClass(b.r); m.Class != cls {
			return fail(ReceiptsFile, ln, -1, "%s: removed[%d] class %s, but receipt line %d (%s) is of class %s", r.ID, i, m.Class, b.line, m.ReceiptID, cls)
		}
		if b.removedBy != 0 {
			return fail(ReceiptsFile, ln, -1, "%s: removed[%d] %s was already removed by receipt line %d", r.ID, i, m.StoragePath, b.removedBy)
		}
		if b.line <= last {
			return fail(ReceiptsFile, ln, -1, "%s: removals are not in the order of their receipt lines", r.ID)
		}
		last = b.line
		sealed, _ := time.Parse(time.RFC3339Nano, b.r.Timestamp)
		retain, _ := ParseWindow(m.Retain)
		switch {
		case m.Reason == ReasonExpired && at.Before(sealed.Add(retain)):
			return fail(ReceiptsFile, ln, -1, "%s: removed[%d] %s removed at %s before its retention ran out (sealed %s + retain %s)",
				r.ID, i, m.StoragePath, r.Timestamp, b.r.Timestamp, m.Retain)
		case at.Before(sealed):
			return fail(ReceiptsFile, ln, -1, "%s: removed[%d] %s removed at %s, before it was sealed (%s)", r.ID, i, m.StoragePath, r.Timestamp, b.r.Timestamp)
		}
		hs = append(hs, b.lineHash)
	}
	content, root, n := DerivedCommitment(hs)
	if n != r.LeafCount || root != r.MerkleRoot || content != r.ContentHash {
		return fail(ReceiptsFile, ln, -1, "%s: leaf_count, merkle_root or content_hash do not commit to the receipt lines of the batches it removes", r.ID)
	}
	for _, m := range r.Removed {
		c.batches[m.ReceiptID].removedBy = ln
	}
	return nil
}

// withoutSources handles a derived receipt some of whose source batch files retention removed: what can be
// checked without them is (the SLO report's commitment to the batch lines of its period; that an anomaly's
// window has a batch), the counts are not recounted, and the receipt is listed in notRechecked. ok is false when
// every source is present (the full check applies).
func (c *derivedCheck) withoutSources(r *Receipt, ln int) (ok bool, err error) {
	if c.removed == nil {
		return false, nil
	}
	start, end, _ := parsePeriod(r.Period)
	var sources []*verBatch
	if r.Type == TypeSLOReport {
		for _, b := range c.batches {
			if b.signal == SignalTraces && !b.start.Before(start) && !b.end.After(end) {
				sources = append(sources, b)
			}
		}
	} else {
		// The anomaly's history: the latest detector.history window starts before its window, and the window.
		var starts []time.Time
		for _, b := range c.batches {
			if b.start.Before(start) && !slices.ContainsFunc(starts, b.start.Equal) {
				starts = append(starts, b.start)
			}
		}
		slices.SortFunc(starts, time.Time.Compare)
		if h := int(r.Detector.History); len(starts) > h {
			starts = starts[len(starts)-h:]
		}
		sig := MetricSignal(r.Metric)
		for _, b := range c.batches {
			if b.signal == sig && (b.start.Equal(start) || slices.ContainsFunc(starts, b.start.Equal)) {
				sources = append(sources, b)
			}
		}
	}
	if !slices.ContainsFunc(sources, func(b *verBatch) bool { return c.removed(b.storage) }) {
		return false, nil
	}
	if r.Type == TypeSLOReport {
		if err := c.checkCommitment(r, ln, sources, "the obs_trace_batch receipts inside its period"); err != nil {
			return true, err
		}
	} else if !slices.ContainsFunc(c.batches, func(b *verBatch) bool { return b.start.Equal(start) && b.end.Equal(end) }) {
		return true, fail(ReceiptsFile, ln, -1, "%s: no batch receipt before it has its period", r.ID)
	}
	c.notRechecked = append(c.notRechecked, r.ID)
	return true, nil
}
