package tokenfile

import (
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRotateIsIdempotentPerKey(t *testing.T) {
	priv, _, _, err := GenerateKey()
	require.NoError(t, err)
	key := parseKey(t, priv)
	now := time.Now().UTC().Truncate(time.Second)
	old := Token{ID: "tft_old", Workspace: ws, Subject: "host-01", Role: "edge-agent", Scopes: []string{"logs"},
		IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(71 * time.Hour)}
	st := &State{Version: CurrentVersion, Tokens: []Token{old}}

	first, err := st.Rotate("k1", "tft_old", 24*time.Hour, 0, now)
	require.NoError(t, err)
	require.NoError(t, st.Validate())
	assert.False(t, first.Again)
	assert.NotEqual(t, "tft_old", first.New.ID)
	assert.Equal(t, old.Subject, first.New.Subject)
	assert.Equal(t, old.Scopes, first.New.Scopes)
	assert.Equal(t, 72*time.Hour, first.New.ExpiresAt.Sub(first.New.IssuedAt), "the old token's lifetime")
	assert.True(t, now.Add(24*time.Hour).Equal(first.OldValidUntil))
	assert.Equal(t, StatusRotating, first.Old.StatusAt(now))
	tokenA, err := Sign(first.New, key)
	require.NoError(t, err)

	// Again with the same key, naming the old or the new token: the same rotation, the state untouched.
	for _, from := range []string{"tft_old", first.New.ID} {
		again, err := st.Rotate("k1", from, time.Minute, time.Hour, now.Add(time.Minute))
		require.NoError(t, err)
		assert.True(t, again.Again)
		tokenB, err := Sign(again.New, key)
		require.NoError(t, err)
		assert.Equal(t, tokenA, tokenB, "one rotation key, one new token")
		assert.True(t, first.OldValidUntil.Equal(again.OldValidUntil))
	}
	assert.Len(t, st.Tokens, 2)
	assert.Len(t, st.Rotations, 1)

	// The key cannot rotate another token; the old token cannot be rotated again under another key.
	st.Tokens = append(st.Tokens, Token{ID: "tft_other", Workspace: ws, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	_, err = st.Rotate("k1", "tft_other", time.Hour, 0, now)
	assert.ErrorIs(t, err, ErrRotationKeyReused)
	_, err = st.Rotate("k2", "tft_old", time.Hour, 0, now)
	assert.ErrorIs(t, err, ErrNotActive)
	_, err = st.Rotate("k3", "tft_missing", time.Hour, 0, now)
	assert.ErrorIs(t, err, ErrUnknownToken)

	// The overlap never outlives the old token; ttl sets the new lifetime.
	short, err := st.Rotate("k4", "tft_other", 48*time.Hour, 10*time.Hour, now)
	require.NoError(t, err)
	assert.True(t, now.Add(time.Hour).Equal(short.OldValidUntil))
	assert.Equal(t, 10*time.Hour, short.New.ExpiresAt.Sub(short.New.IssuedAt))

	active := st.ActiveTokens("0B7E6C1A-8D2F-4C39-9A51-2F0F2B8E4D11", now)
	ids := []string{}
	for _, a := range active {
		ids = append(ids, a.ID)
	}
	assert.ElementsMatch(t, []string{first.New.ID, short.New.ID}, ids)
}

func parseKey(t *testing.T, pemKey []byte) ed25519.PrivateKey {
	t.Helper()
	path := filepath.Join(t.TempDir(), "signing.key")
	require.NoError(t, writeFile(path, pemKey))
	key, err := LoadSigningKey(path)
	require.NoError(t, err)
	return key
}
