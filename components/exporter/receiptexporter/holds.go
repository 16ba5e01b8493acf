package receiptexporter

import "github.com/tfocol/tfocol/internal/durablelog"

// holdKey names one log entry as one cursor delivered it. Two cursors (tfo_log receivers of different pipelines)
// deliver the same seq each, so the stream is part of the key; durablelog.Stream values must be comparable (the
// receiver passes a pointer), and one value stands for one cursor for the exporter's lifetime.
type holdKey struct {
	stream durablelog.Stream
	seq    uint64
}

// hold is the engine's one Stream.Hold on an entry, shared by the open windows and traces that hold it.
type hold struct {
	release func()
	refs    int
}

// holdOldest keeps the cursor before every entry with records in an open window or trace while holding only
// O(1) entries per window and trace (holding every entry cost ~170 bytes of heap per entry, gigabytes for an
// hour window at a few thousand entries a second): held lists the entries a window or trace holds, and it
// holds an entry of a stream only when it is older than every entry of that stream it holds already. The
// receiver commits its cursor only up to the oldest entry held on it, which is then before every entry of every
// open window and trace: exactly what holding each of them would give. It returns held with hk added if held.
func (e *engine) holdOldest(held []holdKey, hk holdKey) []holdKey {
	// The last entry held of a stream is its oldest: entries are added only when older.
	for i := len(held) - 1; i >= 0; i-- {
		if held[i].stream == hk.stream {
			if hk.seq >= held[i].seq {
				return held
			}
			break
		}
	}
	e.hold(hk)
	return append(held, hk)
}

// unholdAll releases what holdOldest held.
func (e *engine) unholdAll(held []holdKey) {
	for _, hk := range held {
		e.unhold(hk)
	}
}

// hold adds a reference to the entry, holding it on its stream the first time: the receiver does not commit its
// cursor past a held entry, so after a crash it delivers it and every later entry again and the windows are
// rebuilt.
func (e *engine) hold(k holdKey) {
	h := e.holds[k]
	if h == nil {
		h = &hold{release: k.stream.Hold(k.seq)}
		e.holds[k] = h
	}
	h.refs++
}

// unhold drops a reference; the last one releases the entry (its windows and traces are sealed or forgotten).
func (e *engine) unhold(k holdKey) {
	h := e.holds[k]
	if h == nil {
		return
	}
	h.refs--
	if h.refs > 0 {
		return
	}
	delete(e.holds, k)
	if h.release != nil {
		h.release()
	}
}
