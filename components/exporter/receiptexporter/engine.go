package receiptexporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/zeebo/blake3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/atomicfile"
	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/ingeststatus"
	"github.com/tfocol/tfocol/internal/receipts"
)

// spoolDir holds the window spools and the trace spool inside cfg.Directory. The leading dot keeps it apart from
// workspace directory names, which never start with a dot. Everything in it is a cache of the durable log: it is
// removed at start and rebuilt from the entries the tfo_log receiver delivers again.
const spoolDir = ".spool"

// request is one consumer call: the records of one log entry (or of one part of it, when event_router split the
// entry), waiting for the engine loop to apply them.
type request struct {
	signal  string
	records []receipts.Record
	// alerts are the indexes in records of the alert events (logs only, see Config.AlertEvents).
	alerts   []int
	delivery durablelog.Delivery
	done     chan error
}

// engine owns all files of one exporter directory. Everything that touches them runs on its loop goroutine, so
// ingest and sealing never interleave. Its jobs are split by file: windows.go (batch windows and their spools),
// traces.go and tracelinger.go (open traces), alerts.go and alertresolve.go (alert receipts), aggregates.go
// (metric snapshot aggregates), holds.go (holds on log entries).
type engine struct {
	cfg      *Config
	logger   *zap.Logger
	tel      *metadata.TelemetryBuilder
	signer   note.Signer
	now      func() time.Time
	interval int64
	grace    time.Duration

	scrolls map[string]*receipts.Scroll
	wsDirs  map[string]string

	windows map[windowKey]*window
	// spools keeps at most max_open_files window spool files open, least recently used closed first.
	spools   *simplelru.LRU[windowKey, *window]
	spoolErr error // a failure while closing an evicted spool, reported by the next spool operation
	freeBufs []*bufferedFile
	frame    []byte

	traces    map[traceKey]*traceState
	traceHeap traceHeap
	// lingerHeap holds the traces completed without being significant, for trace_linger (tracelinger.go).
	lingerHeap traceHeap
	traceSeq   uint64
	tspool     *traceSpool
	// traceSpoolRotate is the trace spool file size; tests make it tiny.
	traceSpoolRotate int64
	// evicted counts traces completed early for trace_max_open, alertsForgotten open alerts forgotten for
	// alert_max_open (alertresolve.go), each since its last warning.
	evicted, alertsForgotten warnCount

	// holds are the log entries held for open windows and traces (see holds.go); streams are the cursors that
	// delivered to this engine, whose watermarks bound the present (see present).
	holds   map[holdKey]*hold
	streams map[durablelog.Stream]struct{}
	// applied are the fingerprints of the calls applied, for the latest entries (see ingest).
	applied *simplelru.LRU[holdKey, [][16]byte]

	unlock func()
	fatal  error

	// test hooks: crashAt aborts a seal at a named step as a crash would; beforeCommit runs before each commit.
	crashAt      func(step string) bool
	crashMu      sync.Mutex
	dead         bool // crashAt fired (seal workers read it under crashMu)
	beforeCommit func()
	commits      int

	// sealDue are the windows due at the last tick not sealed yet: sealed a chunk at a time between consumer
	// calls (see seal.go); sealPresent is that tick's present.
	sealDue     []*window
	sealPresent time.Time

	// alertBooks are the open alerts per scroll, loaded when first needed (alertresolve.go).
	alertBooks map[string]*alertBook
	// aggMetrics are the metric names with a configured aggregate (aggregates.go).
	aggMetrics map[string]bool

	// derived computes obs_slo_report and obs_anomaly_detected from sealed batches (derived.go); nil when off.
	derived *derivedState
	// ret removes batch files by retention and measures the directory (retention.go).
	ret *retention

	reqs    chan *request
	stop    chan struct{}
	stopped chan struct{}

	// status is told of seals and open windows (status.go).
	status ingeststatus.Recorder
}

func newEngine(cfg *Config, logger *zap.Logger, tel *metadata.TelemetryBuilder, now func() time.Time) (*engine, error) {
	e := &engine{
		cfg: cfg, logger: logger, tel: tel, now: now,
		interval: int64(cfg.Interval / time.Second), grace: cfg.Grace,
		scrolls: map[string]*receipts.Scroll{}, windows: map[windowKey]*window{}, traces: map[traceKey]*traceState{},
		wsDirs: map[string]string{}, traceSpoolRotate: defaultTraceSpoolRotate,
		holds: map[holdKey]*hold{}, streams: map[durablelog.Stream]struct{}{}, alertBooks: map[string]*alertBook{},
		reqs: make(chan *request, 1024), stop: make(chan struct{}), stopped: make(chan struct{}),
		status: ingeststatus.Nop{}, aggMetrics: cfg.aggregateMetrics(),
	}
	maxOpen := cfg.MaxOpenFiles
	if maxOpen < 1 {
		maxOpen = 1
	}
	lru, err := simplelru.NewLRU[windowKey, *window](maxOpen, func(_ windowKey, w *window) {
		if err := e.closeSpool(w); err != nil && e.spoolErr == nil {
			e.spoolErr = err
		}
	})
	if err != nil {
		return nil, err
	}
	e.spools = lru
	if e.applied, err = simplelru.NewLRU[holdKey, [][16]byte](appliedEntries, nil); err != nil {
		return nil, err
	}
	if cfg.SigningKeyFile != "" {
		raw, err := os.ReadFile(cfg.SigningKeyFile)
		if err != nil {
			return nil, fmt.Errorf("reading signing_key_file: %w", err)
		}
		s, err := note.NewSigner(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("signing_key_file: %w", err)
		}
		e.signer = s
	}
	return e, nil
}

// open prepares the directory: takes its lock, opens every scroll (so that windows and traces already receipted
// are recognised when the receiver delivers their entries again) and starts empty spools.
func (e *engine) open() error {
	dir := e.cfg.Directory
	if err := atomicfile.MkdirAllDurable(dir); err != nil {
		return err
	}
	unlock, err := lockDirectory(dir)
	if err != nil {
		return err
	}
	e.unlock = unlock
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, ent := range entries {
		if ent.IsDir() && !strings.HasPrefix(ent.Name(), ".") {
			if _, err := e.scroll(ent.Name()); err != nil {
				return err
			}
		}
	}
	// An exporter before the durable log kept a private WAL here. This version does not read it: records of
	// windows it had not sealed are in no log the receiver delivers, so they are only sealed if the old version
	// drained them first. Reported, never deleted.
	if _, err := os.Stat(filepath.Join(dir, ".wal")); err == nil {
		e.logger.Warn("receipt directory holds the .wal directory of an earlier version; it is not read (receipts are now sealed from the durable log): records of windows it had not sealed are not receipted by this version",
			zap.String("path", filepath.Join(dir, ".wal")))
	}
	// Spools are caches of the durable log: rebuild them from scratch.
	if err := os.RemoveAll(filepath.Join(dir, spoolDir)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, spoolDir), 0o755); err != nil {
		return err
	}
	e.tspool = newTraceSpool(filepath.Join(dir, spoolDir), e.traceSpoolRotate)
	if err := e.openDerived(); err != nil {
		return err
	}
	return e.openRetention()
}

// origin is the checkpoint origin of a scroll: <origin>/<workspace dir>, or <origin>/<instance>/<workspace dir>
// for a replica with an instance name.
func (e *engine) origin(wsDir string) string {
	if e.cfg.Instance != "" {
		return e.cfg.Origin + "/" + e.cfg.Instance + "/" + wsDir
	}
	return e.cfg.Origin + "/" + wsDir
}

func (e *engine) scroll(wsDir string) (*receipts.Scroll, error) {
	if s, ok := e.scrolls[wsDir]; ok {
		return s, nil
	}
	s, err := e.openScroll(wsDir)
	if err != nil {
		return nil, err
	}
	e.scrolls[wsDir] = s
	return s, nil
}

// openScroll opens (creating if needed) the scroll of a workspace directory and logs what its opening repaired.
// It touches no engine state, so the seal workers call it for scrolls the loop has not opened yet.
func (e *engine) openScroll(wsDir string) (*receipts.Scroll, error) {
	s, rn, err := receipts.OpenScroll(filepath.Join(e.cfg.Directory, wsDir), e.origin(wsDir), e.signer)
	if err != nil {
		if errors.Is(err, receipts.ErrRootAhead) {
			e.logger.Error("ROOT CLAIMS MORE RECEIPTS THAN THE RECEIPT LOG HOLDS: receipts were lost or removed; refusing to continue",
				zap.String("scroll", wsDir), zap.Error(err))
		}
		return nil, err
	}
	if rn.TornTailBytes > 0 {
		e.logger.Warn("receipt log had a torn last line from a crash; copied aside and cut",
			zap.String("scroll", wsDir), zap.Int("bytes", rn.TornTailBytes), zap.String("saved_to", rn.TornTailFile))
	}
	if rn.RootRebuilt {
		e.logger.Warn("ROOT was behind the receipt log (or had another origin); rebuilt", zap.String("scroll", wsDir),
			zap.Uint64("was_size", rn.RootWasSize), zap.Uint64("size", s.Size()))
	}
	return s, nil
}

// wsDir caches receipts.WorkspaceDir per workspace id.
func (e *engine) wsDir(workspace string) string {
	d, ok := e.wsDirs[workspace]
	if !ok {
		d = receipts.WorkspaceDir(workspace)
		if len(e.wsDirs) > 10000 {
			clear(e.wsDirs)
		}
		e.wsDirs[workspace] = d
	}
	return d
}

// present is the time up to which sealing may act: the earliest of the wall clock and the watermarks of every
// stream that delivered to the engine. Every entry not delivered yet arrived at or after it, so no record can
// still join a window whose end + grace is not after it. ok is false before any delivery.
func (e *engine) present() (p time.Time, ok bool) {
	if len(e.streams) == 0 {
		return time.Time{}, false
	}
	p = e.now()
	for s := range e.streams {
		if w := s.Watermark(); w.Before(p) {
			p = w
		}
	}
	return p, true
}

// run is the engine loop.
func (e *engine) run() {
	defer close(e.stopped)
	tickEvery := min(time.Second, e.cfg.Interval/10, e.cfg.TraceIdle/2)
	if e.cfg.Grace > 0 {
		tickEvery = min(tickEvery, e.cfg.Grace/2)
	}
	tickEvery = max(tickEvery, 10*time.Millisecond)
	ticker := time.NewTicker(tickEvery)
	defer ticker.Stop()
	for {
		if len(e.sealDue) > 0 {
			// Sealing a burst of due windows: between chunks, stop if asked to (the windows left open are rebuilt
			// from the log at the next start) and apply the calls waiting, so that neither waits for the burst.
			select {
			case <-e.stop:
				e.answerStopped()
				return
			default:
			}
			select {
			case r := <-e.reqs:
				e.commit(e.gather(r))
			default:
			}
			e.sealNext()
			continue
		}
		select {
		case r := <-e.reqs:
			e.commit(e.gather(r))
		case <-ticker.C:
			e.tick()
		case <-e.stop:
			e.answerStopped()
			return
		}
	}
}

// gather groups r with the calls already waiting (up to 512) into one commit.
func (e *engine) gather(r *request) []*request {
	batch := []*request{r}
	for len(batch) < 512 {
		select {
		case r := <-e.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// answerStopped answers the calls waiting when the loop stops.
func (e *engine) answerStopped() {
	for {
		select {
		case r := <-e.reqs:
			r.done <- errShuttingDown
		default:
			return
		}
	}
}

var errSimulatedCrash = errors.New("simulated crash")

var errShuttingDown = errors.New("receipt exporter is shutting down")

// submit hands a call to the loop and waits until its records are applied. Once the loop took the request the
// call waits for its answer whatever ctx does: returning an error for records that were applied would make the
// receiver deliver them again.
func (e *engine) submit(ctx context.Context, r *request) error {
	r.done = make(chan error, 1)
	select {
	case e.reqs <- r:
	case <-e.stopped:
		return errShuttingDown
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-e.stopped:
		// The loop answers every request it took before stopping.
		select {
		case err := <-r.done:
			return err
		default:
			return errShuttingDown
		}
	}
}

// commit applies a group of calls: first the alert receipts (appended and fsynced per scroll), then the records
// to their windows and traces. Spools are not flushed per call: they are caches of the durable log (a crash
// rebuilds them from it), flushed when their buffers fill, when evicted and when sealed — a write per request
// cost a fifth of the gateway's CPU.
func (e *engine) commit(batch []*request) {
	if e.fatal != nil {
		for _, r := range batch {
			r.done <- e.fatal
		}
		return
	}
	if e.beforeCommit != nil {
		e.beforeCommit()
	}
	e.commits++
	for _, r := range batch {
		e.streams[r.delivery.Stream] = struct{}{}
	}
	errs := e.commitAlerts(batch, e.now())
	for i, r := range batch {
		if errs[i] != nil {
			continue
		}
		if err := e.ingest(r); err != nil {
			e.spoolFailed(err)
			break
		}
	}
	for i, r := range batch {
		switch {
		case errs[i] != nil:
			r.done <- errs[i]
		case e.fatal != nil:
			r.done <- e.fatal
		default:
			e.tel.TfocolReceiptRecordsAccepted.Add(context.Background(), int64(len(r.records)),
				metric.WithAttributes(attribute.String("signal", r.signal)))
			r.done <- nil
		}
	}
}

// spoolFailed stops the engine after a spool write failed: the windows may hold part of a call, so accepting that
// call again would add its records twice. Every later call gets a retryable error; a restart rebuilds the windows
// from the log (the receiver delivers again every entry from its cursor, which the holds kept in place).
func (e *engine) spoolFailed(err error) {
	if e.fatal != nil {
		return
	}
	e.fatal = fmt.Errorf("receipt exporter stopped accepting data after a spool failure (restart it to rebuild its windows from the durable log): %w", err)
	e.logger.Error("receipt spool failure", zap.Error(err))
}

// appliedEntries is how many of the latest entries (per engine) the fingerprints of applied calls are kept for:
// a receiver retries an entry right after its call failed, long before this many later entries were delivered.
const appliedEntries = 1 << 16

// ingest applies the records of one call to their windows and traces. A call the engine already applied (the
// receiver delivered the entry again because another part of it failed) is recognised by its fingerprint among
// the calls of its entry and skipped; after a restart nothing was applied, and records of sealed windows and
// traces are skipped by apply.
func (e *engine) ingest(r *request) error {
	hk := holdKey{stream: r.delivery.Stream, seq: r.delivery.Seq}
	fp := fingerprint(r)
	calls, _ := e.applied.Get(hk)
	if slices.Contains(calls, fp) {
		return nil
	}
	for _, rec := range r.records {
		if err := e.apply(r.signal, rec, hk, r.delivery.Arrival); err != nil {
			return err
		}
	}
	e.applied.Add(hk, append(calls, fp))
	return nil
}

// fingerprint identifies a call by its signal and the leaf hashes of its records, in order. The calls event_router
// makes of one entry hold disjoint records, so they differ; a retry of one of them has the same records.
func fingerprint(r *request) [16]byte {
	h := blake3.New()
	_, _ = h.WriteString(r.signal)
	for _, rec := range r.records {
		_, _ = h.Write(rec.LeafHash)
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// close releases files. Open windows and traces are not sealed and their holds are not released: the receiver's
// cursor stays before their entries, so the next start rebuilds them.
func (e *engine) close() error {
	var errs []error
	e.spools.Purge()
	if e.spoolErr != nil {
		errs = append(errs, e.spoolErr)
		e.spoolErr = nil
	}
	for _, s := range e.scrolls {
		errs = append(errs, s.Close())
	}
	if e.tspool != nil {
		errs = append(errs, e.tspool.close())
	}
	if e.unlock != nil {
		e.unlock()
	}
	return errors.Join(errs...)
}
