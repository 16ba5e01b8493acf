package workspaceprocessor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/tfocol/tfocol/internal/redistest"
)

func redisConfig(addr string) IdempotencyConfig {
	cfg := defaultConfig().Idempotency
	cfg.Store = StoreRedis
	cfg.Redis.Endpoint = addr
	return cfg
}

func newTestRedisStore(t *testing.T, cfg IdempotencyConfig) *redisStore {
	t.Helper()
	s, err := newRedisStore(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func TestRedisStoreContract(t *testing.T) {
	srv := redistest.Start(t)
	storeContract(t, func(t *testing.T) idempotencyStore {
		cfg := redisConfig(srv.Addr)
		cfg.Redis.KeyPrefix = t.Name() + ":" // each subtest its own keys
		return newTestRedisStore(t, cfg)
	})
}

func TestRedisStoreRecords(t *testing.T) {
	srv := redistest.Start(t)
	cfg := redisConfig(srv.Addr)
	cfg.TTL = time.Hour
	cfg.LeaseTTL = 5 * time.Second
	s := newTestRedisStore(t, cfg)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	ctx := context.Background()

	l := mustBegin(t, s, idemKey{Workspace: testWS, Key: "k1"}, 0xabc, statusAcquired)
	key := "tfocol:idem:" + testWS + ":k1"
	v, err := rdb.Get(ctx, key).Result()
	require.NoError(t, err)
	assert.Regexp(t, `^L\|[0-9a-f]{24}\|abc$`, v)
	ttl := rdb.PTTL(ctx, key).Val()
	assert.InDelta(t, float64(5*time.Second), float64(ttl), float64(time.Second), "lease expires after lease_ttl")

	require.NoError(t, l.Complete(ctx))
	assert.Equal(t, "C|abc", rdb.Get(ctx, key).Val())
	assert.InDelta(t, float64(time.Hour), float64(rdb.PTTL(ctx, key).Val()), float64(time.Minute), "completion kept for ttl")
}

func TestRedisStoreSharedByReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a := newTestRedisStore(t, redisConfig(srv.Addr))
	b := newTestRedisStore(t, redisConfig(srv.Addr))
	ctx := context.Background()
	k := idemKey{Workspace: testWS, Key: "shared"}

	l := mustBegin(t, a, k, 1, statusAcquired)
	mustBegin(t, b, k, 1, statusInFlight)
	mustBegin(t, b, k, 2, statusMismatch)
	require.NoError(t, l.Complete(ctx))
	mustBegin(t, b, k, 1, statusCompleted)

	// Many concurrent first requests over both replicas: exactly one wins the lease.
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[beginStatus]int{}
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(s idempotencyStore) {
			defer wg.Done()
			_, st, err := s.Begin(ctx, idemKey{Workspace: testWS, Key: "race"}, 1)
			assert.NoError(t, err)
			mu.Lock()
			counts[st]++
			mu.Unlock()
		}([]idempotencyStore{a, b}[i%2])
	}
	wg.Wait()
	assert.Equal(t, map[beginStatus]int{statusAcquired: 1, statusInFlight: 39}, counts)
}

func TestRedisStoreLeaseRenewalAndExpiry(t *testing.T) {
	srv := redistest.Start(t)
	cfg := redisConfig(srv.Addr)
	cfg.LeaseTTL = 300 * time.Millisecond
	a := newTestRedisStore(t, cfg)
	b := newTestRedisStore(t, cfg)
	ctx := context.Background()

	// A live request keeps its lease well past lease_ttl.
	slow := mustBegin(t, a, idemKey{Workspace: testWS, Key: "slow"}, 1, statusAcquired)
	time.Sleep(3 * cfg.LeaseTTL)
	mustBegin(t, b, idemKey{Workspace: testWS, Key: "slow"}, 1, statusInFlight)
	require.NoError(t, slow.Complete(ctx))

	// A replica that dies mid-request stops renewing: its lease lapses and the retry goes through.
	crashed := mustBegin(t, a, idemKey{Workspace: testWS, Key: "crash"}, 1, statusAcquired)
	crashed.(*redisLease).stopRenewal()
	require.Eventually(t, func() bool {
		_, st, err := b.Begin(ctx, idemKey{Workspace: testWS, Key: "crash"}, 1)
		return err == nil && st == statusAcquired
	}, 5*time.Second, 50*time.Millisecond)

	// The dead request's late release must not drop the new holder's lease.
	require.NoError(t, crashed.Release(ctx))
	mustBegin(t, a, idemKey{Workspace: testWS, Key: "crash"}, 1, statusInFlight)
}

func TestRedisStoreUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	addr := srv.Addr
	srv.Stop()

	cfg := defaultConfig()
	cfg.Idempotency = redisConfig(addr)
	cfg.Idempotency.Redis.Timeout = 200 * time.Millisecond
	require.NoError(t, cfg.Validate())

	rejecting := startProcessors(t, cfg, nil, nexts{})
	st := requireCode(t, rejecting.traces.ConsumeTraces(reqCtx(wsHeaders("Idempotency-Key", "k"), nil), newTraces("a")), codes.Unavailable)
	assert.NotContains(t, st.Message(), addr)
	errs, err := rejecting.tel.GetMetric("tfocol_workspace_store_errors")
	require.NoError(t, err)
	assert.NotEmpty(t, errs.Data)
	// Requests without a key never touch the store.
	require.NoError(t, rejecting.traces.ConsumeTraces(reqCtx(wsHeaders(), nil), newTraces("a")))

	allowCfg := defaultConfig()
	allowCfg.Idempotency = cfg.Idempotency
	allowCfg.Idempotency.OnStoreError = OnStoreErrorAllow
	var delivered int
	sink := countingTraces(&delivered)
	allowing := startProcessors(t, allowCfg, nil, nexts{traces: sink})
	require.NoError(t, allowing.traces.ConsumeTraces(reqCtx(wsHeaders("Idempotency-Key", "k"), nil), newTraces("a")))
	require.NoError(t, allowing.traces.ConsumeTraces(reqCtx(wsHeaders("Idempotency-Key", "k"), nil), newTraces("a")))
	assert.Equal(t, 2, delivered, "allow trades deduplication for availability")
}

func TestRedisProcessorEndToEnd(t *testing.T) {
	srv := redistest.Start(t)
	cfg := defaultConfig()
	cfg.Idempotency = redisConfig(srv.Addr)
	var deliveredA, deliveredB int
	a := startProcessors(t, cfg, nil, nexts{traces: countingTraces(&deliveredA)})
	cfgB := defaultConfig()
	cfgB.Idempotency = redisConfig(srv.Addr)
	b := startProcessors(t, cfgB, nil, nexts{traces: countingTraces(&deliveredB)})

	ctx := reqCtx(wsHeaders("Idempotency-Key", "replica-test"), nil)
	require.NoError(t, a.traces.ConsumeTraces(ctx, newTraces("a")))
	require.NoError(t, b.traces.ConsumeTraces(ctx, newTraces("a")))
	requireCode(t, b.traces.ConsumeTraces(ctx, newTraces("other")), codes.InvalidArgument)
	assert.Equal(t, 1, deliveredA)
	assert.Equal(t, 0, deliveredB)
}

// A Begin that times out while Redis is paused still runs when Redis resumes; its in-flight mark must not make
// the client's retry wait for lease_ttl (30 s).
func TestRedisPauseLeavesNoInFlightMark(t *testing.T) {
	srv := redistest.Start(t)
	cfg := defaultConfig()
	cfg.Idempotency = redisConfig(srv.Addr)
	cfg.Idempotency.Redis.Timeout = 200 * time.Millisecond
	require.Equal(t, 30*time.Second, cfg.Idempotency.LeaseTTL)
	var delivered int
	var mu sync.Mutex
	sink := countingTraces(&delivered)
	p := startProcessors(t, cfg, nil, nexts{traces: sink})
	send := func(key string) error {
		mu.Lock()
		defer mu.Unlock()
		return p.traces.ConsumeTraces(reqCtx(wsHeaders("Idempotency-Key", key), nil), newTraces("a"))
	}
	require.NoError(t, send("warm-up")) // scripts loaded, pool connected

	srv.Pause(t)
	for _, k := range []string{"k1", "k2", "k3"} {
		requireCode(t, send(k), codes.Unavailable)
	}
	time.Sleep(300 * time.Millisecond) // the settler has tried and timed out too
	srv.Resume(t)

	resumed := time.Now()
	for _, k := range []string{"k1", "k2", "k3"} {
		require.Eventually(t, func() bool { return send(k) == nil }, 5*time.Second, 50*time.Millisecond, "retry of %s", k)
	}
	assert.Less(t, time.Since(resumed), 3*time.Second, "retries succeed promptly, not after lease_ttl")
	mu.Lock()
	assert.Equal(t, 4, delivered, "each batch delivered once")
	mu.Unlock()

	// The fences expire with lease_ttl, and no lease is left behind.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	for _, k := range []string{"k1", "k2", "k3"} {
		v := rdb.Get(context.Background(), "tfocol:idem:"+testWS+":"+k).Val()
		assert.Regexp(t, `^C\|`, v)
	}
}

// A lease whose Release timed out during a pause is released once Redis answers again.
func TestRedisFailedReleaseIsSettled(t *testing.T) {
	srv := redistest.Start(t)
	cfg := redisConfig(srv.Addr)
	cfg.Redis.Timeout = 200 * time.Millisecond
	a := newTestRedisStore(t, cfg)
	b := newTestRedisStore(t, cfg)
	ctx := context.Background()
	l := mustBegin(t, a, idemKey{Workspace: testWS, Key: "rel"}, 1, statusAcquired)
	srv.Pause(t)
	require.Error(t, l.Release(ctx))
	srv.Resume(t)
	require.Eventually(t, func() bool {
		_, st, err := b.Begin(ctx, idemKey{Workspace: testWS, Key: "rel"}, 1)
		return err == nil && st == statusAcquired
	}, 3*time.Second, 50*time.Millisecond)
}
