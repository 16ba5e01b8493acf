package workspaceprocessor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// redisStore keeps Idempotency-Keys in Redis so that every gateway replica sees the same keys.
//
// One string key per Idempotency-Key, "<prefix><workspace>:<key>", holds either
//
//	L|<token>|<fingerprint>   in flight, expiring after lease_ttl unless its holder renews it
//	C|<fingerprint>           completed, expiring after ttl
//
// Begin is one atomic `SET key L|… NX PX lease_ttl GET` (Redis ≥ 7.0, in a Lua script): it takes the
// lease when the key is free and otherwise returns what is there. Release and renewal compare the lease
// token in a Lua script so a request never drops or extends a lease it no longer holds.
//
// A command that timed out may still run: during a Redis pause (SIGSTOP, a long fork or AOF fsync, a
// failover) it waits in the socket and executes when Redis resumes, after the request has already been
// answered 503. An orphaned `L|` mark would then refuse every retry until lease_ttl expired. So every
// store operation that failed is settled in the background until Redis answers again:
//
//   - a failed Begin is fenced: "<prefix>fence:<token>" is set (for lease_ttl) and the lease is deleted if
//     it exists, in one script; Begin's script does nothing when its fence exists, so a Begin that runs
//     late, before or after the fence, leaves no mark behind;
//   - a failed Release is retried (it compares the token, so it is safe to repeat);
//   - a failed Complete is retried as "complete if still held by this token".
//
// Settling stops after lease_ttl (the mark has expired by then anyway) and at Shutdown.
type redisStore struct {
	client   *redis.Client
	prefix   string
	ttl      time.Duration
	leaseTTL time.Duration
	timeout  time.Duration

	closing   chan struct{} // closed at Shutdown: stops lease renewals of requests still in flight
	closeOnce sync.Once
	renewers  sync.WaitGroup // lease renewals and the settler

	settleq chan settleOp // failed operations for the settler; full: left to lease expiry
}

// settleRetry is how often the settler retries while Redis does not answer.
const settleRetry = 100 * time.Millisecond

// maxUnsettled bounds the failed operations waiting to be settled.
const maxUnsettled = 10_000

type settleKind uint8

const (
	settleFence settleKind = iota
	settleRelease
	settleComplete
)

// settleOp is a store operation that failed and must be brought to its end once Redis answers.
type settleOp struct {
	kind     settleKind
	key      string // the idempotency key's Redis key
	value    string // the lease value "L|token|fp"
	fp       uint64
	deadline time.Time // lease_ttl after the failure: the mark has expired by then
}

var (
	// KEYS[1] lease key, ARGV[1] lease value.
	releaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)
	// KEYS[1] lease key, ARGV[1] lease value, ARGV[2] lease ttl in ms.
	renewScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`)
	// KEYS[1] key, KEYS[2] fence of this attempt; ARGV[1] lease value, ARGV[2] lease ttl in ms. The old
	// value, nil when the lease was taken; nothing happens once the attempt is fenced.
	beginScript = redis.NewScript(`if redis.call('EXISTS', KEYS[2]) == 1 then return redis.error_reply('fenced') end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2], 'GET')`)
	// KEYS[1] key, KEYS[2] fence; ARGV[1] lease value, ARGV[2] fence ttl in ms.
	fenceScript = redis.NewScript(`redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)
	// KEYS[1] key; ARGV[1] lease value, ARGV[2] completed value, ARGV[3] ttl in ms.
	completeIfHeldScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end return 0`)
)

func newRedisStore(cfg IdempotencyConfig) (*redisStore, error) {
	opts, err := redisOptions(cfg.Redis)
	if err != nil {
		return nil, err
	}
	s := &redisStore{
		client:   redis.NewClient(opts),
		prefix:   cfg.Redis.KeyPrefix,
		ttl:      cfg.TTL,
		leaseTTL: cfg.LeaseTTL,
		timeout:  cfg.Redis.Timeout,
		closing:  make(chan struct{}),
		settleq:  make(chan settleOp, maxUnsettled),
	}
	s.renewers.Add(1)
	go s.settler()
	return s, nil
}

func redisOptions(cfg RedisConfig) (*redis.Options, error) {
	opts := &redis.Options{Addr: cfg.Endpoint}
	if strings.Contains(cfg.Endpoint, "://") {
		parsed, err := redis.ParseURL(cfg.Endpoint)
		if err != nil {
			// The URL may carry a password: do not echo it.
			return nil, errors.New("idempotency.redis.endpoint is not a valid redis:// or rediss:// URL")
		}
		opts = parsed
	}
	if cfg.Username != "" {
		opts.Username = cfg.Username
	}
	if cfg.Password != "" {
		opts.Password = string(cfg.Password)
	}
	if cfg.DB != 0 {
		opts.DB = cfg.DB
	}
	opts.DialTimeout = cfg.Timeout
	opts.ReadTimeout = cfg.Timeout
	opts.WriteTimeout = cfg.Timeout
	opts.ContextTimeoutEnabled = true
	// Keep the handshake to plain AUTH/SELECT: no CLIENT SETINFO or maintenance-notification probes
	// that older or managed Redis servers reject.
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opts, nil
}

// Begin implements idempotencyStore.
func (s *redisStore) Begin(ctx context.Context, k idemKey, fp uint64) (lease, beginStatus, error) {
	key := s.prefix + k.Workspace + ":" + k.Key
	token, err := newLeaseToken()
	if err != nil {
		return nil, 0, err
	}
	value := "L|" + token + "|" + strconv.FormatUint(fp, 16)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	old, err := beginScript.Run(ctx, s.client, []string{key, s.fenceKey(token)}, value, s.leaseTTL.Milliseconds()).Text()
	switch {
	case errors.Is(err, redis.Nil):
		l := &redisLease{store: s, key: key, value: value, fp: fp, stop: make(chan struct{}), done: make(chan struct{})}
		s.renewers.Add(1)
		go l.renew()
		return l, statusAcquired, nil
	case err != nil:
		// The command may still run when Redis comes back: make sure it leaves no lease behind.
		s.settleLater(settleOp{kind: settleFence, key: key, value: value, fp: fp})
		return nil, 0, fmt.Errorf("redis: %w", err)
	}
	state, storedFP, err := parseRedisValue(old)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case fingerprintsDiffer(storedFP, fp):
		return nil, statusMismatch, nil
	case state == 'L':
		return nil, statusInFlight, nil
	default:
		return nil, statusCompleted, nil
	}
}

func (s *redisStore) fenceKey(token string) string { return s.prefix + "fence:" + token }

// settleLater hands a failed operation to the settler (dropped when too many are waiting: the mark then lapses
// after lease_ttl, as it would have without settling).
func (s *redisStore) settleLater(op settleOp) {
	op.deadline = time.Now().Add(s.leaseTTL)
	select {
	case s.settleq <- op:
	default:
	}
}

// settler retries failed operations every settleRetry until each succeeds or its deadline passes.
func (s *redisStore) settler() {
	defer s.renewers.Done()
	var pending []settleOp
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-s.closing:
			return
		case op := <-s.settleq:
			pending = append(pending, op)
			if len(pending) == 1 {
				retry.Reset(settleRetry)
			}
		case <-retry.C:
			pending = s.settle(pending)
			if len(pending) > 0 {
				retry.Reset(settleRetry)
			}
		}
	}
}

// settle runs the pending operations in order and returns those still to do. It stops at the first failure:
// Redis is still away, and every further attempt would only wait for its timeout too.
func (s *redisStore) settle(pending []settleOp) []settleOp {
	now := time.Now()
	for i, op := range pending {
		if now.After(op.deadline) {
			continue
		}
		if err := s.settleOne(op); err != nil {
			kept := pending[:0]
			for _, rest := range pending[i:] {
				if !now.After(rest.deadline) {
					kept = append(kept, rest)
				}
			}
			return kept
		}
	}
	return pending[:0]
}

func (s *redisStore) settleOne(op settleOp) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	switch op.kind {
	case settleFence:
		token := strings.Split(op.value, "|")[1]
		return fenceScript.Run(ctx, s.client, []string{op.key, s.fenceKey(token)}, op.value, s.leaseTTL.Milliseconds()).Err()
	case settleRelease:
		return releaseScript.Run(ctx, s.client, []string{op.key}, op.value).Err()
	default:
		return completeIfHeldScript.Run(ctx, s.client, []string{op.key}, op.value,
			"C|"+strconv.FormatUint(op.fp, 16), s.ttl.Milliseconds()).Err()
	}
}

func (s *redisStore) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.client.Ping(ctx).Err()
}

// Shutdown implements idempotencyStore. Leases of requests still in flight stop being renewed and
// lapse after lease_ttl.
func (s *redisStore) Shutdown(context.Context) error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		s.renewers.Wait()
		err = s.client.Close()
	})
	return err
}

func parseRedisValue(v string) (byte, uint64, error) {
	parts := strings.Split(v, "|")
	var fpText string
	switch {
	case len(parts) == 3 && parts[0] == "L":
		fpText = parts[2]
	case len(parts) == 2 && parts[0] == "C":
		fpText = parts[1]
	default:
		return 0, 0, errors.New("redis: unrecognized idempotency record")
	}
	fp, err := strconv.ParseUint(fpText, 16, 64)
	if err != nil {
		return 0, 0, errors.New("redis: unrecognized idempotency record")
	}
	return parts[0][0], fp, nil
}

func newLeaseToken() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

type redisLease struct {
	store    *redisStore
	key      string
	value    string
	fp       uint64
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// renew extends the lease every lease_ttl/3 while the request is in flight, so a short lease_ttl
// frees keys of a crashed replica quickly without expiring a slow but live request.
func (l *redisLease) renew() {
	s := l.store
	defer s.renewers.Done()
	defer close(l.done)
	ticker := time.NewTicker(s.leaseTTL / 3)
	defer ticker.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-s.closing:
			return
		case <-ticker.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			// A failed renewal is retried on the next tick; if Redis stays away the lease lapses.
			_ = renewScript.Run(ctx, s.client, []string{l.key}, l.value, s.leaseTTL.Milliseconds()).Err()
			cancel()
		}
	}
}

func (l *redisLease) stopRenewal() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// Complete implements lease.
func (l *redisLease) Complete(ctx context.Context) error {
	l.stopRenewal()
	ctx, cancel := context.WithTimeout(ctx, l.store.timeout)
	defer cancel()
	value := "C|" + strconv.FormatUint(l.fp, 16)
	if err := l.store.client.Set(ctx, l.key, value, l.store.ttl).Err(); err != nil {
		l.store.settleLater(settleOp{kind: settleComplete, key: l.key, value: l.value, fp: l.fp})
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Release implements lease.
func (l *redisLease) Release(ctx context.Context) error {
	l.stopRenewal()
	ctx, cancel := context.WithTimeout(ctx, l.store.timeout)
	defer cancel()
	if err := releaseScript.Run(ctx, l.store.client, []string{l.key}, l.value).Err(); err != nil {
		l.store.settleLater(settleOp{kind: settleRelease, key: l.key, value: l.value})
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}
