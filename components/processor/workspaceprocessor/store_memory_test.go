package workspaceprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestMemoryStore(maxKeys int, ttl time.Duration) (*memoryStore, *fakeClock) {
	s := newMemoryStore(maxKeys, ttl)
	clock := &fakeClock{t: s.epoch}
	s.now = clock.now
	return s, clock
}

func mustBegin(t *testing.T, s idempotencyStore, k idemKey, fp uint64, want beginStatus) lease {
	t.Helper()
	l, st, err := s.Begin(context.Background(), k, fp)
	require.NoError(t, err)
	require.Equal(t, want, st, "status for %v", k)
	if want == statusAcquired {
		require.NotNil(t, l)
	} else {
		require.Nil(t, l)
	}
	return l
}

// storeContract is the behaviour every store must have; each store's tests run it.
func storeContract(t *testing.T, newStore func(t *testing.T) idempotencyStore) {
	ctx := context.Background()
	ws := "0b6f7c1e-7f4e-4a43-9a55-2f8f2f5b6a01"

	t.Run("completed key is a duplicate", func(t *testing.T) {
		s := newStore(t)
		k := idemKey{Workspace: ws, Key: "batch-1"}
		require.NoError(t, mustBegin(t, s, k, 7, statusAcquired).Complete(ctx))
		mustBegin(t, s, k, 7, statusCompleted)
		mustBegin(t, s, k, 7, statusCompleted)
	})
	t.Run("key in flight is a conflict", func(t *testing.T) {
		s := newStore(t)
		k := idemKey{Workspace: ws, Key: "batch-2"}
		l := mustBegin(t, s, k, 7, statusAcquired)
		mustBegin(t, s, k, 7, statusInFlight)
		require.NoError(t, l.Complete(ctx))
		mustBegin(t, s, k, 7, statusCompleted)
	})
	t.Run("released key can be retried", func(t *testing.T) {
		s := newStore(t)
		k := idemKey{Workspace: ws, Key: "batch-3"}
		require.NoError(t, mustBegin(t, s, k, 7, statusAcquired).Release(ctx))
		require.NoError(t, mustBegin(t, s, k, 7, statusAcquired).Complete(ctx))
		mustBegin(t, s, k, 7, statusCompleted)
	})
	t.Run("different payload is a mismatch, in flight or completed", func(t *testing.T) {
		s := newStore(t)
		k := idemKey{Workspace: ws, Key: "batch-4"}
		l := mustBegin(t, s, k, 7, statusAcquired)
		mustBegin(t, s, k, 8, statusMismatch)
		require.NoError(t, l.Complete(ctx))
		mustBegin(t, s, k, 8, statusMismatch)
		mustBegin(t, s, k, 7, statusCompleted)
	})
	t.Run("unchecked payload never mismatches", func(t *testing.T) {
		s := newStore(t)
		k := idemKey{Workspace: ws, Key: "batch-5"}
		require.NoError(t, mustBegin(t, s, k, 0, statusAcquired).Complete(ctx))
		mustBegin(t, s, k, 9, statusCompleted)
		k2 := idemKey{Workspace: ws, Key: "batch-6"}
		require.NoError(t, mustBegin(t, s, k2, 9, statusAcquired).Complete(ctx))
		mustBegin(t, s, k2, 0, statusCompleted)
	})
	t.Run("keys are scoped by workspace", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, mustBegin(t, s, idemKey{Workspace: ws, Key: "same"}, 7, statusAcquired).Complete(ctx))
		other := "5d1c2a9e-2b7a-4c47-8f1d-3c8e9b0a7d22"
		mustBegin(t, s, idemKey{Workspace: other, Key: "same"}, 8, statusAcquired)
	})
}

func TestMemoryStoreContract(t *testing.T) {
	storeContract(t, func(*testing.T) idempotencyStore { return newMemoryStore(1000, time.Hour) })
}

func TestMemoryStoreTTL(t *testing.T) {
	ctx := context.Background()
	s, clock := newTestMemoryStore(100, time.Minute)
	k := idemKey{Workspace: "ws", Key: "k"}
	require.NoError(t, mustBegin(t, s, k, 1, statusAcquired).Complete(ctx))
	clock.advance(59 * time.Second)
	mustBegin(t, s, k, 1, statusCompleted)
	clock.advance(2 * time.Second)
	// Expired: the key is new again, even with another payload.
	mustBegin(t, s, k, 2, statusAcquired)
	assert.Equal(t, 1, s.Len())
}

func TestMemoryStoreInFlightDoesNotExpire(t *testing.T) {
	s, clock := newTestMemoryStore(100, time.Minute)
	k := idemKey{Workspace: "ws", Key: "slow"}
	l := mustBegin(t, s, k, 1, statusAcquired)
	clock.advance(time.Hour)
	mustBegin(t, s, k, 1, statusInFlight)
	require.NoError(t, l.Complete(context.Background()))
	mustBegin(t, s, k, 1, statusCompleted)
}

func TestMemoryStoreEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestMemoryStore(3, time.Hour)
	for _, key := range []string{"a", "b", "c"} {
		require.NoError(t, mustBegin(t, s, idemKey{Workspace: "ws", Key: key}, 1, statusAcquired).Complete(ctx))
	}
	mustBegin(t, s, idemKey{Workspace: "ws", Key: "a"}, 1, statusCompleted) // a is now the most recent
	require.NoError(t, mustBegin(t, s, idemKey{Workspace: "ws", Key: "d"}, 1, statusAcquired).Complete(ctx))
	assert.Equal(t, 3, s.Len())
	mustBegin(t, s, idemKey{Workspace: "ws", Key: "a"}, 1, statusCompleted)
	mustBegin(t, s, idemKey{Workspace: "ws", Key: "c"}, 1, statusCompleted)
	mustBegin(t, s, idemKey{Workspace: "ws", Key: "d"}, 1, statusCompleted)
	// b was the least recently used and is gone.
	mustBegin(t, s, idemKey{Workspace: "ws", Key: "b"}, 1, statusAcquired)
}

func TestMemoryStoreLeaseEvictedWhileInFlight(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestMemoryStore(2, time.Hour)
	slow := mustBegin(t, s, idemKey{Workspace: "ws", Key: "slow"}, 1, statusAcquired)
	for _, key := range []string{"x", "y"} {
		require.NoError(t, mustBegin(t, s, idemKey{Workspace: "ws", Key: key}, 1, statusAcquired).Complete(ctx))
	}
	// "slow" was evicted, but its completion must still be remembered.
	require.NoError(t, slow.Complete(ctx))
	mustBegin(t, s, idemKey{Workspace: "ws", Key: "slow"}, 1, statusCompleted)
	assert.Equal(t, 2, s.Len())
}

func TestMemoryStoreStaleLeaseCannotTouchNewEntry(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestMemoryStore(1, time.Hour)
	first := mustBegin(t, s, idemKey{Workspace: "ws", Key: "a"}, 1, statusAcquired)
	// "b" evicts "a" and reuses its slot.
	second := mustBegin(t, s, idemKey{Workspace: "ws", Key: "b"}, 1, statusAcquired)
	require.NoError(t, first.Release(ctx))
	mustBegin(t, s, idemKey{Workspace: "ws", Key: "b"}, 1, statusInFlight)
	require.NoError(t, second.Complete(ctx))
	mustBegin(t, s, idemKey{Workspace: "ws", Key: "b"}, 1, statusCompleted)
}

// TestMemoryStoreMatchesModel drives the store with random operations and compares every answer
// with a plain map, exercising index growth, backward-shift deletion and slot reuse.
func TestMemoryStoreMatchesModel(t *testing.T) {
	ctx := context.Background()
	s, clock := newTestMemoryStore(1<<20, 30*time.Second)
	type modelEntry struct {
		fp        uint64
		completed bool
		expires   time.Time
	}
	model := map[idemKey]*modelEntry{}
	leases := map[idemKey]lease{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200_000; i++ {
		k := idemKey{Workspace: "ws", Key: fmt.Sprintf("k%d", rng.IntN(5000))}
		if rng.IntN(100) == 0 {
			clock.advance(time.Second)
		}
		if l, ok := leases[k]; ok {
			delete(leases, k)
			if rng.IntN(2) == 0 {
				require.NoError(t, l.Complete(ctx))
				model[k].completed = true
				model[k].expires = clock.t.Add(31 * time.Second)
			} else {
				require.NoError(t, l.Release(ctx))
				delete(model, k)
			}
			continue
		}
		fp := uint64(rng.IntN(2) + 1)
		m := model[k]
		if m != nil && m.completed && !clock.t.Before(m.expires) {
			m = nil
		}
		want := statusAcquired
		switch {
		case m == nil:
		case m.fp != fp:
			want = statusMismatch
		case m.completed:
			want = statusCompleted
		default:
			want = statusInFlight
		}
		l := mustBegin(t, s, k, fp, want)
		if want == statusAcquired {
			leases[k] = l
			model[k] = &modelEntry{fp: fp}
		}
	}
}
