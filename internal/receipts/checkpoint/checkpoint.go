// Package checkpoint reads and writes ROOT files: C2SP tlog-checkpoint bodies (origin, tree size, base64 root
// hash), optionally signed as a C2SP signed note with an ed25519 key (golang.org/x/mod/sumdb/note).
package checkpoint

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint commits to a log of Size leaves with the given Merkle root.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

// Body is the checkpoint text: "<origin>\n<size>\n<base64 root>\n".
func (c Checkpoint) Body() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
}

// Marshal returns the ROOT file contents: the body alone, or a signed note when signer is not nil.
func (c Checkpoint) Marshal(signer note.Signer) ([]byte, error) {
	if signer == nil {
		return c.Body(), nil
	}
	return note.Sign(&note.Note{Text: string(c.Body())}, signer)
}

// ParseBody parses a checkpoint body. Extension lines after the root are rejected: receipts never write them.
func ParseBody(text []byte) (Checkpoint, error) {
	if !bytes.HasSuffix(text, []byte("\n")) {
		return Checkpoint{}, errors.New("checkpoint does not end with a newline")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) != 3 {
		return Checkpoint{}, fmt.Errorf("checkpoint has %d lines, want 3 (origin, size, root)", len(lines))
	}
	if lines[0] == "" {
		return Checkpoint{}, errors.New("checkpoint origin (line 1) is empty")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint size (line 2) %q is not a canonical decimal", lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return Checkpoint{}, fmt.Errorf("checkpoint root (line 3) is not canonical base64")
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// File is a parsed ROOT file.
type File struct {
	Checkpoint
	// Signed reports whether signature lines follow the body.
	Signed bool
	// Verified reports whether the origin signature (the first signature line) was checked with the origin key.
	Verified bool
	// Signatures are the signature lines in file order: the first is the origin's, the others are witness
	// cosignatures.
	Signatures []Signature
}

// Signature is one signature line of a ROOT file.
type Signature struct {
	Name string
	// Hash is the key hash the line names (the first 4 bytes of its base64 payload, big-endian).
	Hash uint32
	// Verified reports whether this signature was checked with the key of that name and hash.
	Verified bool
}

// KeyID renders the key a signature names as "<name>+<8 hex digits>", the start of its verifier key.
func (s Signature) KeyID() string { return fmt.Sprintf("%s+%08x", s.Name, s.Hash) }

// Witnesses returns the cosignatures: every signature line after the first.
func (f File) Witnesses() []Signature {
	if len(f.Signatures) < 2 {
		return nil
	}
	return f.Signatures[1:]
}

// maxSignatures bounds the signature lines of a ROOT file (golang.org/x/mod/sumdb/note allows 100).
const maxSignatures = 100

// ed25519SigLen is the payload of an Ed25519 note signature: 4-byte key hash and 64-byte signature.
const ed25519SigLen = 4 + 64

type sigLine struct {
	Signature
	sig []byte // the signature after the key hash
}

// Parse parses a ROOT file. With a verifier the first signature line must be a valid signature by that key;
// without one, signatures are parsed but not checked.
func Parse(data []byte, verifier note.Verifier) (File, error) {
	return ParseWithWitnesses(data, verifier, nil)
}

// ParseWithWitnesses is Parse that also requires a valid cosignature by each witness key (docs/receipts.md §6):
// line 1 of the signature block is the origin's signature, lines 2..n are witness cosignatures, at most one line
// per key. Cosignatures by keys not given are listed unverified.
func ParseWithWitnesses(data []byte, verifier note.Verifier, witnesses []note.Verifier) (File, error) {
	body, block, signed := bytes.Cut(data, []byte("\n\n"))
	body = append(body[:len(body):len(body)], '\n')
	if !signed {
		body = data
	}
	cp, err := ParseBody(body)
	if err != nil {
		return File{}, err
	}
	f := File{Checkpoint: cp, Signed: signed}
	var lines []sigLine
	if signed {
		if lines, err = parseSignatureBlock(block); err != nil {
			return File{}, err
		}
	}
	for _, l := range lines {
		f.Signatures = append(f.Signatures, l.Signature)
	}
	if verifier != nil {
		if !signed {
			return File{}, errors.New("ROOT is not signed but a verifier key was given")
		}
		first := lines[0]
		if first.Name != verifier.Name() || first.Hash != verifier.KeyHash() {
			return File{}, fmt.Errorf("ROOT signature: the first signature line (the origin's) is by key %s, not by the given key %s+%08x", first.KeyID(), verifier.Name(), verifier.KeyHash())
		}
		if !verifier.Verify(body, first.sig) {
			return File{}, fmt.Errorf("ROOT signature: the origin signature by %s does not verify", first.KeyID())
		}
		f.Verified, f.Signatures[0].Verified = true, true
	}
	for _, w := range witnesses {
		found := false
		for i, l := range lines {
			if l.Name != w.Name() || l.Hash != w.KeyHash() {
				continue
			}
			if i == 0 {
				return File{}, fmt.Errorf("ROOT cosignature: witness key %s+%08x made the origin signature (line 1), not a cosignature", w.Name(), w.KeyHash())
			}
			if !w.Verify(body, l.sig) {
				return File{}, fmt.Errorf("ROOT cosignature: signature line %d by witness %s does not verify", i+1, l.KeyID())
			}
			f.Signatures[i].Verified, found = true, true
		}
		if !found {
			return File{}, fmt.Errorf("ROOT cosignature: no signature line by witness %s+%08x", w.Name(), w.KeyHash())
		}
	}
	return f, nil
}

// parseSignatureBlock reads the lines after the blank line: each "— <name> <base64>\n" in canonical padded
// base64 (so no two different ROOT files carry the same signatures), with a valid key name, a payload of the key
// hash and at least one signature byte, at most one line per key; the first (the origin's) an Ed25519 signature.
func parseSignatureBlock(block []byte) ([]sigLine, error) {
	if len(block) == 0 {
		return nil, errors.New("ROOT has a blank line but no signatures")
	}
	if !bytes.HasSuffix(block, []byte("\n")) {
		return nil, errors.New("ROOT signature block does not end with a newline")
	}
	var out []sigLine
	seen := map[string]int{}
	for i, line := range strings.Split(string(block[:len(block)-1]), "\n") {
		n := i + 1
		if n > maxSignatures {
			return nil, fmt.Errorf("ROOT has more than %d signature lines", maxSignatures)
		}
		rest, ok := strings.CutPrefix(line, "\u2014 ")
		name, b64, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 || !validKeyName(name) {
			return nil, fmt.Errorf("ROOT signature line %d is not \"— <name> <signature>\" with a key name of no spaces and no '+'", n)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || base64.StdEncoding.EncodeToString(raw) != b64 {
			return nil, fmt.Errorf("ROOT signature line %d: signature is not canonical base64", n)
		}
		if len(raw) < 5 || i == 0 && len(raw) != ed25519SigLen {
			return nil, fmt.Errorf("ROOT signature line %d: %d-byte payload, want 4-byte key hash and an Ed25519 signature (%d bytes)", n, len(raw), ed25519SigLen)
		}
		l := sigLine{Signature: Signature{Name: name, Hash: binary.BigEndian.Uint32(raw)}, sig: raw[4:]}
		if first, dup := seen[l.KeyID()]; dup {
			return nil, fmt.Errorf("ROOT signature line %d: key %s already signed on line %d (one line per key)", n, l.KeyID(), first)
		}
		seen[l.KeyID()] = n
		out = append(out, l)
	}
	return out, nil
}

// validKeyName is the key name rule of C2SP signed-note: non-empty, no Unicode space, no '+'.
func validKeyName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// Cosign returns the ROOT file data with one more signature line, by signer over its checkpoint body. data must
// parse as a ROOT file and carry no line by the signer's key.
func Cosign(data []byte, signer note.Signer) ([]byte, error) {
	f, err := Parse(data, nil)
	if err != nil {
		return nil, err
	}
	if !f.Signed {
		return nil, errors.New("ROOT is not signed: a cosignature follows the origin's signature")
	}
	for _, s := range f.Signatures {
		if s.Name == signer.Name() && s.Hash == signer.KeyHash() {
			return nil, fmt.Errorf("ROOT already carries a signature by %s", s.KeyID())
		}
	}
	signed, err := note.Sign(&note.Note{Text: string(f.Body())}, signer)
	if err != nil {
		return nil, err
	}
	_, line, _ := bytes.Cut(signed, []byte("\n\n"))
	return append(bytes.Clone(data), line...), nil
}

// GenerateKey makes an ed25519 note key pair named name: skey for signing_key_file, vkey for verify --pubkey.
func GenerateKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// NewSigner parses a signer key as written by GenerateKey.
func NewSigner(skey string) (note.Signer, error) {
	return note.NewSigner(strings.TrimSpace(skey))
}

// NewVerifier parses a verifier key as written by GenerateKey.
func NewVerifier(vkey string) (note.Verifier, error) {
	return note.NewVerifier(strings.TrimSpace(vkey))
}
