package requestcontract

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
)

const ws = "0b6f7c1e-7f4e-4a43-9a55-2f8f2f5b6a01"

func TestSingleValue(t *testing.T) {
	for name, tc := range map[string]struct {
		values  []string
		want    string
		wantErr string
	}{
		"absent":           {nil, "", ""},
		"one":              {[]string{" a "}, "a", ""},
		"repeats agree":    {[]string{"a", " a"}, "a", ""},
		"repeats disagree": {[]string{"a", "b"}, "", "conflicting h headers"},
		"case matters":     {[]string{"a", "A"}, "", "conflicting h headers"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := SingleValue(tc.values, "h")
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCanonicalWorkspace(t *testing.T) {
	got, err := CanonicalWorkspace(strings.ToUpper(ws))
	require.NoError(t, err)
	assert.Equal(t, ws, got, "one spelling: lower case")
	// The other spellings uuid.Parse accepts would let one workspace escape deduplication.
	for _, s := range []string{"", "workspace-1", "urn:uuid:" + ws, "{" + ws + "}", strings.ReplaceAll(ws, "-", "")} {
		_, err := CanonicalWorkspace(s)
		assert.ErrorIs(t, err, ErrNotWorkspace, s)
	}
}

func TestWorkspaceHeader(t *testing.T) {
	got, err := WorkspaceHeader([]string{strings.ToUpper(ws), " " + strings.ToUpper(ws)})
	require.NoError(t, err)
	assert.Equal(t, ws, got)

	got, err = WorkspaceHeader(nil)
	require.NoError(t, err)
	assert.Empty(t, got)

	_, err = WorkspaceHeader([]string{ws, "1b6f7c1e-7f4e-4a43-9a55-2f8f2f5b6a01"})
	assert.EqualError(t, err, "conflicting x-workspace-id headers")
	_, err = WorkspaceHeader([]string{"workspace-1"})
	assert.EqualError(t, err, "x-workspace-id must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
}

func TestIdempotencyKeyHeader(t *testing.T) {
	got, err := IdempotencyKeyHeader([]string{"k-1", "k-1"})
	require.NoError(t, err)
	assert.Equal(t, "k-1", got)

	got, err = IdempotencyKeyHeader(nil)
	require.NoError(t, err)
	assert.Empty(t, got)

	_, err = IdempotencyKeyHeader([]string{"a", "b"})
	assert.EqualError(t, err, "conflicting Idempotency-Key headers")
	for _, bad := range []string{"", " ", strings.Repeat("k", 256), "caf\u00e9", "a\tb"} {
		_, err = IdempotencyKeyHeader([]string{bad})
		assert.EqualError(t, err, "Idempotency-Key must be 1 to 255 printable ASCII characters", "%q", bad)
	}
	assert.True(t, ValidIdempotencyKey(strings.Repeat("k", 255)))
}

func TestScopeFromMetadata(t *testing.T) {
	md := client.NewMetadata(map[string][]string{"X-Workspace-Id": {strings.ToUpper(ws)}, "idempotency-key": {" k "}})
	s, ok := ScopeFromMetadata(md)
	require.True(t, ok)
	assert.Equal(t, Scope{Workspace: ws, Key: "k"}, s, "header names fold case, the workspace is canonical")

	_, ok = ScopeFromMetadata(client.NewMetadata(map[string][]string{HeaderWorkspaceID: {ws}}))
	assert.False(t, ok, "no key, nothing promised")
}

// TestLogKeyIsStable pins the derivation: keys already written to a durable log must still match after an upgrade.
func TestLogKeyIsStable(t *testing.T) {
	k := Scope{Workspace: ws, Key: "k"}.LogKey("logs")
	assert.Equal(t, "ddda7eb6b76891111500744aee8dc169", hex.EncodeToString(k[:]))

	assert.NotEqual(t, k, Scope{Workspace: ws, Key: "k"}.LogKey("traces"), "signal is part of the scope")
	assert.NotEqual(t, k, Scope{Workspace: "1b6f7c1e-7f4e-4a43-9a55-2f8f2f5b6a01", Key: "k"}.LogKey("logs"))
	// The separators keep ("ab","c") and ("a","bc") apart.
	assert.NotEqual(t, Scope{Workspace: "ab", Key: "c"}.LogKey("s"), Scope{Workspace: "a", Key: "bc"}.LogKey("s"))
}
