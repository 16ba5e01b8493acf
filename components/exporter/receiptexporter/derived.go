package receiptexporter

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/tfocol/tfocol/internal/atomicfile"
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// Derived receipts (obs_slo_report, obs_anomaly_detected) are computed from sealed batches only, never from
// records still in an open window: a batch's facts (records per service, good/bad spans per SLO) are a function
// of its batch file, which the durable log and the seal make exactly-once (§9, §10). So a replay can neither count
// a record twice nor miss one, and a derived receipt is made again identically after a crash and skipped by its
// id. The facts of recent batches are kept in memory per scroll (history) and, so that a restart need not read
// the batch files again, in a private cache (<directory>/.derived/<workspace dir>.jsonl), which is never trusted
// beyond a batch whose receipt line hash it names: a missing or stale entry is counted again from the batch file.
const derivedDir = ".derived"

// derivedState is the derived receipts' configuration and the per-scroll histories.
type derivedState struct {
	dir       string
	slos      []sloDef
	reportIvl int64 // seconds
	detector  *receipts.AnomalyDetector
	metrics   []string
	scrolls   map[string]*history
	inds      map[string][]receipts.SLOIndicator // per workspace id, the indicators of the SLOs applying to it
}

// histBatch is one sealed batch of a scroll.
type histBatch struct {
	id, signal, storage string
	start               int64 // Unix seconds
	seq                 uint64
	lineHash            []byte
	facts               *receipts.BatchFacts
}

// history is a scroll's recent sealed batches and what is due from them.
type history struct {
	wsDir, workspace string
	batches          []*histBatch // receipt-log order
	ids              map[string]bool
	// nextReport is the boundary of the next SLO report to consider (Unix seconds; 0 until a trace batch is known).
	nextReport int64
	// pending are the windows (start, Unix seconds) to evaluate for anomalies once every window up to them is sealed.
	pending map[int64]bool
	changed bool
	// broken is why the history could not be loaded (a batch file unreadable): no derived receipt is made for the
	// scroll until a restart, so none is made from wrong counts; the error is logged when it happens.
	broken error
}

// derivedCounts are the facts a window accumulates for its batch, and its receipt once sealed.
type derivedCounts struct {
	facts   *receipts.BatchFacts
	inds    []receipts.SLOIndicator
	receipt *receipts.Receipt
}

// newDerivedState returns nil when neither SLOs nor the anomaly detector are configured.
func newDerivedState(cfg *Config) *derivedState {
	if len(cfg.SLOs) == 0 && !cfg.Anomaly.Enabled {
		return nil
	}
	d := &derivedState{dir: filepath.Join(cfg.Directory, derivedDir), slos: sloDefs(cfg.SLOs),
		reportIvl: int64(cfg.SLOReportInterval / time.Second), scrolls: map[string]*history{}, inds: map[string][]receipts.SLOIndicator{}}
	if cfg.Anomaly.Enabled {
		d.detector, d.metrics = cfg.Anomaly.detector(), cfg.Anomaly.metrics()
	}
	return d
}

// indicators are the SLO indicators applying to a workspace.
func (d *derivedState) indicators(workspace string) []receipts.SLOIndicator {
	inds, ok := d.inds[workspace]
	if !ok {
		for _, s := range d.slosFor(workspace) {
			if !slices.Contains(inds, s.ind) {
				inds = append(inds, s.ind)
			}
		}
		if len(d.inds) > 10000 {
			clear(d.inds)
		}
		d.inds[workspace] = inds
	}
	return inds
}

// openDerived loads the history of every scroll present at start.
func (e *engine) openDerived() error {
	e.derived = newDerivedState(e.cfg)
	if e.derived == nil {
		return nil
	}
	if err := os.MkdirAll(e.derived.dir, 0o755); err != nil {
		return err
	}
	for wsDir := range e.scrolls {
		e.history(wsDir) // a scroll whose history cannot be loaded is logged and left without derived receipts
	}
	return nil
}

// countDerived adds a record to its window's facts.
func (e *engine) countDerived(w *window, signal string, info receipts.RecordInfo) {
	if e.derived == nil {
		return
	}
	if w.derived == nil {
		// The history exists before any window of the scroll is sealed in this run, so each one sealed is added
		// to it (and scheduled) as it is sealed.
		if h := e.history(w.key.wsDir); h.broken == nil {
			h.workspace = w.workspace
		}
		var inds []receipts.SLOIndicator
		if signal == receipts.SignalTraces {
			inds = e.derived.indicators(w.workspace)
		}
		w.derived = &derivedCounts{facts: receipts.NewBatchFacts(inds), inds: inds}
	}
	w.derived.facts.Add(signal, info, w.derived.inds)
}

// derivedSealed adds a window just sealed to its scroll's history (on the loop, after the seal).
func (e *engine) derivedSealed(w *window) {
	if e.derived == nil || w.derived == nil || w.derived.receipt == nil {
		return
	}
	h := e.history(w.key.wsDir)
	if h.broken != nil {
		return
	}
	h.workspace = w.workspace
	r := w.derived.receipt
	line, err := r.Marshal()
	if err != nil {
		return
	}
	b := &histBatch{id: r.ID, signal: w.key.signal, storage: r.StoragePath, start: w.key.start, seq: r.Seq,
		lineHash: merkle.BLAKE3.HashLeaf(line), facts: w.derived.facts}
	if h.add(b, e.derived) {
		e.writeCache(h.wsDir, cacheLine{ID: b.id, LineHash: hex.EncodeToString(b.lineHash), Facts: b.facts})
	}
}

// add puts a sealed batch into the history (once) and schedules what it makes due.
func (h *history) add(b *histBatch, d *derivedState) bool {
	if h.ids[b.id] {
		return false
	}
	h.ids[b.id] = true
	h.batches = append(h.batches, b)
	h.changed = true
	if d.detector != nil {
		h.pending[b.start] = true
	}
	if b.signal == receipts.SignalTraces && h.nextReport == 0 && d.reportIvl > 0 {
		h.nextReport = boundaryAfter(b.start, d.reportIvl)
	}
	return true
}

// history returns a scroll's history, loading it from the scroll (and the cache) the first time; a history that
// cannot be loaded is marked broken (and logged) once.
func (e *engine) history(wsDir string) *history {
	if h, ok := e.derived.scrolls[wsDir]; ok {
		return h
	}
	h, err := e.loadHistory(wsDir)
	if err != nil {
		e.logger.Error("derived receipts: the scroll's sealed batches cannot be counted; no obs_slo_report or obs_anomaly_detected for it until a restart",
			zap.String("scroll", wsDir), zap.Error(err))
		h = &history{wsDir: wsDir, broken: err}
	}
	e.derived.scrolls[wsDir] = h
	return h
}

// cacheLine is one line of a scroll's facts cache: a batch's facts, or the latest window evaluated for anomalies.
type cacheLine struct {
	ID        string               `json:"id,omitempty"`
	LineHash  string               `json:"lh,omitempty"`
	Facts     *receipts.BatchFacts `json:"facts,omitempty"`
	Evaluated *int64               `json:"evaluated,omitempty"`
}

func (d *derivedState) cachePath(wsDir string) string { return filepath.Join(d.dir, wsDir+".jsonl") }

// writeCache appends lines to a scroll's cache. The cache only saves reading batch files again, so a failure is
// logged and otherwise ignored, and nothing is fsynced.
func (e *engine) writeCache(wsDir string, lines ...cacheLine) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, l := range lines {
		_ = enc.Encode(l)
	}
	f, err := os.OpenFile(e.derived.cachePath(wsDir), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		_, err = f.Write(buf.Bytes())
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		e.logger.Warn("derived receipts: writing the facts cache failed (facts are counted again from batch files at the next start)",
			zap.String("scroll", wsDir), zap.Error(err))
	}
}

// loadHistory rebuilds a scroll's history from its receipt log: the batches still needed (the latest
// 2 x history + 1 windows for anomalies, the trace batches of the next SLO report's period), their facts from the
// cache or counted again from their batch files, the next report boundary, and the windows to evaluate again.
func (e *engine) loadHistory(wsDir string) (*history, error) {
	d := e.derived
	h := &history{wsDir: wsDir, ids: map[string]bool{}, pending: map[int64]bool{}}
	dir := filepath.Join(e.cfg.Directory, wsDir)
	lines, err := receipts.ScrollLines(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var all []*histBatch
	lastReport := int64(0)
	for i, line := range lines {
		r, err := receipts.ParseReceipt(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", wsDir, i+1, err)
		}
		h.workspace = r.Workspace
		if r.Type == receipts.TypeSLOReport {
			if t, err := time.Parse(time.RFC3339, r.Period.End); err == nil {
				lastReport = max(lastReport, t.Unix())
			}
		}
		sig := receipts.SignalOf(r.Type)
		if sig == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, r.Period.Start)
		if err != nil {
			continue
		}
		all = append(all, &histBatch{id: r.ID, signal: sig, storage: r.StoragePath, start: t.Unix(), seq: r.Seq,
			lineHash: merkle.BLAKE3.HashLeaf(line)})
	}
	slos := d.slosFor(h.workspace)
	if len(slos) > 0 {
		h.nextReport = firstReport(all, lastReport, d.reportIvl, maxWindow(slos))
	}
	keepAnomaly := int64(1 << 62)
	if d.detector != nil {
		starts := distinctStarts(all, 1<<62)
		if len(starts) > 0 {
			keepAnomaly = starts[max(0, len(starts)-2*int(d.detector.History)-1)]
		}
	}
	keepSLO := int64(1 << 62)
	if h.nextReport > 0 {
		keepSLO = h.nextReport - maxWindow(slos)
	}
	cache, evaluated := e.readCache(wsDir)
	var kept, recounted []cacheLine
	for _, b := range all {
		if b.start < keepAnomaly && (b.signal != receipts.SignalTraces || b.start < keepSLO) {
			continue
		}
		var inds []receipts.SLOIndicator
		if b.signal == receipts.SignalTraces {
			inds = d.indicators(h.workspace)
		}
		if c, ok := cache[b.id]; ok && c.LineHash == hex.EncodeToString(b.lineHash) && c.Facts != nil && c.Facts.Services != nil && c.Facts.Counts(inds) {
			b.facts = c.Facts
		} else {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(b.storage)))
			if err != nil {
				return nil, fmt.Errorf("derived receipts: reading %s of %s: %w", b.storage, wsDir, err)
			}
			if b.facts, err = receipts.ReadBatchFacts(b.signal, data, inds); err != nil {
				return nil, fmt.Errorf("derived receipts: counting %s of %s: %w", b.storage, wsDir, err)
			}
			recounted = append(recounted, cacheLine{ID: b.id, LineHash: hex.EncodeToString(b.lineHash), Facts: b.facts})
		}
		kept = append(kept, cacheLine{ID: b.id, LineHash: hex.EncodeToString(b.lineHash), Facts: b.facts})
		h.ids[b.id] = true
		h.batches = append(h.batches, b)
	}
	if d.detector != nil {
		// Evaluate again the windows after the last one the cache says was evaluated (all of them idempotent: an
		// anomaly already receipted is skipped by its id); without a mark, the newest window only.
		starts := distinctStarts(h.batches, 1<<62)
		from := len(starts) - 1
		if evaluated != nil {
			from = len(starts)
			for from > 0 && starts[from-1] > *evaluated {
				from--
			}
			from = max(from, len(starts)-int(d.detector.History)-1)
		}
		for _, s := range starts[max(from, 0):] {
			h.pending[s] = true
		}
	}
	// Rewrite the cache when it holds much more than is kept.
	if len(cache) > 2*len(kept)+64 {
		if evaluated != nil {
			kept = append(kept, cacheLine{Evaluated: evaluated})
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, l := range kept {
			_ = enc.Encode(l)
		}
		if err := atomicfile.WriteFile(d.cachePath(wsDir), buf.Bytes(), 0o600); err != nil {
			e.logger.Warn("derived receipts: rewriting the facts cache failed", zap.String("scroll", wsDir), zap.Error(err))
		}
	} else if len(recounted) > 0 {
		e.writeCache(wsDir, recounted...)
	}
	h.changed = true
	return h, nil
}

// firstReport is the boundary of the next SLO report to consider for a scroll with these batches: after the
// last report; for a scroll without report, the first boundary after its oldest trace batch, but no earlier than
// the first whose longest window reaches its newest trace batch (enabling SLOs on a long scroll does not report its
// whole past). 0 when the scroll has no trace batch.
func firstReport(bs []*histBatch, lastReport, ri, longest int64) int64 {
	if lastReport > 0 {
		return lastReport + ri
	}
	oldest, newest, any := int64(0), int64(0), false
	for _, b := range bs {
		if b.signal == receipts.SignalTraces {
			if !any || b.start < oldest {
				oldest = b.start
			}
			if !any || b.start > newest {
				newest = b.start
			}
			any = true
		}
	}
	if !any {
		return 0
	}
	return max(boundaryAfter(oldest, ri), boundaryAfter(newest-longest, ri))
}

// boundaryAfter is the first multiple of ri after t.
func boundaryAfter(t, ri int64) int64 { return floorDiv(t, ri)*ri + ri }

// readCache reads a scroll's cache; lines that do not parse (a torn write) are ignored.
func (e *engine) readCache(wsDir string) (map[string]cacheLine, *int64) {
	data, err := os.ReadFile(e.derived.cachePath(wsDir))
	if err != nil {
		return nil, nil
	}
	out := map[string]cacheLine{}
	var evaluated *int64
	for _, l := range bytes.Split(data, []byte("\n")) {
		var c cacheLine
		if len(l) == 0 || json.Unmarshal(l, &c) != nil {
			continue
		}
		if c.Evaluated != nil {
			evaluated = c.Evaluated
		} else if c.ID != "" {
			out[c.ID] = c
		}
	}
	return out, evaluated
}

// distinctStarts are the distinct window starts before limit of batches, ascending.
func distinctStarts(bs []*histBatch, limit int64) []int64 {
	var out []int64
	for _, b := range bs {
		if b.start < limit {
			out = append(out, b.start)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// emitDerived appends the derived receipts that became due (after a sealing pass, on the loop) and forgets the
// batches no longer needed.
func (e *engine) emitDerived(present, now time.Time) {
	if e.derived == nil {
		return
	}
	// The oldest open window per scroll (any signal, and traces): nothing up to it is final yet.
	openMin, openTraceMin := map[string]int64{}, map[string]int64{}
	for k := range e.windows {
		if m, ok := openMin[k.wsDir]; !ok || k.start < m {
			openMin[k.wsDir] = k.start
		}
		if m, ok := openTraceMin[k.wsDir]; k.signal == receipts.SignalTraces && (!ok || k.start < m) {
			openTraceMin[k.wsDir] = k.start
		}
	}
	for _, h := range e.derived.scrolls {
		if h.broken != nil {
			continue
		}
		if len(h.pending) > 0 {
			e.emitAnomalies(h, present, now, openMin)
		}
		if h.nextReport > 0 {
			e.emitSLOReports(h, present, now, openTraceMin)
		}
		if h.changed {
			h.prune(e.derived)
			h.changed = false
		}
	}
}

// closedThrough reports whether every window of the scroll starting at or before start is sealed: the present
// passed its end + grace and no window of the scroll that old is open.
func (e *engine) closedThrough(wsDir string, start int64, present time.Time, open map[string]int64) bool {
	if present.Before(time.Unix(start+e.interval, 0).Add(e.grace)) {
		return false
	}
	m, ok := open[wsDir]
	return !ok || m > start
}

// prune forgets the batches no derived receipt still to come can use: for anomalies, windows older than the
// history before the oldest pending (or next) window; for SLO reports, trace batches older than the next report's
// longest window.
func (h *history) prune(d *derivedState) {
	keepAnomaly := int64(1 << 62)
	if d.detector != nil {
		limit := int64(1 << 62)
		for s := range h.pending {
			limit = min(limit, s)
		}
		starts := distinctStarts(h.batches, limit)
		keepAnomaly = limit
		if len(starts) > 0 {
			keepAnomaly = starts[max(0, len(starts)-int(d.detector.History))]
		}
	}
	keepSLO := int64(1 << 62)
	if h.nextReport > 0 {
		if slos := d.slosFor(h.workspace); len(slos) > 0 {
			keepSLO = h.nextReport - maxWindow(slos)
		}
	}
	kept := h.batches[:0]
	for _, b := range h.batches {
		if b.start >= keepAnomaly || (b.signal == receipts.SignalTraces && b.start >= keepSLO) {
			kept = append(kept, b)
		} else {
			delete(h.ids, b.id)
		}
	}
	clear(h.batches[len(kept):])
	h.batches = kept
}

// commitment is content_hash, merkle_root and leaf_count over batches, in receipt-log order.
func commitment(bs []*histBatch) (string, string, uint64) {
	sorted := slices.Clone(bs)
	slices.SortFunc(sorted, func(a, b *histBatch) int { return cmp.Compare(a.seq, b.seq) })
	hs := make([][]byte, len(sorted))
	for i, b := range sorted {
		hs[i] = b.lineHash
	}
	return receipts.DerivedCommitment(hs)
}
