package tfologextension

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/components/extension/tfologextension/internal/metadata"
	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/durablelog/loghost"
)

type logExtension struct {
	cfg *Config
	set extension.Settings

	mu  sync.Mutex
	log *durablelog.Log
	// refusing is the error appends were last refused with, nil while they are accepted.
	refusing error
	host     component.Host
	reg      metric.Registration
}

var _ loghost.Provider = (*logExtension)(nil)

func newLogExtension(cfg *Config, set extension.Settings) *logExtension {
	return &logExtension{cfg: cfg, set: set}
}

func (e *logExtension) Start(_ context.Context, host component.Host) error {
	e.host = host
	m := e.set.MeterProvider.Meter(metadata.ScopeName)
	latency, err := m.Float64Histogram("tfocol_log_commit_latency",
		metric.WithDescription("Latency of the fsync of one group commit of the durable log."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
	if err != nil {
		return err
	}
	group, err := m.Int64Histogram("tfocol_log_commit_entries",
		metric.WithDescription("Entries written by one group commit of the durable log."), metric.WithUnit("{entry}"),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
	if err != nil {
		return err
	}
	l, rep, err := durablelog.Open(durablelog.Options{
		Dir: e.cfg.Directory, SegmentBytes: e.cfg.SegmentSize, MaxBytes: e.cfg.MaxBytes,
		KeyRetention: e.cfg.KeyRetention, OnCorruption: e.cfg.OnCorruption, CursorSyncInterval: e.cfg.CursorSyncInterval,
		OnCommit: func(entries, _ int, fsync time.Duration) {
			latency.Record(context.Background(), fsync.Seconds())
			group.Record(context.Background(), int64(entries))
		},
	})
	if rep != nil {
		e.logReport(rep)
	}
	if err != nil {
		return err
	}
	e.log = l
	return e.registerGauges(m)
}

// logReport tells the operator what recovery found: a torn tail is a crash, anything else is corruption.
func (e *logExtension) logReport(rep *durablelog.Report) {
	lg := e.set.Logger
	if t := rep.TornTail; t != nil {
		lg.Warn("durable log had a torn tail from a crash; copied aside and cut (nothing acknowledged is in it)",
			zap.String("segment", t.Segment), zap.Int64("offset", t.Offset), zap.Int64("bytes", t.Length), zap.String("saved_to", t.SavedTo))
	}
	for _, d := range rep.Damaged {
		lg.Error("DURABLE LOG CORRUPTION: entries lost",
			zap.String("segment", d.Segment), zap.Int64("offset", d.Offset), zap.Int64("bytes", d.Length),
			zap.Uint64("after_seq", d.AfterSeq), zap.Uint64("before_seq", d.BeforeSeq), zap.Uint64("entries_lost", d.LostEntries),
			zap.String("saved_to", d.SavedTo), zap.Bool("salvaged", rep.Repaired))
	}
	for _, k := range rep.KeyIndexDamaged {
		lg.Error("durable log key sidecar damaged: retries of the requests in it are no longer recognised", zap.String("file", k))
	}
	lg.Info("durable log opened", zap.String("directory", e.cfg.Directory), zap.Int("segments", rep.Segments),
		zap.Uint64("entries", rep.Entries), zap.Uint64("first_seq", rep.FirstSeq), zap.Uint64("last_seq", rep.LastSeq))
}

func (e *logExtension) registerGauges(m metric.Meter) error {
	bytes, err1 := m.Int64ObservableGauge("tfocol_log_bytes",
		metric.WithDescription("Bytes held in durable log segments."), metric.WithUnit("By"))
	limit, err2 := m.Int64ObservableGauge("tfocol_log_max_bytes",
		metric.WithDescription("The durable log's bound (max_bytes; 0 = unbounded)."), metric.WithUnit("By"))
	segs, err3 := m.Int64ObservableGauge("tfocol_log_segments",
		metric.WithDescription("Durable log segments on disk."), metric.WithUnit("{segment}"))
	lag, err4 := m.Int64ObservableGauge("tfocol_log_consumer_lag",
		metric.WithDescription("Entries of the durable log a consumer (cursor) has not committed yet."), metric.WithUnit("{entry}"))
	lagBytes, err5 := m.Int64ObservableGauge("tfocol_log_consumer_lag_bytes",
		metric.WithDescription("Bytes of the durable log a consumer (cursor) has not committed yet."), metric.WithUnit("By"))
	refusing, err6 := m.Int64ObservableGauge("tfocol_log_refusing",
		metric.WithDescription("1 while the durable log refuses appends (full, disk full or I/O error), else 0."))
	damaged, err7 := m.Int64ObservableGauge("tfocol_log_damaged_entries",
		metric.WithDescription("Entries lost to corruption found when the log was opened."), metric.WithUnit("{entry}"))
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7); err != nil {
		return err
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		l := e.DurableLog()
		if l == nil {
			return nil
		}
		st := l.Stats()
		o.ObserveInt64(bytes, st.Bytes)
		o.ObserveInt64(limit, e.cfg.MaxBytes)
		o.ObserveInt64(segs, int64(st.Segments))
		o.ObserveInt64(damaged, int64(st.Damaged))
		for _, c := range st.Cursors {
			opt := metric.WithAttributeSet(attribute.NewSet(attribute.String("consumer", c.Name)))
			o.ObserveInt64(lag, int64(c.LagEntries), opt)
			o.ObserveInt64(lagBytes, c.LagBytes, opt)
		}
		var r int64
		if e.refusingErr() != nil {
			r = 1
		}
		o.ObserveInt64(refusing, r)
		return nil
	}, bytes, limit, segs, lag, lagBytes, refusing, damaged)
	e.reg = reg
	return err
}

func (e *logExtension) refusingErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refusing
}

// DurableLog returns the open log (nil before Start and after Shutdown).
func (e *logExtension) DurableLog() *durablelog.Log {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log
}

// ReportAppendError is called by the exporter when an append is refused; the first refusal of a run is logged and
// health reports the extension degraded until an append succeeds again.
func (e *logExtension) ReportAppendError(err error) {
	e.mu.Lock()
	first := e.refusing == nil
	e.refusing = err
	e.mu.Unlock()
	if first {
		e.set.Logger.Error("durable log refuses appends; clients get retryable errors until it recovers", zap.Error(err))
		componentstatus.ReportStatus(e.host, componentstatus.NewRecoverableErrorEvent(err))
	}
}

// ReportAppendOK is called after every successful append; it ends a refusal.
func (e *logExtension) ReportAppendOK() {
	e.mu.Lock()
	was := e.refusing
	e.refusing = nil
	e.mu.Unlock()
	if was != nil {
		e.set.Logger.Info("durable log accepts appends again", zap.NamedError("was", was))
		componentstatus.ReportStatus(e.host, componentstatus.NewEvent(componentstatus.StatusOK))
	}
}

func (e *logExtension) Shutdown(context.Context) error {
	if e.reg != nil {
		_ = e.reg.Unregister()
	}
	e.mu.Lock()
	l := e.log
	e.log = nil
	e.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.Close()
}
