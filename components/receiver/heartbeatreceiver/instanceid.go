package heartbeatreceiver

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
)

const instanceIDFile = "instance_id"

// loadInstanceID returns the instance id kept in dir, generating and persisting a new random UUID when the
// file is missing or does not hold a valid one (seed 003). created reports a new id.
func loadInstanceID(dir string) (id string, created bool, err error) {
	path := filepath.Join(dir, instanceIDFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if u, perr := uuid.Parse(strings.TrimSpace(string(data))); perr == nil && u != uuid.Nil && len(strings.TrimSpace(string(data))) == 36 {
			return u.String(), false, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", false, err
	}
	id = uuid.NewString()
	if err := writeFileAtomic(path, []byte(id+"\n")); err != nil {
		return "", false, err
	}
	return id, true, nil
}

// writeFileAtomic writes data to path through a synced temporary file and a rename, so a crash leaves either
// the old or the new content.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".instance_id-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
