package receipts

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// retScroll builds scrolls for the retention checks: log batches one minute apart, sealed at their window end.
type retScroll struct {
	*derivedScroll
	recs  []*Receipt
	lines [][]byte
}

func newRetScrollIn(t *testing.T, dir string) *retScroll {
	return &retScroll{derivedScroll: newDerivedScrollIn(t, dir)}
}

// logBatch seals a one-minute log batch of n records of severity sev (window i).
func (d *retScroll) logBatch(i, n int, sev plog.SeverityNumber) *Receipt {
	t := d.t
	start := d.start.Add(time.Duration(i) * time.Minute)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "guardian")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	var counts LogCounts
	for k := 0; k < n; k++ {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(k) * time.Second)))
		lr.SetSeverityNumber(sev)
		lr.Body().SetStr(fmt.Sprintf("cycle %d", k))
		counts.Add(int32(sev))
	}
	var leaves [][]byte
	require.NoError(t, EncodeLogs(ld, "tfo.workspace.id", func(r Record) error {
		leaves = append(leaves, r.Leaf)
		return nil
	}))
	r := &Receipt{Type: TypeLogBatch, ID: BatchID(SignalLogs, start), Timestamp: FormatTime(start.Add(time.Minute)), Workspace: "ws",
		Period: &Period{Start: FormatTime(start), End: FormatTime(start.Add(time.Minute))}, LogCounts: &counts, ServicesReporting: []string{"guardian"},
		Tags: []string{"observability", "logs"}}
	require.NoError(t, d.s.SealFile(BatchPath(SignalLogs, start, time.Minute), leaves, r))
	d.keep(r)
	return r
}

func (d *retScroll) keep(r *Receipt) {
	line, err := r.Marshal()
	require.NoError(d.t, err)
	d.recs, d.lines = append(d.recs, r), append(d.lines, line)
}

// removal is the obs_retention_applied receipt removing batches (by index in recs) at at, for retain and reason.
func (d *retScroll) removal(at time.Time, retain, reason string, idx ...int) *Receipt {
	r := &Receipt{Type: TypeRetentionApplied, Timestamp: FormatTime(at), Workspace: "ws", Tags: []string{"observability", "retention"}}
	var hs [][]byte
	for _, i := range idx {
		b := d.recs[i]
		r.Removed = append(r.Removed, RetentionRemoval{ReceiptID: b.ID, StoragePath: b.StoragePath, MerkleRoot: b.MerkleRoot,
			Class: RetentionClass(b), Retain: retain, Reason: reason})
		hs = append(hs, merkle.BLAKE3.HashLeaf(d.lines[i]))
	}
	r.ID = RetentionID(r.Removed[0].ReceiptID)
	if reason == ReasonMaxBytes {
		r.MaxBytes, r.DirectoryBytes = 1000, 1500
	}
	r.ContentHash, r.MerkleRoot, r.LeafCount = DerivedCommitment(hs)
	return r
}

// remove appends r and deletes its files (record, then delete: what the exporter does).
func (d *retScroll) remove(r *Receipt) {
	d.append(r)
	for _, m := range r.Removed {
		require.NoError(d.t, os.Remove(filepath.Join(d.dir, filepath.FromSlash(m.StoragePath))))
	}
}

func (d *retScroll) deleteFile(i int) {
	require.NoError(d.t, os.Remove(filepath.Join(d.dir, filepath.FromSlash(d.recs[i].StoragePath))))
}

// threeBatches: info logs (0), error logs (1), info logs (2).
func threeBatches(d *retScroll) {
	d.logBatch(0, 5, plog.SeverityNumberInfo)
	d.logBatch(1, 3, plog.SeverityNumberError)
	d.logBatch(2, 4, plog.SeverityNumberInfo)
}

var updateRetentionVectors = flag.Bool("update-retention-vectors", false, "rewrite testdata/conformance/retention")

const retentionVectorsDir = "testdata/conformance/retention"

// retentionVectors: testdata/conformance/retention/<name>/ is a scroll and EXPECT says "ok" or "fail: <text>",
// as for the derived vectors.
var retentionVectors = map[string]struct {
	expect string
	build  func(d *retScroll)
}{
	"valid-expired-removal": {"ok", func(d *retScroll) {
		threeBatches(d)
		d.remove(d.removal(derivedBase.Add(61*time.Minute), "1h", ReasonExpired, 0))
		d.remove(d.removal(derivedBase.Add(63*time.Minute), "1h", ReasonExpired, 2))
	}},
	"valid-max-bytes-removal": {"ok", func(d *retScroll) {
		threeBatches(d)
		d.remove(d.removal(derivedBase.Add(5*time.Minute), "1h", ReasonMaxBytes, 0, 2))
	}},
	"valid-removal-of-an-slo-report-source": {"ok", func(d *retScroll) {
		for i, n := range vectorBatches[:3] {
			d.traceBatch(n, i%2, []SLOIndicator{availability()})
		}
		d.append(d.sloReport(nil))
		for i := range d.hashes {
			d.keepLine(i)
		}
		d.remove(d.removal(derivedBase.Add(2*time.Hour), "1h", ReasonExpired, 0))
	}},
	"missing-without-removal": {"fail: MISSING", func(d *retScroll) {
		threeBatches(d)
		d.deleteFile(1)
	}},
	"removed-file-still-present": {"fail: but still present", func(d *retScroll) {
		threeBatches(d)
		d.append(d.removal(derivedBase.Add(61*time.Minute), "1h", ReasonExpired, 0))
	}},
	"removed-before-its-retention": {"fail: before its retention ran out", func(d *retScroll) {
		threeBatches(d)
		d.remove(d.removal(derivedBase.Add(30*time.Minute), "1h", ReasonExpired, 0))
	}},
	"error-logs-removed-as-logs": {"fail: is of class error_logs", func(d *retScroll) {
		threeBatches(d)
		r := d.removal(derivedBase.Add(2*time.Hour), "1h", ReasonExpired, 1)
		r.Removed[0].Class = ClassLogs
		d.remove(r)
	}},
	"removal-commits-to-another-line": {"fail: do not commit to the receipt lines", func(d *retScroll) {
		threeBatches(d)
		r := d.removal(derivedBase.Add(2*time.Hour), "1h", ReasonExpired, 0)
		r.ContentHash, r.MerkleRoot, r.LeafCount = DerivedCommitment([][]byte{merkle.BLAKE3.HashLeaf(d.lines[1])})
		d.remove(r)
	}},
	"removed-twice": {"fail: was already removed by receipt line 4", func(d *retScroll) {
		threeBatches(d)
		d.remove(d.removal(derivedBase.Add(2*time.Hour), "1h", ReasonExpired, 1))
		d.append(d.removal(derivedBase.Add(3*time.Hour), "1h", ReasonExpired, 0, 1))
		d.deleteFile(0)
	}},
}

// keepLine records the receipt of line i (read back from the scroll) so a removal can name it.
func (d *retScroll) keepLine(i int) {
	lines, err := ScrollLines(d.dir)
	require.NoError(d.t, err)
	r, err := ParseReceipt(lines[i])
	require.NoError(d.t, err)
	d.recs, d.lines = append(d.recs, r), append(d.lines, lines[i])
}

func buildRetentionVector(t *testing.T, dir string, build func(*retScroll)) {
	require.NoError(t, os.RemoveAll(dir))
	build(newRetScrollIn(t, dir))
}

func TestRetentionConformanceVectors(t *testing.T) {
	runScrollVectors(t, retentionVectorsDir, *updateRetentionVectors, "TestRetentionConformanceVectors -update-retention-vectors", retentionVectors, buildRetentionVector)
}

// verify lists the files removed by retention with the receipt that removed them, and the derived receipts it
// could not recount.
func TestVerifyReportsRemovedFiles(t *testing.T) {
	d := newRetScrollIn(t, filepath.Join(t.TempDir(), "ws"))
	threeBatches(d)
	d.remove(d.removal(derivedBase.Add(2*time.Hour), "1h", ReasonExpired, 0, 1))
	rep, err := VerifyScroll(d.dir, VerifyOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Removed, 2)
	require.Equal(t, RemovedFile{StoragePath: d.recs[0].StoragePath, ReceiptID: d.recs[0].ID, Line: 4, RemovalID: RetentionID(d.recs[0].ID),
		At: FormatTime(derivedBase.Add(2 * time.Hour)), Reason: ReasonExpired}, rep.Removed[0])
	require.EqualValues(t, 4, rep.Records, "only the records still on disk are verified")
	require.Empty(t, rep.Unsealed)
}

// The receipt-only checks of obs_retention_applied.
func TestRetentionTypeCheck(t *testing.T) {
	d := newRetScrollIn(t, filepath.Join(t.TempDir(), "ws"))
	threeBatches(d)
	good := d.removal(derivedBase.Add(2*time.Hour), "1h", ReasonExpired, 0)
	for name, tc := range map[string]struct {
		mutate func(*Receipt)
		want   string
	}{
		"ok":                  {func(*Receipt) {}, ""},
		"id":                  {func(r *Receipt) { r.ID = "retention-x" }, "id must be"},
		"leaf count":          {func(r *Receipt) { r.LeafCount = 2 }, "leaf_count 2 but 1 removals"},
		"retain spelling":     {func(r *Receipt) { r.Removed[0].Retain = "60m" }, "not forever or a canonical"},
		"forever not early":   {func(r *Receipt) { r.Removed[0].Retain = RetainForever }, "retain forever, but reason"},
		"reason":              {func(r *Receipt) { r.Removed[0].Reason = "cleanup" }, "is not expired or max_bytes"},
		"class":               {func(r *Receipt) { r.Removed[0].Class = "audit" }, "unknown class"},
		"max bytes unneeded":  {func(r *Receipt) { r.MaxBytes = 5 }, "exactly when a removal has reason max_bytes"},
		"other type's fields": {func(r *Receipt) { r.Service = "x" }, "fields of another receipt type"},
		"storage path":        {func(r *Receipt) { r.StoragePath = "telemetry/x" }, "has storage_path"},
		"path escapes":        {func(r *Receipt) { r.Removed[0].StoragePath = "../x" }, "invalid or repeated"},
	} {
		t.Run(name, func(t *testing.T) {
			r := *good
			r.Removed = append([]RetentionRemoval(nil), good.Removed...)
			tc.mutate(&r)
			r.PrevHash = ZeroHash
			line, err := r.Marshal()
			require.NoError(t, err)
			_, err = ParseReceipt(line)
			if tc.want == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tc.want)
			}
		})
	}
}

// A derived receipt whose source batch files retention removed is not recounted (its commitment is still checked)
// and is listed.
func TestVerifyListsDerivedReceiptsNotRecounted(t *testing.T) {
	rep, err := VerifyScroll(filepath.Join(retentionVectorsDir, "valid-removal-of-an-slo-report-source"), VerifyOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{SLOReportID(derivedBase.Add(3 * time.Minute))}, rep.NotRechecked)
	require.Len(t, rep.Removed, 1)
}
