//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package durablelog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive (or, for readers, shared) non-blocking flock on dir/LOCK.
func lockDir(dir string, exclusive bool) (unlock func(), err error) {
	path := filepath.Join(dir, "LOCK")
	flag := os.O_RDWR | os.O_CREATE
	if !exclusive {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		if !exclusive && errors.Is(err, os.ErrNotExist) {
			return func() {}, nil // never opened: nobody holds it
		}
		return nil, err
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("durablelog: locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
