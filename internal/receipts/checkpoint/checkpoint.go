// Package checkpoint reads and writes ROOT files: C2SP tlog-checkpoint bodies (origin, tree size, base64 root
// hash), optionally signed as a C2SP signed note with an ed25519 key (golang.org/x/mod/sumdb/note).
package checkpoint

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

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
	// Verified reports whether a signature by the given verifier was checked.
	Verified bool
}

// Parse parses a ROOT file. With a verifier the file must carry a valid signature by that key; without one,
// signatures (if any) are parsed but not checked.
func Parse(data []byte, verifier note.Verifier) (File, error) {
	body, sigs, signed := bytes.Cut(data, []byte("\n\n"))
	if signed {
		body = append(body, '\n')
		if len(sigs) == 0 {
			return File{}, errors.New("ROOT has a blank line but no signatures")
		}
		if err := checkSignatureLines(sigs); err != nil {
			return File{}, err
		}
	}
	if verifier != nil {
		if !signed {
			return File{}, errors.New("ROOT is not signed but a verifier key was given")
		}
		n, err := note.Open(data, note.VerifierList(verifier))
		if err != nil {
			return File{}, fmt.Errorf("ROOT signature: %w", err)
		}
		cp, err := ParseBody([]byte(n.Text))
		if err != nil {
			return File{}, err
		}
		return File{Checkpoint: cp, Signed: true, Verified: true}, nil
	}
	if signed {
		// Structural check of the signature lines without a key.
		if _, err := note.Open(data, note.VerifierList()); err != nil {
			var unknown *note.UnknownVerifierError
			var unverified *note.UnverifiedNoteError
			if !errors.As(err, &unknown) && !errors.As(err, &unverified) {
				return File{}, fmt.Errorf("ROOT signature block: %w", err)
			}
		}
	}
	cp, err := ParseBody(body)
	if err != nil {
		return File{}, err
	}
	return File{Checkpoint: cp, Signed: signed}, nil
}

// checkSignatureLines requires canonical signature lines ("— <name> <padded base64>\n"), so that no two
// different ROOT files carry the same signatures (lenient base64 would ignore changed padding bits).
func checkSignatureLines(sigs []byte) error {
	if !bytes.HasSuffix(sigs, []byte("\n")) {
		return errors.New("ROOT signature block does not end with a newline")
	}
	for i, line := range strings.Split(string(sigs[:len(sigs)-1]), "\n") {
		rest, ok := strings.CutPrefix(line, "\u2014 ")
		name, b64, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 || name == "" {
			return fmt.Errorf("ROOT signature line %d is not \"— <name> <signature>\"", i+1)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || base64.StdEncoding.EncodeToString(raw) != b64 {
			return fmt.Errorf("ROOT signature line %d: signature is not canonical base64", i+1)
		}
	}
	return nil
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
