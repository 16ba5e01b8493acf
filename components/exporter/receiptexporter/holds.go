package receiptexporter

import "github.com/tfocol/tfocol/internal/durablelog"

// holdKey names one log entry as one cursor delivered it. Two cursors (tfo_log receivers of different pipelines)
// deliver the same seq each, so the stream is part of the key; durablelog.Stream values must be comparable (the
// receiver passes a pointer), and one value stands for one cursor for the exporter's lifetime.
type holdKey struct {
	stream durablelog.Stream
	seq    uint64
}

// hold is the engine's one Stream.Hold on an entry, shared by every open window and trace that holds records of
// it. calls are the fingerprints of the calls of the entry already applied (see engine.ingest).
type hold struct {
	release func()
	refs    int
	calls   map[[16]byte]struct{}
}

// hold adds a reference to the entry, holding it on its stream the first time: the receiver does not commit its
// cursor past a held entry, so after a crash it delivers the entry again and the window is rebuilt.
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
