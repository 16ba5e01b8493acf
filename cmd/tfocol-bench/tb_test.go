package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A run's data directory goes when the run ends, so its unsynced files are not written back during the next run.
func TestRunDataDirIsRemovedWhenTheRunEnds(t *testing.T) {
	var dir string
	err := runWith("cleanup", t.TempDir(), false, func(tb *runTB) {
		dir = tb.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "queue.db"), make([]byte, 1<<20), 0o644); err != nil {
			tb.Fatalf("%v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("run directory %s still there after the run (stat: %v)", dir, err)
	}
}
