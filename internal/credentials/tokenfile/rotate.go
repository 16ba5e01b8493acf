package tokenfile

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of Rotate, so callers (the CLI, the edge receiver's rotation endpoint) can tell them apart.
var (
	// ErrRotationKeyReused: the rotation key already replaced a token other than the one asked for.
	ErrRotationKeyReused = errors.New("rotation key already used for another token")
	// ErrUnknownToken: the token to rotate is not in the state.
	ErrUnknownToken = errors.New("token is not in the token state")
	// ErrNotActive: the token is revoked, expired, or already rotated.
	ErrNotActive = errors.New("token is not active")
)

// Rotation outcome of Rotate.
type Rotated struct {
	// New is the replacement token (in the state); sign it to get the token to hand out.
	New *Token
	// Old is the token it replaces; it is accepted until OldValidUntil.
	Old           *Token
	OldValidUntil time.Time
	// Again: the rotation key had rotated this token before; nothing changed in the state.
	Again bool
}

// Rotate replaces token fromID by a new token with the same workspace, subject, role and scopes, under the
// idempotency key key: the old token is accepted until now + overlap (at most until it expires), the new one
// lives as long as the old one did, or ttl when ttl > 0. A key that rotated fromID before (or that produced
// fromID) returns that rotation again with Again set and leaves the state alone, so signing New again gives the
// very same token (Ed25519 is deterministic). The caller holds Lock and saves the state when !Again.
func (s *State) Rotate(key, fromID string, overlap, ttl time.Duration, now time.Time) (*Rotated, error) {
	if key == "" {
		return nil, errors.New("a rotation key is required")
	}
	if r, ok := s.FindRotation(key); ok {
		if fromID != r.From && fromID != r.To {
			return nil, fmt.Errorf("%w: %q replaced %s by %s", ErrRotationKeyReused, key, r.From, r.To)
		}
		nt, _ := s.Find(r.To)
		old, _ := s.Find(r.From)
		out := &Rotated{New: nt, Old: old, Again: true}
		if old.NotAfter != nil {
			out.OldValidUntil = *old.NotAfter
		}
		return out, nil
	}
	old, ok := s.Find(fromID)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownToken, fromID)
	}
	now = now.UTC().Truncate(time.Second)
	if st := old.StatusAt(now); st != StatusActive {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotActive, fromID, st)
	}
	life := old.ExpiresAt.Sub(old.IssuedAt)
	if ttl > 0 {
		life = ttl
	}
	id, err := NewID()
	if err != nil {
		return nil, err
	}
	nt := *old
	nt.ID, nt.IssuedAt, nt.ExpiresAt, nt.NotAfter, nt.ReplacedBy, nt.RevokedAt = id, now, now.Add(life), nil, "", nil
	until := now.Add(overlap)
	if until.After(old.ExpiresAt) {
		until = old.ExpiresAt
	}
	old.NotAfter, old.ReplacedBy = &until, id
	s.Tokens = append(s.Tokens, nt)
	s.Rotations = append(s.Rotations, Rotation{Key: key, From: fromID, To: id, At: now})
	// Find again: the append may have moved the slice.
	newTok, _ := s.Find(id)
	oldTok, _ := s.Find(fromID)
	return &Rotated{New: newTok, Old: oldTok, OldValidUntil: until}, nil
}

// ActiveTokens lists the tokens of workspace (a UUID, any case) that are active at now.
func (s *State) ActiveTokens(workspace string, now time.Time) []*Token {
	var out []*Token
	for i := range s.Tokens {
		if t := &s.Tokens[i]; strings.EqualFold(t.Workspace, workspace) && t.StatusAt(now) == StatusActive {
			out = append(out, t)
		}
	}
	return out
}
