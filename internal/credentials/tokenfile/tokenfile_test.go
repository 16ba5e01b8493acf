package tokenfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ws = "0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11"

func TestTokensSignIsDeterministicAndStateRoundTrips(t *testing.T) {
	dir := t.TempDir()
	priv, _, _, err := GenerateKey()
	require.NoError(t, err)
	keyPath := filepath.Join(dir, "signing.key")
	require.NoError(t, writeFile(keyPath, priv))
	key, err := LoadSigningKey(keyPath)
	require.NoError(t, err)

	now := time.Now().UTC().Truncate(time.Second)
	id, err := NewID()
	require.NoError(t, err)
	tk := Token{ID: id, Workspace: ws, Role: "edge-agent", Scopes: []string{"traces"}, Issuer: "tfocol", Audience: "tfocol",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	a, err := Sign(&tk, key)
	require.NoError(t, err)

	statePath := filepath.Join(dir, "tokens.yaml")
	require.NoError(t, Save(statePath, &State{Version: CurrentVersion, Tokens: []Token{tk}}))
	st, err := Load(statePath)
	require.NoError(t, err)
	loaded, ok := st.Find(id)
	require.True(t, ok)
	b, err := Sign(loaded, key)
	require.NoError(t, err)
	assert.Equal(t, a, b, "the recorded claims sign to the same token")
	got, err := TokenID(a)
	require.NoError(t, err)
	assert.Equal(t, id, got)

	until := now.Add(time.Minute)
	loaded.NotAfter = &until
	assert.Equal(t, StatusRotating, loaded.StatusAt(now))
	assert.Equal(t, StatusSuperseded, loaded.StatusAt(until))
	assert.Equal(t, StatusActive, NewIndex(st).Check("tft_unknown", now))
}

func TestTokensParseRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":          "",
		"version":        "version: 2\ntokens: []\n",
		"unknown field":  "version: 1\ntokens: []\nsecret: x\n",
		"bad id":         "version: 1\ntokens: [{id: tfk_x, workspace: " + ws + ", issued_at: 2026-01-01T00:00:00Z, expires_at: 2026-02-01T00:00:00Z}]\n",
		"wildcard ws":    "version: 1\ntokens: [{id: tft_a, workspace: '*', issued_at: 2026-01-01T00:00:00Z, expires_at: 2026-02-01T00:00:00Z}]\n",
		"dangling rot.":  "version: 1\ntokens: []\nrotations: [{key: k, from: tft_a, to: tft_b, at: 2026-01-01T00:00:00Z}]\n",
		"exp before iat": "version: 1\ntokens: [{id: tft_a, workspace: " + ws + ", issued_at: 2026-02-01T00:00:00Z, expires_at: 2026-01-01T00:00:00Z}]\n",
	} {
		_, err := Parse([]byte(doc))
		assert.Error(t, err, name)
	}
}

func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }
