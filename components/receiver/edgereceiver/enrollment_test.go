package edgereceiver

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/credentials/tokenfile"
)

func TestEnrollmentDescribesTheCallersCredential(t *testing.T) {
	f := newFixture(t)
	f.cfg.Enrollment.PublicURL = "https://gateway.example.com:8088/"
	f.start()
	token, id := f.issueToken(wsA, "edge-agent", "host-01")

	resp := f.do(http.MethodGet, pathEnrollment, bearer(token), nil)
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	assert.NotContains(t, string(resp.raw), token, "the token is never echoed")
	assert.Equal(t, "enrollment_token", resp.json["mode"])
	assert.Equal(t, wsA, resp.json["workspace_id"], "the token's workspace without x-workspace-id")
	assert.Equal(t, "https://gateway.example.com:8088/api/v1/events/ingest", resp.json["ingest_url"])
	assert.Equal(t, "https://gateway.example.com:8088/api/v1/edge-agent/policy", resp.json["policy_url"])
	cred := resp.json["credential"].(map[string]any)
	assert.Equal(t, id, cred["token_id"])
	assert.Equal(t, "host-01", cred["subject"])
	assert.Equal(t, "active", cred["status"])
	exp, err := time.Parse(time.RFC3339, cred["expires_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(720*time.Hour), exp, time.Minute)
	rot := resp.json["rotation"].(map[string]any)
	assert.Equal(t, true, rot["enabled"])
	assert.Equal(t, false, rot["allowed"], "an agent token is no admin")

	// An API key: its mode and id, no expiry; the admin key may rotate.
	resp = f.do(http.MethodGet, pathEnrollment, f.adminHeaders(wsA), nil)
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	assert.Equal(t, "api_key", resp.json["mode"])
	cred = resp.json["credential"].(map[string]any)
	assert.Equal(t, f.adminID, cred["key_id"])
	assert.NotContains(t, cred, "expires_at")
	assert.NotContains(t, string(resp.raw), f.adminKey)
	assert.Equal(t, true, resp.json["rotation"].(map[string]any)["allowed"])

	// After a rotation the old token reports that it is rotating, until when and by what.
	rotated := f.do(http.MethodPost, pathRotate, withKey(f.adminHeaders(wsA), "rot-1"), nil)
	require.Equal(t, http.StatusOK, rotated.code, "%s", rotated.raw)
	resp = f.do(http.MethodGet, pathEnrollment, bearer(token), nil)
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	cred = resp.json["credential"].(map[string]any)
	assert.Equal(t, "rotating", cred["status"])
	assert.Equal(t, rotated.json["token_id"], cred["replaced_by"])
	assert.Equal(t, rotated.json["old_token_valid_until"], cred["valid_until"])

	for name, h := range map[string]map[string]string{
		"no credentials":  nil,
		"other workspace": f.keyHeaders(wsB),
	} {
		resp := f.do(http.MethodGet, pathEnrollment, h, nil)
		assert.Contains(t, []int{401, 403}, resp.code, name)
		resp.errorMessage(t)
	}
}

func withKey(h map[string]string, key string) map[string]string {
	h["Idempotency-Key"] = key
	return h
}

// Rotating twice with one rotation key gives one new token, which authenticates; the state file records one
// rotation and the old token's overlap.
func TestRotateIsIdempotentAndTheNewTokenWorks(t *testing.T) {
	f := newFixture(t)
	f.cfg.Enrollment.Rotation.Overlap = time.Hour
	f.start()
	oldToken, oldID := f.issueToken(wsA, "edge-agent", "host-01")

	first := f.do(http.MethodPost, pathRotate, withKey(f.adminHeaders(wsA), "2026-12-rollover"), nil)
	require.Equal(t, http.StatusOK, first.code, "%s", first.raw)
	newToken := first.json["token"].(string)
	require.NotEmpty(t, newToken)
	assert.NotEqual(t, oldToken, newToken)
	assert.Equal(t, oldID, first.json["replaces"])
	assert.Equal(t, false, first.json["already_rotated"])
	assert.Equal(t, "host-01", first.json["subject"])
	assert.Equal(t, "no-store", first.header.Get("Cache-Control"))
	until, err := time.Parse(time.RFC3339, first.json["old_token_valid_until"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), until, time.Minute)

	// Again, with the key in the body this time, and after the old token stopped being the active one.
	again := f.do(http.MethodPost, pathRotate, f.adminHeaders(wsA), map[string]any{"rotation_key": "2026-12-rollover"})
	require.Equal(t, http.StatusOK, again.code, "%s", again.raw)
	assert.Equal(t, newToken, again.json["token"], "one rotation key, one new token")
	assert.Equal(t, true, again.json["already_rotated"])
	assert.Equal(t, first.json["old_token_valid_until"], again.json["old_token_valid_until"])
	assert.Equal(t, int64(1), f.requests(epRotate, 200, "rotated"))
	assert.Equal(t, int64(1), f.requests(epRotate, 200, "replayed"))

	st, err := tokenfile.Load(f.tokensFile)
	require.NoError(t, err)
	assert.Len(t, st.Tokens, 2)
	require.Len(t, st.Rotations, 1)
	assert.Equal(t, "edge/"+wsA+"/2026-12-rollover", st.Rotations[0].Key)
	old, _ := st.Find(oldID)
	assert.Equal(t, tokenfile.StatusRotating, old.StatusAt(time.Now()))

	// The new token authenticates (its own workspace, no header needed).
	resp := f.do(http.MethodGet, pathEnrollment, bearer(newToken), nil)
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	assert.Equal(t, first.json["token_id"], resp.json["credential"].(map[string]any)["token_id"])

	// The same key in another workspace is another key; naming another token with a used key is refused.
	_, otherID := f.issueToken(wsA, "edge-agent", "host-02")
	resp = f.do(http.MethodPost, pathRotate, withKey(f.adminHeaders(wsA), "2026-12-rollover"), map[string]any{"token_id": otherID})
	require.Equal(t, http.StatusBadRequest, resp.code, "%s", resp.raw)
	assert.Contains(t, resp.errorMessage(t), "already rotated another token")
}

func TestRotateRefusals(t *testing.T) {
	f := newFixture(t).start()
	agentToken, _ := f.issueToken(wsA, "edge-agent", "host-01")
	adminToken, _ := f.issueToken(wsA, "edge-admin", "ops")
	_, _ = f.issueToken(wsB, "edge-agent", "host-b")

	for name, tc := range map[string]refusalCase{
		"agent token":        {"", withKey(bearer(agentToken), "k"), nil, 403, "not_admin", "admin credential"},
		"agent key":          {"", withKey(f.keyHeaders(wsA), "k"), nil, 403, "not_admin", "admin credential"},
		"no key":             {"", f.adminHeaders(wsA), nil, 400, "bad_rotation_key", "Idempotency-Key"},
		"keys disagree":      {"", withKey(f.adminHeaders(wsA), "a"), map[string]any{"rotation_key": "b"}, 400, "bad_rotation_key", "disagree"},
		"other workspace":    {"", withKey(f.adminHeaders(wsB), "k"), nil, 403, "forbidden", "not allowed"},
		"several tokens":     {"", withKey(bearer(adminToken), "k"), nil, 400, "ambiguous_token", "several active tokens"},
		"unknown token":      {"", withKey(f.adminHeaders(wsA), "k"), map[string]any{"token_id": "tft_nothere"}, 404, "no_token", "no such token"},
		"token of elsewhere": {"", withKey(f.adminHeaders(wsA), "k"), map[string]any{"token_id": tokenOf(t, f, wsB)}, 404, "no_token", "no such token"},
		"bad body":           {"", withKey(f.adminHeaders(wsA), "k"), map[string]any{"token": "x"}, 400, "bad_json", "unknown field"},
	} {
		t.Run(name, func(t *testing.T) { f.expectRefusal(t, pathRotate, epRotate, tc) })
	}
	st, err := tokenfile.Load(f.tokensFile)
	require.NoError(t, err)
	assert.Empty(t, st.Rotations, "nothing was rotated")

	// An admin token rotates a named token of its workspace.
	resp := f.do(http.MethodPost, pathRotate, withKey(bearer(adminToken), "k"), map[string]any{"token_id": tokenOf(t, f, wsA)})
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
}

func tokenOf(t *testing.T, f *fixture, ws string) string {
	t.Helper()
	st, err := tokenfile.Load(f.tokensFile)
	require.NoError(t, err)
	for _, tk := range st.Tokens {
		if tk.Workspace == ws && tk.Role == "edge-agent" {
			return tk.ID
		}
	}
	t.Fatalf("no agent token in %s", ws)
	return ""
}

func TestRotateDisabledAndNoToken(t *testing.T) {
	f := newFixture(t)
	f.cfg.Enrollment.Rotation.SigningKeyFile = ""
	f.start()
	resp := f.do(http.MethodPost, pathRotate, withKey(f.adminHeaders(wsA), "k"), nil)
	require.Equal(t, http.StatusNotImplemented, resp.code, "%s", resp.raw)
	assert.Contains(t, resp.errorMessage(t), "not enabled")

	g := newFixture(t).start()
	resp = g.do(http.MethodPost, pathRotate, withKey(g.adminHeaders(wsA), "k"), nil)
	require.Equal(t, http.StatusNotFound, resp.code, "%s", resp.raw)
	assert.True(t, strings.Contains(resp.errorMessage(t), "tfocol tokens issue"))
}
