package tfoauthextension

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/credentials/keyfile"
)

const reloadDeadline = 2 * time.Second

func (f *fixture) eventuallyAccepted(id, secret string) {
	f.t.Helper()
	require.Eventually(f.t, func() bool {
		_, err := f.auth(keyHeaders(id, secret))
		return err == nil
	}, reloadDeadline, 10*time.Millisecond, "key %s not accepted within %s", id, reloadDeadline)
}

func (f *fixture) eventuallyRejected(id, secret string) {
	f.t.Helper()
	require.Eventually(f.t, func() bool {
		_, err := f.auth(keyHeaders(id, secret))
		return status.Code(err) == codes.Unauthenticated
	}, reloadDeadline, 10*time.Millisecond, "key %s still accepted after %s", id, reloadDeadline)
}

func TestStartFailsOnUnusableKeyFile(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, os.WriteFile(f.keysPath, []byte("version: 1\nkeys: [{id: nope}]\n"), 0o600))
	assert.ErrorContains(t, f.ext.Start(t.Context(), nil), f.keysPath)

	f = newFixture(t)
	require.NoError(t, os.Remove(f.keysPath))
	assert.Error(t, f.ext.Start(t.Context(), nil))
}

// `tfocol keys` rewrites the file by rename; a running extension must pick up additions and revocations.
func TestReloadOnAtomicReplace(t *testing.T) {
	f := newFixture(t)
	oldID, oldSecret := f.addKey([]string{ws1})
	f.start()

	newID, newSecret := f.addKey([]string{ws1})
	f.eventuallyAccepted(newID, newSecret)

	f.keys.Keys[0].Disabled = true
	require.NoError(t, keyfile.Save(f.keysPath, f.keys))
	f.eventuallyRejected(oldID, oldSecret)
	_, err := f.auth(keyHeaders(newID, newSecret))
	assert.NoError(t, err)
	assert.GreaterOrEqual(t, f.counter("tfocol_auth_key_reloads", sourceKeys), int64(3))
}

func TestReloadOnInPlaceWrite(t *testing.T) {
	f := newFixture(t)
	f.start()
	k, secret, err := keyfile.NewKey([]string{ws1}, []string{"traces"}, nil, "", time.Now())
	require.NoError(t, err)
	data, err := (&keyfile.File{Version: keyfile.CurrentVersion, Keys: []keyfile.Key{k}}).Marshal(keyfile.FormatYAML)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(f.keysPath, data, 0o600)) // truncate + write, like `echo >` or a naive editor
	f.eventuallyAccepted(k.ID, secret)
}

// A broken file (bad YAML, invalid entry, deleted) keeps the last good key set and is reported.
func TestBrokenFileKeepsLastGoodKeys(t *testing.T) {
	f := newFixture(t)
	id, secret := f.addKey([]string{ws1})
	f.start()

	for i, broken := range []string{"version: 1\nkeys: [", "version: 1\nkeys:\n  - id: tfk_x\n    secret_hash: md5:abc\n"} {
		tmp := f.keysPath + ".tmp"
		require.NoError(t, os.WriteFile(tmp, []byte(broken), 0o600))
		require.NoError(t, os.Rename(tmp, f.keysPath))
		require.Eventually(t, func() bool {
			return f.counter("tfocol_auth_key_reload_failures", sourceKeys) == int64(i+1)
		}, reloadDeadline, 10*time.Millisecond)
		_, err := f.auth(keyHeaders(id, secret))
		assert.NoError(t, err, "previous keys still work")
	}
	logged := f.logs.FilterMessage("Credential file could not be loaded; still using the previous credentials").All()
	require.Len(t, logged, 2, "each broken version is reported once")
	assert.Equal(t, f.keysPath, logged[0].ContextMap()["file"])

	// Fixing the file recovers.
	id2, secret2 := f.addKey([]string{ws1})
	f.eventuallyAccepted(id2, secret2)
}

// Kubernetes mounts a ConfigMap as <dir>/keys.yaml -> ..data/keys.yaml, ..data -> ..<timestamp>/, and updates it
// by creating a new timestamped dir and renaming a new ..data symlink over the old one.
func TestReloadOnKubernetesConfigMapSwap(t *testing.T) {
	mount := t.TempDir()
	writeGen := func(name string, f *keyfile.File) {
		dir := filepath.Join(mount, name)
		require.NoError(t, os.Mkdir(dir, 0o755))
		require.NoError(t, keyfile.Save(filepath.Join(dir, "keys.yaml"), f))
		tmpLink := filepath.Join(mount, "..data_tmp")
		require.NoError(t, os.Symlink(name, tmpLink))
		require.NoError(t, os.Rename(tmpLink, filepath.Join(mount, "..data")))
	}
	k1, s1, err := keyfile.NewKey([]string{ws1}, []string{"traces"}, nil, "", time.Now())
	require.NoError(t, err)
	writeGen("..2026_11_21_08_00_00.1", &keyfile.File{Version: 1, Keys: []keyfile.Key{k1}})
	require.NoError(t, os.Symlink(filepath.Join("..data", "keys.yaml"), filepath.Join(mount, "keys.yaml")))

	f := newFixture(t, withKeysFile(filepath.Join(mount, "keys.yaml"))).start()
	f.eventuallyAccepted(k1.ID, s1)

	k2, s2, err := keyfile.NewKey([]string{ws1}, []string{"traces"}, nil, "", time.Now())
	require.NoError(t, err)
	writeGen("..2026_11_21_08_05_00.2", &keyfile.File{Version: 1, Keys: []keyfile.Key{k2}})
	require.NoError(t, os.RemoveAll(filepath.Join(mount, "..2026_11_21_08_00_00.1")))
	f.eventuallyAccepted(k2.ID, s2)
	f.eventuallyRejected(k1.ID, s1)
}

// Swapping the key set never fails a request for a key present before and after the swap.
func TestReloadDropsNoInFlightRequests(t *testing.T) {
	f := newFixture(t, withThrottle(0, 0))
	id, secret := f.addKey([]string{ws1})
	f.start()

	var stop atomic.Bool
	var failures, total atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				total.Add(1)
				if _, err := f.auth(keyHeaders(id, secret)); err != nil {
					failures.Add(1)
				}
			}
		}()
	}
	for range 20 {
		f.addKey([]string{ws2})
		time.Sleep(15 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	assert.Zero(t, failures.Load(), "of %d requests", total.Load())
	require.Eventually(t, func() bool { return f.ext.keys.Load().Len() == 21 }, reloadDeadline, 10*time.Millisecond)
}
