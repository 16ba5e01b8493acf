package tfostatusextension

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tfocol/tfocol/internal/atomicfile"
)

// adminTokenPrefix marks generated admin tokens (so a leaked one is recognisable in a secret scanner).
const adminTokenPrefix = "tfst_"

// minAdminTokenLen rejects tokens short enough to guess.
const minAdminTokenLen = 16

// adminToken is the bearer token in a file, re-read when the file changes (rotate it by replacing the file).
// Only its SHA-256 is kept; presented tokens are compared by hash in constant time.
type adminToken struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	sum     [sha256.Size]byte
}

// loadAdminToken reads path, creating it with a random token (mode 0600) when it does not exist.
func loadAdminToken(path string) (tok *adminToken, created bool, err error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, false, err
		}
		if err := atomicfile.WriteFile(path, []byte(adminTokenPrefix+base64.RawURLEncoding.EncodeToString(b)+"\n"), 0o600); err != nil {
			return nil, false, fmt.Errorf("creating admin token file %s: %w", path, err)
		}
		created = true
	}
	tok = &adminToken{path: path}
	if err := tok.refresh(); err != nil {
		return nil, false, err
	}
	return tok, created, nil
}

// refresh re-reads the file if its size or modification time changed.
func (a *adminToken) refresh() error {
	fi, err := os.Stat(a.path)
	if err != nil {
		return fmt.Errorf("admin token file: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if fi.ModTime().Equal(a.modTime) && fi.Size() == a.size && a.modTime != (time.Time{}) {
		return nil
	}
	data, err := os.ReadFile(a.path)
	if err != nil {
		return fmt.Errorf("admin token file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if len(tok) < minAdminTokenLen {
		return fmt.Errorf("admin token file %s: the token must be at least %d characters", a.path, minAdminTokenLen)
	}
	a.sum, a.modTime, a.size = sha256.Sum256([]byte(tok)), fi.ModTime(), fi.Size()
	return nil
}

// matches reports whether presented is the admin token. A file that cannot be re-read keeps the last token.
func (a *adminToken) matches(presented string) bool {
	_ = a.refresh()
	sum := sha256.Sum256([]byte(presented))
	a.mu.Lock()
	defer a.mu.Unlock()
	return subtle.ConstantTimeCompare(sum[:], a.sum[:]) == 1
}
