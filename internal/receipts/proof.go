package receipts

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// InclusionProof ties one record to ROOT: the record is leaf LeafIndex of the receipt's Merkle tree, the receipt
// line is leaf ReceiptIndex of the tree ROOT commits to. Hashes are lowercase hex; Leaf is base64 (JSON []byte).
type InclusionProof struct {
	ReceiptID    string   `json:"receipt_id"`
	StoragePath  string   `json:"storage_path,omitempty"`
	LeafIndex    uint64   `json:"leaf_index"`
	TreeSize     uint64   `json:"tree_size"`
	Leaf         []byte   `json:"leaf"`
	Proof        []string `json:"proof"`
	MerkleRoot   string   `json:"merkle_root"`
	ReceiptLine  string   `json:"receipt_line"`
	ReceiptIndex uint64   `json:"receipt_index"`
	ReceiptProof []string `json:"receipt_proof"`
	Checkpoint   string   `json:"checkpoint"`
}

func hexList(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

func parseHexList(ss []string, what string) ([][]byte, error) {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != merkle.HashSize {
			return nil, fmt.Errorf("%s[%d] is not a 32-byte hex hash", what, i)
		}
		out[i] = b
	}
	return out, nil
}

// ScrollLines reads a scroll's receipt lines; a torn tail is an error.
func ScrollLines(dir string) ([][]byte, error) {
	data, err := os.ReadFile(filepath.Join(dir, ReceiptsFile))
	if err != nil {
		return nil, err
	}
	lines, tail := SplitLines(data)
	if len(tail) > 0 {
		return nil, fmt.Errorf("%s: torn last line", ReceiptsFile)
	}
	return lines, nil
}

// FindReceipt returns the line index and parsed receipt with the given id.
func FindReceipt(lines [][]byte, id string) (int, *Receipt, error) {
	for i, l := range lines {
		r, err := ParseReceipt(l)
		if err != nil {
			return 0, nil, fmt.Errorf("%s line %d: %w", ReceiptsFile, i+1, err)
		}
		if r.ID == id {
			return i, r, nil
		}
	}
	return 0, nil, fmt.Errorf("no receipt with id %q", id)
}

// ReceiptLeaves returns the leaves a receipt commits to (from its batch file or embedded record).
func ReceiptLeaves(dir string, r *Receipt) ([][]byte, error) {
	if isAlert(r.Type) {
		return [][]byte{r.Record}, nil
	}
	if isDerived(r.Type) {
		return nil, fmt.Errorf("%s is a %s: its leaves are receipt lines of the scroll, not records", r.ID, r.Type)
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(r.StoragePath)))
	if os.IsNotExist(err) {
		if rm := findRemoval(dir, r.ID); rm != nil {
			return nil, rm
		}
	}
	if err != nil {
		return nil, err
	}
	return ReadRecords(data)
}

// RemovedError says that a receipt's batch file is missing because retention removed it, and by which receipt.
type RemovedError struct {
	Removal   RetentionRemoval
	By        string // id of the obs_retention_applied receipt
	Timestamp string // its timestamp
}

func (e *RemovedError) Error() string {
	return fmt.Sprintf("batch file %s of receipt %s was removed by retention (%s, class %s, retain %s) in %s at %s: its records are gone, the receipt still commits to them by merkle_root %s",
		e.Removal.StoragePath, e.Removal.ReceiptID, e.Removal.Reason, e.Removal.Class, e.Removal.Retain, e.By, e.Timestamp, e.Removal.MerkleRoot)
}

// findRemoval looks for the obs_retention_applied receipt that removed receipt id's batch file (nil if none or
// the scroll cannot be read: the caller then reports the missing file as it is).
func findRemoval(dir, id string) *RemovedError {
	lines, err := ScrollLines(dir)
	if err != nil {
		return nil
	}
	for _, l := range lines {
		if !bytes.Contains(l, []byte(TypeRetentionApplied)) {
			continue
		}
		r, err := ParseReceipt(l)
		if err != nil || r.Type != TypeRetentionApplied {
			continue
		}
		for _, rm := range r.Removed {
			if rm.ReceiptID == id {
				return &RemovedError{Removal: rm, By: r.ID, Timestamp: r.Timestamp}
			}
		}
	}
	return nil
}

// BuildInclusionProof proves record index of receipt id in the scroll at dir, up to the current ROOT.
func BuildInclusionProof(dir, id string, index uint64) (*InclusionProof, error) {
	lines, err := ScrollLines(dir)
	if err != nil {
		return nil, err
	}
	li, r, err := FindReceipt(lines, id)
	if err != nil {
		return nil, err
	}
	leaves, err := ReceiptLeaves(dir, r)
	if err != nil {
		return nil, err
	}
	if index >= uint64(len(leaves)) {
		return nil, fmt.Errorf("receipt %s has %d records; index %d out of range", id, len(leaves), index)
	}
	tree := merkle.NewTree(merkle.BLAKE3, LeafHashes(leaves))
	if got := FormatHash(tree.Root()); got != r.MerkleRoot {
		return nil, fmt.Errorf("records of %s do not match its merkle_root; run verify", id)
	}
	p, err := tree.InclusionProof(index, tree.Size())
	if err != nil {
		return nil, err
	}
	rootRaw, err := os.ReadFile(filepath.Join(dir, RootFile))
	if err != nil {
		return nil, err
	}
	cp, err := checkpoint.Parse(rootRaw, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RootFile, err)
	}
	if cp.Size <= uint64(li) || cp.Size > uint64(len(lines)) {
		return nil, fmt.Errorf("%s covers %d receipts; receipt %s is line %d", RootFile, cp.Size, id, li+1)
	}
	lineTree := merkle.NewTree(merkle.BLAKE3, LeafHashes(lines[:cp.Size]))
	if !bytes.Equal(lineTree.Root(), cp.Root) {
		return nil, fmt.Errorf("%s does not match the receipt lines; run verify", RootFile)
	}
	rp, err := lineTree.InclusionProof(uint64(li), cp.Size)
	if err != nil {
		return nil, err
	}
	return &InclusionProof{
		ReceiptID: id, StoragePath: r.StoragePath, LeafIndex: index, TreeSize: tree.Size(), Leaf: leaves[index],
		Proof: hexList(p), MerkleRoot: r.MerkleRoot, ReceiptLine: string(lines[li]), ReceiptIndex: uint64(li),
		ReceiptProof: hexList(rp), Checkpoint: string(rootRaw),
	}, nil
}

// ParseInclusionProof decodes proof JSON strictly.
func ParseInclusionProof(data []byte) (*InclusionProof, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p InclusionProof
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("invalid proof JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after proof JSON")
	}
	return &p, nil
}

// CheckInclusionProof verifies every link: record → receipt merkle_root → receipt line → ROOT (and its
// signature when verifier is set). It returns the verified checkpoint.
func CheckInclusionProof(p *InclusionProof, verifier note.Verifier) (*checkpoint.File, error) {
	proof, err := parseHexList(p.Proof, "proof")
	if err != nil {
		return nil, err
	}
	rproof, err := parseHexList(p.ReceiptProof, "receipt_proof")
	if err != nil {
		return nil, err
	}
	r, err := ParseReceipt([]byte(p.ReceiptLine))
	if err != nil {
		return nil, fmt.Errorf("receipt_line: %w", err)
	}
	if r.ID != p.ReceiptID || r.MerkleRoot != p.MerkleRoot || r.LeafCount != p.TreeSize || r.StoragePath != p.StoragePath {
		return nil, errors.New("receipt_line does not match receipt_id, merkle_root, tree_size or storage_path")
	}
	if r.Seq != p.ReceiptIndex {
		return nil, fmt.Errorf("receipt_line has seq %d, proof says receipt_index %d", r.Seq, p.ReceiptIndex)
	}
	root, err := ParseHash(p.MerkleRoot)
	if err != nil {
		return nil, err
	}
	if err := merkle.VerifyInclusion(merkle.BLAKE3, p.LeafIndex, p.TreeSize, merkle.BLAKE3.HashLeaf(p.Leaf), proof, root); err != nil {
		return nil, fmt.Errorf("record is not leaf %d of %s: %w", p.LeafIndex, p.ReceiptID, err)
	}
	cp, err := checkpoint.Parse([]byte(p.Checkpoint), verifier)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if err := merkle.VerifyInclusion(merkle.BLAKE3, p.ReceiptIndex, cp.Size, merkle.BLAKE3.HashLeaf([]byte(p.ReceiptLine)), rproof, cp.Root); err != nil {
		return nil, fmt.Errorf("receipt line is not entry %d of the checkpoint: %w", p.ReceiptIndex, err)
	}
	return &cp, nil
}

// ConsistencyProof shows the receipt log of checkpoint Old is a prefix of that of checkpoint New.
type ConsistencyProof struct {
	OldSize uint64   `json:"old_size"`
	NewSize uint64   `json:"new_size"`
	OldRoot string   `json:"old_root"`
	NewRoot string   `json:"new_root"`
	Proof   []string `json:"proof"`
}

// BuildConsistencyProof computes the proof between two checkpoints from the scroll's receipt lines.
func BuildConsistencyProof(dir string, old, new checkpoint.Checkpoint) (*ConsistencyProof, error) {
	lines, err := ScrollLines(dir)
	if err != nil {
		return nil, err
	}
	if old.Size > new.Size {
		return nil, fmt.Errorf("old checkpoint size %d is larger than new %d", old.Size, new.Size)
	}
	if new.Size > uint64(len(lines)) {
		return nil, fmt.Errorf("new checkpoint size %d exceeds the %d receipt lines", new.Size, len(lines))
	}
	tree := merkle.NewTree(merkle.BLAKE3, LeafHashes(lines[:new.Size]))
	p, err := tree.ConsistencyProof(old.Size, new.Size)
	if err != nil {
		return nil, err
	}
	return &ConsistencyProof{OldSize: old.Size, NewSize: new.Size, OldRoot: hex.EncodeToString(old.Root),
		NewRoot: hex.EncodeToString(new.Root), Proof: hexList(p)}, nil
}

// CheckConsistencyProof verifies a consistency proof against the two checkpoints.
func CheckConsistencyProof(p *ConsistencyProof, old, new checkpoint.Checkpoint) error {
	if p.OldSize != old.Size || p.NewSize != new.Size || p.OldRoot != hex.EncodeToString(old.Root) || p.NewRoot != hex.EncodeToString(new.Root) {
		return errors.New("proof is for different checkpoints")
	}
	if old.Origin != new.Origin {
		return fmt.Errorf("checkpoints have different origins %q and %q", old.Origin, new.Origin)
	}
	proof, err := parseHexList(p.Proof, "proof")
	if err != nil {
		return err
	}
	if old.Size == 0 {
		if len(proof) != 0 {
			return errors.New("proof from the empty tree must be empty")
		}
		return nil
	}
	return merkle.VerifyConsistency(merkle.BLAKE3, old.Size, new.Size, proof, old.Root, new.Root)
}

// ParseConsistencyProof decodes consistency proof JSON strictly.
func ParseConsistencyProof(data []byte) (*ConsistencyProof, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p ConsistencyProof
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("invalid consistency proof JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after consistency proof JSON")
	}
	return &p, nil
}
