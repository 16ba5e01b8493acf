package tfologreceiver

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/durablelog/loghost"
)

// Reasons of tfocol_log_consumer_parked.
const (
	reasonPermanent = "permanent"
	reasonAttempts  = "attempts"
	reasonElapsed   = "elapsed"
)

// replayCheck is how often the receiver looks for entries handed back by `tfocol log parked replay`.
const replayCheck = time.Second

// parker bounds a consumer's retries: an entry past the bound goes to the consumer's parked store (durably,
// before the cursor moves past it) and is delivered again when an operator replays it.
type parker struct {
	r     *logReceiver
	cfg   ParkConfig
	store *durablelog.ParkedStore
	// seqs are entries at or after the committed cursor that are parked already: parked just before a crash
	// (the cursor is persisted within cursor_sync_interval). They are passed over, not delivered a second time.
	seqs map[uint64]bool

	parkedCount   metric.Int64Counter
	replayedCount metric.Int64Counter
	reg           metric.Registration
	lastCheck     time.Time
	fullWarned    bool
}

func newParker(r *logReceiver, logDir string, committed uint64, m metric.Meter) (*parker, error) {
	store, err := durablelog.OpenParked(durablelog.ParkedDir(logDir, r.name))
	if err != nil {
		return nil, err
	}
	store.RemoveTemp()
	seqs, err := store.Seqs(committed)
	if err != nil {
		return nil, err
	}
	p := &parker{r: r, cfg: r.cfg.Park, store: store, seqs: seqs}
	var e1, e2, e3, e4 error
	p.parkedCount, e1 = m.Int64Counter("tfocol_log_consumer_parked",
		metric.WithDescription("Durable log entries a consumer gave up on and parked (kept on disk, replayable), by consumer, signal and reason (permanent, attempts, elapsed)."),
		metric.WithUnit("{entry}"))
	p.replayedCount, e2 = m.Int64Counter("tfocol_log_consumer_replayed",
		metric.WithDescription("Parked entries a consumer delivered after `tfocol log parked replay`, by consumer and signal."),
		metric.WithUnit("{entry}"))
	entries, e3 := m.Int64ObservableGauge("tfocol_log_parked_entries",
		metric.WithDescription("Entries in a consumer's parked store (parked or waiting for replay), by consumer."), metric.WithUnit("{entry}"))
	bytes, e4 := m.Int64ObservableGauge("tfocol_log_parked_bytes",
		metric.WithDescription("Bytes in a consumer's parked store, by consumer."), metric.WithUnit("By"))
	if err := errors.Join(e1, e2, e3, e4); err != nil {
		return nil, err
	}
	opt := metric.WithAttributeSet(attribute.NewSet(attribute.String("consumer", r.name)))
	p.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		n, b := p.store.Held()
		o.ObserveInt64(entries, n, opt)
		o.ObserveInt64(bytes, b, opt)
		return nil
	}, entries, bytes)
	if err != nil {
		return nil, err
	}
	if n, b := store.Held(); n > 0 {
		r.set.Logger.Warn("durable log consumer has parked entries; list them with `tfocol log parked list`, replay with `tfocol log parked replay`",
			zap.String("consumer", r.name), zap.Int64("entries", n), zap.Int64("bytes", b), zap.String("directory", store.Dir()))
	}
	return p, nil
}

func (p *parker) close() {
	if p.reg != nil {
		_ = p.reg.Unregister()
	}
}

// isParked reports whether seq was parked before the receiver started.
func (p *parker) isParked(seq uint64) bool { return p.seqs[seq] }

// passOver reports whether seq was parked before the receiver started; it is then passed over.
func (p *parker) passOver(seq uint64) bool {
	if !p.seqs[seq] {
		return false
	}
	delete(p.seqs, seq)
	return true
}

// due says whether an entry that failed with err, attempts times over failing, is to be parked, and why.
func (p *parker) due(err error, attempts int, failing time.Duration) (reason string, ok bool) {
	switch {
	case p.cfg.Permanent && consumererror.IsPermanent(err):
		return reasonPermanent, true
	case p.cfg.AfterAttempts > 0 && attempts >= p.cfg.AfterAttempts:
		return reasonAttempts, true
	case p.cfg.After > 0 && failing >= p.cfg.After:
		return reasonElapsed, true
	}
	return "", false
}

// put parks group; false (the caller keeps retrying) when the store is full or cannot be written.
func (p *parker) put(ctx context.Context, group []durablelog.Entry, sig, reason string, cause error, replay bool) bool {
	lg := p.r.set.Logger
	size := int64(0)
	for _, e := range group {
		size += int64(len(e.Payload))
	}
	if _, held := p.store.Held(); p.cfg.MaxBytes > 0 && !replay && held+size > p.cfg.MaxBytes {
		if !p.fullWarned {
			p.fullWarned = true
			lg.Error("durable log consumer cannot park: its parked store is full (park.max_bytes); retrying instead",
				zap.String("consumer", p.r.name), zap.Int64("parked_bytes", held), zap.Int64("max_bytes", p.cfg.MaxBytes), zap.Error(cause))
		}
		return false
	}
	p.fullWarned = false
	now := time.Now()
	for _, e := range group {
		pe := &durablelog.ParkedEntry{Entry: e, ParkedAt: now, Reason: cause.Error()}
		put := p.store.Park
		if replay {
			put = p.store.ParkAgain
		}
		if err := put(pe); err != nil {
			lg.Error("durable log consumer could not park an entry; retrying instead", zap.String("consumer", p.r.name),
				zap.Uint64("seq", e.Seq), zap.Error(err))
			return false
		}
	}
	p.parkedCount.Add(ctx, int64(len(group)), metric.WithAttributes(attribute.String("consumer", p.r.name),
		attribute.String("signal", sig), attribute.String("reason", reason)))
	lg.Warn("durable log entries parked: the consumer gave up on them; they are kept on disk, not forwarded, until `tfocol log parked replay`",
		zap.String("consumer", p.r.name), zap.String("signal", sig), zap.String("reason", reason),
		zap.Uint64("first_seq", group[0].Seq), zap.Uint64("last_seq", group[len(group)-1].Seq),
		zap.Int("entries", len(group)), zap.Int64("bytes", size), zap.Bool("replayed_before", replay),
		zap.String("directory", p.store.Dir()), zap.Error(cause))
	return true
}

// replay delivers the entries handed back by `tfocol log parked replay`, at most every replayCheck; false when
// the receiver is stopping.
func (p *parker) replay(ctx context.Context) bool {
	if time.Since(p.lastCheck) < replayCheck {
		return true
	}
	p.lastCheck = time.Now()
	entries, damaged, err := p.store.List(true)
	if err != nil {
		p.r.set.Logger.Error("reading parked entries to replay failed", zap.String("consumer", p.r.name), zap.Error(err))
		return true
	}
	for _, path := range damaged {
		p.r.set.Logger.Error("a parked entry to replay is damaged; left in place", zap.String("consumer", p.r.name), zap.String("file", path))
	}
	done := 0
	for _, pe := range entries {
		switch p.r.deliver(ctx, []durablelog.Entry{pe.Entry}, true) {
		case stopped:
			return false
		case delivered:
			if err := p.store.Replayed(pe.Seq); err != nil {
				p.r.set.Logger.Error("a replayed entry was delivered but could not be removed; it may be delivered again",
					zap.String("consumer", p.r.name), zap.Uint64("seq", pe.Seq), zap.Error(err))
			}
			p.replayedCount.Add(ctx, 1, metric.WithAttributes(attribute.String("consumer", p.r.name), attribute.String("signal", loghost.SignalName(pe.Type))))
			done++
		}
	}
	if done > 0 {
		p.r.set.Logger.Info("parked entries replayed", zap.String("consumer", p.r.name), zap.Int("entries", done))
	}
	return true
}

// replayStream is the stream of a replayed entry: it is out of log order, so holding it means nothing to the
// cursor.
type replayStream struct{ s *stream }

func (replayStream) Hold(uint64) func()     { return func() {} }
func (r replayStream) Watermark() time.Time { return r.s.Watermark() }

var _ durablelog.Stream = replayStream{}
