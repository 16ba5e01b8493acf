package workspaceprocessor

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
)

// memStorage is a storage.Client over a map that outlives the clients opened on it, the way a
// file_storage directory outlives the collector process.
type memStorage struct {
	mu      sync.Mutex
	data    map[string][]byte
	failing bool
}

func newMemStorage() *memStorage { return &memStorage{data: map[string][]byte{}} }

var errStorageDown = errors.New("disk on fire")

func (m *memStorage) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := m.Batch(ctx, op)
	return op.Value, err
}

func (m *memStorage) Set(ctx context.Context, key string, value []byte) error {
	return m.Batch(ctx, storage.SetOperation(key, value))
}

func (m *memStorage) Delete(ctx context.Context, key string) error {
	return m.Batch(ctx, storage.DeleteOperation(key))
}

func (m *memStorage) Batch(_ context.Context, ops ...*storage.Operation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return errStorageDown
	}
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			if v, ok := m.data[op.Key]; ok {
				op.Value = append([]byte(nil), v...)
			} else {
				op.Value = nil
			}
		case storage.Set:
			m.data[op.Key] = append([]byte(nil), op.Value...)
		case storage.Delete:
			delete(m.data, op.Key)
		}
	}
	return nil
}

func (m *memStorage) Close(context.Context) error { return nil }

func (m *memStorage) setFailing(f bool) {
	m.mu.Lock()
	m.failing = f
	m.mu.Unlock()
}

// keysWithPrefix counts stored keys with the prefix.
func (m *memStorage) keysWithPrefix(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k := range m.data {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// memStorageExtension is a storage extension handing out clients on one memStorage.
type memStorageExtension struct {
	component.StartFunc
	component.ShutdownFunc
	storage *memStorage
}

func (e *memStorageExtension) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return e.storage, nil
}

var _ storage.Extension = (*memStorageExtension)(nil)

type hostWithExtensions map[component.ID]component.Component

func (h hostWithExtensions) GetExtensions() map[component.ID]component.Component { return h }

func newTestStorageStore(t *testing.T, st *memStorage, ttl time.Duration, maxKeys int, clock *fakeClock) *storageStore {
	t.Helper()
	now := time.Now
	if clock != nil {
		now = clock.now
	}
	s, err := newStorageStore(context.Background(), st, ttl, maxKeys, zap.NewNop(), now)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func TestStorageStoreContract(t *testing.T) {
	storeContract(t, func(t *testing.T) idempotencyStore {
		return newTestStorageStore(t, newMemStorage(), time.Hour, 1000, nil)
	})
}

func TestStorageStoreSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage()
	before := newTestStorageStore(t, st, time.Hour, 1000, nil)
	require.NoError(t, mustBegin(t, before, idemKey{Workspace: testWS, Key: "done"}, 5, statusAcquired).Complete(ctx))
	mustBegin(t, before, idemKey{Workspace: testWS, Key: "crashed-mid-request"}, 5, statusAcquired)
	require.NoError(t, before.Shutdown(ctx))

	after := newTestStorageStore(t, st, time.Hour, 1000, nil)
	mustBegin(t, after, idemKey{Workspace: testWS, Key: "done"}, 5, statusCompleted)
	mustBegin(t, after, idemKey{Workspace: testWS, Key: "done"}, 6, statusMismatch)
	// Leases are not persisted: a request cut off by the restart can be retried at once.
	mustBegin(t, after, idemKey{Workspace: testWS, Key: "crashed-mid-request"}, 5, statusAcquired)
}

func TestStorageStoreExpiresAndSweeps(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s := newTestStorageStore(t, st, time.Minute, 1000, clock)
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, mustBegin(t, s, idemKey{Workspace: testWS, Key: k}, 1, statusAcquired).Complete(ctx))
		clock.advance(10 * time.Second)
	}
	// now = T+30s; a expires at T+60s, b at T+70s, c at T+80s.
	clock.advance(35 * time.Second)
	mustBegin(t, s, idemKey{Workspace: testWS, Key: "b"}, 1, statusCompleted)
	require.NoError(t, s.sweep(ctx))
	assert.Equal(t, 2, st.keysWithPrefix("k/"), "the expired record is deleted")
	assert.Equal(t, 2, st.keysWithPrefix("l/"))

	// An expired key is new again; its fresh record survives the sweep of its old log entry.
	require.NoError(t, mustBegin(t, s, idemKey{Workspace: testWS, Key: "a"}, 2, statusAcquired).Complete(ctx))
	clock.advance(time.Minute)
	require.NoError(t, s.sweep(ctx))
	mustBegin(t, s, idemKey{Workspace: testWS, Key: "b"}, 1, statusAcquired)

	// A restart reads the log bounds back and keeps sweeping from there.
	require.NoError(t, s.Shutdown(ctx))
	clock.advance(time.Hour)
	// The restarted store sweeps what expired while it was down.
	restarted := newTestStorageStore(t, st, time.Minute, 1000, clock)
	require.Eventually(t, func() bool { return st.keysWithPrefix("k/")+st.keysWithPrefix("l/") == 0 },
		5*time.Second, 10*time.Millisecond)
	mustBegin(t, restarted, idemKey{Workspace: testWS, Key: "a"}, 3, statusAcquired)
}

func TestStorageStoreBoundedByMaxKeys(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage()
	s := newTestStorageStore(t, st, time.Hour, 3, nil)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		require.NoError(t, mustBegin(t, s, idemKey{Workspace: testWS, Key: k}, 1, statusAcquired).Complete(ctx))
	}
	assert.Equal(t, 3, st.keysWithPrefix("k/"))
	mustBegin(t, s, idemKey{Workspace: testWS, Key: "e"}, 1, statusCompleted)
	mustBegin(t, s, idemKey{Workspace: testWS, Key: "c"}, 1, statusCompleted)
	mustBegin(t, s, idemKey{Workspace: testWS, Key: "a"}, 1, statusAcquired) // the oldest were dropped
}

func TestStorageStoreSweepsInBatches(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s := newTestStorageStore(t, st, time.Minute, 10_000, clock)
	for i := 0; i < 3*sweepBatch+7; i++ {
		require.NoError(t, mustBegin(t, s, idemKey{Workspace: testWS, Key: "k" + strconv.Itoa(i)}, 1, statusAcquired).Complete(ctx))
	}
	clock.advance(time.Second)
	require.NoError(t, mustBegin(t, s, idemKey{Workspace: testWS, Key: "fresh"}, 1, statusAcquired).Complete(ctx))
	clock.advance(time.Minute - time.Second/2)
	require.NoError(t, s.sweep(ctx))
	assert.Equal(t, 1, st.keysWithPrefix("k/"), "all but the fresh key swept, across several batches")
	assert.Equal(t, 1, st.keysWithPrefix("l/"))
	mustBegin(t, s, idemKey{Workspace: testWS, Key: "fresh"}, 1, statusCompleted)
}

func TestStorageStoreErrors(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage()
	s := newTestStorageStore(t, st, time.Hour, 10, nil)
	st.setFailing(true)
	_, _, err := s.Begin(ctx, idemKey{Workspace: testWS, Key: "k"}, 1)
	require.ErrorIs(t, err, errStorageDown)
	st.setFailing(false)
	// A failed Begin leaves no lease behind.
	l := mustBegin(t, s, idemKey{Workspace: testWS, Key: "k"}, 1, statusAcquired)
	st.setFailing(true)
	require.ErrorIs(t, l.Complete(ctx), errStorageDown)
	st.setFailing(false)
	// The completion was not recorded, and the lease is gone: a retry is accepted.
	mustBegin(t, s, idemKey{Workspace: testWS, Key: "k"}, 1, statusAcquired)
}

func TestStorageProcessorThroughExtension(t *testing.T) {
	st := newMemStorage()
	extID := component.MustNewIDWithName("file_storage", "idem")
	host := hostWithExtensions{extID: &memStorageExtension{storage: st}}
	cfg := defaultConfig()
	cfg.Idempotency.Store = StoreStorage
	cfg.Idempotency.Storage = &extID
	require.NoError(t, cfg.Validate())

	var delivered int
	p := startProcessors(t, cfg, host, nexts{traces: countingTraces(&delivered)})
	ctx := reqCtx(wsHeaders("Idempotency-Key", "persisted"), nil)
	require.NoError(t, p.traces.ConsumeTraces(ctx, newTraces("a")))
	require.NoError(t, p.traces.ConsumeTraces(ctx, newTraces("a")))
	assert.Equal(t, 1, delivered)
	assert.Equal(t, 1, st.keysWithPrefix("k/"+testWS+"/persisted"))

	st.setFailing(true)
	requireCode(t, p.traces.ConsumeTraces(reqCtx(wsHeaders("Idempotency-Key", "other"), nil), newTraces("a")), codes.Unavailable)
}

func TestStorageExtensionMissingOrWrong(t *testing.T) {
	missing := component.MustNewID("file_storage")
	cfg := defaultConfig()
	cfg.Idempotency.Store = StoreStorage
	cfg.Idempotency.Storage = &missing
	_, err := newStorageStoreFromHost(context.Background(), hostWithExtensions{}, component.MustNewID("workspace"), cfg.Idempotency, zap.NewNop())
	assert.ErrorContains(t, err, `storage extension "file_storage" not found`)

	notStorage := hostWithExtensions{missing: extension.Extension(&struct {
		component.StartFunc
		component.ShutdownFunc
	}{})}
	_, err = newStorageStoreFromHost(context.Background(), notStorage, component.MustNewID("workspace"), cfg.Idempotency, zap.NewNop())
	assert.ErrorContains(t, err, "is not a storage extension")
}
