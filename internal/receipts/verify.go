package receipts

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"golang.org/x/mod/sumdb/note"

	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// Failure names the place verification failed: a file, and where known a receipt line (1-based) or a record
// index (0-based) inside a batch file.
type Failure struct {
	File   string
	Line   int
	Record int
	Msg    string
}

func (f *Failure) Error() string {
	place := f.File
	if f.Line > 0 {
		place += fmt.Sprintf(" line %d", f.Line)
	}
	if f.Record >= 0 {
		place += fmt.Sprintf(" record %d", f.Record)
	}
	return place + ": " + f.Msg
}

func fail(file string, line, record int, format string, args ...any) *Failure {
	return &Failure{File: file, Line: line, Record: record, Msg: fmt.Sprintf(format, args...)}
}

// ScrollReport summarises a verified scroll.
type ScrollReport struct {
	Dir      string
	Origin   string
	Receipts uint64
	Records  uint64
	Signed   bool
	Verified bool // the origin signature was checked with VerifyOptions.Verifier
	// Signatures are ROOT's signature lines: the origin's first, then witness cosignatures (Verified when checked).
	Signatures []checkpoint.Signature
	Unsealed   []string // files under telemetry/ no receipt refers to (left by a crash before the receipt)
	// Removed are the batch files removed by retention, as obs_retention_applied receipts record (verify_retention.go).
	Removed []RemovedFile
	// NotRechecked are derived receipts whose counts were not recounted: retention removed source batch files.
	NotRechecked []string
}

// FindScrolls returns dir itself when it is a scroll, otherwise its immediate subdirectories that are scrolls.
func FindScrolls(dir string) ([]string, error) {
	if isScroll(dir) {
		return []string{dir}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && isScroll(filepath.Join(dir, e.Name())) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no scroll found (no %s here or in a subdirectory)", dir, ReceiptsFile)
	}
	return out, nil
}

func isScroll(dir string) bool {
	_, err1 := os.Stat(filepath.Join(dir, ReceiptsFile))
	_, err2 := os.Stat(filepath.Join(dir, RootFile))
	return err1 == nil || err2 == nil
}

// DefaultOriginPrefix is the exporter's default origin; a scroll's checkpoint origin is "<prefix>/<workspace dir>".
const DefaultOriginPrefix = "tfocol/observability"

// VerifyOptions tune VerifyScroll.
type VerifyOptions struct {
	// Verifier, when set, requires the first ROOT signature line to be a valid signature by this key.
	Verifier note.Verifier
	// Witnesses, when set, each require a valid cosignature (a later signature line) by that key.
	Witnesses []note.Verifier
	// OriginPrefix is the expected origin prefix (DefaultOriginPrefix when empty).
	OriginPrefix string
}

// VerifyScroll re-hashes every batch file, recomputes every Merkle root, the receipt chain and ROOT, and checks
// the ROOT origin and signature. Paths in failures are relative to dir.
func VerifyScroll(dir string, opts VerifyOptions) (*ScrollReport, error) {
	verifier := opts.Verifier
	prefix := opts.OriginPrefix
	if prefix == "" {
		prefix = DefaultOriginPrefix
	}
	workspace, haveWorkspace := "", false
	rep := &ScrollReport{Dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, ReceiptsFile))
	if err != nil {
		return rep, fail(ReceiptsFile, 0, -1, "%v", err)
	}
	lines, tail := SplitLines(data)
	if len(tail) > 0 {
		return rep, fail(ReceiptsFile, len(lines)+1, -1, "torn last line (%d bytes without newline)", len(tail))
	}
	lineHashes := make([][]byte, len(lines))
	prev := ZeroHash
	ids := map[string]int{}
	referenced := map[string]bool{}
	derived := newDerivedCheck(dir)
	alerts := newAlertCheck()
	retention := newRetentionCheck(dir, lines)
	derived.removed = retention.isRemoved
	for i, line := range lines {
		ln := i + 1
		r, err := ParseReceipt(line)
		if err != nil {
			return rep, fail(ReceiptsFile, ln, -1, "%v", err)
		}
		if r.Seq != uint64(i) {
			return rep, fail(ReceiptsFile, ln, -1, "seq is %d, want %d", r.Seq, i)
		}
		if r.PrevHash != prev {
			return rep, fail(ReceiptsFile, ln, -1, "prev_hash %s does not match the hash of line %d (%s): line %d or line %d was altered", r.PrevHash, i, prev, i, ln)
		}
		if !haveWorkspace {
			workspace, haveWorkspace = r.Workspace, true
		} else if r.Workspace != workspace {
			return rep, fail(ReceiptsFile, ln, -1, "workspace %q differs from %q of line 1", r.Workspace, workspace)
		}
		if first, dup := ids[r.ID]; dup {
			return rep, fail(ReceiptsFile, ln, -1, "id %s already used on line %d", r.ID, first)
		}
		ids[r.ID] = ln
		if isDerived(r.Type) {
			if err := derived.check(r, ln); err != nil {
				return rep, err
			}
		} else if isAlert(r.Type) {
			if err := alerts.check(r, ln); err != nil {
				return rep, err
			}
			rep.Records += r.LeafCount
		} else if handled, err := retention.check(r, line, ln); err != nil {
			return rep, err
		} else if handled {
			// an obs_retention_applied receipt, or a batch whose file it removed: nothing to read
		} else if err := verifyReceiptContent(dir, r, ln); err != nil {
			return rep, err
		} else {
			rep.Records += r.LeafCount // derived receipts' leaves are receipt lines, not records
		}
		derived.add(r, line)
		if r.StoragePath != "" {
			referenced[r.StoragePath] = true
		}
		prev = LineHash(line)
		lineHashes[i] = merkle.BLAKE3.HashLeaf(line)
	}
	rep.Receipts = uint64(len(lines))
	rep.Removed, rep.NotRechecked = retention.removed, derived.notRechecked

	raw, err := os.ReadFile(filepath.Join(dir, RootFile))
	if err != nil {
		return rep, fail(RootFile, 0, -1, "%v", err)
	}
	cp, err := checkpoint.ParseWithWitnesses(raw, verifier, opts.Witnesses)
	if err != nil {
		return rep, fail(RootFile, 0, -1, "%v", err)
	}
	rep.Origin, rep.Signed, rep.Verified, rep.Signatures = cp.Origin, cp.Signed, cp.Verified, cp.Signatures
	// The workspace dir comes from the workspace field (§6), so a scroll verifies under any directory name; only
	// an empty receipt log, which names no workspace, is taken to be in its workspace dir.
	wantOrigin := prefix + "/" + filepath.Base(dir)
	if haveWorkspace {
		wantOrigin = prefix + "/" + WorkspaceDir(workspace)
	}
	if cp.Origin != wantOrigin {
		return rep, fail(RootFile, 0, -1, "origin %q, want %q", cp.Origin, wantOrigin)
	}
	if cp.Size != uint64(len(lines)) {
		return rep, fail(RootFile, 0, -1, "checkpoint size %d but the receipt log has %d lines", cp.Size, len(lines))
	}
	if root := merkle.Root(merkle.BLAKE3, lineHashes); !bytes.Equal(root, cp.Root) {
		msg := "checkpoint root does not match the receipt lines"
		if len(lines) > 0 {
			msg += fmt.Sprintf(" (lines 1-%d; line %d is covered only by ROOT, check it and ROOT)", len(lines), len(lines))
		}
		return rep, fail(RootFile, 0, -1, "%s", msg)
	}
	rep.Unsealed = unsealedFiles(dir, referenced)
	return rep, nil
}

func unsealedFiles(dir string, referenced map[string]bool) []string {
	var out []string
	_ = filepath.WalkDir(filepath.Join(dir, "telemetry"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !referenced[rel] {
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func verifyReceiptContent(dir string, r *Receipt, ln int) error {
	wantContent, _ := ParseHash(r.ContentHash)
	wantRoot, _ := ParseHash(r.MerkleRoot)
	if r.Type == TypeAlertFired {
		sum := merkle.Sum(r.Record)
		if !bytes.Equal(sum[:], wantContent) {
			return fail(ReceiptsFile, ln, 0, "embedded record does not match content_hash")
		}
		if !bytes.Equal(merkle.BLAKE3.HashLeaf(r.Record), wantRoot) {
			return fail(ReceiptsFile, ln, 0, "embedded record does not match merkle_root")
		}
		return nil
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(r.StoragePath)))
	if err != nil {
		return fail(r.StoragePath, 0, -1, "referenced by receipt line %d (%s): %v", ln, r.ID, err)
	}
	// The content hash runs beside record parsing and leaf hashing.
	sumCh := make(chan [merkle.HashSize]byte, 1)
	go func() { sumCh <- merkle.Sum(data) }()
	leaves, rerr := readRecords(data, int(min(r.LeafCount, uint64(len(data)))))
	sum := <-sumCh
	contentOK := bytes.Equal(sum[:], wantContent)
	if rerr != nil {
		var re *RecordError
		if errors.As(rerr, &re) {
			return fail(r.StoragePath, 0, re.Index, "unreadable (receipt line %d, %s): %v", ln, r.ID, rerr)
		}
		return fail(r.StoragePath, 0, -1, "%v", rerr)
	}
	if uint64(len(leaves)) != r.LeafCount {
		return fail(r.StoragePath, 0, -1, "holds %d records, receipt line %d (%s) says leaf_count %d", len(leaves), ln, r.ID, r.LeafCount)
	}
	root := merkle.RootParallel(merkle.BLAKE3, LeafHashes(leaves), runtime.GOMAXPROCS(0))
	if !bytes.Equal(root, wantRoot) {
		return fail(r.StoragePath, 0, -1, "Merkle root of the records does not match merkle_root of receipt line %d (%s)", ln, r.ID)
	}
	if !contentOK {
		return fail(r.StoragePath, 0, -1, "content_hash mismatch with receipt line %d (%s)", ln, r.ID)
	}
	if r.Aggregates != nil {
		return verifyAggregates(r, leaves, ln)
	}
	return nil
}

// LeafHashes computes RFC 9162 BLAKE3 leaf hashes, in parallel for large batches.
func LeafHashes(leaves [][]byte) [][]byte {
	out := make([][]byte, len(leaves))
	workers := runtime.GOMAXPROCS(0)
	if len(leaves) < 8192 || workers < 2 {
		for i, l := range leaves {
			out[i] = merkle.BLAKE3.HashLeaf(l)
		}
		return out
	}
	var wg sync.WaitGroup
	chunk := (len(leaves) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(leaves))
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i] = merkle.BLAKE3.HashLeaf(leaves[i])
			}
		}()
	}
	wg.Wait()
	return out
}
