package keyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ws1 = "0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11"

func mint(t *testing.T, ws ...string) (Key, string) {
	t.Helper()
	k, secret, err := NewKey(ws, []string{"traces", "logs"}, nil, "test", time.Now())
	require.NoError(t, err)
	return k, secret
}

func TestNewKeyStoresOnlyTheHash(t *testing.T) {
	k, secret := mint(t, ws1)
	assert.True(t, strings.HasPrefix(k.ID, IDPrefix))
	assert.True(t, strings.HasPrefix(secret, SecretPrefix))
	assert.Len(t, strings.TrimPrefix(secret, SecretPrefix), 43, "256 random bits, base64url")
	assert.Equal(t, HashSecret(secret), k.SecretHash)

	f := &File{Version: CurrentVersion, Keys: []Key{k}}
	for _, format := range []Format{FormatYAML, FormatJSON} {
		data, err := f.Marshal(format)
		require.NoError(t, err)
		assert.NotContains(t, string(data), strings.TrimPrefix(secret, SecretPrefix))
		back, err := Parse(data)
		require.NoError(t, err)
		assert.Equal(t, k.ID, back.Keys[0].ID)
		assert.Equal(t, k.SecretHash, back.Keys[0].SecretHash)
	}

	k2, secret2 := mint(t, ws1)
	assert.NotEqual(t, k.ID, k2.ID)
	assert.NotEqual(t, secret, secret2)
}

func TestParseYAMLAndJSON(t *testing.T) {
	yml := `version: 1
keys:
  - id: tfk_one
    secret_hash: sha256:` + strings.Repeat("ab", 32) + `
    workspaces: [` + ws1 + `]
    scopes: [traces, metrics, logs]
    expires_at: 2030-01-02T03:04:05Z
    description: site A
  - id: tfk_two
    secret_hash: sha256:` + strings.Repeat("cd", 32) + `
    workspaces: ["*"]
    scopes: ["*"]
    disabled: true
`
	f, err := Parse([]byte(yml))
	require.NoError(t, err)
	require.Len(t, f.Keys, 2)
	assert.Equal(t, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), f.Keys[0].ExpiresAt.UTC())
	assert.Equal(t, StatusDisabled, f.Keys[1].StatusAt(time.Now()))

	js := `{"version":1,"keys":[{"id":"tfk_j","secret_hash":"sha256:` + strings.Repeat("ef", 32) +
		`","workspaces":["` + ws1 + `"],"scopes":["metrics"]}]}`
	f, err = Parse([]byte(js))
	require.NoError(t, err)
	assert.Equal(t, "tfk_j", f.Keys[0].ID)
}

func TestParseRejects(t *testing.T) {
	hash := "sha256:" + strings.Repeat("ab", 32)
	key := func(fields string) string {
		return "version: 1\nkeys:\n  - " + strings.ReplaceAll(fields, "\n", "\n    ") + "\n"
	}
	cases := map[string]struct{ doc, want string }{
		"empty":            {"", "empty"},
		"wrong version":    {"version: 2\nkeys: []\n", "unsupported key file version 2"},
		"unknown field":    {key("id: tfk_a\nsecret_hash: " + hash + "\nworkspaces: [" + ws1 + "]\nscopes: [traces]\nsecret: x"), "field secret not found"},
		"bad id":           {key("id: abc\nsecret_hash: " + hash + "\nworkspaces: [" + ws1 + "]\nscopes: [traces]"), "id must be"},
		"plain secret":     {key("id: tfk_a\nsecret_hash: tfs_oops\nworkspaces: [" + ws1 + "]\nscopes: [traces]"), `must start with "sha256:"`},
		"short hash":       {key("id: tfk_a\nsecret_hash: sha256:abcd\nworkspaces: [" + ws1 + "]\nscopes: [traces]"), "64 hex digits"},
		"no workspace":     {key("id: tfk_a\nsecret_hash: " + hash + "\nscopes: [traces]"), "at least one workspace"},
		"bad workspace":    {key("id: tfk_a\nsecret_hash: " + hash + "\nworkspaces: [acme]\nscopes: [traces]"), "not a UUID"},
		"bad scope":        {key("id: tfk_a\nsecret_hash: " + hash + "\nworkspaces: [" + ws1 + "]\nscopes: [profiles]"), "scope \"profiles\""},
		"not a key file":   {"- a\n- b\n", "decode key file"},
		"duplicate id":     {"version: 1\nkeys:\n  - {id: tfk_a, secret_hash: " + hash + ", workspaces: [" + ws1 + "], scopes: [traces]}\n  - {id: tfk_a, secret_hash: " + hash + ", workspaces: [" + ws1 + "], scopes: [traces]}\n", "duplicate id"},
		"truncated upload": {"version: 1\nkeys:\n  - id: tfk_a\n    secret_hash: sha2", "keys[0]"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "tfs_oops", "a secret misplaced in the file is not echoed by validation")
		})
	}
}

func TestVerify(t *testing.T) {
	now := time.Now()
	active, secret := mint(t, ws1)
	disabled, disabledSecret := mint(t, ws1)
	disabled.Disabled = true
	expired, expiredSecret := mint(t, ws1)
	past := now.Add(-time.Minute)
	expired.ExpiresAt = &past
	idx, err := NewIndex(&File{Version: CurrentVersion, Keys: []Key{active, disabled, expired}})
	require.NoError(t, err)

	k, res := idx.Verify(active.ID, secret, now)
	require.Equal(t, Valid, res)
	assert.Equal(t, active.ID, k.ID)

	_, res = idx.Verify(disabled.ID, disabledSecret, now)
	assert.Equal(t, Disabled, res)
	_, res = idx.Verify(expired.ID, expiredSecret, now)
	assert.Equal(t, Expired, res)
	_, res = idx.Verify("tfk_nope", secret, now)
	assert.Equal(t, UnknownKey, res)
	_, res = idx.Verify(disabled.ID, secret, now)
	assert.Equal(t, WrongSecret, res, "a disabled key with the wrong secret reports the secret, not the state")
}

// The comparison is between fixed-length SHA-256 digests with crypto/subtle, so how much of a guess matches the
// real secret neither changes the answer nor (see BenchmarkVerifyWrongSecret) the time taken.
func TestVerifyRejectsNearMisses(t *testing.T) {
	k, secret := mint(t, ws1)
	idx, err := NewIndex(&File{Version: CurrentVersion, Keys: []Key{k}})
	require.NoError(t, err)
	last := secret[:len(secret)-1] + string(secret[len(secret)-1]^1)
	first := SecretPrefix + string(secret[4]^1) + secret[5:]
	for name, guess := range map[string]string{
		"empty": "", "prefix": secret[:len(secret)-1], "extra char": secret + "x", "last byte": last,
		"first byte": first, "upper case": strings.ToUpper(secret), "huge": strings.Repeat(secret, 100),
		"hash itself": k.SecretHash,
	} {
		_, res := idx.Verify(k.ID, guess, time.Now())
		assert.Equal(t, WrongSecret, res, name)
	}
}

func TestSaveIsAtomicAndKeepsFormat(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"keys.yaml", "keys.json"} {
		path := filepath.Join(dir, name)
		k, _ := mint(t, ws1)
		require.NoError(t, Save(path, &File{Version: CurrentVersion, Keys: []Key{k}}))
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		if name == "keys.json" {
			assert.True(t, strings.HasPrefix(string(data), "{"))
		} else {
			assert.True(t, strings.HasPrefix(string(data), "#"))
		}
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "new key files are private")
		f, err := Load(path)
		require.NoError(t, err)
		assert.Equal(t, k.ID, f.Keys[0].ID)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temp files left behind")

	// An invalid file is refused before anything is written.
	path := filepath.Join(dir, "keys.yaml")
	before, _ := os.ReadFile(path)
	require.Error(t, Save(path, &File{Version: CurrentVersion, Keys: []Key{{ID: "bad"}}}))
	after, _ := os.ReadFile(path)
	assert.Equal(t, before, after)
}

func FuzzParse(f *testing.F) {
	k, _, _ := NewKey([]string{ws1}, []string{"traces"}, nil, "seed", time.Unix(1700000000, 0))
	good, _ := (&File{Version: CurrentVersion, Keys: []Key{k}}).Marshal(FormatYAML)
	goodJSON, _ := (&File{Version: CurrentVersion, Keys: []Key{k}}).Marshal(FormatJSON)
	for _, s := range [][]byte{good, goodJSON, []byte(""), []byte("version: 1\nkeys: []\n"), []byte("{"),
		[]byte("version: 1\nkeys:\n  - id: tfk_\n"), []byte("&a [*a, *a]"), []byte("keys: !!binary AAAA")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		// Anything accepted must index, survive a round trip, and verify without panicking.
		idx, err := NewIndex(file)
		if err != nil {
			t.Fatalf("parsed file does not index: %v", err)
		}
		for _, k := range file.Keys {
			idx.Verify(k.ID, "tfs_x", time.Now())
		}
		for _, format := range []Format{FormatYAML, FormatJSON} {
			out, err := file.Marshal(format)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			back, err := Parse(out)
			if err != nil {
				t.Fatalf("round trip in format %d: %v\n%s", format, err, out)
			}
			if len(back.Keys) != len(file.Keys) {
				t.Fatalf("round trip lost keys")
			}
		}
	})
}

func BenchmarkVerifyWrongSecret(b *testing.B) {
	k, secret, _ := NewKey([]string{ws1}, []string{"traces"}, nil, "", time.Now())
	idx, _ := NewIndex(&File{Version: CurrentVersion, Keys: []Key{k}})
	now := time.Now()
	for name, guess := range map[string]string{
		"first_byte_differs": SecretPrefix + string(secret[4]^1) + secret[5:],
		"last_byte_differs":  secret[:len(secret)-1] + string(secret[len(secret)-1]^1),
		"unknown_key":        secret,
	} {
		id := k.ID
		if name == "unknown_key" {
			id = "tfk_unknown"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				idx.Verify(id, guess, now)
			}
		})
	}
}
