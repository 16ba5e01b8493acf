// Package filewatch tells its owner when files it depends on may have changed.
//
// It watches the parent directories rather than the files, because the usual ways of updating a file replace it:
// an atomic rename (what `tfocol keys` and most editors do) and a Kubernetes ConfigMap update, which swaps the
// `..data` symlink inside the mounted directory. Events are debounced, and a slow poll covers what inotify can
// miss (the directory itself being replaced, a symlink target outside the watched directory).
package filewatch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Debounce is how long the watcher waits after the last event before calling back, so a burst of events from one
// update (create temp, write, rename) triggers one reload.
const Debounce = 100 * time.Millisecond

// MaxDelay bounds the debounce: the callback runs at most this long after the first event of a burst, however
// many events keep coming (a directory another process writes to continuously would otherwise postpone it until
// the next poll).
const MaxDelay = 250 * time.Millisecond

// Watcher calls OnChange(path) for each watched path whose directory saw an event, and for every path on each poll.
// OnChange must be cheap when the file did not change (compare a digest); it is never called concurrently.
type Watcher struct {
	paths        []string
	pollInterval time.Duration
	onChange     func(path string)
	logger       *zap.Logger

	fsw  *fsnotify.Watcher
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New returns a watcher for paths; pollInterval <= 0 disables polling.
func New(logger *zap.Logger, paths []string, pollInterval time.Duration, onChange func(path string)) *Watcher {
	return &Watcher{paths: paths, pollInterval: pollInterval, onChange: onChange, logger: logger}
}

// Start begins watching. The caller loads the files itself before Start.
func (w *Watcher) Start() error {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	for _, dir := range w.dirs() {
		if err := fsw.Add(dir); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				// A file that is allowed to appear later (an enrollment-token key file before `tfocol tokens
				// keygen`) in a directory that does not exist yet: the poll picks it up once it does.
				w.logger.Warn("Directory of a watched file does not exist; relying on polling", zap.String("dir", dir))
				continue
			}
			_ = fsw.Close()
			return err
		}
	}
	w.fsw = fsw
	w.stop = make(chan struct{})
	w.done = make(chan struct{})
	go w.loop()
	return nil
}

// Stop ends watching and waits for an in-progress callback to return.
func (w *Watcher) Stop() {
	if w.fsw == nil {
		return
	}
	w.once.Do(func() {
		close(w.stop)
		<-w.done
		_ = w.fsw.Close()
	})
}

// dirs are the directories to watch: each path's own directory and, when the path is a symlink, its target's.
func (w *Watcher) dirs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, p := range w.paths {
		add(filepath.Dir(p))
		if real, err := filepath.EvalSymlinks(p); err == nil {
			add(filepath.Dir(real))
		}
	}
	return out
}

func (w *Watcher) loop() {
	defer close(w.done)
	var pollC <-chan time.Time
	if w.pollInterval > 0 {
		t := time.NewTicker(w.pollInterval)
		defer t.Stop()
		pollC = t.C
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	dirty := map[string]bool{}
	var deadline time.Time // MaxDelay after the first event of the pending burst

	for {
		select {
		case <-w.stop:
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			affected := w.affected(ev.Name)
			if len(affected) == 0 {
				continue
			}
			if len(dirty) == 0 {
				deadline = time.Now().Add(MaxDelay)
			}
			for _, p := range affected {
				dirty[p] = true
			}
			debounce.Reset(max(0, min(Debounce, time.Until(deadline))))
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.logger.Warn("File watcher error; changes are still picked up by polling", zap.Error(err))
		case <-debounce.C:
			for _, p := range w.paths {
				if dirty[p] {
					w.onChange(p)
				}
			}
			clear(dirty)
		case <-pollC:
			for _, p := range w.paths {
				w.onChange(p)
			}
		}
	}
}

// affected lists the watched paths an event may have changed. Events for unrelated files in the same directory
// are ignored; those that count are the file's own name, the names its symlinks go through (`..data` in a
// Kubernetes ConfigMap mount, whose swap is the update) and, by that convention, any `..`-prefixed name.
func (w *Watcher) affected(eventName string) []string {
	dir, name := filepath.Split(eventName)
	dir = filepath.Clean(dir)
	var out []string
	for _, p := range w.paths {
		if filepath.Dir(p) == dir && (name == filepath.Base(p) || strings.HasPrefix(name, "..") || linkStep(p) == name) {
			out = append(out, p)
			continue
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && real != p && filepath.Dir(real) == dir && name == filepath.Base(real) {
			out = append(out, p)
		}
	}
	return out
}

// linkStep is the first element of p's symlink target when it is relative ("..data" for
// keys.yaml -> ..data/keys.yaml), or "".
func linkStep(p string) string {
	target, err := os.Readlink(p)
	if err != nil || filepath.IsAbs(target) {
		return ""
	}
	first, _, _ := strings.Cut(filepath.ToSlash(target), "/")
	return first
}
