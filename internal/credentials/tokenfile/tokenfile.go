// Package tokenfile is the enrollment-token state shared by `tfocol tokens` (which issues, rotates and revokes
// tokens) and the tfo_auth extension (which reads it, hot-reloaded, to refuse revoked tokens and rotated tokens
// whose overlap window has ended).
//
// The state file holds token ids (the JWT `jti`), their claims and lifecycle: never a token or a signature, so
// a leaked state file cannot be used to send data. The signed token exists only in the agent's token file (and
// on the issuer's stdout when no --token-file is given). Because Ed25519 signatures are deterministic, the
// issuer can sign a recorded token's claims again and get the very same token: that is what makes
// `tfocol tokens rotate` idempotent under a rotation key without storing the token.
package tokenfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.yaml.in/yaml/v3"

	"github.com/tfocol/tfocol/internal/atomicfile"
	"github.com/tfocol/tfocol/internal/credentials/keyfile"
)

// IDPrefix starts every token id (`jti`) issued by tfocol.
const IDPrefix = "tft_"

// CurrentVersion is the state file format version written by this package.
const CurrentVersion = 1

// Claim names of issued tokens; they are the tfo_auth jwt defaults (workspace_claim, scope_claim, role_claim).
const (
	ClaimWorkspace = "workspace_id"
	ClaimScope     = "scope"
	ClaimRole      = "role"
)

// Token is one issued enrollment token: its claims and lifecycle. It never holds the token itself.
type Token struct {
	ID          string    `yaml:"id"`
	Workspace   string    `yaml:"workspace"`
	Subject     string    `yaml:"subject,omitempty"`
	Role        string    `yaml:"role,omitempty"`
	Scopes      []string  `yaml:"scopes,omitempty"`
	Issuer      string    `yaml:"issuer,omitempty"`
	Audience    string    `yaml:"audience,omitempty"`
	IssuedAt    time.Time `yaml:"issued_at"`
	ExpiresAt   time.Time `yaml:"expires_at"`
	Description string    `yaml:"description,omitempty"`
	// NotAfter ends the overlap window of a rotated token: from then on the gateway refuses it.
	NotAfter   *time.Time `yaml:"not_after,omitempty"`
	ReplacedBy string     `yaml:"replaced_by,omitempty"`
	RevokedAt  *time.Time `yaml:"revoked_at,omitempty"`
}

// Rotation records that rotating under Key replaced token From by token To.
type Rotation struct {
	Key  string    `yaml:"key"`
	From string    `yaml:"from"`
	To   string    `yaml:"to"`
	At   time.Time `yaml:"at"`
}

// State is the whole state file.
type State struct {
	Version   int        `yaml:"version"`
	Tokens    []Token    `yaml:"tokens"`
	Rotations []Rotation `yaml:"rotations,omitempty"`
}

// Status of a token at a point in time.
type Status string

const (
	StatusActive     Status = "active"
	StatusRotating   Status = "rotating" // replaced, still accepted until not_after
	StatusSuperseded Status = "superseded"
	StatusRevoked    Status = "revoked"
	StatusExpired    Status = "expired"
)

// StatusAt says what the gateway does with the token at now.
func (t *Token) StatusAt(now time.Time) Status {
	switch {
	case t.RevokedAt != nil:
		return StatusRevoked
	case !now.Before(t.ExpiresAt):
		return StatusExpired
	case t.NotAfter != nil && !now.Before(*t.NotAfter):
		return StatusSuperseded
	case t.NotAfter != nil:
		return StatusRotating
	}
	return StatusActive
}

// Parse decodes and validates a state file.
func Parse(data []byte) (*State, error) {
	var s State
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("token state file is empty")
		}
		return nil, fmt.Errorf("decode token state file: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Load reads and parses the state file at path.
func Load(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// LoadOrEmpty is Load, with a missing file read as an empty state.
func LoadOrEmpty(path string) (*State, error) {
	s, err := Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return &State{Version: CurrentVersion}, nil
	}
	return s, err
}

// Validate checks versions, ids, workspaces, scopes and that rotations refer to recorded tokens.
func (s *State) Validate() error {
	if s.Version != CurrentVersion {
		return fmt.Errorf("unsupported token state version %d (want %d)", s.Version, CurrentVersion)
	}
	var errs []error
	ids := make(map[string]bool, len(s.Tokens))
	for i := range s.Tokens {
		t := &s.Tokens[i]
		if !ValidID(t.ID) {
			errs = append(errs, fmt.Errorf("tokens[%d]: id must be %q followed by 1-64 letters or digits", i, IDPrefix))
			continue
		}
		if ids[t.ID] {
			errs = append(errs, fmt.Errorf("tokens[%d]: duplicate id %q", i, t.ID))
		}
		ids[t.ID] = true
		if t.Workspace == "*" {
			errs = append(errs, fmt.Errorf("token %q: an enrollment token is for one workspace", t.ID))
		} else if err := keyfile.ValidateWorkspace(t.Workspace); err != nil {
			errs = append(errs, fmt.Errorf("token %q: %w", t.ID, err))
		}
		for _, sc := range t.Scopes {
			if err := keyfile.ValidateScope(sc); err != nil {
				errs = append(errs, fmt.Errorf("token %q: %w", t.ID, err))
			}
		}
		if !t.ExpiresAt.After(t.IssuedAt) {
			errs = append(errs, fmt.Errorf("token %q: expires_at must be after issued_at", t.ID))
		}
	}
	keys := make(map[string]bool, len(s.Rotations))
	for i, r := range s.Rotations {
		if r.Key == "" || keys[r.Key] {
			errs = append(errs, fmt.Errorf("rotations[%d]: key must be set and unique", i))
		}
		keys[r.Key] = true
		if !ids[r.From] || !ids[r.To] {
			errs = append(errs, fmt.Errorf("rotations[%d]: from and to must be recorded tokens", i))
		}
	}
	return errors.Join(errs...)
}

// ValidID reports whether id is a well-formed token id.
func ValidID(id string) bool {
	rest, ok := strings.CutPrefix(id, IDPrefix)
	if !ok || rest == "" || len(rest) > 64 {
		return false
	}
	for _, c := range []byte(rest) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// NewID returns a fresh random token id (96 bits).
func NewID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return IDPrefix + hex.EncodeToString(b), nil
}

// Find returns the token with id.
func (s *State) Find(id string) (*Token, bool) {
	for i := range s.Tokens {
		if s.Tokens[i].ID == id {
			return &s.Tokens[i], true
		}
	}
	return nil, false
}

// FindRotation returns the rotation made under key.
func (s *State) FindRotation(key string) (*Rotation, bool) {
	for i := range s.Rotations {
		if s.Rotations[i].Key == key {
			return &s.Rotations[i], true
		}
	}
	return nil, false
}

// Marshal encodes the state as YAML.
func (s *State) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# tfocol enrollment tokens: ids, claims and lifecycle only (no token, no signature); manage with `tfocol tokens`.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Save validates s and replaces path atomically (the gateway reads it without a lock). Callers that modify the
// state hold Lock(path) for the whole read-modify-write.
func Save(path string, s *State) error {
	if err := s.Validate(); err != nil {
		return err
	}
	data, err := s.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

// Lock serialises edits of the state file at path (flock on "<path>.lock", like the key file).
func Lock(path string) (func(), error) { return keyfile.Lock(path) }

// Claims are the JWT claims of t. Equal tokens give equal claims, so signing them again gives the same token.
func (t *Token) Claims() jwt.MapClaims {
	c := jwt.MapClaims{
		"jti":          t.ID,
		ClaimWorkspace: t.Workspace,
		"iat":          t.IssuedAt.Unix(),
		"nbf":          t.IssuedAt.Unix(),
		"exp":          t.ExpiresAt.Unix(),
	}
	if t.Subject != "" {
		c["sub"] = t.Subject
	}
	if t.Issuer != "" {
		c["iss"] = t.Issuer
	}
	if t.Audience != "" {
		c["aud"] = t.Audience
	}
	if t.Role != "" {
		c[ClaimRole] = t.Role
	}
	if len(t.Scopes) > 0 {
		c[ClaimScope] = strings.Join(t.Scopes, " ")
	}
	return c
}

// Sign returns the EdDSA-signed JWT of t. Ed25519 is deterministic: the same token and key give the same string.
func Sign(t *Token, key ed25519.PrivateKey) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, t.Claims())
	tok.Header["kid"] = KeyID(key.Public().(ed25519.PublicKey))
	return tok.SignedString(key)
}

// TokenID returns the jti of a token without verifying it (the issuer uses it to find the token to rotate).
func TokenID(token string) (string, error) {
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(strings.TrimSpace(token), claims); err != nil {
		return "", errors.New("the token file does not hold a JWT")
	}
	id, _ := claims["jti"].(string)
	if !ValidID(id) {
		return "", errors.New("the token in the token file was not issued by tfocol tokens (no tft_ jti)")
	}
	return id, nil
}

// KeyID is the `kid` of an Ed25519 public key: the first 8 bytes of the SHA-256 of its PKIX encoding, in hex.
func KeyID(pub ed25519.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8])
}

// GenerateKey returns a new Ed25519 signing key as a PKCS#8 "PRIVATE KEY" PEM and its public key as a PKIX
// "PUBLIC KEY" PEM (the format tfo_auth's jwt.public_keys_file reads).
func GenerateKey() (private, public []byte, kid string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, "", err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, "", err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), KeyID(pub), nil
}

// LoadSigningKey reads a PKCS#8 Ed25519 private key PEM. Errors never contain the key material.
func LoadSigningKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM PRIVATE KEY (create one with `tfocol tokens keygen`)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: unreadable private key", path)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return priv, nil
}

// Index answers the gateway's question about a verified token: may it still be used?
type Index struct {
	byID map[string]Token
}

// NewIndex indexes a validated state.
func NewIndex(s *State) *Index {
	idx := &Index{byID: make(map[string]Token, len(s.Tokens))}
	for _, t := range s.Tokens {
		idx.byID[t.ID] = t
	}
	return idx
}

// Len is the number of recorded tokens.
func (idx *Index) Len() int { return len(idx.byID) }

// Check returns the status of token id at now; tokens the state does not know are StatusActive (their
// signature, checked before, is what admits them).
func (idx *Index) Check(id string, now time.Time) Status {
	t, ok := idx.byID[id]
	if !ok {
		return StatusActive
	}
	if s := t.StatusAt(now); s != StatusExpired {
		return s
	}
	return StatusActive // exp is the verifier's business (with its clock skew)
}
