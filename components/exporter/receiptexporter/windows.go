package receiptexporter

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

var batchTypes = map[string]string{
	receipts.SignalLogs:    receipts.TypeLogBatch,
	receipts.SignalMetrics: receipts.TypeMetricSnapshot,
	receipts.SignalTraces:  receipts.TypeTraceBatch,
}

type windowKey struct {
	signal string
	wsDir  string
	start  int64 // Unix seconds
}

// window accumulates one (signal, workspace, interval) batch. Its records are appended to a spool file as they
// are delivered; sealing fsyncs and renames the spool into place.
type window struct {
	key       windowKey
	workspace string
	spoolPath string
	// file is the open spool, nil while closed (at most max_open_files spools are open, see engine.spools).
	file    *bufferedFile
	created bool // the spool file exists: reopened for append, not truncated
	// sum is the BLAKE3 hash of the spool's bytes, read back and hashed by the seal worker after the fsync (a
	// streaming hasher per open window would keep ~7 KiB per window in memory: 70 MiB for 10,000 workspaces).
	sum []byte
	// tree folds each record's leaf hash into a compact range (O(log n) hashes): an hour of a busy workspace
	// would otherwise keep 32 bytes per record in memory until the seal.
	tree        *merkle.Appender
	count       uint64
	logCounts   receipts.LogCounts
	services    map[string]struct{}
	nodes       map[string]struct{}
	metricNames map[string]struct{}
	pointTypes  map[string]uint64
	traceIDs    map[[16]byte]struct{} // binary ids: half the memory of hex strings per distinct trace
	errorSpans  uint64
	// holds are the oldest log entries its records came from, per stream (see holdOldest).
	holds   []holdKey
	renamed bool
	// aggregates accumulate the configured aggregates of a metrics window (aggregates.go); nil without any.
	aggregates windowAggregates
	// derived are the facts derived receipts take from the batch (derived.go); nil when they are off.
	derived *derivedCounts
}

// bufferedFile is an open spool file with its write buffer; the buffers are reused across files.
type bufferedFile struct {
	f   *os.File
	buf *bufio.Writer
}

// assign picks the window a record belongs to from the record and its entry's arrival alone, so that a replay of
// the log makes the same choice: the window of its event time if that window starts no later than the arrival's
// window and the entry arrived before that window's end + grace, else the window of the arrival.
func (e *engine) assign(eventTime, arrival int64) int64 {
	iv := e.interval
	arrStart := floorDiv(floorDiv(arrival, int64(time.Second)), iv) * iv
	if eventTime > 0 {
		ev := floorDiv(eventTime/int64(time.Second), iv) * iv
		if ev <= arrStart && arrival < (ev+iv)*int64(time.Second)+e.grace.Nanoseconds() {
			return ev
		}
	}
	return arrStart
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func (e *engine) isSealed(signal, wsDir string, start int64) bool {
	s, ok := e.scrolls[wsDir]
	return ok && s.Has(receipts.BatchID(signal, time.Unix(start, 0)))
}

// apply adds one record to its window (and trace). A record whose window is already receipted was sealed in it
// before (its entry is delivered again after a restart) and is skipped.
func (e *engine) apply(signal string, rec receipts.Record, hk holdKey, arrival int64) error {
	wsDir := e.wsDir(rec.Workspace)
	if signal == receipts.SignalTraces {
		if err := e.trackSpan(rec, wsDir, hk, arrival); err != nil {
			return err
		}
	}
	start := e.assign(rec.EventTime, arrival)
	if e.isSealed(signal, wsDir, start) {
		return nil
	}
	w := e.window(windowKey{signal: signal, wsDir: wsDir, start: start}, rec.Workspace)
	bf, err := e.openSpool(w)
	if err != nil {
		return err
	}
	e.frame = receipts.AppendRecord(e.frame[:0], rec.Leaf)
	if _, err := bf.buf.Write(e.frame); err != nil {
		return fmt.Errorf("writing spool %s: %w", w.spoolPath, err)
	}
	if rec.LeafHash == nil {
		rec.LeafHash = merkle.BLAKE3.HashLeaf(rec.Leaf)
	}
	w.tree.AppendLeafHash(rec.LeafHash)
	w.count++
	info := rec.Info
	if info.Service != "" {
		w.services[info.Service] = struct{}{}
	}
	if info.Node != "" {
		w.nodes[info.Node] = struct{}{}
	}
	switch signal {
	case receipts.SignalLogs:
		w.logCounts.Add(info.Severity)
	case receipts.SignalMetrics:
		w.metricNames[info.MetricName] = struct{}{}
		w.pointTypes[info.PointType]++
		e.countAggregates(w, rec)
	case receipts.SignalTraces:
		// Span trace ids are 16 bytes in hex; an empty one counts as the zero id, one trace as before.
		var id [16]byte
		if len(info.TraceID) == 2*len(id) {
			_, _ = hex.Decode(id[:], []byte(info.TraceID))
		}
		w.traceIDs[id] = struct{}{}
		if info.Error {
			w.errorSpans++
		}
	}
	e.countDerived(w, signal, info)
	w.holds = e.holdOldest(w.holds, hk)
	return nil
}

func (e *engine) window(key windowKey, workspace string) *window {
	if w, ok := e.windows[key]; ok {
		return w
	}
	p := filepath.Join(e.cfg.Directory, spoolDir, fmt.Sprintf("%s-%s-%d.spool", key.signal, key.wsDir, key.start))
	w := &window{key: key, workspace: workspace, spoolPath: p,
		services: map[string]struct{}{}, nodes: map[string]struct{}{}, metricNames: map[string]struct{}{},
		pointTypes: map[string]uint64{}, traceIDs: map[[16]byte]struct{}{}, tree: merkle.NewAppender(merkle.BLAKE3)}
	e.windows[key] = w
	return w
}

// openSpool returns the window's open spool file, opening it (created the first time, appended to after) and
// closing the least recently used one first when max_open_files are open.
func (e *engine) openSpool(w *window) (*bufferedFile, error) {
	if w.file != nil {
		e.spools.Get(w.key) // most recently used
		return w.file, nil
	}
	for e.spools.Len() >= e.cfg.MaxOpenFiles && e.spools.Len() > 0 {
		e.spools.RemoveOldest()
	}
	if err := e.takeSpoolErr(); err != nil {
		return nil, err
	}
	flag := os.O_WRONLY | os.O_APPEND
	if !w.created {
		flag |= os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(w.spoolPath, flag, 0o644)
	if err != nil {
		return nil, err
	}
	w.created = true
	var bf *bufferedFile
	if n := len(e.freeBufs); n > 0 {
		bf, e.freeBufs = e.freeBufs[n-1], e.freeBufs[:n-1]
		bf.f = f
		bf.buf.Reset(f)
	} else {
		bf = &bufferedFile{f: f, buf: bufio.NewWriterSize(f, 32<<10)}
	}
	w.file = bf
	e.spools.Add(w.key, w)
	return bf, nil
}

// closeSpool flushes and closes the window's spool file if it is open (the LRU's eviction callback).
func (e *engine) closeSpool(w *window) error {
	bf := w.file
	if bf == nil {
		return nil
	}
	w.file = nil
	err := bf.buf.Flush()
	if cerr := bf.f.Close(); err == nil {
		err = cerr
	}
	bf.f = nil
	bf.buf.Reset(nil)
	e.freeBufs = append(e.freeBufs, bf)
	if err != nil {
		return fmt.Errorf("writing spool %s: %w", w.spoolPath, err)
	}
	return nil
}

func (e *engine) takeSpoolErr() error {
	err := e.spoolErr
	e.spoolErr = nil
	return err
}

// dropWindow forgets a window (sealed, or found sealed) and releases its holds.
func (e *engine) dropWindow(w *window) {
	e.spools.Remove(w.key)
	_ = e.takeSpoolErr()
	if !w.renamed {
		_ = os.Remove(w.spoolPath)
	}
	delete(e.windows, w.key)
	e.unholdAll(w.holds)
	w.holds = nil
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// appendReceipts appends receipts to a scroll. A ROOT that could not be rewritten is logged, not retried: the
// receipts are durable and appending them again would seal twice.
func (e *engine) appendReceipts(s *receipts.Scroll, rs ...*receipts.Receipt) error {
	err := s.Append(rs...)
	if err != nil && e.rootStale(err) {
		return nil
	}
	return err
}

func (e *engine) rootStale(err error) bool {
	if !errors.Is(err, receipts.ErrRootStale) {
		return false
	}
	e.logger.Warn("receipt appended but ROOT not rewritten; it is rewritten on the next append or restart", zap.Error(err))
	return true
}
