package tokenscmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/credentials/tokenfile"
)

const ws = "0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11"

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := New()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String() + errOut.String(), err
}

type files struct{ dir, key, pub, state, token string }

func setup(t *testing.T) files {
	dir := t.TempDir()
	f := files{dir, filepath.Join(dir, "signing.key"), filepath.Join(dir, "jwt-public.pem"), filepath.Join(dir, "tokens.yaml"), filepath.Join(dir, "agent.token")}
	out, err := run(t, "keygen", "--signing-key", f.key, "--public-keys", f.pub)
	require.NoError(t, err, out)
	return f
}

func TestTokensKeygenIssueRotateListRevoke(t *testing.T) {
	f := setup(t)
	st, err := os.Stat(f.key)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	_, err = run(t, "keygen", "--signing-key", f.key, "--public-keys", f.pub)
	assert.ErrorContains(t, err, "--force", "an existing signing key is not overwritten by accident")

	out, err := run(t, "issue", "--state", f.state, "--signing-key", f.key, "--workspace", ws, "--role", "edge-agent",
		"--scopes", "traces,metrics,logs", "--ttl", "720h", "--token-file", f.token, "--ingest-url", "https://gw.example:4318", "-o", "json")
	require.NoError(t, err, out)
	var e enrollment
	require.NoError(t, json.Unmarshal([]byte(out[:strings.Index(out, "\n")]), &e))
	assert.Equal(t, ws, e.Workspace)
	assert.Equal(t, "https://gw.example:4318", e.IngestURL)
	assert.Empty(t, e.Token, "with --token-file the token is not printed")
	assert.WithinDuration(t, time.Now().Add(720*time.Hour), e.ExpiresAt, time.Minute)
	token1, err := os.ReadFile(f.token)
	require.NoError(t, err)
	id1, err := tokenfile.TokenID(string(token1))
	require.NoError(t, err)
	assert.Equal(t, e.TokenID, id1)
	state, err := os.ReadFile(f.state)
	require.NoError(t, err)
	sig := strings.TrimSpace(string(token1))
	assert.NotContains(t, string(state), sig[strings.LastIndex(sig, ".")+1:], "the state never holds a token")

	rotate := func(key string) string {
		out, err := run(t, "rotate", "--state", f.state, "--signing-key", f.key, "--token-file", f.token,
			"--rotation-key", key, "--overlap", "24h")
		require.NoError(t, err, out)
		b, err := os.ReadFile(f.token)
		require.NoError(t, err)
		return string(b)
	}
	token2 := rotate("rk-1")
	assert.NotEqual(t, string(token1), token2)
	assert.Equal(t, token2, rotate("rk-1"), "rotating twice with one rotation key yields one new token")
	// Even when the token file still holds the old token (the first run failed after saving the state).
	require.NoError(t, os.WriteFile(f.token, token1, 0o600))
	assert.Equal(t, token2, rotate("rk-1"))

	s, err := tokenfile.Load(f.state)
	require.NoError(t, err)
	require.Len(t, s.Tokens, 2)
	require.Len(t, s.Rotations, 1)
	old, _ := s.Find(id1)
	require.NotNil(t, old.NotAfter)
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), *old.NotAfter, time.Minute)
	assert.Equal(t, tokenfile.StatusRotating, old.StatusAt(time.Now()))

	token3 := rotate("rk-2")
	assert.NotEqual(t, token2, token3, "another rotation key rotates again")

	out, err = run(t, "list", "--state", f.state)
	require.NoError(t, err)
	assert.Contains(t, out, id1)
	assert.Contains(t, out, "rotating")
	assert.NotContains(t, out, sig)

	id3, _ := tokenfile.TokenID(token3)
	_, err = run(t, "revoke", id3, "--state", f.state)
	require.NoError(t, err)
	s, err = tokenfile.Load(f.state)
	require.NoError(t, err)
	t3, _ := s.Find(id3)
	assert.Equal(t, tokenfile.StatusRevoked, t3.StatusAt(time.Now()))
	_, err = run(t, "rotate", "--state", f.state, "--signing-key", f.key, "--token-file", f.token, "--rotation-key", "rk-3")
	assert.ErrorContains(t, err, "revoked")
}

func TestTokensIssuePrintsTokenOnlyWithoutTokenFile(t *testing.T) {
	f := setup(t)
	out, err := run(t, "issue", "--state", f.state, "--signing-key", f.key, "--workspace", ws)
	require.NoError(t, err, out)
	assert.Contains(t, out, "token:")
	assert.Contains(t, out, "expires_at:")
	assert.Contains(t, out, "x-workspace-id: "+ws)
	_, err = run(t, "issue", "--state", f.state, "--signing-key", f.key, "--workspace", "*")
	assert.Error(t, err, "a token is for one workspace")
}
