package receiptexporter

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeebo/blake3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/internal/atomicfile"
	"github.com/tfocol/tfocol/internal/receipts"
)

// Sealing. A window is due once the present passes its end + grace; its durable steps are a spool fsync, the
// durable rename of the spool into its batch file, and the receipt append (write + fsync) with the ROOT rewrite.
// Each costs a few fsyncs, ~20 ms a window one after another, so the windows due at one tick (one per workspace
// and signal: thousands for a multi-tenant gateway) are sealed in chunks, and the durable steps of a chunk run
// concurrently (at most seal_concurrency at once): fsyncs of different files overlap in the file system's
// journal. Engine state (spool LRU, windows, holds, scrolls map, telemetry) is only changed on the loop goroutine,
// before and after the concurrent phase; during it a worker owns the windows and the scroll of its workspace.
// Windows of one scroll are sealed by one worker, one after another, in order. Between chunks the loop applies
// the consumer calls waiting, and stops if asked to: the windows left open are rebuilt from the log at the next
// start.

// sealChunkPerWorker is how many windows per seal worker one chunk takes: the loop is busy for about this many
// window seals before it applies waiting consumer calls again.
const sealChunkPerWorker = 4

// sealOutcome is what a worker did with one window.
type sealOutcome int

const (
	sealSkipped sealOutcome = iota // not attempted (stopping, or the engine is dead): the window stays open
	sealFailed                     // an error: the window stays open and is retried at a later tick
	sealDone                       // receipt appended
	sealBefore                     // its receipt was already in the scroll: never sealed twice
)

// sealJob is the windows of one scroll in one chunk, sealed in order by one worker.
type sealJob struct {
	wsDir   string
	scroll  *receipts.Scroll // nil until opened (by the worker, when the loop had not opened it)
	opened  bool             // the worker opened scroll: the loop installs it
	windows []*window
	results []sealResult
}

type sealResult struct {
	outcome  sealOutcome
	err      error
	typ      string
	duration time.Duration
}

// tick starts sealing the windows whose end + grace is not after the present (sealNext does the work, a chunk at
// a time); once none is left, it completes idle traces and reports traces completed early.
func (e *engine) tick() {
	e.reportPending()
	e.retentionTick(e.now())
	if e.fatal != nil || len(e.sealDue) > 0 {
		return
	}
	present, ok := e.present()
	if !ok {
		return
	}
	var due []*window
	for _, w := range e.windows {
		if !present.Before(time.Unix(w.key.start+e.interval, 0).Add(e.grace)) {
			due = append(due, w)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		a, b := due[i].key, due[j].key
		if a.start != b.start {
			return a.start < b.start
		}
		if a.wsDir != b.wsDir {
			return a.wsDir < b.wsDir
		}
		return a.signal < b.signal
	})
	e.sealDue, e.sealPresent = due, present
	e.sealNext()
}

// sealNext seals the next chunk of the due windows; after the last it completes idle traces.
func (e *engine) sealNext() {
	if e.fatal != nil {
		e.sealDue = nil
		return
	}
	n := min(len(e.sealDue), max(e.cfg.SealConcurrency, 1)*sealChunkPerWorker)
	chunk := make([]*window, 0, n)
	for _, w := range e.sealDue[:n] {
		if e.windows[w.key] == w { // still open
			chunk = append(chunk, w)
		}
	}
	clear(e.sealDue[:n])
	e.sealDue = e.sealDue[n:]
	if len(e.sealDue) == 0 {
		e.sealDue = nil
	}
	if len(chunk) > 0 {
		e.sealWindows(chunk, e.now())
	}
	if e.fatal != nil {
		e.sealDue = nil
		return
	}
	if len(e.sealDue) == 0 {
		now := e.now()
		e.completeIdleTraces(e.sealPresent, now)
		e.emitDerived(e.sealPresent, now)
		e.logEvictions(now)
		e.logAlertsForgotten(now)
	}
}

// seal seals one window now (benchmarks; the loop seals through tick).
func (e *engine) seal(w *window, now time.Time) error {
	return e.sealWindows([]*window{w}, now)[0].err
}

// sealWindows seals windows (in due order) and returns what happened to each, in the same order.
func (e *engine) sealWindows(ws []*window, now time.Time) []sealResult {
	// Before: on the loop, flush and close the open spools (the LRU forgets them) and group the windows by scroll.
	var jobs []*sealJob
	byDir := map[string]*sealJob{}
	type slot struct {
		job *sealJob
		i   int
	}
	slots := make([]slot, len(ws))
	var early []sealResult // failures before the concurrent phase, by window index
	for k, w := range ws {
		if !w.renamed && w.file != nil {
			e.spools.Remove(w.key) // flushes and closes it (closeSpool)
		}
		if err := e.takeSpoolErr(); err != nil {
			if early == nil {
				early = make([]sealResult, len(ws))
			}
			early[k] = sealResult{outcome: sealFailed, err: err}
			slots[k] = slot{i: -1}
			continue
		}
		j := byDir[w.key.wsDir]
		if j == nil {
			j = &sealJob{wsDir: w.key.wsDir, scroll: e.scrolls[w.key.wsDir]}
			byDir[w.key.wsDir] = j
			jobs = append(jobs, j)
		}
		slots[k] = slot{job: j, i: len(j.windows)}
		j.windows = append(j.windows, w)
	}

	// The durable steps, concurrently: each worker takes whole jobs (scrolls).
	workers := min(max(e.cfg.SealConcurrency, 1), len(jobs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= len(jobs) {
					return
				}
				e.runSealJob(jobs[k], now)
			}
		})
	}
	wg.Wait()

	// After: on the loop, install the scrolls opened, drop the sealed windows (releasing their holds), telemetry.
	if e.isDead() {
		e.fatal = errSimulatedCrash
	}
	for _, j := range jobs {
		if j.opened && j.scroll != nil {
			e.scrolls[j.wsDir] = j.scroll
		}
	}
	out := make([]sealResult, len(ws))
	for k, w := range ws {
		var r sealResult
		if s := slots[k]; s.job != nil {
			r = s.job.results[s.i]
		} else {
			r = early[k]
		}
		out[k] = r
		switch r.outcome {
		case sealBefore:
			e.dropWindow(w)
		case sealDone:
			e.derivedSealed(w)
			e.dropWindow(w)
			e.status.Sealed(w.workspace, w.key.signal)
			e.tel.TfocolReceiptWindowsSealed.Add(context.Background(), 1, metric.WithAttributes(attribute.String("type", r.typ)))
			e.tel.TfocolReceiptSealDuration.Record(context.Background(), r.duration.Seconds())
		case sealFailed:
			if r.err == errSimulatedCrash {
				continue
			}
			e.logger.Error("sealing window failed; will retry", zap.String("id", receipts.BatchID(w.key.signal, time.Unix(w.key.start, 0))),
				zap.String("workspace", w.workspace), zap.Error(r.err))
		}
	}
	return out
}

// runSealJob seals the windows of one scroll in order, on a seal worker. It touches only the job's windows and
// scroll (no engine state besides the logger and the crash hook).
func (e *engine) runSealJob(j *sealJob, now time.Time) {
	j.results = make([]sealResult, len(j.windows))
	for i, w := range j.windows {
		select {
		case <-e.stop:
			return // the rest stays open: rebuilt from the log at the next start
		default:
		}
		if e.isDead() {
			return
		}
		if j.scroll == nil {
			s, err := e.openScroll(j.wsDir)
			if err != nil {
				j.results[i] = sealResult{outcome: sealFailed, err: err}
				continue
			}
			j.scroll, j.opened = s, true
		}
		t0 := time.Now()
		typ, outcome, err := e.sealDurable(j.scroll, w, now)
		if err != nil {
			outcome = sealFailed
		}
		j.results[i] = sealResult{outcome: outcome, err: err, typ: typ, duration: time.Since(t0)}
	}
}

// sealDurable writes the window's batch file into place (spool fsync, durable rename), then appends its receipt
// and rewrites ROOT. The crash hooks sit between the steps.
func (e *engine) sealDurable(s *receipts.Scroll, w *window, now time.Time) (string, sealOutcome, error) {
	start := time.Unix(w.key.start, 0).UTC()
	if s.Has(receipts.BatchID(w.key.signal, start)) {
		// Never seal twice: the receipt is already in the log.
		return "", sealBefore, nil
	}
	storage := receipts.BatchPath(w.key.signal, start, e.cfg.Interval)
	if !w.renamed {
		// The loop flushed and closed the spool; fsync reaches the file's data through any descriptor.
		sum, err := syncAndHash(w.spoolPath)
		if err != nil {
			return "", sealFailed, err
		}
		w.sum = sum
		if e.crashed("after-spool-sync") {
			return "", sealFailed, errSimulatedCrash
		}
		if err := renameIntoScroll(w.spoolPath, filepath.Join(s.Dir(), filepath.FromSlash(storage))); err != nil {
			return "", sealFailed, err
		}
		w.renamed = true
		if e.crashed("after-rename") {
			return "", sealFailed, errSimulatedCrash
		}
	}
	r := e.batchReceipt(w, start, storage, now)
	if err := e.appendReceipts(s, r); err != nil {
		return "", sealFailed, err
	}
	if w.derived != nil {
		w.derived.receipt = r
	}
	return r.Type, sealDone, nil
}

// renameIntoScroll renames an fsynced spool into place in its scroll and fsyncs the directory it lands in. The
// spool directory is not fsynced (atomicfile.RenameDurable would): it is a cache, removed and rebuilt at every start,
// so a spool name that comes back after a crash is deleted unread.
func renameIntoScroll(spool, to string) error {
	dir := filepath.Dir(to)
	if err := atomicfile.MkdirAllDurable(dir); err != nil {
		return err
	}
	if err := os.Rename(spool, to); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// syncAndHash fsyncs the file at path and returns the BLAKE3 hash of its bytes (the batch file's content hash:
// what is durable, read back from the page cache).
func syncAndHash(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return nil, err
	}
	st := hashStates.Get().(*hashState)
	defer hashStates.Put(st)
	st.h.Reset()
	for {
		n, err := f.Read(st.buf)
		st.h.Write(st.buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return st.h.Sum(nil), nil
}

// hashState is a hasher and a read buffer for syncAndHash, reused across seals: a burst seals thousands of
// windows at once on seal_concurrency workers, and a new hasher (~9 KB) and copy buffer (32 KB) per window were
// most of the garbage of a 10,000-workspace seal (make bench-workspaces heap profile).
type hashState struct {
	h   *blake3.Hasher
	buf []byte
}

var hashStates = sync.Pool{New: func() any { return &hashState{h: blake3.New(), buf: make([]byte, 32<<10)} }}

// batchReceipt is the receipt of a window whose batch file is at storage.
func (e *engine) batchReceipt(w *window, start time.Time, storage string, now time.Time) *receipts.Receipt {
	tags := []string{"observability", w.key.signal}
	if e.cfg.Interval == time.Hour {
		tags = append(tags, "hourly")
	}
	r := &receipts.Receipt{
		Type:              batchTypes[w.key.signal],
		ID:                receipts.BatchID(w.key.signal, start),
		Timestamp:         receipts.FormatTime(now),
		Workspace:         w.workspace,
		Period:            &receipts.Period{Start: receipts.FormatTime(start), End: receipts.FormatTime(start.Add(e.cfg.Interval))},
		ServicesReporting: sortedKeys(w.services),
		NodesReporting:    sortedKeys(w.nodes),
		StoragePath:       storage,
		ContentHash:       receipts.FormatHash(w.sum),
		MerkleRoot:        receipts.FormatHash(w.tree.Root()),
		LeafCount:         w.count,
		Tags:              tags,
	}
	switch w.key.signal {
	case receipts.SignalLogs:
		lc := w.logCounts
		r.LogCounts = &lc
	case receipts.SignalMetrics:
		r.MetricsCollected = w.count
		r.MetricNames = uint64(len(w.metricNames))
		r.DataPointTypes = w.pointTypes
		r.Aggregates = w.aggregatesOf()
	case receipts.SignalTraces:
		r.SpanCount = w.count
		r.TraceCount = uint64(len(w.traceIDs))
		r.ErrorSpans = w.errorSpans
	}
	return r
}

// crashed reports a simulated crash at step (test hook). It may be called from seal workers; after one crash
// every worker stops at its next step, as in a killed process, and the loop marks the engine dead.
func (e *engine) crashed(step string) bool {
	if e.crashAt == nil {
		return false
	}
	e.crashMu.Lock()
	defer e.crashMu.Unlock()
	if !e.dead && e.crashAt(step) {
		e.dead = true
	}
	return e.dead
}

func (e *engine) isDead() bool {
	if e.crashAt == nil {
		return false
	}
	e.crashMu.Lock()
	defer e.crashMu.Unlock()
	return e.dead
}
