//go:build unix

package receiptexporter

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDirectory takes an exclusive advisory lock so two exporters (or two processes) never write one directory.
// The kernel drops the lock when the process dies, so a crash leaves no stale lock.
func lockDirectory(dir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("receipt directory %s is in use by another exporter or process: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
