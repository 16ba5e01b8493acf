package receiptexporter

import "container/heap"

// Lingering traces. A trace that went idle without being significant is not forgotten at once: for trace_linger
// it keeps its span references in the trace spool and its hold on its oldest log entry, in lingerHeap. A span
// that arrives meanwhile (an error reported after the trace's window batch was sealed) reopens it, so a trace it
// makes significant is sealed with every span, not only the late ones; the hold makes a restart deliver its
// earlier spans again. Lingering traces count toward trace_max_open and are the first to go when it is reached.

// retire ends an open trace found not significant: it lingers, or is forgotten when trace_linger is 0.
func (e *engine) retire(t *traceState) {
	if e.cfg.TraceLinger <= 0 || t.lingering {
		e.forgetTrace(t)
		return
	}
	heap.Remove(&e.traceHeap, t.idx)
	t.lingering = true
	heap.Push(&e.lingerHeap, t)
}

// reopen makes a lingering trace open again (a span of it arrived).
func (e *engine) reopen(t *traceState) {
	heap.Remove(&e.lingerHeap, t.idx)
	t.lingering = false
	heap.Push(&e.traceHeap, t)
}

// forgetLingering forgets the lingering traces whose last span arrived at or before cutoff (Unix ns).
func (e *engine) forgetLingering(cutoff int64) {
	for _, t := range e.lingerHeap.idle(cutoff) {
		e.forgetTrace(t)
	}
}

// openTraces is the number of traces counted against trace_max_open.
func (e *engine) openTraces() int { return len(e.traceHeap) + len(e.lingerHeap) }
