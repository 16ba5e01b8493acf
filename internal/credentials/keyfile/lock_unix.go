//go:build unix

package keyfile

import (
	"fmt"
	"os"
	"syscall"
)

// Lock takes an exclusive flock(2) on "<path>.lock", waiting for it, and returns the function that releases it.
// Every read-modify-write of a key file (`tfocol keys new`, `revoke`) holds it, so concurrent edits from any
// number of processes are serialised and none is lost. The lock file is left in place: removing it would let two
// editors lock two different files. Readers (the gateway) need no lock, since Save replaces the file atomically.
func Lock(path string) (unlock func(), err error) {
	lf, err := os.OpenFile(LockPath(path), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the key file lock: %w", err)
	}
	for {
		err = syscall.Flock(int(lf.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("locking %s: %w", LockPath(path), err)
	}
	return func() {
		_ = syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
		_ = lf.Close()
	}, nil
}
