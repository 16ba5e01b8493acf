package receiptexporter

import (
	"bufio"
	"cmp"
	"container/heap"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/zeebo/blake3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
	"github.com/tfocol/tfocol/internal/receipts/wal"
)

// Directory layout inside cfg.Directory besides the per-workspace scrolls. The leading dot keeps them apart
// from workspace directory names, which never start with a dot.
const (
	walDir   = ".wal"
	spoolDir = ".spool"
)

var signalNames = map[uint8]string{
	wal.SignalLogs:    receipts.SignalLogs,
	wal.SignalMetrics: receipts.SignalMetrics,
	wal.SignalTraces:  receipts.SignalTraces,
}

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
// become durable in the WAL; sealing fsyncs and renames the spool into place.
type window struct {
	key       windowKey
	workspace string
	spoolPath string
	spool     *os.File
	buf       *bufio.Writer
	content   *blake3.Hasher
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
	segs        map[uint64]struct{}
	renamed     bool
}

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
	// segs are the WAL segments holding its spans; usually one or two.
	segs        []uint64
	lastArrival int64
	seq         uint64 // when lastArrival last grew, to order equal arrivals
	idx         int    // position in engine.traceHeap
	overflow    bool
	// over every span seen, including those beyond trace_max_spans
	start, end int64
	errorSpans int
	spans      int
}

// request is one consumer call waiting for its group commit.
type request struct {
	signal  uint8
	raw     []byte // the request as OTLP protobuf; what the WAL stores
	records []receipts.Record
	alerts  bool
	// key identifies a request that carried an Idempotency-Key (batch mode, see requestKey).
	key    [wal.KeySize]byte
	hasKey bool
	// alertIDs are the receipt ids of records (alerts mode, keyed requests; see keyedAlertID).
	alertIDs []string
	done     chan error
}

// engine owns all files of one exporter directory. Everything that touches them runs on its loop goroutine, so
// ingest, sealing and recovery never interleave.
type engine struct {
	cfg      *Config
	logger   *zap.Logger
	tel      *metadata.TelemetryBuilder
	signer   note.Signer
	now      func() time.Time
	interval int64
	grace    time.Duration

	wal       *wal.WAL
	scrolls   map[string]*receipts.Scroll
	windows   map[windowKey]*window
	traces    map[traceKey]*traceState
	traceHeap traceHeap
	traceSeq  uint64
	tspool    *traceSpool
	// traceSpoolRotate is the trace spool file size; tests make it tiny.
	traceSpoolRotate int64
	// evicted counts traces completed early for trace_max_open since the last warning (logged at most per minute).
	evicted       int
	evictedLogged time.Time
	segPending    map[uint64]int
	wsDirs        map[string]string
	frame         []byte
	// keys maps the request key of every keyed request whose WAL entry is on disk (live or retired segment) to
	// that segment; segKeys and segLast (newest arrival, Unix ns) let a retired segment's keys go with it.
	keys    map[[wal.KeySize]byte]uint64
	segKeys map[uint64][][wal.KeySize]byte
	segLast map[uint64]int64
	unlock  func()
	fatal   error

	// test hooks: crashAt aborts a seal at a named step as a crash would; beforeCommit runs before each group commit.
	crashAt      func(step string) bool
	beforeCommit func()
	commits      int

	reqs    chan *request
	stop    chan struct{}
	stopped chan struct{}
}

func newEngine(cfg *Config, logger *zap.Logger, tel *metadata.TelemetryBuilder, now func() time.Time) (*engine, error) {
	e := &engine{
		cfg: cfg, logger: logger, tel: tel, now: now,
		interval: int64(cfg.Interval / time.Second), grace: cfg.Grace,
		scrolls: map[string]*receipts.Scroll{}, windows: map[windowKey]*window{}, traces: map[traceKey]*traceState{},
		segPending: map[uint64]int{}, wsDirs: map[string]string{}, traceSpoolRotate: defaultTraceSpoolRotate,
		keys: map[[wal.KeySize]byte]uint64{}, segKeys: map[uint64][][wal.KeySize]byte{}, segLast: map[uint64]int64{},
		reqs: make(chan *request, 1024), stop: make(chan struct{}), stopped: make(chan struct{}),
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

// open recovers the directory: opens every scroll, replays the WAL into windows and traces, seals what is
// overdue, and removes WAL segments that hold nothing unsealed.
func (e *engine) open() error {
	dir := e.cfg.Directory
	if err := receipts.MkdirAllDurable(dir); err != nil {
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
	// Spools (window and trace spools) are caches of the WAL: rebuild them from scratch.
	if err := os.RemoveAll(filepath.Join(dir, spoolDir)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, spoolDir), 0o755); err != nil {
		return err
	}
	e.tspool = newTraceSpool(filepath.Join(dir, spoolDir), e.traceSpoolRotate)
	if e.cfg.Mode == ModeBatch {
		w, rec, err := wal.Open(filepath.Join(dir, walDir), e.cfg.WALSegmentSize, e.replay)
		if err != nil {
			return err
		}
		e.wal = w
		e.loadRetiredKeys()
		if rec.TornBytes > 0 {
			e.logger.Warn("receipt WAL had a torn tail from a crash; copied aside and cut",
				zap.Int("bytes", rec.TornBytes), zap.String("saved_to", rec.TornFile))
		}
		if rec.Entries > 0 {
			e.logger.Info("receipt WAL replayed", zap.Int("entries", rec.Entries), zap.Int("segments", rec.Segments),
				zap.Int("open_windows", len(e.windows)), zap.Int("open_traces", len(e.traces)))
		}
		if e.fatal != nil {
			return e.fatal
		}
		e.tick()
		e.tel.ReceiptWalBytes.Record(context.Background(), e.wal.Bytes())
	}
	return e.fatal
}

func (e *engine) scroll(wsDir string) (*receipts.Scroll, error) {
	if s, ok := e.scrolls[wsDir]; ok {
		return s, nil
	}
	s, rn, err := receipts.OpenScroll(filepath.Join(e.cfg.Directory, wsDir), e.cfg.Origin+"/"+wsDir, e.signer)
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
		e.logger.Warn("ROOT was behind the receipt log; rebuilt", zap.String("scroll", wsDir),
			zap.Uint64("was_size", rn.RootWasSize), zap.Uint64("size", s.Size()))
	}
	e.scrolls[wsDir] = s
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

func (e *engine) replay(seg uint64, payload []byte) error {
	ent, err := wal.DecodeEntry(payload)
	if err != nil {
		return fmt.Errorf("WAL segment %d: %w", seg, err)
	}
	if ent.HasKey {
		e.remember(ent.Key, seg, ent.Arrival)
	}
	signal := signalNames[ent.Signal]
	recs, err := decodeRequest(ent.Signal, ent.Request, e.cfg.WorkspaceAttribute)
	if err != nil {
		return fmt.Errorf("WAL segment %d: %w", seg, err)
	}
	if len(recs) != len(ent.Assign) {
		return fmt.Errorf("WAL segment %d: request holds %d records, entry assigns %d", seg, len(recs), len(ent.Assign))
	}
	for i, rec := range recs {
		if err := e.apply(signal, ent.Windows[ent.Assign[i]], rec, seg, ent.Arrival, true); err != nil {
			return err
		}
	}
	return nil
}

// loadRetiredKeys remembers the request keys of retired segments (sealed, kept for dedup_window).
func (e *engine) loadRetiredKeys() {
	for _, seg := range e.wal.Retired() {
		err := e.wal.ScanRetired(seg, func(p []byte) error {
			ent, err := wal.DecodeEntry(p)
			if err != nil {
				return err
			}
			if ent.HasKey {
				e.remember(ent.Key, seg, ent.Arrival)
			}
			return nil
		})
		if err != nil {
			// Its data is sealed; only retries of its requests are no longer recognised.
			e.logger.Warn("reading request keys of a retired receipt WAL segment failed", zap.Uint64("segment", seg), zap.Error(err))
		}
	}
}

// remember records that a keyed request is in segment seg. A key written again (after it was forgotten) is
// kept with its newest segment.
func (e *engine) remember(key [wal.KeySize]byte, seg uint64, arrival int64) {
	if old, ok := e.keys[key]; !ok || seg > old {
		e.keys[key] = seg
	}
	e.segKeys[seg] = append(e.segKeys[seg], key)
	e.segLast[seg] = max(e.segLast[seg], arrival)
}

// forget drops the keys of a segment that was removed.
func (e *engine) forget(seg uint64) {
	for _, k := range e.segKeys[seg] {
		if e.keys[k] == seg {
			delete(e.keys, k)
		}
	}
	delete(e.segKeys, seg)
	delete(e.segLast, seg)
}

// assign picks the window a record belongs to: its own time's window while that is still open, otherwise the
// window of its arrival. The choice is written to the WAL, so replay reproduces it.
func (e *engine) assign(signal, wsDir string, eventTime int64, now time.Time) int64 {
	iv := e.interval
	nowStart := floorDiv(now.Unix(), iv) * iv
	start := nowStart
	if eventTime > 0 {
		ev := floorDiv(eventTime/int64(time.Second), iv) * iv
		end := time.Unix(ev+iv, 0).Add(e.grace)
		if ev <= nowStart && now.Before(end) {
			start = ev
		}
	}
	for e.isSealed(signal, wsDir, start) {
		start += iv
	}
	return start
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

// apply adds one durable record to its window (and trace). During replay, records of sealed windows are skipped.
func (e *engine) apply(signal string, start int64, rec receipts.Record, seg uint64, arrival int64, replay bool) error {
	wsDir := e.wsDir(rec.Workspace)
	if replay {
		if _, err := e.scroll(wsDir); err != nil {
			return err
		}
	}
	if signal == receipts.SignalTraces {
		if err := e.trackSpan(rec, wsDir, seg, arrival); err != nil {
			return err
		}
	}
	if e.isSealed(signal, wsDir, start) {
		return nil
	}
	key := windowKey{signal: signal, wsDir: wsDir, start: start}
	w, err := e.window(key, rec.Workspace)
	if err != nil {
		return err
	}
	e.frame = receipts.AppendRecord(e.frame[:0], rec.Leaf)
	if _, err := w.buf.Write(e.frame); err != nil {
		return fmt.Errorf("writing spool %s: %w", w.spoolPath, err)
	}
	_, _ = w.content.Write(e.frame)
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
	e.hold(w.segs, seg)
	return nil
}

func (e *engine) hold(segs map[uint64]struct{}, seg uint64) {
	if _, ok := segs[seg]; !ok {
		segs[seg] = struct{}{}
		e.segPending[seg]++
	}
}

func (e *engine) release(segs map[uint64]struct{}) {
	for seg := range segs {
		e.releaseSeg(seg)
	}
}

func (e *engine) releaseSeg(seg uint64) {
	e.segPending[seg]--
	if e.segPending[seg] <= 0 {
		delete(e.segPending, seg)
	}
}

func (e *engine) window(key windowKey, workspace string) (*window, error) {
	if w, ok := e.windows[key]; ok {
		return w, nil
	}
	p := filepath.Join(e.cfg.Directory, spoolDir, fmt.Sprintf("%s-%s-%d.spool", key.signal, key.wsDir, key.start))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	w := &window{key: key, workspace: workspace, spoolPath: p, spool: f, buf: bufio.NewWriterSize(f, 32<<10), content: blake3.New(),
		services: map[string]struct{}{}, nodes: map[string]struct{}{}, metricNames: map[string]struct{}{},
		pointTypes: map[string]uint64{}, traceIDs: map[[16]byte]struct{}{}, tree: merkle.NewAppender(merkle.BLAKE3), segs: map[uint64]struct{}{}}
	e.windows[key] = w
	return w, nil
}

// trackSpan adds a span to its open trace: counters in memory, the leaf in the trace spool.
func (e *engine) trackSpan(rec receipts.Record, wsDir string, seg uint64, arrival int64) error {
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
	if arrival > t.lastArrival {
		t.lastArrival = arrival
		e.traceSeq++
		t.seq = e.traceSeq
		heap.Fix(&e.traceHeap, t.idx)
	}
	if !slices.Contains(t.segs, seg) {
		t.segs = append(t.segs, seg)
		e.segPending[seg]++
	}
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
	for len(e.traceHeap) > 0 && len(e.traceHeap) >= e.cfg.TraceMaxOpen {
		t := e.traceHeap[0]
		if err := e.completeTrace(t, e.now()); err != nil {
			// Keeping it would break the bound; its spans are still sealed in the window batches.
			e.logger.Error("sealing a trace completed early for trace_max_open failed; dropped without obs_trace_complete receipt",
				zap.String("trace_id", t.id), zap.Error(err))
			e.forgetTrace(t)
		}
		e.evicted++
		e.tel.ReceiptTracesEarly.Add(context.Background(), 1)
	}
}

// logEvictions reports traces completed early for trace_max_open, at most once a minute.
func (e *engine) logEvictions(now time.Time) {
	if e.evicted == 0 || (!e.evictedLogged.IsZero() && now.Sub(e.evictedLogged) < time.Minute) {
		return
	}
	e.logger.Warn("open traces reached trace_max_open; the oldest were completed before trace_idle (a significant one is sealed with the spans it had; later spans only go to the window batches)",
		zap.Int("traces", e.evicted), zap.Int("trace_max_open", e.cfg.TraceMaxOpen))
	e.evicted, e.evictedLogged = 0, now
}

// forgetTrace drops an open trace and its references to the trace spool and the WAL.
func (e *engine) forgetTrace(t *traceState) {
	delete(e.traces, traceKey{wsDir: t.wsDir, id: t.id})
	if t.idx >= 0 {
		heap.Remove(&e.traceHeap, t.idx)
	}
	e.tspool.release(t.refs)
	for _, seg := range t.segs {
		e.releaseSeg(seg)
	}
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
		select {
		case r := <-e.reqs:
			batch := []*request{r}
		drain:
			for len(batch) < 512 {
				select {
				case r := <-e.reqs:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			e.commit(batch)
		case <-ticker.C:
			e.tick()
		case <-e.stop:
			for {
				select {
				case r := <-e.reqs:
					r.done <- errShuttingDown
				default:
					return
				}
			}
		}
	}
}

var errSimulatedCrash = errors.New("simulated crash")

// crashed reports a simulated crash at step; the engine then stays dead like a killed process.
func (e *engine) crashed(step string) bool {
	if e.crashAt != nil && e.crashAt(step) {
		e.fatal = errSimulatedCrash
		return true
	}
	return false
}

var errShuttingDown = errors.New("receipt exporter is shutting down")

// submit hands records to the loop and waits until they are durable.
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

// Operations of tfocol_receipt_fsync_latency: an alert append is a log write, fsync and ROOT rewrite, slower than a
// WAL group commit, so the two are told apart.
var (
	opWALCommit   = metric.WithAttributeSet(attribute.NewSet(attribute.String("operation", "wal_commit")))
	opAlertAppend = metric.WithAttributeSet(attribute.NewSet(attribute.String("operation", "alert_append")))
)

// commit makes a group of requests durable with one WAL write and one fsync, then applies them.
func (e *engine) commit(batch []*request) {
	if e.fatal != nil {
		for _, r := range batch {
			r.done <- e.fatal
		}
		return
	}
	now := e.now()
	var alerts, ingest []*request
	for _, r := range batch {
		if r.alerts {
			alerts = append(alerts, r)
		} else {
			ingest = append(ingest, r)
		}
	}
	if len(alerts) > 0 {
		e.commitAlerts(alerts, now)
	}
	ingest, dups := e.dropDuplicates(ingest)
	if len(ingest) == 0 {
		for _, d := range dups {
			d.answer(nil)
		}
		return
	}
	if e.beforeCommit != nil {
		e.beforeCommit()
	}
	e.commits++
	payloads := make([][]byte, len(ingest))
	starts := make([][]int64, len(ingest))
	for i, r := range ingest {
		signal := signalNames[r.signal]
		ent := wal.Entry{Signal: r.signal, HasKey: r.hasKey, Key: r.key, Arrival: now.UnixNano(), Assign: make([]uint32, len(r.records)), Request: r.raw}
		index := map[int64]uint32{}
		starts[i] = make([]int64, len(r.records))
		for j, rec := range r.records {
			st := e.assign(signal, e.wsDir(rec.Workspace), rec.EventTime, now)
			starts[i][j] = st
			k, ok := index[st]
			if !ok {
				k = uint32(len(ent.Windows))
				index[st] = k
				ent.Windows = append(ent.Windows, st)
			}
			ent.Assign[j] = k
		}
		payloads[i] = wal.AppendEntry(nil, &ent)
	}
	t0 := time.Now()
	seg, err := e.wal.Append(payloads)
	e.tel.ReceiptFsyncLatency.Record(context.Background(), time.Since(t0).Seconds(), opWALCommit)
	if err != nil {
		e.logger.Error("receipt WAL append failed", zap.Error(err))
		err = fmt.Errorf("receipt WAL: %w", err)
		for _, r := range ingest {
			r.done <- err
		}
		for _, d := range dups {
			d.answer(err)
		}
		return
	}
	for _, r := range ingest {
		if r.hasKey {
			e.remember(r.key, seg, now.UnixNano())
		}
	}
	for i, r := range ingest {
		signal := signalNames[r.signal]
		for j, rec := range r.records {
			if err := e.apply(signal, starts[i][j], rec, seg, now.UnixNano(), false); err != nil && e.fatal == nil {
				// The records are durable in the WAL; restart rebuilds the spools from it.
				e.fatal = fmt.Errorf("receipt exporter stopped accepting data after a spool failure (restart to recover from the WAL): %w", err)
				e.logger.Error("receipt spool failure", zap.Error(err))
			}
		}
	}
	// Spools are caches of the WAL; flushing them once per group keeps syscalls off the per-record path.
	for _, w := range e.windows {
		if w.buf.Buffered() > 0 && !w.renamed {
			if err := w.buf.Flush(); err != nil && e.fatal == nil {
				e.fatal = fmt.Errorf("receipt exporter stopped accepting data after a spool failure (restart to recover from the WAL): %w", err)
				e.logger.Error("receipt spool failure", zap.Error(err))
			}
		}
	}
	for _, r := range ingest {
		e.tel.ReceiptRecordsAccepted.Add(context.Background(), int64(len(r.records)),
			metric.WithAttributes(attribute.String("signal", signalNames[r.signal])))
		r.done <- nil
	}
	for _, d := range dups {
		d.answer(nil)
	}
	e.tel.ReceiptWalBytes.Record(context.Background(), e.wal.Bytes())
}

// duplicate is a request whose key was already accepted, or is written by an earlier request of the same group
// (whose outcome it then shares).
type duplicate struct {
	e *engine
	r *request
}

func (d duplicate) answer(err error) {
	if err == nil {
		d.e.tel.ReceiptDuplicates.Add(context.Background(), 1,
			metric.WithAttributes(attribute.String("signal", signalNames[d.r.signal])))
	}
	d.r.done <- err
}

// dropDuplicates takes out the requests whose key is already in the WAL, or earlier in the group: their records
// were accepted before, and writing them again would seal them twice.
func (e *engine) dropDuplicates(ingest []*request) ([]*request, []duplicate) {
	var dups []duplicate
	var inGroup map[[wal.KeySize]byte]bool
	kept := ingest[:0:0]
	for _, r := range ingest {
		if r.hasKey {
			if _, ok := e.keys[r.key]; ok {
				dups = append(dups, duplicate{e: e, r: r})
				continue
			}
			if inGroup[r.key] {
				dups = append(dups, duplicate{e: e, r: r})
				continue
			}
			if inGroup == nil {
				inGroup = map[[wal.KeySize]byte]bool{}
			}
			inGroup[r.key] = true
		}
		kept = append(kept, r)
	}
	return kept, dups
}

// tick seals overdue windows, completes idle traces and drops WAL segments that hold nothing unsealed.
func (e *engine) tick() {
	if e.fatal != nil || e.wal == nil {
		return
	}
	now := e.now()
	var due []*window
	for _, w := range e.windows {
		if !now.Before(time.Unix(w.key.start+e.interval, 0).Add(e.grace)) {
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
	if len(due) > 0 {
		// New records go to a fresh segment, so segments of sealed windows can be deleted.
		if err := e.wal.Rotate(); err != nil {
			e.logger.Warn("rotating receipt WAL failed", zap.Error(err))
		}
	}
	for _, w := range due {
		if err := e.seal(w, now); err != nil {
			e.logger.Error("sealing window failed; will retry", zap.String("id", receipts.BatchID(w.key.signal, time.Unix(w.key.start, 0))),
				zap.String("workspace", w.workspace), zap.Error(err))
		}
	}
	done := e.traceHeap.idle(now.Add(-e.cfg.TraceIdle).UnixNano())
	// Only traces of one workspace share a scroll, so this orders each scroll's receipts by trace id.
	slices.SortFunc(done, func(a, b *traceState) int {
		return cmp.Or(cmp.Compare(a.wsDir, b.wsDir), cmp.Compare(a.id, b.id))
	})
	for _, t := range done {
		if err := e.completeTrace(t, now); err != nil {
			e.logger.Error("sealing trace failed; will retry", zap.String("trace_id", t.id), zap.Error(err))
		}
	}
	e.logEvictions(now)
	e.dropSealedSegments()
}

func (e *engine) dropSealedSegments() {
	if len(e.segPending) == 0 {
		// Start a fresh segment so the sealed ones can go.
		if err := e.wal.Rotate(); err != nil {
			e.logger.Warn("rotating receipt WAL failed", zap.Error(err))
		}
	}
	for _, seg := range e.wal.Segments() {
		if seg == e.wal.Active() || e.segPending[seg] > 0 {
			continue
		}
		if len(e.segKeys[seg]) > 0 {
			// Sealed, but its request keys must outlive it by dedup_window: keep it, no longer replayed.
			if err := e.wal.Retire(seg); err != nil {
				e.logger.Warn("retiring sealed WAL segment failed", zap.Uint64("segment", seg), zap.Error(err))
			}
			continue
		}
		if err := e.wal.Remove(seg); err != nil {
			e.logger.Warn("removing sealed WAL segment failed", zap.Uint64("segment", seg), zap.Error(err))
		}
	}
	horizon := e.now().Add(-e.cfg.DedupWindow).UnixNano()
	for _, seg := range e.wal.Retired() {
		if e.segLast[seg] > horizon {
			continue
		}
		if err := e.wal.RemoveRetired(seg); err != nil {
			e.logger.Warn("removing retired WAL segment failed", zap.Uint64("segment", seg), zap.Error(err))
			continue
		}
		e.forget(seg)
	}
	e.tel.ReceiptWalBytes.Record(context.Background(), e.wal.Bytes())
}

func (e *engine) dropWindow(w *window) {
	if !w.renamed {
		_ = w.spool.Close()
		_ = os.Remove(w.spoolPath)
	}
	delete(e.windows, w.key)
	e.release(w.segs)
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// seal writes the window's batch file into place, then appends its receipt and rewrites ROOT.
func (e *engine) seal(w *window, now time.Time) error {
	t0 := time.Now()
	s, err := e.scroll(w.key.wsDir)
	if err != nil {
		return err
	}
	start := time.Unix(w.key.start, 0).UTC()
	if s.Has(receipts.BatchID(w.key.signal, start)) {
		// Never seal twice: the receipt is already in the log.
		e.dropWindow(w)
		return nil
	}
	storage := receipts.BatchPath(w.key.signal, start, e.cfg.Interval)
	if !w.renamed {
		if err := w.buf.Flush(); err != nil {
			return err
		}
		if err := w.spool.Sync(); err != nil {
			return err
		}
		if e.crashed("after-spool-sync") {
			return errSimulatedCrash
		}
		if err := w.spool.Close(); err != nil {
			return err
		}
		if err := receipts.RenameDurable(w.spoolPath, filepath.Join(s.Dir(), filepath.FromSlash(storage))); err != nil {
			return err
		}
		w.renamed = true
		if e.crashed("after-rename") {
			return errSimulatedCrash
		}
	}
	root := w.tree.Root()
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
		ContentHash:       receipts.FormatHash(w.content.Sum(nil)),
		MerkleRoot:        receipts.FormatHash(root),
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
	case receipts.SignalTraces:
		r.SpanCount = w.count
		r.TraceCount = uint64(len(w.traceIDs))
		r.ErrorSpans = w.errorSpans
	}
	if err := e.appendReceipts(s, r); err != nil {
		return err
	}
	e.dropWindow(w)
	e.tel.ReceiptWindowsSealed.Add(context.Background(), 1, metric.WithAttributes(attribute.String("type", r.Type)))
	e.tel.ReceiptSealDuration.Record(context.Background(), time.Since(t0).Seconds())
	return nil
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

// completeTrace seals a significant trace (an error span, or longer than trace_threshold) into its own file and
// an obs_trace_complete receipt, reading its spans back from the trace spool; other traces are just forgotten
// (their spans are in the window batches).
func (e *engine) completeTrace(t *traceState, now time.Time) error {
	start, end, errorSpans := t.start, t.end, t.errorSpans
	duration := time.Duration(max(end-start, 0))
	if errorSpans == 0 && duration <= e.cfg.TraceThreshold {
		e.forgetTrace(t)
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
	e.tel.ReceiptWindowsSealed.Add(context.Background(), 1, metric.WithAttributes(attribute.String("type", r.Type)))
	return nil
}

// commitAlerts turns failure events into obs_alert_fired receipts, one receipt-log write and fsync per scroll.
// An identical event (same leaf bytes) already receipted is not receipted again, so client retries are safe.
func (e *engine) commitAlerts(batch []*request, now time.Time) {
	byScroll := map[string][]*receipts.Receipt{}
	var order []string
	seen := map[string]bool{}
	var firstErr error
	dup := make([]bool, len(batch))
	for i, r := range batch {
		skipped := 0
		for j, rec := range r.records {
			wsDir := e.wsDir(rec.Workspace)
			s, err := e.scroll(wsDir)
			if err != nil {
				firstErr = err
				continue
			}
			lh := merkle.BLAKE3.HashLeaf(rec.Leaf)
			id := "alert-" + hex.EncodeToString(lh[:16])
			if r.hasKey {
				id = r.alertIDs[j]
			}
			if s.Has(id) || seen[wsDir+id] {
				skipped++
				continue
			}
			seen[wsDir+id] = true
			sum := merkle.Sum(rec.Leaf)
			rc := &receipts.Receipt{
				Type: receipts.TypeAlertFired, ID: id, Timestamp: receipts.FormatTime(now), Workspace: rec.Workspace,
				Name: rec.Info.EventName, Severity: severityName(rec.Info.Severity), Node: rec.Info.Node, Service: rec.Info.Service,
				Record: rec.Leaf, ContentHash: receipts.FormatHash(sum[:]), MerkleRoot: receipts.FormatHash(lh), LeafCount: 1,
				Tags: []string{"observability", "alert", "fired"},
			}
			if rec.EventTime > 0 {
				rc.EventTime = receipts.FormatTime(time.Unix(0, rec.EventTime))
			}
			if _, ok := byScroll[wsDir]; !ok {
				order = append(order, wsDir)
			}
			byScroll[wsDir] = append(byScroll[wsDir], rc)
		}
		dup[i] = r.hasKey && skipped == len(r.records)
	}
	for _, wsDir := range order {
		t0 := time.Now()
		if err := e.appendReceipts(e.scrolls[wsDir], byScroll[wsDir]...); err != nil && firstErr == nil {
			firstErr = err
		}
		e.tel.ReceiptFsyncLatency.Record(context.Background(), time.Since(t0).Seconds(), opAlertAppend)
		e.tel.ReceiptWindowsSealed.Add(context.Background(), int64(len(byScroll[wsDir])),
			metric.WithAttributes(attribute.String("type", receipts.TypeAlertFired)))
	}
	for i, r := range batch {
		if firstErr == nil {
			e.tel.ReceiptRecordsAccepted.Add(context.Background(), int64(len(r.records)),
				metric.WithAttributes(attribute.String("signal", "alerts")))
			if dup[i] {
				e.tel.ReceiptDuplicates.Add(context.Background(), 1, metric.WithAttributes(attribute.String("signal", "alerts")))
			}
		}
		r.done <- firstErr
	}
}

func severityName(sev int32) string {
	var c receipts.LogCounts
	c.Add(sev)
	switch {
	case c.Fatal > 0:
		return "fatal"
	case c.Error > 0:
		return "error"
	case c.Warn > 0:
		return "warn"
	case c.Info > 0:
		return "info"
	case c.Debug > 0:
		return "debug"
	case c.Trace > 0:
		return "trace"
	}
	return "unspecified"
}

// close releases files. Open windows are not sealed: the WAL keeps them for the next start.
func (e *engine) close() error {
	var errs []error
	for _, w := range e.windows {
		if !w.renamed {
			errs = append(errs, w.spool.Close())
		}
	}
	for _, s := range e.scrolls {
		errs = append(errs, s.Close())
	}
	if e.wal != nil {
		errs = append(errs, e.wal.Close())
	}
	if e.tspool != nil {
		errs = append(errs, e.tspool.close())
	}
	if e.unlock != nil {
		e.unlock()
	}
	return errors.Join(errs...)
}
