package receiptexporter

import (
	"cmp"
	"container/heap"
	"context"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/internal/receipts"
)

type traceKey struct{ wsDir, id string }

// traceState is what an open trace keeps in memory: counters and what its obs_trace_complete receipt needs. The
// span leaves are in the trace spool, read back only if the trace turns out significant.
type traceState struct {
	id        string
	workspace string
	wsDir     string
	// refs locate the leaves of the first trace_max_spans spans, in arrival order.
	refs []spanRef
	// name is the first root span's name (of the referenced spans), else the first span's.
	name     string
	hasRoot  bool
	services []string // distinct, of the referenced spans; a handful per trace, so a slice beats a map
	nodes    []string
	// holds are the oldest log entries with its spans, per stream (see holdOldest).
	holds []holdKey
	// lastArrival is the arrival (Delivery.Arrival, Unix ns) of the latest entry with one of its spans.
	lastArrival int64
	seq         uint64 // when lastArrival last grew, to order equal arrivals
	idx         int    // position in engine.traceHeap, or in engine.lingerHeap while lingering
	overflow    bool
	lingering   bool // completed, not significant, kept for trace_linger (tracelinger.go)
	// over every span seen, including those beyond trace_max_spans
	start, end int64
	errorSpans int
	spans      int
}

// trackSpan adds a span to its open trace: counters in memory, the leaf in the trace spool. Spans of a trace
// already receipted (its entry is delivered again after a restart) are skipped.
func (e *engine) trackSpan(rec receipts.Record, wsDir string, hk holdKey, arrival int64) error {
	tid := rec.Info.TraceID
	if s, ok := e.scrolls[wsDir]; ok && s.Has("trace-"+tid) {
		return nil
	}
	k := traceKey{wsDir: wsDir, id: tid}
	t, ok := e.traces[k]
	if !ok {
		e.makeRoomForTrace()
		t = &traceState{id: tid, workspace: rec.Workspace, wsDir: wsDir}
		e.traces[k] = t
		heap.Push(&e.traceHeap, t)
	} else if t.lingering {
		e.reopen(t)
	}
	in := rec.Info
	if len(t.refs) >= e.cfg.TraceMaxSpans {
		t.overflow = true
	} else {
		ref, err := e.tspool.append(rec.Leaf)
		if err != nil {
			return err
		}
		t.refs = append(t.refs, ref)
		if len(t.refs) == 1 {
			t.name = in.SpanName
		}
		if in.Parent == "" && !t.hasRoot {
			t.name, t.hasRoot = in.SpanName, true
		}
		t.services = addDistinct(t.services, in.Service)
		t.nodes = addDistinct(t.nodes, in.Node)
	}
	if t.spans == 0 || (in.Start > 0 && in.Start < t.start) {
		t.start = in.Start
	}
	t.end = max(t.end, in.End)
	if in.Error {
		t.errorSpans++
	}
	t.spans++
	if arrival > t.lastArrival || t.spans == 1 {
		t.lastArrival = arrival
		e.traceSeq++
		t.seq = e.traceSeq
		heap.Fix(&e.traceHeap, t.idx)
	}
	t.holds = e.holdOldest(t.holds, hk)
	if e.tspool.rolled {
		e.tspool.rolled = false
		return e.compactTraceSpool()
	}
	return nil
}

func addDistinct(set []string, v string) []string {
	if v == "" || slices.Contains(set, v) {
		return set
	}
	return append(set, v)
}

// makeRoomForTrace keeps at most trace_max_open traces open: before one more is opened, the trace whose last
// span arrived longest ago is completed as if it were idle (sealed if significant).
func (e *engine) makeRoomForTrace() {
	for len(e.lingerHeap) > 0 && e.openTraces() >= e.cfg.TraceMaxOpen {
		e.forgetTrace(e.lingerHeap[0])
	}
	for len(e.traceHeap) > 0 && e.openTraces() >= e.cfg.TraceMaxOpen {
		t := e.traceHeap[0]
		if err := e.completeTrace(t, e.now()); err != nil {
			// Keeping it would break the bound; its spans are still sealed in the window batches.
			e.logger.Error("sealing a trace completed early for trace_max_open failed; dropped without obs_trace_complete receipt",
				zap.String("trace_id", t.id), zap.Error(err))
			e.forgetTrace(t)
		}
		if t.lingering {
			e.forgetTrace(t) // no room to linger
		}
		e.evicted.n++
		e.tel.TfocolReceiptTracesCompletedEarly.Add(context.Background(), 1)
	}
}

// completeIdleTraces completes the traces whose last entry arrived trace_idle or longer before the present.
func (e *engine) completeIdleTraces(present, now time.Time) {
	done := e.traceHeap.idle(present.Add(-e.cfg.TraceIdle).UnixNano())
	// Only traces of one workspace share a scroll, so this orders each scroll's receipts by trace id.
	slices.SortFunc(done, func(a, b *traceState) int {
		return cmp.Or(cmp.Compare(a.wsDir, b.wsDir), cmp.Compare(a.id, b.id))
	})
	for _, t := range done {
		if err := e.completeTrace(t, now); err != nil {
			e.logger.Error("sealing trace failed; will retry", zap.String("trace_id", t.id), zap.Error(err))
		}
	}
	e.forgetLingering(present.Add(-e.cfg.TraceIdle - e.cfg.TraceLinger).UnixNano())
}

// logEvictions reports traces completed early for trace_max_open, at most once a minute.
func (e *engine) logEvictions(now time.Time) {
	n, ok := e.evicted.due(now)
	if !ok {
		return
	}
	e.logger.Warn("open traces reached trace_max_open; the oldest were completed before trace_idle (a significant one is sealed with the spans it had; later spans only go to the window batches)",
		zap.Int("traces", n), zap.Int("trace_max_open", e.cfg.TraceMaxOpen))
}

// warnCount counts events of one kind between warnings, which are logged at most once a minute.
type warnCount struct {
	n      int
	logged time.Time
}

// due returns the count to warn of and resets it, or false if there is none or the last warning is recent.
func (w *warnCount) due(now time.Time) (int, bool) {
	if w.n == 0 || (!w.logged.IsZero() && now.Sub(w.logged) < time.Minute) {
		return 0, false
	}
	n := w.n
	w.n, w.logged = 0, now
	return n, true
}

// forgetTrace drops an open trace, its references to the trace spool and its holds on log entries.
func (e *engine) forgetTrace(t *traceState) {
	delete(e.traces, traceKey{wsDir: t.wsDir, id: t.id})
	switch {
	case t.idx < 0:
	case t.lingering:
		heap.Remove(&e.lingerHeap, t.idx)
	default:
		heap.Remove(&e.traceHeap, t.idx)
	}
	e.tspool.release(t.refs)
	e.unholdAll(t.holds)
	t.holds = nil
}

// completeTrace seals a significant trace (an error span, or longer than trace_threshold) into its own file and
// an obs_trace_complete receipt, reading its spans back from the trace spool; other traces linger or are
// forgotten (retire; their spans are in the window batches).
func (e *engine) completeTrace(t *traceState, now time.Time) error {
	start, end, errorSpans := t.start, t.end, t.errorSpans
	duration := time.Duration(max(end-start, 0))
	if errorSpans == 0 && duration <= e.cfg.TraceThreshold {
		e.retire(t)
		return nil
	}
	if t.overflow {
		e.logger.Warn("significant trace has more spans than trace_max_spans; no obs_trace_complete receipt (its spans are sealed in the window batches)",
			zap.String("trace_id", t.id), zap.Int("trace_max_spans", e.cfg.TraceMaxSpans))
		e.forgetTrace(t)
		return nil
	}
	s, err := e.scroll(t.wsDir)
	if err != nil {
		return err
	}
	leaves, err := e.tspool.read(t.refs)
	if err != nil {
		return err
	}
	status := "ok"
	if errorSpans > 0 {
		status = "error"
	}
	r := &receipts.Receipt{
		Type: receipts.TypeTraceComplete, ID: "trace-" + t.id, Timestamp: receipts.FormatTime(now), Workspace: t.workspace,
		SpanCount: uint64(len(leaves)), ErrorSpans: uint64(errorSpans), TraceID: t.id, Name: t.name,
		DurationMs: duration.Milliseconds(), Status: status, EventTime: receipts.FormatTime(time.Unix(0, end)),
		ServicesReporting: slices.Sorted(slices.Values(t.services)), NodesReporting: slices.Sorted(slices.Values(t.nodes)),
		Tags: []string{"observability", "trace"},
	}
	if err := s.SealFile(receipts.TracePath(t.id, time.Unix(0, end)), leaves, r); err != nil && !e.rootStale(err) {
		return err
	}
	e.forgetTrace(t)
	e.tel.TfocolReceiptWindowsSealed.Add(context.Background(), 1, metric.WithAttributes(attribute.String("type", r.Type)))
	return nil
}
