package durablelog

import (
	"os"
	"path/filepath"
)

// syncEnabled is switched off only by tests that open thousands of logs (the fuzz target).
var syncEnabled = true

func fsync(f *os.File) error {
	if !syncEnabled {
		return nil
	}
	return f.Sync()
}

func syncDir(dir string) error {
	if !syncEnabled {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeFileSync creates path with data and fsyncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := fsync(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeAtomic replaces dir/name with data: temporary file, fsync, rename, fsync of the directory.
func writeAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, "~"+name+tmpExt)
	if err := writeFileSync(tmp, data); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	return fsync(f)
}
