package tfostatusextension

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/ingeststatus"
)

// Reading the durable log: as many entries at once as a tfo_log receiver reads.
const (
	readEntries = 1024
	readBytes   = 8 << 20
	// checkEvery is how often agents are checked for silence.
	checkEvery = time.Second
)

// count reads the durable log with the extension's own cursor and counts every entry once, in log order. The
// cursor is committed only to what a persisted snapshot covers (persist), so after a crash the log still holds
// every entry the snapshot does not count.
func (e *statusExtension) count(ctx context.Context) {
	defer e.wg.Done()
	t := e.tally.Load()
	for ctx.Err() == nil {
		entries, err := e.cursor.Next(ctx, readEntries, readBytes)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, durablelog.ErrClosed) || errors.Is(err, durablelog.ErrCursorDropped) {
				return
			}
			e.set.Logger.Error("reading the durable log for the ingest status failed; retrying", zap.Error(err))
			sleep(ctx, time.Second)
			continue
		}
		for _, en := range entries {
			if en.Seq < t.Next() {
				continue // counted before the restart
			}
			s, err := ingeststatus.Summarize(en.Type, en.Payload)
			if err != nil {
				e.set.Logger.Error("durable log entry could not be decoded; not counted in the ingest status",
					zap.Uint64("seq", en.Seq), zap.Error(err))
				t.Skip(en.Seq)
				continue
			}
			for _, tr := range t.Apply(en.Seq, time.Unix(0, en.Arrival), s) {
				e.logTransition(tr)
			}
		}
	}
}

// housekeep persists the counters every flush interval and checks the agents for silence.
func (e *statusExtension) housekeep(ctx context.Context) {
	defer e.wg.Done()
	flush := time.NewTicker(e.cfg.FlushInterval)
	defer flush.Stop()
	check := time.NewTicker(checkEvery)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			if e.tally.Load().Dirty() || e.persistFailing {
				_ = e.persist()
			}
		case <-check.C:
			for _, tr := range e.tally.Load().CheckAgents() {
				e.logTransition(tr)
			}
			if e.holdingBackTheLog() {
				_ = e.persist()
			}
		}
	}
}

// holdingBackTheLog reports whether the cursor should move before the flush interval: the log is more than half
// full and the counts moved since the last write (the cursor may be what keeps the oldest segment).
func (e *statusExtension) holdingBackTheLog() bool {
	st := e.log.Stats()
	return st.MaxBytes > 0 && st.Bytes >= st.MaxBytes/2 && e.tally.Load().Dirty()
}

// persist writes the snapshot, then lets the log reclaim the entries it covers. A failure (disk full) is logged
// once per run and reported as a recoverable error: the counts are kept in memory and the entries in the log.
func (e *statusExtension) persist() error {
	next, err := e.tally.Load().Save(filepath.Join(e.cfg.Directory, snapshotFile))
	e.tel.snapshot(err)
	if err != nil {
		if !e.persistFailing {
			e.persistFailing = true
			e.set.Logger.Error("ingest status counters could not be persisted; retrying every flush interval", zap.Error(err))
			e.reportSelf(componentstatus.NewRecoverableErrorEvent(err))
		}
		return err
	}
	if e.persistFailing {
		e.persistFailing = false
		e.set.Logger.Info("ingest status counters persisted again")
		e.reportSelf(componentstatus.NewEvent(componentstatus.StatusOK))
	}
	e.cursor.Commit(next)
	return nil
}

func (e *statusExtension) logTransition(tr ingeststatus.Transition) {
	a := tr.Agent
	fields := []zap.Field{zap.String("workspace", a.Workspace), zap.String("instance_id", a.InstanceID),
		zap.String("host_name", a.HostName), zap.String("agent_id", a.AgentID), zap.Time("last_heartbeat", a.LastHeartbeatAt),
		zap.Duration("interval", time.Duration(a.IntervalSeconds)*time.Second)}
	switch {
	case tr.To == ingeststatus.StateSilent:
		e.tel.silenced.Add(context.Background(), 1)
		e.set.Logger.Warn("agent heartbeats stopped: reported silent",
			append(fields, zap.Int("missed_intervals", e.cfg.SilentAfterIntervals))...)
	case tr.From == ingeststatus.StateSilent:
		e.set.Logger.Info("agent heartbeats resumed", fields...)
	case tr.To == ingeststatus.StateStopped:
		e.set.Logger.Info("agent stopped (end heartbeat)", fields...)
	default:
		e.set.Logger.Info("agent started again", fields...)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// recorder forwards components' reports to the tally (dropped before Start).
type recorder statusExtension

func (r *recorder) with(fn func(*ingeststatus.Tally)) {
	if t := r.tally.Load(); t != nil {
		fn(t)
	}
}

func (r *recorder) Duplicate(ws, signal string) {
	r.with(func(t *ingeststatus.Tally) { t.Duplicate(ws, signal) })
}
func (r *recorder) Sealed(ws, signal string) {
	r.with(func(t *ingeststatus.Tally) { t.Sealed(ws, signal) })
}
func (r *recorder) PendingWindows(m map[string]int) {
	r.with(func(t *ingeststatus.Tally) { t.PendingWindows(m) })
}
func (r *recorder) DeliveryFailed(c string) {
	r.with(func(t *ingeststatus.Tally) { t.DeliveryFailed(c) })
}
func (r *recorder) DeliveryRecovered(c string) {
	r.with(func(t *ingeststatus.Tally) { t.DeliveryRecovered(c) })
}
