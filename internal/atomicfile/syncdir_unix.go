//go:build !windows

package atomicfile

import "os"

// SyncDir fsyncs a directory so renames and creations inside it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
