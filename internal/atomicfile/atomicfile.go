// Package atomicfile replaces files so that a crash or a concurrent reader sees either the old or the new content,
// never a mix, and so that the replacement survives a power loss once the call returns.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// MkdirAllDurable creates dir and fsyncs every parent whose entry it created.
func MkdirAllDurable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAllDurable(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return SyncDir(parent)
}

// WriteFile replaces path with data: write a temporary file in the same directory, fsync, rename over path, fsync
// the directory. Missing parent directories are created durably. A new file gets perm; an existing file keeps its
// mode, so an operator's chmod survives a rewrite.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := MkdirAllDurable(dir); err != nil {
		return err
	}
	if st, err := os.Stat(path); err == nil {
		perm = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	fail := func(err error) error {
		_ = os.Remove(tmp.Name())
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fail(err)
	}
	// Chmod, not the create mode, so the umask cannot change what the caller asked for.
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fail(err)
	}
	// tmp and path share the directory: one fsync makes the rename durable (the name tmp had is gone with it).
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// RenameDurable renames an fsynced file into place and fsyncs both directories.
func RenameDurable(from, to string) error {
	if err := MkdirAllDurable(filepath.Dir(to)); err != nil {
		return err
	}
	if err := os.Rename(from, to); err != nil {
		return err
	}
	if err := SyncDir(filepath.Dir(to)); err != nil {
		return fmt.Errorf("fsync %s: %w", filepath.Dir(to), err)
	}
	if filepath.Dir(from) != filepath.Dir(to) {
		return SyncDir(filepath.Dir(from))
	}
	return nil
}
