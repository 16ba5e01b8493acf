package heartbeatreceiver

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/tfocol/tfocol/internal/atomicfile"
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
	if err := atomicfile.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", false, err
	}
	return id, true, nil
}
