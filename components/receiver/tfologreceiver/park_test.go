package tfologreceiver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/internal/durablelog"
)

// gate refuses the bodies in refuse (permanently or not) and records every call and every accepted body.
type gate struct {
	mu        sync.Mutex
	refuse    map[string]bool
	permanent bool
	calls     map[string]int
	accepted  []string
}

func newGate(permanent bool, refuse ...string) *gate {
	g := &gate{refuse: map[string]bool{}, permanent: permanent, calls: map[string]int{}}
	for _, b := range refuse {
		g.refuse[b] = true
	}
	return g
}

func (g *gate) consume(_ context.Context, ld plog.Logs) error {
	b := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls[b]++
	if g.refuse[b] {
		err := errors.New("gateway answered 400")
		if g.permanent {
			return consumererror.NewPermanent(err)
		}
		return err
	}
	g.accepted = append(g.accepted, b)
	return nil
}

func (g *gate) accept(b string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.refuse, b)
}

func (g *gate) got() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.accepted...)
}

func (g *gate) callsOf(b string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[b]
}

func parkConfig(consumer string) *Config {
	cfg := createDefaultConfig()
	cfg.Consumer = consumer
	cfg.RetryInitial, cfg.RetryMax = time.Millisecond, 5*time.Millisecond
	return cfg
}

func parkedIn(t *testing.T, logDir, consumer string) []*durablelog.ParkedEntry {
	t.Helper()
	s, err := durablelog.OpenParked(durablelog.ParkedDir(logDir, consumer))
	require.NoError(t, err)
	got, damaged, err := s.List(false)
	require.NoError(t, err)
	require.Empty(t, damaged)
	return got
}

// A permanent refusal parks the entry at once (one call, no retries): the entries after it are delivered, the
// parked one is on disk with its reason, and a restart delivers nothing again. Replayed once the destination
// accepts it, it is delivered exactly once and leaves the store.
func TestParkPermanentAtOnceThenReplay(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	appendLogs(t, l, "a", "poison", "b")
	cfg := parkConfig("fwd")
	cfg.Park.Permanent = true
	g := newGate(true, "poison")
	r := startReceiver(t, l, cfg, consumerFunc(g.consume))
	require.Eventually(t, func() bool { return len(g.got()) == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"a", "b"}, g.got(), "the poison entry does not block those after it")
	assert.Equal(t, 1, g.callsOf("poison"), "a permanent refusal is not retried")
	p := parkedIn(t, dir, "fwd")
	require.Len(t, p, 1)
	assert.EqualValues(t, 2, p[0].Seq)
	assert.Contains(t, p[0].Reason, "400")
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, l.Close())

	// Restart: nothing redelivered; then the destination accepts and the operator replays.
	l = openLog(t, dir)
	defer l.Close()
	g2 := newGate(true)
	r = startReceiver(t, l, cfg, consumerFunc(g2.consume))
	defer r.Shutdown(context.Background())
	time.Sleep(100 * time.Millisecond)
	assert.Empty(t, g2.got(), "nothing is redelivered after a restart")
	s, err := durablelog.OpenParked(durablelog.ParkedDir(dir, "fwd"))
	require.NoError(t, err)
	moved, err := s.Replay(nil)
	require.NoError(t, err)
	assert.Equal(t, []uint64{2}, moved)
	require.Eventually(t, func() bool { return len(g2.got()) == 1 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(1500 * time.Millisecond) // a second replay check finds nothing
	assert.Equal(t, []string{"poison"}, g2.got(), "replayed exactly once")
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Zero(t, st.Entries+st.ReplayEntries, "a delivered replay leaves the store")
}

// A retryable failure is retried up to park.after_attempts, then parked; without a bound it is retried forever.
func TestParkAfterAttempts(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	defer l.Close()
	appendLogs(t, l, "x", "y")
	cfg := parkConfig("fwd")
	cfg.Park.AfterAttempts = 4
	g := newGate(false, "x")
	r := startReceiver(t, l, cfg, consumerFunc(g.consume))
	defer r.Shutdown(context.Background())
	require.Eventually(t, func() bool { return len(g.got()) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 4, g.callsOf("x"), "parked after exactly after_attempts failed attempts")
	require.Len(t, parkedIn(t, dir, "fwd"), 1)

	// Without parking a permanent refusal still blocks (the default: retried forever, never dropped).
	cfg2 := parkConfig("forever")
	g2 := newGate(true, "x")
	r2 := startReceiver(t, l, cfg2, consumerFunc(g2.consume))
	defer r2.Shutdown(context.Background())
	require.Eventually(t, func() bool { return g2.callsOf("x") >= 10 }, 5*time.Second, 5*time.Millisecond)
	assert.Empty(t, g2.got())
}

// A replayed entry that fails again goes back among the parked ones (not lost, not retried forever).
func TestReplayFailingAgainIsParkedAgain(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	defer l.Close()
	appendLogs(t, l, "poison")
	cfg := parkConfig("fwd")
	cfg.Park.Permanent = true
	g := newGate(true, "poison")
	r := startReceiver(t, l, cfg, consumerFunc(g.consume))
	defer r.Shutdown(context.Background())
	require.Eventually(t, func() bool { return len(parkedIn(t, dir, "fwd")) == 1 }, 5*time.Second, 5*time.Millisecond)
	s, err := durablelog.OpenParked(durablelog.ParkedDir(dir, "fwd"))
	require.NoError(t, err)
	_, err = s.Replay(nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return g.callsOf("poison") == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		st, _ := s.Stats()
		return st.Entries == 1 && st.ReplayEntries == 0
	}, 5*time.Second, 5*time.Millisecond, "parked again")
}

// A crash after an entry was parked and before the cursor's commit was persisted: on restart the entry is
// passed over (it is parked, not delivered a second time) and the entries after it are delivered once.
func TestCrashBetweenParkAndCursorCommit(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	appendLogs(t, l, "a", "poison", "b")
	cur, err := l.Cursor("fwd")
	require.NoError(t, err)
	// The state a crash leaves: "a" delivered and committed, "poison" parked, the cursor still at it.
	es, err := cur.Next(context.Background(), 3, 1<<20)
	require.NoError(t, err)
	cur.Commit(2)
	s, err := durablelog.OpenParked(durablelog.ParkedDir(dir, "fwd"))
	require.NoError(t, err)
	require.NoError(t, s.Park(&durablelog.ParkedEntry{Entry: es[1], ParkedAt: time.Now(), Reason: "400"}))
	require.NoError(t, l.Close())

	l = openLog(t, dir)
	defer l.Close()
	cfg := parkConfig("fwd")
	cfg.Park.Permanent = true
	g := newGate(true)
	r := startReceiver(t, l, cfg, consumerFunc(g.consume))
	defer r.Shutdown(context.Background())
	require.Eventually(t, func() bool { return len(g.got()) == 1 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, []string{"b"}, g.got(), "the parked entry is not delivered past its parking")
	require.Len(t, parkedIn(t, dir, "fwd"), 1, "and stays parked once")
}

func TestParkConfigValidate(t *testing.T) {
	cfg := createDefaultConfig()
	require.NoError(t, cfg.Validate())
	assert.False(t, cfg.Park.Enabled(), "off by default: retried forever")
	cfg.Park.AfterAttempts = -1
	require.Error(t, cfg.Validate())
}

var errTransient = errors.New("gateway unavailable")

func durablelogRecord(typ uint8, payload []byte) durablelog.Record {
	return durablelog.Record{Type: typ, Payload: payload}
}

func openParked(t *testing.T, logDir, consumer string) *durablelog.ParkedStore {
	t.Helper()
	s, err := durablelog.OpenParked(durablelog.ParkedDir(logDir, consumer))
	require.NoError(t, err)
	return s
}

// park.after bounds the time an entry keeps failing; park.max_bytes bounds the store: an entry that does not fit
// is retried instead of parked (never dropped).
func TestParkAfterElapsedAndStoreBound(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	defer l.Close()
	appendLogs(t, l, "slow", "next")
	cfg := parkConfig("fwd")
	cfg.Park.After = 100 * time.Millisecond
	g := newGate(false, "slow")
	start := time.Now()
	r := startReceiver(t, l, cfg, consumerFunc(g.consume))
	require.Eventually(t, func() bool { return len(g.got()) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	p := parkedIn(t, dir, "fwd")
	require.Len(t, p, 1)
	assert.EqualValues(t, 1, p[0].Seq)
	require.NoError(t, r.Shutdown(context.Background()))

	// A second consumer whose store is bounded below one entry: it keeps retrying, nothing parked or skipped.
	cfg2 := parkConfig("tight")
	cfg2.Park.Permanent = true
	cfg2.Park.MaxBytes = 1
	g2 := newGate(true, "slow")
	r2 := startReceiver(t, l, cfg2, consumerFunc(g2.consume))
	defer r2.Shutdown(context.Background())
	require.Eventually(t, func() bool { return g2.callsOf("slow") >= 5 }, 5*time.Second, 5*time.Millisecond)
	assert.Empty(t, g2.got(), "nothing after the entry that could not be parked")
	assert.Empty(t, parkedIn(t, dir, "tight"))
}
