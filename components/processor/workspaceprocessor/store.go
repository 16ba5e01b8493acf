package workspaceprocessor

import (
	"context"

	"github.com/tfocol/tfocol/internal/requestcontract"
)

// idemKey scopes an Idempotency-Key to the workspace it was sent for (the request contract's scope).
type idemKey = requestcontract.Scope

// beginStatus is what a store found when a request asked to begin work on a key.
type beginStatus int

const (
	// statusAcquired: the key was free; the caller holds its lease and must Complete or Release it.
	statusAcquired beginStatus = iota
	// statusCompleted: a request with this key already went through; the caller is a duplicate.
	statusCompleted
	// statusInFlight: another request with this key is being processed right now.
	statusInFlight
	// statusMismatch: the key was used with a different payload fingerprint.
	statusMismatch
)

// idempotencyStore remembers Idempotency-Keys: in flight (a lease) or completed (for the ttl).
type idempotencyStore interface {
	// Begin looks up k and, if it is free, takes a lease on it. fp is the payload fingerprint, 0 when
	// payload checking is off; fingerprints are only compared when both sides are non-zero.
	// The lease is non-nil only with statusAcquired.
	Begin(ctx context.Context, k idemKey, fp uint64) (lease, beginStatus, error)
	// Shutdown releases the store's resources.
	Shutdown(ctx context.Context) error
}

// lease is the in-flight mark of one request.
type lease interface {
	// Complete marks the key completed (kept for the ttl): the data was accepted downstream.
	Complete(ctx context.Context) error
	// Release drops the in-flight mark so that a retry of the request goes through.
	Release(ctx context.Context) error
}

// fingerprintsDiffer reports a payload mismatch; a zero fingerprint means "not checked".
func fingerprintsDiffer(a, b uint64) bool {
	return a != 0 && b != 0 && a != b
}
