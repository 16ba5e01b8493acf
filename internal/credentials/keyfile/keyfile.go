// Package keyfile reads, validates, writes and indexes the tfo_auth key file: the list of TelemetryFlow API keys a
// gateway accepts. It is shared by the tfo_auth extension (which verifies presented keys) and the
// `tfocol keys` CLI (which mints and revokes them).
//
// The file stores only a hash of each secret. Secrets are 256-bit random values, so a single SHA-256 is enough to
// make a leaked file useless for forging requests (see docs/security.md); no slow KDF is needed.
package keyfile

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tfocol/tfocol/internal/atomicfile"
	"github.com/tfocol/tfocol/internal/principal"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// Prefixes of minted key ids and secrets, and of the stored hash.
const (
	IDPrefix     = "tfk_"
	SecretPrefix = "tfs_"
	HashSHA256   = "sha256:"
)

// CurrentVersion is the key file format version written by this package.
const CurrentVersion = 1

// MaxSecretLen bounds the secret a client may present; longer values are rejected before hashing.
const MaxSecretLen = 256

const (
	idRandomBytes     = 12 // 96 bits: ids must be unique, not secret
	secretRandomBytes = 32 // 256 bits: makes brute force of a leaked hash infeasible
)

// Key is one API key entry. It never holds the secret itself.
type Key struct {
	ID          string     `yaml:"id" json:"id"`
	SecretHash  string     `yaml:"secret_hash" json:"secret_hash"`
	Workspaces  []string   `yaml:"workspaces" json:"workspaces"`
	Scopes      []string   `yaml:"scopes" json:"scopes"`
	Description string     `yaml:"description,omitempty" json:"description,omitempty"`
	CreatedAt   *time.Time `yaml:"created_at,omitempty" json:"created_at,omitempty"`
	ExpiresAt   *time.Time `yaml:"expires_at,omitempty" json:"expires_at,omitempty"`
	Disabled    bool       `yaml:"disabled,omitempty" json:"disabled,omitempty"`
	RevokedAt   *time.Time `yaml:"revoked_at,omitempty" json:"revoked_at,omitempty"`
}

// File is the whole key file.
type File struct {
	Version int   `yaml:"version" json:"version"`
	Keys    []Key `yaml:"keys" json:"keys"`
}

// Format of a key file on disk.
type Format int

const (
	FormatYAML Format = iota
	FormatJSON
)

// FormatFor picks the format from the file name: .json is JSON, anything else YAML.
func FormatFor(path string) Format {
	if strings.EqualFold(filepath.Ext(path), ".json") {
		return FormatJSON
	}
	return FormatYAML
}

// Parse decodes and validates a key file in YAML or JSON (JSON is valid YAML, so one strict decoder reads both).
func Parse(data []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("key file is empty")
		}
		return nil, fmt.Errorf("decode key file: %w", err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Load reads and parses the key file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Validate checks the file is usable: known version, unique well-formed ids, supported hashes, workspaces and scopes.
func (f *File) Validate() error {
	if f.Version != CurrentVersion {
		return fmt.Errorf("unsupported key file version %d (want %d)", f.Version, CurrentVersion)
	}
	seen := make(map[string]struct{}, len(f.Keys))
	var errs []error
	for i := range f.Keys {
		k := &f.Keys[i]
		if err := k.validate(); err != nil {
			errs = append(errs, fmt.Errorf("keys[%d]: %w", i, err))
			continue
		}
		if _, dup := seen[k.ID]; dup {
			errs = append(errs, fmt.Errorf("keys[%d]: duplicate id %q", i, k.ID))
		}
		seen[k.ID] = struct{}{}
	}
	return errors.Join(errs...)
}

func (k *Key) validate() error {
	if !ValidID(k.ID) {
		return fmt.Errorf("id must be %q followed by 1-128 letters, digits, '-' or '_'", IDPrefix)
	}
	if _, err := decodeHash(k.SecretHash); err != nil {
		return fmt.Errorf("key %q: %w", k.ID, err)
	}
	if len(k.Workspaces) == 0 {
		return fmt.Errorf("key %q: at least one workspace is required", k.ID)
	}
	for _, ws := range k.Workspaces {
		if err := ValidateWorkspace(ws); err != nil {
			return fmt.Errorf("key %q: %w", k.ID, err)
		}
	}
	if len(k.Scopes) == 0 {
		return fmt.Errorf("key %q: at least one scope is required", k.ID)
	}
	for _, s := range k.Scopes {
		if err := ValidateScope(s); err != nil {
			return fmt.Errorf("key %q: %w", k.ID, err)
		}
	}
	return nil
}

// ValidateWorkspace accepts a workspace id of the request contract or the wildcard "*".
func ValidateWorkspace(ws string) error {
	if ws == principal.Wildcard {
		return nil
	}
	if _, err := requestcontract.CanonicalWorkspace(ws); err != nil {
		return fmt.Errorf("workspace %q is not a UUID", ws)
	}
	return nil
}

// ValidateScope accepts a signal name or the wildcard "*".
func ValidateScope(s string) error {
	switch s {
	case principal.SignalTraces, principal.SignalMetrics, principal.SignalLogs, principal.Wildcard:
		return nil
	}
	return fmt.Errorf("scope %q is not one of traces, metrics, logs, *", s)
}

// ValidID reports whether id is a well-formed key id ("tfk_" and 1-128 letters, digits, '-' or '_').
func ValidID(id string) bool {
	rest, ok := strings.CutPrefix(id, IDPrefix)
	if !ok || rest == "" || len(rest) > 128 {
		return false
	}
	for _, c := range []byte(rest) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func decodeHash(h string) ([sha256.Size]byte, error) {
	var d [sha256.Size]byte
	hexDigest, ok := strings.CutPrefix(h, HashSHA256)
	if !ok {
		return d, fmt.Errorf("secret_hash must start with %q", HashSHA256)
	}
	if len(hexDigest) != hex.EncodedLen(sha256.Size) {
		return d, errors.New("secret_hash must hold 64 hex digits")
	}
	if _, err := hex.Decode(d[:], []byte(hexDigest)); err != nil {
		return d, errors.New("secret_hash must hold 64 hex digits")
	}
	return d, nil
}

// HashSecret returns the stored form of a secret.
func HashSecret(secret string) string {
	d := sha256.Sum256([]byte(secret))
	return HashSHA256 + hex.EncodeToString(d[:])
}

// Status of a key at a point in time.
type Status string

const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
	StatusExpired  Status = "expired"
)

// StatusAt reports whether the key is usable at now.
func (k *Key) StatusAt(now time.Time) Status {
	switch {
	case k.Disabled:
		return StatusDisabled
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return StatusExpired
	}
	return StatusActive
}

// NewKey mints a key: it returns the entry to store (with only the secret's hash) and the secret, which the caller
// must show once and never persist.
func NewKey(workspaces, scopes []string, expiresAt *time.Time, description string, now time.Time) (Key, string, error) {
	id, err := randomString(idRandomBytes)
	if err != nil {
		return Key{}, "", err
	}
	secretBody, err := randomString(secretRandomBytes)
	if err != nil {
		return Key{}, "", err
	}
	secret := SecretPrefix + secretBody
	created := now.UTC().Truncate(time.Second)
	k := Key{
		ID:          IDPrefix + id,
		SecretHash:  HashSecret(secret),
		Workspaces:  slices.Clone(workspaces),
		Scopes:      slices.Clone(scopes),
		Description: description,
		CreatedAt:   &created,
		ExpiresAt:   expiresAt,
	}
	if err := k.validate(); err != nil {
		return Key{}, "", err
	}
	return k, secret, nil
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Find returns the key with the given id.
func (f *File) Find(id string) (*Key, bool) {
	for i := range f.Keys {
		if f.Keys[i].ID == id {
			return &f.Keys[i], true
		}
	}
	return nil, false
}

// Marshal encodes the file in the given format.
func (f *File) Marshal(format Format) ([]byte, error) {
	if format == FormatJSON {
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return nil, err
		}
		return append(b, '\n'), nil
	}
	var buf bytes.Buffer
	buf.WriteString("# tfocol API keys. Holds only SHA-256 hashes of the secrets; manage with `tfocol keys`.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Save validates f and writes it to path atomically (temp file in the same directory, fsync, rename), so a
// watching gateway never reads a half-written file.
func Save(path string, f *File) error {
	if err := f.Validate(); err != nil {
		return err
	}
	data, err := f.Marshal(FormatFor(path))
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

// LockPath is the lock file that serialises edits of the key file at path.
func LockPath(path string) string { return path + ".lock" }
