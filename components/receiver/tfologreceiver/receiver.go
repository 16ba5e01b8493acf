package tfologreceiver

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/components/receiver/tfologreceiver/internal/metadata"
	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/durablelog/loghost"
	"github.com/tfocol/tfocol/internal/ingeststatus"
)

// readBatch bounds one read of the cursor; idlePoll is how often an idle receiver re-checks the head, which is
// how far the watermark lags the present while nothing arrives.
const (
	readEntries = 1024
	readBytes   = 8 << 20
	idlePoll    = 250 * time.Millisecond
)

// logReceiver is one consumer of the durable log: one cursor, shared by the receiver's traces, metrics and logs
// pipelines, read in log order.
type logReceiver struct {
	cfg  *Config
	set  receiver.Settings
	name string

	logs    consumer.Logs
	metrics consumer.Metrics
	traces  consumer.Traces

	hostsMu sync.Mutex
	hosts   []component.Host
	// pipelines and started count the receiver's pipeline instances: delivery begins once every one of them
	// has started, because the collector may start one pipeline's receiver before another pipeline's exporter
	// (an entry of that signal would reach an exporter that has not started).
	pipelines, started int
	running            bool
	cur                *durablelog.Cursor

	stream    *stream
	status    ingeststatus.Recorder
	cancel    context.CancelFunc
	done      chan struct{}
	delivered metric.Int64Counter
	retries   metric.Int64Counter
	dropped   metric.Int64Counter
	park      *parker // nil unless cfg.Park is enabled
}

func newLogReceiver(cfg *Config, set receiver.Settings) *logReceiver {
	name := cfg.Consumer
	if name == "" {
		name = set.ID.String()
	}
	return &logReceiver{cfg: cfg, set: set, name: name}
}

// addHost remembers each pipeline instance's host, so health is reported in every pipeline the cursor feeds.
func (r *logReceiver) addHost(h component.Host) {
	r.hostsMu.Lock()
	r.hosts = append(r.hosts, h)
	r.hostsMu.Unlock()
}

func (r *logReceiver) pipelineCreated() {
	r.hostsMu.Lock()
	r.pipelines++
	r.hostsMu.Unlock()
}

// pipelineStarted starts delivery once the last of the receiver's pipeline instances has started.
func (r *logReceiver) pipelineStarted() {
	r.hostsMu.Lock()
	defer r.hostsMu.Unlock()
	r.started++
	if r.started < r.pipelines || r.running || r.cur == nil {
		return
	}
	r.running = true
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go r.run(ctx, r.cur)
}

func (r *logReceiver) report(ev *componentstatus.Event) {
	r.hostsMu.Lock()
	defer r.hostsMu.Unlock()
	for _, h := range r.hosts {
		componentstatus.ReportStatus(h, ev)
	}
}

func (r *logReceiver) Start(_ context.Context, host component.Host) error {
	p, err := loghost.Find(host, r.cfg.Log)
	if err != nil {
		return err
	}
	cur, err := p.DurableLog().Cursor(r.name)
	if err != nil {
		return err
	}
	m := r.set.MeterProvider.Meter(metadata.ScopeName)
	var e1, e2, e3 error
	r.delivered, e1 = m.Int64Counter("tfocol_log_consumer_delivered",
		metric.WithDescription("Durable log entries a consumer's pipelines accepted, by consumer and signal."), metric.WithUnit("{entry}"))
	r.retries, e2 = m.Int64Counter("tfocol_log_consumer_retries",
		metric.WithDescription("Failed deliveries of durable log entries to a consumer's pipelines, retried; by consumer."), metric.WithUnit("{attempt}"))
	r.dropped, e3 = m.Int64Counter("tfocol_log_consumer_undecodable",
		metric.WithDescription("Durable log entries whose payload could not be decoded (a defect: never expected), skipped; by consumer."), metric.WithUnit("{entry}"))
	if err := errors.Join(e1, e2, e3); err != nil {
		return err
	}
	if r.cfg.Park.Enabled() {
		if r.park, err = newParker(r, p.DurableLog().Dir(), cur.Committed(), m); err != nil {
			return err
		}
	}
	r.stream = newStream(cur)
	r.status = ingeststatus.FindRecorder(host)
	r.hostsMu.Lock()
	r.cur = cur
	r.hostsMu.Unlock()
	return nil
}

func (r *logReceiver) Shutdown(context.Context) error {
	r.hostsMu.Lock()
	cancel, done := r.cancel, r.done
	r.hostsMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	if r.park != nil {
		r.park.close()
	}
	return nil
}

func (r *logReceiver) run(ctx context.Context, cur *durablelog.Cursor) {
	defer close(r.done)
	for ctx.Err() == nil {
		if r.park != nil && !r.park.replay(ctx) {
			return
		}
		r.stream.noteHead()
		rctx, cancel := context.WithTimeout(ctx, idlePoll)
		entries, err := cur.Next(rctx, readEntries, readBytes)
		cancel()
		if err == nil && r.cfg.MaxBatchWait > 0 && r.cfg.MaxBatchBytes > 0 {
			entries = r.linger(ctx, cur, entries)
		}
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				continue
			}
			if errors.Is(err, durablelog.ErrClosed) {
				return
			}
			r.set.Logger.Error("reading the durable log failed", zap.String("consumer", r.name), zap.Error(err))
			sleep(ctx, time.Second)
			continue
		}
		for i := 0; i < len(entries); {
			if r.park != nil && r.park.passOver(entries[i].Seq) {
				r.stream.deliveredThrough(entries[i]) // parked before a crash, or replayed already
				i++
				continue
			}
			j := r.groupEnd(entries, i)
			switch r.deliver(ctx, entries[i:j], false) {
			case stopped:
				return
			case parked:
				r.stream.deliveredThrough(entries[j-1])
			}
			i = j
		}
	}
}

// linger keeps reading for up to cfg.MaxBatchWait while the entries read hold fewer than cfg.MinBatchBytes (at
// most cfg.MaxBatchBytes) of payload. The entries it returns own their payloads (the cursor reuses its buffers on every read).
func (r *logReceiver) linger(ctx context.Context, cur *durablelog.Cursor, entries []durablelog.Entry) []durablelog.Entry {
	total := 0
	for _, e := range entries {
		total += len(e.Payload)
	}
	want := min(r.cfg.MinBatchBytes, r.cfg.MaxBatchBytes)
	if total >= want {
		return entries
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.MaxBatchWait)
	defer cancel()
	owned := ownEntries(nil, entries)
	for total < want {
		more, err := cur.Next(wctx, readEntries, r.cfg.MaxBatchBytes-total)
		if err != nil {
			break // the wait is over (or the log failed: the next read reports it)
		}
		for _, e := range more {
			total += len(e.Payload)
		}
		owned = ownEntries(owned, more)
	}
	return owned
}

func ownEntries(dst, src []durablelog.Entry) []durablelog.Entry {
	for _, e := range src {
		e.Payload = append([]byte(nil), e.Payload...)
		dst = append(dst, e)
	}
	return dst
}

// groupEnd returns the end of the run of entries starting at i that are delivered as one request.
func (r *logReceiver) groupEnd(entries []durablelog.Entry, i int) int {
	j, size := i+1, len(entries[i].Payload)
	for j < len(entries) && entries[j].Type == entries[i].Type && size+len(entries[j].Payload) <= r.cfg.MaxBatchBytes &&
		(r.park == nil || !r.park.isParked(entries[j].Seq)) {
		size += len(entries[j].Payload)
		j++
	}
	return j
}

// outcome of one deliver call.
type outcome int

const (
	stopped   outcome = iota // the receiver is stopping; nothing is committed
	delivered                // accepted (or passed over); deliver moved the stream
	parked                   // in the parked store; the caller moves on
)

// deliver hands a group of entries to the pipeline of its signal, retrying until it is accepted, parked (when
// cfg.Park bounds the retries) or the receiver stops. Entries of a signal this receiver has no pipeline for are
// passed over. A replayed entry (replay) is delivered out of log order and does not move the stream.
func (r *logReceiver) deliver(ctx context.Context, group []durablelog.Entry, replay bool) outcome {
	last := group[len(group)-1]
	sig := loghost.SignalName(last.Type)
	// One buffer the consumers may keep: the log reuses its read buffers.
	size := 0
	for _, e := range group {
		size += len(e.Payload)
	}
	payload := make([]byte, 0, size)
	for _, e := range group {
		payload = append(payload, e.Payload...)
	}
	call, ok, err := r.decode(last.Type, payload)
	if err != nil {
		r.set.Logger.Error("durable log entry could not be decoded; skipped", zap.String("consumer", r.name),
			zap.Uint64("first_seq", group[0].Seq), zap.Uint64("last_seq", last.Seq), zap.Error(err))
		r.dropped.Add(ctx, int64(len(group)), metric.WithAttributes(attribute.String("consumer", r.name)))
		if !replay {
			r.stream.deliveredThrough(last)
		}
		return delivered
	}
	if !ok {
		if !replay {
			r.stream.deliveredThrough(last)
		}
		return delivered
	}
	d := durablelog.Delivery{Seq: last.Seq, Arrival: last.Arrival, Stream: r.stream}
	if replay {
		d.Stream = replayStream{r.stream}
	}
	if len(group) == 1 {
		d.Payload = payload
	}
	dctx := durablelog.WithDelivery(ctx, d)
	backoff := r.cfg.RetryInitial
	var failingSince time.Time
	stalled := false
	attempts, retried := 0, 0
	result := delivered
	for {
		err := call(dctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return stopped
		}
		attempts++
		if failingSince.IsZero() {
			failingSince = time.Now()
		}
		if r.park != nil {
			if reason, due := r.park.due(err, attempts, time.Since(failingSince)); due && r.park.put(ctx, group, sig, reason, err, replay) {
				result = parked
				break
			}
		}
		retried++
		r.retries.Add(ctx, 1, metric.WithAttributes(attribute.String("consumer", r.name)))
		r.status.DeliveryFailed(r.name)
		if retried == 1 {
			r.set.Logger.Warn("durable log consumer failed; retrying the same entries until it succeeds",
				zap.String("consumer", r.name), zap.String("signal", sig), zap.Uint64("seq", last.Seq), zap.Error(err))
		}
		if !stalled && time.Since(failingSince) >= r.cfg.StallAfter {
			stalled = true
			r.set.Logger.Error("durable log consumer is stalled", zap.String("consumer", r.name),
				zap.Duration("failing_for", time.Since(failingSince)), zap.Error(err))
			r.report(componentstatus.NewRecoverableErrorEvent(err))
		}
		if !sleep(ctx, backoff) {
			return stopped
		}
		backoff = min(2*backoff, r.cfg.RetryMax)
	}
	if retried > 0 {
		r.set.Logger.Info("durable log consumer recovered", zap.String("consumer", r.name),
			zap.Duration("failed_for", time.Since(failingSince)))
		r.status.DeliveryRecovered(r.name)
		if stalled {
			r.report(componentstatus.NewEvent(componentstatus.StatusOK))
		}
	}
	if result == parked {
		return parked
	}
	r.delivered.Add(ctx, int64(len(group)), metric.WithAttributes(attribute.String("consumer", r.name), attribute.String("signal", sig)))
	if !replay {
		r.stream.deliveredThrough(last)
	}
	return delivered
}

// decode turns a payload into the consumer call of its signal; ok is false when no pipeline takes the signal.
func (r *logReceiver) decode(typ uint8, payload []byte) (call func(context.Context) error, ok bool, err error) {
	switch typ {
	case loghost.SignalLogs:
		if r.logs == nil {
			return nil, false, nil
		}
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(payload)
		if err != nil {
			return nil, false, err
		}
		return func(ctx context.Context) error { return r.logs.ConsumeLogs(ctx, ld) }, true, nil
	case loghost.SignalMetrics:
		if r.metrics == nil {
			return nil, false, nil
		}
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(payload)
		if err != nil {
			return nil, false, err
		}
		return func(ctx context.Context) error { return r.metrics.ConsumeMetrics(ctx, md) }, true, nil
	case loghost.SignalTraces:
		if r.traces == nil {
			return nil, false, nil
		}
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(payload)
		if err != nil {
			return nil, false, err
		}
		return func(ctx context.Context) error { return r.traces.ConsumeTraces(ctx, td) }, true, nil
	}
	return nil, false, errors.New("unknown entry type")
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
