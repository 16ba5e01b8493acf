package main

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
)

// runTB lets the bench drive the e2e harness (e2etest.Start, which takes a testing.TB) outside `go
// test`: Fatal aborts the current run (see runWith), Cleanup functions run when it ends. Only the
// methods the harness uses are implemented; the embedded nil interface makes the type a testing.TB.
type runTB struct {
	testing.TB
	name    string
	tempDir string // parent of the TempDir directories
	verbose bool

	mu       sync.Mutex
	failed   bool
	cleanups []func()
}

// fatalRun is the panic value Fatal/FailNow use to end a run.
type fatalRun struct{ msg string }

// runWith calls fn with a fresh runTB, turns its Fatal calls into an error and runs its cleanups.
func runWith(name, tempDir string, verbose bool, fn func(tb *runTB)) (err error) {
	tb := &runTB{name: name, tempDir: tempDir, verbose: verbose}
	// Last, after the collector has stopped and its files are gone: flush whatever the run still left in the page
	// cache, so its writeback cannot land in the next run and stall that run's fsyncs (seen as p99 of 100+ ms).
	defer syscall.Sync()
	defer tb.finish()
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatalRun)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s: %s", name, f.msg)
		}
	}()
	fn(tb)
	return nil
}

func (tb *runTB) finish() {
	tb.mu.Lock()
	fns := tb.cleanups
	tb.cleanups = nil
	tb.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

func (tb *runTB) Name() string { return tb.name }
func (tb *runTB) Helper()      {}

func (tb *runTB) Cleanup(f func()) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.cleanups = append(tb.cleanups, f)
}

func (tb *runTB) TempDir() string {
	dir, err := os.MkdirTemp(tb.tempDir, "run-")
	if err != nil {
		tb.Fatalf("TempDir: %v", err)
	}
	// Like testing.T.TempDir: gone when the run ends (after the collector using it has stopped). Kept until the
	// end of the bench, a run's hundreds of MB of unsynced files were written back 30 s later, in another run.
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (tb *runTB) Log(args ...any) { tb.Logf("%s", fmt.Sprint(args...)) }

// Logf prints only for failed runs (the harness logs the collector's output then) or with -v.
func (tb *runTB) Logf(format string, args ...any) {
	if tb.verbose || tb.Failed() {
		fmt.Fprintf(os.Stderr, "[%s] %s\n", tb.name, fmt.Sprintf(format, args...))
	}
}

func (tb *runTB) Fail() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.failed = true
}

func (tb *runTB) Failed() bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.failed
}

func (tb *runTB) Error(args ...any) { tb.Fail(); tb.Log(args...) }

func (tb *runTB) Errorf(format string, args ...any) { tb.Fail(); tb.Logf(format, args...) }

func (tb *runTB) FailNow() { tb.Fail(); panic(fatalRun{msg: "FailNow"}) }

func (tb *runTB) Fatal(args ...any) { tb.Fail(); panic(fatalRun{msg: fmt.Sprint(args...)}) }

func (tb *runTB) Fatalf(format string, args ...any) {
	tb.Fail()
	panic(fatalRun{msg: fmt.Sprintf(format, args...)})
}
