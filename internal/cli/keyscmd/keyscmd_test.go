package keyscmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/credentials/keyfile"
)

const ws = "0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11"

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := New()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func newKey(t *testing.T, file string, extra ...string) (id, secret string) {
	t.Helper()
	out, _, err := run(t, append([]string{"new", "--workspace", ws, "--scopes", "traces,metrics", "--file", file, "-o", "json"}, extra...)...)
	require.NoError(t, err)
	var got struct {
		KeyID     string `json:"key_id"`
		KeySecret string `json:"key_secret"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	return got.KeyID, got.KeySecret
}

func TestNewPrintsSecretOnceAndStoresOnlyItsHash(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.yaml")
	out, stderr, err := run(t, "new", "--workspace", ws, "--scopes", "traces, metrics,logs", "--expires", "90d",
		"--description", "site A", "--file", file)
	require.NoError(t, err)
	var id, secret string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "key_id":
			id = strings.TrimSpace(v)
		case "key_secret":
			secret = strings.TrimSpace(v)
		}
	}
	require.True(t, strings.HasPrefix(id, "tfk_"), out)
	require.True(t, strings.HasPrefix(secret, "tfs_"), out)
	assert.Contains(t, stderr, "shown only this once")

	data, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.NotContains(t, string(data), secret)
	assert.NotContains(t, string(data), strings.TrimPrefix(secret, "tfs_"))
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// The stored entry verifies the printed secret: what the gateway will do.
	f, err := keyfile.Load(file)
	require.NoError(t, err)
	idx, err := keyfile.NewIndex(f)
	require.NoError(t, err)
	k, res := idx.Verify(id, secret, time.Now())
	require.Equal(t, keyfile.Valid, res)
	assert.Equal(t, []string{"traces", "metrics", "logs"}, k.Scopes)
	assert.Equal(t, []string{ws}, k.Workspaces)
	assert.Equal(t, "site A", k.Description)
	require.NotNil(t, k.ExpiresAt)
	assert.WithinDuration(t, time.Now().Add(90*24*time.Hour), *k.ExpiresAt, time.Minute)
}

func TestNewAppendsAndEnvOutput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.json")
	id1, _ := newKey(t, file)
	out, _, err := run(t, "new", "--workspace", ws, "--workspace", "*", "--scopes", "*", "--file", file, "--output", "env")
	require.NoError(t, err)
	assert.Regexp(t, `^TELEMETRYFLOW_API_KEY_ID=tfk_\S+\nTELEMETRYFLOW_API_KEY_SECRET=tfs_\S+\n$`, out)
	f, err := keyfile.Load(file)
	require.NoError(t, err)
	require.Len(t, f.Keys, 2)
	assert.Equal(t, id1, f.Keys[0].ID)
	assert.Equal(t, []string{ws, "*"}, f.Keys[1].Workspaces)
	data, _ := os.ReadFile(file)
	assert.True(t, json.Valid(data), "a .json key file stays JSON")
}

func TestNewRejectsBadInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.yaml")
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"no file":        {[]string{"new", "--workspace", ws, "--scopes", "traces", "--file", ""}, "--file is required"},
		"no workspace":   {[]string{"new", "--scopes", "traces", "--file", file}, "--workspace is required"},
		"bad workspace":  {[]string{"new", "--workspace", "acme", "--scopes", "traces", "--file", file}, "not a UUID"},
		"no scopes":      {[]string{"new", "--workspace", ws, "--file", file}, "--scopes is required"},
		"bad scope":      {[]string{"new", "--workspace", ws, "--scopes", "traces,profiles", "--file", file}, `scope "profiles"`},
		"past expiry":    {[]string{"new", "--workspace", ws, "--scopes", "traces", "--expires", "2020-01-01", "--file", file}, "in the past"},
		"bad expiry":     {[]string{"new", "--workspace", ws, "--scopes", "traces", "--expires", "soon", "--file", file}, "--expires"},
		"bad output":     {[]string{"new", "--workspace", ws, "--scopes", "traces", "--file", file + ".2", "-o", "xml"}, "unknown --output"},
		"unknown revoke": {[]string{"revoke", "tfk_nope", "--file", file + ".3"}, "no such file"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := run(t, c.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	_, err := os.Stat(file)
	assert.True(t, os.IsNotExist(err), "nothing written by refused commands")
}

func TestListAndRevoke(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.yaml")
	id1, secret1 := newKey(t, file, "--description", "first")
	id2, _ := newKey(t, file)
	id3, _ := newKey(t, file)

	out, _, err := run(t, "revoke", id1, "--file", file)
	require.NoError(t, err)
	assert.Contains(t, out, "Revoked "+id1)
	_, _, err = run(t, "revoke", id3, "--delete", "--file", file)
	require.NoError(t, err)
	_, _, err = run(t, "revoke", "tfk_missing", "--file", file)
	assert.ErrorContains(t, err, `no key "tfk_missing"`)

	out, _, err = run(t, "list", "--file", file)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	assert.Regexp(t, `^`+id1+`\s+disabled\s+`+ws+`\s+traces,metrics\s+never\s+"first"$`, lines[1])
	assert.Regexp(t, `^`+id2+`\s+active\s+`, lines[2])
	assert.NotContains(t, out, "sha256:")
	assert.NotContains(t, out, secret1)

	out, _, err = run(t, "list", "--file", file, "-o", "json")
	require.NoError(t, err)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	require.Len(t, rows, 2)
	assert.Equal(t, "disabled", rows[0]["status"])

	f, err := keyfile.Load(file)
	require.NoError(t, err)
	idx, err := keyfile.NewIndex(f)
	require.NoError(t, err)
	_, res := idx.Verify(id1, secret1, time.Now())
	assert.Equal(t, keyfile.Disabled, res)
	assert.NotNil(t, f.Keys[0].RevokedAt)
}

func TestFileDefaultsToEnv(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.yaml")
	t.Setenv(EnvKeysFile, file)
	_, _, err := run(t, "new", "--workspace", ws, "--scopes", "logs")
	require.NoError(t, err)
	_, err = keyfile.Load(file)
	assert.NoError(t, err)
}

// Concurrent edits are serialised by the lock file: every key minted is in the file, and a concurrent revoke
// does not undo them. (flock locks belong to open file descriptions, so goroutines of one process contend like
// processes do; tests/e2e covers separate processes of the binary.)
func TestConcurrentEditsLoseNoKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.yaml")
	firstID, _ := newKey(t, file)
	const n = 12
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			id, _ := newKey(t, file)
			ids <- id
		})
	}
	wg.Go(func() {
		_, _, err := run(t, "revoke", firstID, "--file", file)
		assert.NoError(t, err)
	})
	wg.Wait()
	close(ids)
	f, err := keyfile.Load(file)
	require.NoError(t, err)
	require.Len(t, f.Keys, n+1)
	for id := range ids {
		_, ok := f.Find(id)
		assert.True(t, ok, "key %s is in the file", id)
	}
	k, _ := f.Find(firstID)
	assert.True(t, k.Disabled, "the concurrent revoke is kept too")
	st, err := os.Stat(keyfile.LockPath(file))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}
