package receipts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tfocol/tfocol/internal/atomicfile"
	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// SplitLines splits a receipts file into complete lines (without newlines) and a torn tail (bytes after the
// last newline, empty when the file ends cleanly).
func SplitLines(data []byte) (lines [][]byte, tail []byte) {
	end := bytes.LastIndexByte(data, '\n') + 1
	tail = data[end:]
	for rest := data[:end]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		lines = append(lines, rest[:i])
		rest = rest[i+1:]
	}
	return lines, tail
}

// Scroll is the writer side of one workspace's receipt log and ROOT checkpoint. It keeps no file open between
// appends (each Append opens the receipt log for append, writes, fsyncs and closes it), so a process with many
// scrolls holds no file descriptor per scroll.
type Scroll struct {
	dir      string
	path     string
	origin   string
	signer   note.Signer
	size     int64
	app      *merkle.Appender
	lastHash string
	ids      map[string]struct{}
	broken   error
}

// RecoveryNote reports what OpenScroll repaired.
type RecoveryNote struct {
	TornTailBytes int
	TornTailFile  string
	RootRebuilt   bool
	RootWasSize   uint64
}

// ErrRootAhead means ROOT claims more receipts than the receipt log holds: receipts were lost or removed.
var ErrRootAhead = errors.New("ROOT claims more receipts than the receipt log holds")

// OpenScroll opens (creating if needed) the scroll in dir. A torn last line is copied aside and cut; a ROOT that
// is missing or behind is rebuilt; a ROOT ahead of the log or disagreeing with it is an error.
func OpenScroll(dir, origin string, signer note.Signer) (*Scroll, RecoveryNote, error) {
	var rn RecoveryNote
	path := filepath.Join(dir, ReceiptsFile)
	if err := atomicfile.MkdirAllDurable(filepath.Dir(path)); err != nil {
		return nil, rn, err
	}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, rn, err
	}
	lines, tail := SplitLines(data)
	if len(tail) > 0 {
		aside := fmt.Sprintf("%s.torn-%d", path, time.Now().UnixNano())
		if err := atomicfile.WriteFile(aside, tail, 0o600); err != nil {
			return nil, rn, fmt.Errorf("saving torn receipt tail: %w", err)
		}
		if err := os.Truncate(path, int64(len(data)-len(tail))); err != nil {
			return nil, rn, fmt.Errorf("cutting torn receipt tail: %w", err)
		}
		rn.TornTailBytes, rn.TornTailFile = len(tail), aside
	}
	s := &Scroll{dir: dir, path: path, origin: origin, signer: signer, app: merkle.NewAppender(merkle.BLAKE3),
		lastHash: ZeroHash, ids: map[string]struct{}{}, size: int64(len(data) - len(tail))}
	leafHashes := make([][]byte, 0, len(lines))
	for i, line := range lines {
		r, err := ParseReceipt(line)
		if err != nil {
			return nil, rn, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		if r.Seq != uint64(i) || r.PrevHash != s.lastHash {
			return nil, rn, fmt.Errorf("%s line %d: receipt chain broken (seq %d, prev_hash %s)", path, i+1, r.Seq, r.PrevHash)
		}
		s.ids[r.ID] = struct{}{}
		s.lastHash = LineHash(line)
		lh := merkle.BLAKE3.HashLeaf(line)
		leafHashes = append(leafHashes, lh)
		s.app.AppendLeafHash(lh)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, rn, err
	}
	if rn.TornTailBytes > 0 {
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, rn, err
		}
	}
	if err := f.Close(); err != nil {
		return nil, rn, err
	}
	if err := s.checkRoot(leafHashes, &rn); err != nil {
		return nil, rn, err
	}
	return s, rn, nil
}

func (s *Scroll) checkRoot(leafHashes [][]byte, rn *RecoveryNote) error {
	rootPath := filepath.Join(s.dir, RootFile)
	raw, err := os.ReadFile(rootPath)
	if os.IsNotExist(err) {
		if s.app.Size() == 0 {
			return s.writeRoot()
		}
		rn.RootRebuilt = true
		return s.writeRoot()
	}
	if err != nil {
		return err
	}
	cp, err := checkpoint.Parse(raw, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", rootPath, err)
	}
	n := s.app.Size()
	switch {
	case cp.Size > n:
		return fmt.Errorf("%s: %w (ROOT size %d, receipt lines %d)", rootPath, ErrRootAhead, cp.Size, n)
	case !bytes.Equal(cp.Root, merkle.Root(merkle.BLAKE3, leafHashes[:cp.Size])):
		return fmt.Errorf("%s: root hash of size %d does not match the first %d receipt lines", rootPath, cp.Size, cp.Size)
	case cp.Size < n || cp.Origin != s.origin:
		rn.RootRebuilt, rn.RootWasSize = true, cp.Size
		return s.writeRoot()
	}
	return nil
}

func (s *Scroll) writeRoot() error {
	cp := checkpoint.Checkpoint{Origin: s.origin, Size: s.app.Size(), Root: s.app.Root()}
	raw, err := cp.Marshal(s.signer)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.dir, RootFile), raw, 0o600)
}

// Dir is the scroll directory.
func (s *Scroll) Dir() string { return s.dir }

// Has reports whether a receipt with this id is already in the log (sealing is idempotent on it).
func (s *Scroll) Has(id string) bool {
	_, ok := s.ids[id]
	return ok
}

// Size is the number of receipt lines.
func (s *Scroll) Size() uint64 { return s.app.Size() }

// Append fills seq and prev_hash of the receipts, appends their lines with one write and one fsync, then
// rewrites ROOT atomically.
func (s *Scroll) Append(rs ...*Receipt) error {
	if s.broken != nil {
		return s.broken
	}
	var buf []byte
	last := s.lastHash
	hashes := make([][]byte, 0, len(rs))
	for i, r := range rs {
		r.Seq = s.app.Size() + uint64(i)
		r.PrevHash = last
		line, err := r.Marshal()
		if err != nil {
			return err
		}
		last = LineHash(line)
		hashes = append(hashes, merkle.BLAKE3.HashLeaf(line))
		buf = append(append(buf, line...), '\n')
	}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf); err != nil {
		return s.undo(f, err)
	}
	if err := f.Sync(); err != nil {
		return s.undo(f, err)
	}
	// The bytes are written and fsynced; a failing close cannot lose them.
	_ = f.Close()
	s.size += int64(len(buf))
	s.lastHash = last
	for i, r := range rs {
		s.ids[r.ID] = struct{}{}
		s.app.AppendLeafHash(hashes[i])
	}
	if err := s.writeRoot(); err != nil {
		// The receipts are durable; ROOT is rewritten on the next append or rebuilt on restart.
		return fmt.Errorf("%w: %w", ErrRootStale, err)
	}
	return nil
}

// ErrRootStale is returned by Append when the receipts were appended durably but ROOT could not be rewritten.
// Callers must treat the receipts as written (never append them again).
var ErrRootStale = errors.New("receipts appended but ROOT not updated")

// undo cuts a failed append back so the log never holds a half-written line while running.
func (s *Scroll) undo(f *os.File, cause error) error {
	err := f.Truncate(s.size)
	_ = f.Close()
	if err != nil {
		s.broken = fmt.Errorf("receipt log unusable after failed append (%v) and failed truncate: %w", cause, err)
		return s.broken
	}
	return cause
}

// Close releases the scroll. It holds no open file between appends, so there is nothing to close; it is kept so
// callers need not know that.
func (s *Scroll) Close() error { return nil }

// SealFile writes leaves as a batch file at storagePath (atomically), fills the receipt's storage_path,
// content_hash, merkle_root and leaf_count, and appends it.
func (s *Scroll) SealFile(storagePath string, leaves [][]byte, r *Receipt) error {
	size := 0
	for _, l := range leaves {
		size += binary.MaxVarintLen64 + len(l)
	}
	body := make([]byte, 0, size)
	for _, l := range leaves {
		body = AppendRecord(body, l)
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, filepath.FromSlash(storagePath)), body, 0o600); err != nil {
		return err
	}
	sum := merkle.Sum(body)
	r.StoragePath = storagePath
	r.ContentHash = FormatHash(sum[:])
	r.MerkleRoot = FormatHash(merkle.Root(merkle.BLAKE3, LeafHashes(leaves)))
	r.LeafCount = uint64(len(leaves))
	return s.Append(r)
}
