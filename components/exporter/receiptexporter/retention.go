package receiptexporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/internal/atomicfile"
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// Retention (docs/receipts.md §13). A sweep, on the engine loop every sweep_interval, removes the sealed batch
// files whose class's retention passed since they were sealed, then, while the directory is over max_bytes, the
// oldest files of the shortest-retention classes early. Each removal is recorded first: an obs_retention_applied
// receipt naming the files is appended and fsynced (and ROOT rewritten), then the files are deleted and their
// directories fsynced. A crash between the two leaves files recorded as removed: the next start (and every
// sweep) deletes them. The receipt log and ROOT are never removed, so they stay complete; alerts (their record is
// in their receipt line) are kept with them. Batches a derived receipt still to come needs are kept until it is
// made.

// RetentionConfig is the `retention` setting: per class, how long a sealed batch file is kept ("<n>d", "<n>h",
// "<n>m" or "<n>s"; empty: kept forever), and the directory bound.
type RetentionConfig struct {
	Logs              string `mapstructure:"logs"`
	ErrorLogs         string `mapstructure:"error_logs"`
	Metrics           string `mapstructure:"metrics"`
	Traces            string `mapstructure:"traces"`
	SignificantTraces string `mapstructure:"significant_traces"`
	// MaxBytes bounds the bytes under the exporter directory, spools of open windows aside (0: no bound). Over it, a sweep removes batch files
	// early, shortest retention class first, oldest first (reason max_bytes).
	MaxBytes int64 `mapstructure:"max_bytes"`
	// SweepInterval is how often the sweep runs (and the directory size is measured).
	SweepInterval time.Duration `mapstructure:"sweep_interval"`
}

func defaultRetentionConfig() RetentionConfig { return RetentionConfig{SweepInterval: 5 * time.Minute} }

func (c RetentionConfig) byClass() map[string]string {
	return map[string]string{receipts.ClassLogs: c.Logs, receipts.ClassErrorLogs: c.ErrorLogs, receipts.ClassMetrics: c.Metrics,
		receipts.ClassTraces: c.Traces, receipts.ClassSignificantTraces: c.SignificantTraces}
}

func (c RetentionConfig) validate() error {
	var errs []error
	for _, class := range receipts.RetentionClasses {
		if s := c.byClass()[class]; s != "" {
			if _, err := receipts.ParseWindow(s); err != nil {
				errs = append(errs, fmt.Errorf("retention.%s: %w", class, err))
			}
		}
	}
	if c.MaxBytes < 0 {
		errs = append(errs, errors.New("retention.max_bytes must not be negative"))
	}
	if c.SweepInterval < time.Second {
		errs = append(errs, fmt.Errorf("retention.sweep_interval must be at least 1s, got %s", c.SweepInterval))
	}
	return errors.Join(errs...)
}

// retention is the sweep's state: per scroll, the batch files not removed yet, read incrementally from its
// receipt log (so every batch and removal is seen whoever appended it).
type retention struct {
	retain   map[string]time.Duration // class -> retention; absent: kept forever
	maxBytes int64
	every    time.Duration
	last     time.Time
	scrolls  map[string]*retScroll
	// overLogged is when the directory was last reported over max_bytes with nothing left to remove.
	overLogged time.Time
}

type retScroll struct {
	workspace string
	offset    int64 // bytes of the receipt log read
	files     []*retFile
	byID      map[string]*retFile
	pending   []string // storage paths recorded as removed and still present
}

type retFile struct {
	id, storage, root, class string
	sealed                   time.Time
	lineHash                 []byte
}

// maxRemovalsPerReceipt bounds one obs_retention_applied receipt (a sweep after a long stop writes several).
const maxRemovalsPerReceipt = 1000

func newRetention(cfg RetentionConfig) *retention {
	r := &retention{retain: map[string]time.Duration{}, maxBytes: cfg.MaxBytes, every: cfg.SweepInterval, scrolls: map[string]*retScroll{}}
	for class, s := range cfg.byClass() {
		if d, err := receipts.ParseWindow(s); s != "" && err == nil {
			r.retain[class] = d
		}
	}
	return r
}

// openRetention reads every scroll's batches and removals and completes the removals a crash interrupted (on
// open, before any data is accepted).
func (e *engine) openRetention() error {
	e.ret = newRetention(e.cfg.Retention)
	for wsDir := range e.scrolls {
		if err := e.retentionRead(wsDir); err != nil {
			return err
		}
		if err := e.completeRemovals(wsDir); err != nil {
			return err
		}
	}
	if len(e.ret.retain) > 0 || e.ret.maxBytes > 0 {
		if h := e.derivedHorizon(); h > 0 {
			for class, d := range e.ret.retain {
				if class != receipts.ClassSignificantTraces && d < h {
					e.logger.Warn("retention shorter than derived receipts need: these batch files are kept until the derived receipts that use them are made",
						zap.String("class", class), zap.Duration("retention", d), zap.Duration("kept_at_least", h))
				}
			}
		}
	}
	return nil
}

// retentionTick runs a sweep when one is due (on the loop).
func (e *engine) retentionTick(now time.Time) {
	if e.ret == nil || now.Sub(e.ret.last) < e.ret.every {
		return
	}
	e.ret.last = now
	e.sweep(now)
}

// sweep removes expired batch files, then files early while the directory is over max_bytes, and measures it.
func (e *engine) sweep(now time.Time) {
	dirs := make([]string, 0, len(e.scrolls))
	for wsDir := range e.scrolls {
		dirs = append(dirs, wsDir)
	}
	sort.Strings(dirs)
	for _, wsDir := range dirs {
		if err := e.retentionRead(wsDir); err != nil {
			e.logger.Error("retention: reading the receipt log failed; no removal in this scroll until it can be read", zap.String("scroll", wsDir), zap.Error(err))
			continue
		}
		if err := e.completeRemovals(wsDir); err != nil {
			e.logger.Error("retention: deleting files recorded as removed failed; retried at the next sweep", zap.String("scroll", wsDir), zap.Error(err))
			continue
		}
		var due []*retFile
		for _, f := range e.ret.scrolls[wsDir].files {
			d, ok := e.ret.retain[f.class]
			if ok && !now.Before(f.sealed.Add(d)) && !e.retentionProtected(wsDir, f, now) {
				due = append(due, f)
			}
		}
		e.removeFiles(wsDir, due, now, receipts.ReasonExpired, 0, 0)
	}
	total := e.directoryBytes()
	if e.ret.maxBytes > 0 && total > e.ret.maxBytes {
		total = e.removeForMaxBytes(dirs, total, now)
	}
	e.tel.TfocolReceiptDirectoryBytes.Record(context.Background(), total)
}

// removeForMaxBytes removes batch files early until the directory is at most max_bytes: the classes with the
// shortest retention first (classes kept forever last), oldest sealed first. It returns the bytes left.
func (e *engine) removeForMaxBytes(dirs []string, total int64, now time.Time) int64 {
	type cand struct {
		wsDir string
		f     *retFile
		rank  time.Duration
		size  int64
	}
	var cands []cand
	for _, wsDir := range dirs {
		rs := e.ret.scrolls[wsDir]
		if rs == nil {
			continue
		}
		for _, f := range rs.files {
			if e.retentionProtected(wsDir, f, now) {
				continue
			}
			st, err := os.Stat(filepath.Join(e.cfg.Directory, wsDir, filepath.FromSlash(f.storage)))
			if err != nil {
				continue // missing: verify reports it; nothing to free
			}
			rank, ok := e.ret.retain[f.class]
			if !ok {
				rank = time.Duration(1<<63 - 1)
			}
			cands = append(cands, cand{wsDir: wsDir, f: f, rank: rank, size: st.Size()})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.f.sealed.Before(b.f.sealed)
	})
	byDir := map[string][]*retFile{}
	left := total
	for _, c := range cands {
		if left <= e.ret.maxBytes {
			break
		}
		byDir[c.wsDir] = append(byDir[c.wsDir], c.f)
		left -= c.size
	}
	for _, wsDir := range dirs {
		if picked := byDir[wsDir]; len(picked) > 0 {
			// In receipt-log order, as the receipt lists them.
			rs := e.ret.scrolls[wsDir]
			ordered := make([]*retFile, 0, len(picked))
			in := map[*retFile]bool{}
			for _, f := range picked {
				in[f] = true
			}
			for _, f := range rs.files {
				if in[f] {
					ordered = append(ordered, f)
				}
			}
			e.logger.Warn("receipt directory over retention.max_bytes: removing batch files before their retention ran out (recorded in obs_retention_applied, reason max_bytes)",
				zap.String("scroll", wsDir), zap.Int("files", len(ordered)), zap.Int64("directory_bytes", total), zap.Int64("max_bytes", e.ret.maxBytes))
			e.removeFiles(wsDir, ordered, now, receipts.ReasonMaxBytes, e.ret.maxBytes, total)
		}
	}
	left = e.directoryBytes()
	if left > e.ret.maxBytes && now.Sub(e.ret.overLogged) >= 10*time.Minute {
		e.ret.overLogged = now
		e.logger.Error("receipt directory over retention.max_bytes with no batch file left that may be removed (receipt logs, ROOT, open windows and batches derived receipts still need are kept)",
			zap.Int64("directory_bytes", left), zap.Int64("max_bytes", e.ret.maxBytes))
	}
	return left
}

// removeFiles records the removal of files (in receipt-log order) in the scroll, then deletes them.
func (e *engine) removeFiles(wsDir string, files []*retFile, now time.Time, reason string, maxBytes, dirBytes int64) {
	s := e.scrolls[wsDir]
	rs := e.ret.scrolls[wsDir]
	for len(files) > 0 {
		chunk := files[:min(len(files), maxRemovalsPerReceipt)]
		files = files[len(chunk):]
		r := &receipts.Receipt{Type: receipts.TypeRetentionApplied, ID: receipts.RetentionID(chunk[0].id), Timestamp: receipts.FormatTime(now),
			Workspace: rs.workspace, Tags: []string{"observability", "retention"}}
		hs := make([][]byte, len(chunk))
		for i, f := range chunk {
			r.Removed = append(r.Removed, receipts.RetentionRemoval{ReceiptID: f.id, StoragePath: f.storage, MerkleRoot: f.root,
				Class: f.class, Retain: e.retainOf(f.class), Reason: reason})
			hs[i] = f.lineHash
		}
		if reason == receipts.ReasonMaxBytes {
			r.MaxBytes, r.DirectoryBytes = uint64(maxBytes), uint64(dirBytes)
		}
		r.ContentHash, r.MerkleRoot, r.LeafCount = receipts.DerivedCommitment(hs)
		if !s.Has(r.ID) {
			if err := e.appendReceipts(s, r); err != nil {
				e.logger.Error("retention: appending obs_retention_applied failed; no file removed, retried at the next sweep", zap.String("scroll", wsDir), zap.Error(err))
				return
			}
			e.tel.TfocolReceiptWindowsSealed.Add(context.Background(), 1, metric.WithAttributes(attribute.String("type", receipts.TypeRetentionApplied)))
		}
		for _, f := range chunk {
			rs.forget(f.id)
			rs.pending = append(rs.pending, f.storage)
			e.tel.TfocolReceiptBatchFilesRemoved.Add(context.Background(), 1,
				metric.WithAttributes(attribute.String("class", f.class), attribute.String("reason", reason)))
		}
		if e.crashed("after-retention-record") {
			return
		}
		if err := e.completeRemovals(wsDir); err != nil {
			e.logger.Error("retention: deleting files recorded as removed failed; retried at the next sweep", zap.String("scroll", wsDir), zap.Error(err))
			return
		}
	}
}

// retainOf spells a class's retention for the receipt ("forever" for a class kept forever, which is only ever
// removed for max_bytes).
func (e *engine) retainOf(class string) string {
	if d, ok := e.ret.retain[class]; ok {
		return receipts.FormatWindow(d)
	}
	return receipts.RetainForever
}

// completeRemovals deletes the files of a scroll recorded as removed and still present, and fsyncs their
// directories (removing those left empty). It runs on the loop, never while seal workers create directories.
func (e *engine) completeRemovals(wsDir string) error {
	rs := e.ret.scrolls[wsDir]
	if rs == nil || len(rs.pending) == 0 {
		return nil
	}
	dirs := map[string]bool{}
	var errs []error
	var left []string
	for _, p := range rs.pending {
		full := filepath.Join(e.cfg.Directory, wsDir, filepath.FromSlash(p))
		if err := os.Remove(full); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
			left = append(left, p)
			continue
		}
		dirs[filepath.Dir(full)] = true
	}
	for d := range dirs {
		// A date directory left empty goes too (it only fails while it holds files); its parent is fsynced.
		toSync := d
		if os.Remove(d) == nil {
			toSync = filepath.Dir(d)
		}
		if err := atomicfile.SyncDir(toSync); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	rs.pending = left
	return errors.Join(errs...)
}

// retentionRead reads the receipt lines appended to a scroll since the last read: batches with a file join the
// candidates, removals leave them (and their files still present become pending).
func (e *engine) retentionRead(wsDir string) error {
	rs := e.ret.scrolls[wsDir]
	if rs == nil {
		rs = &retScroll{byID: map[string]*retFile{}}
		e.ret.scrolls[wsDir] = rs
	}
	dir := filepath.Join(e.cfg.Directory, wsDir)
	f, err := os.Open(filepath.Join(dir, receipts.ReceiptsFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	defer f.Close()
	if _, err := f.Seek(rs.offset, io.SeekStart); err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	lines, tail := receipts.SplitLines(data)
	for _, line := range lines {
		r, err := receipts.ParseReceipt(line)
		if err != nil {
			return err
		}
		rs.workspace = r.Workspace
		switch class := receipts.RetentionClass(r); {
		case r.Type == receipts.TypeRetentionApplied:
			for _, m := range r.Removed {
				rs.forget(m.ReceiptID)
				if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(m.StoragePath))); err == nil {
					rs.pending = append(rs.pending, m.StoragePath)
				}
			}
		case class != "" && r.StoragePath != "":
			sealed, err := time.Parse(time.RFC3339Nano, r.Timestamp)
			if err != nil {
				return err
			}
			rf := &retFile{id: r.ID, storage: r.StoragePath, root: r.MerkleRoot, class: class, sealed: sealed,
				lineHash: merkle.BLAKE3.HashLeaf(line)}
			rs.files = append(rs.files, rf)
			rs.byID[r.ID] = rf
		}
	}
	rs.offset += int64(len(data) - len(tail))
	return nil
}

// forget drops a batch from the candidates.
func (rs *retScroll) forget(id string) {
	f := rs.byID[id]
	if f == nil {
		return
	}
	delete(rs.byID, id)
	for i, g := range rs.files {
		if g == f {
			rs.files = append(rs.files[:i], rs.files[i+1:]...)
			break
		}
	}
}

// derivedHorizon is how long after sealing a window batch derived receipts may still need its file: SLO reports
// the longest objective window plus the report interval, the anomaly detector the windows a restart reads again
// (2 x history + 1) — each plus a window and the grace for the seal. 0 without derived receipts.
func (e *engine) derivedHorizon() time.Duration {
	var h time.Duration
	if len(e.cfg.SLOs) > 0 {
		h = time.Duration(maxWindow(sloDefs(e.cfg.SLOs)))*time.Second + e.cfg.SLOReportInterval
	}
	if e.cfg.Anomaly.Enabled {
		h = max(h, time.Duration(2*e.cfg.Anomaly.History+1)*e.cfg.Interval)
	}
	if h == 0 {
		return 0
	}
	return h + e.cfg.Interval + e.cfg.Grace
}

// retentionProtected reports whether a derived receipt still to come may need the batch file.
func (e *engine) retentionProtected(wsDir string, f *retFile, now time.Time) bool {
	if e.derived == nil || f.class == receipts.ClassSignificantTraces {
		return false
	}
	if h := e.derived.scrolls[wsDir]; h != nil && h.ids[f.id] {
		return true
	}
	return now.Sub(f.sealed) < e.derivedHorizon()
}

// directoryBytes is the size of the regular files under the exporter directory, except the spools: those are
// the open windows' records (a cache of the durable log, bounded by it), not sealed yet, so no sealed file is
// removed early to make room for records whose own batch could not be a candidate yet.
func (e *engine) directoryBytes() int64 {
	var n int64
	spools := filepath.Join(e.cfg.Directory, spoolDir)
	_ = filepath.WalkDir(e.cfg.Directory, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p == spools {
				return filepath.SkipDir
			}
			return nil
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}
