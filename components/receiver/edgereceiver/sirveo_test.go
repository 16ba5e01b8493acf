package edgereceiver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector"
)

const instanceID = "4915a241-ba4e-4c1d-9e8f-7a6b5c4d3e2f"

// sirveoPayload is a seed 003 payload; its checksum is some derivation of the other values (the seed publishes
// none), as a real instance's is.
func sirveoPayload(reason string, licenseValid bool) map[string]any {
	p := map[string]any{
		"build_version": "0.1.0", "build_commit": "4379644", "build_time": "2024-02-16T23:06:23+02:00",
		"build_mode": "licenced", "build_os": "linux", "build_arch": "amd64", "instance_id": instanceID,
		"license_key_hash": "e88394fedd71573f9a2c37f2b8a1f0d2e6c4b9a87d65e4f3c2b1a09f8e7d6c5b", "license_valid": licenseValid,
		"reason": reason, "custom_id": "sirveo-eu-1",
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%v", p))
	p["checksum"] = hex.EncodeToString(sum[:8])
	return p
}

func sirveoHeaders(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token, "User-Agent": "Sirveo"}
}

// begin, update (twice) and end become InstanceLifecycle events of the token's workspace, valid under their
// contract; the repeated update's checksum is consistent with the first.
func TestSirveoLifecycleEvents(t *testing.T) {
	f := newFixture(t).start()
	token, _ := f.issueToken(wsA, "edge-agent", "sirveo-eu-1")
	for _, reason := range []string{"begin", "update", "update", "license-state-change", "end"} {
		resp := f.do(http.MethodPost, pathSirveo, sirveoHeaders(token), sirveoPayload(reason, reason != "license-state-change"))
		require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
		assert.Equal(t, "accepted", resp.json["status"], "%s", resp.raw)
	}
	calls := f.pipe.got()
	require.Len(t, calls, 5)
	contract, err := eventrouterconnector.LoadContract(f.cfg.Schemas["InstanceLifecycle"])
	require.NoError(t, err)
	var phases, verdicts []string
	for _, c := range calls {
		assert.Equal(t, []string{wsA}, c.md.Get("x-workspace-id"))
		assert.Empty(t, c.md.Get("Idempotency-Key"), "Sirveo requests are not deduplicated")
		rl := c.logs.ResourceLogs().At(0)
		res := rl.Resource().Attributes().AsRaw()
		assert.Equal(t, map[string]any{"service.name": "sirveo", "service.instance.id": instanceID, "service.version": "0.1.0"}, res)
		lr := rl.ScopeLogs().At(0).LogRecords().At(0)
		assert.Equal(t, "InstanceLifecycle", lr.EventName())
		assert.Empty(t, contract.Check(lr))
		body := lr.Body().Map().AsRaw()
		phases = append(phases, body["phase"].(string))
		verdicts = append(verdicts, body["checksumStatus"].(string))
		assert.Equal(t, "sirveo-eu-1", body["customId"])
	}
	assert.Equal(t, []string{"begin", "update", "update", "update", "end"}, phases)
	assert.Equal(t, []string{"unverified", "unverified", "consistent", "unverified", "unverified"}, verdicts)
	licence := calls[3].logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, "warning", mustGet(licence, "event.severity"), "an invalid licence is a warning")
	assert.Equal(t, "license-state-change", licence.Body().Map().AsRaw()["reason"])
	assert.Equal(t, int64(5), f.counter("tfocol_edge_events", map[string]any{"endpoint": "sirveo", "outcome": "accepted"}))
}

func mustGet(lr plog.LogRecord, k string) string {
	v, _ := lr.Attributes().Get(k)
	return v.AsString()
}

// A checksum that disagrees with the one the instance sent with the same values is flagged (kept, with
// checksumStatus mismatch and severity warning) or, with on_checksum_mismatch: reject, refused; a checksum that
// is not 16 hex digits is refused either way.
func TestSirveoChecksum(t *testing.T) {
	for _, mode := range []string{MismatchFlag, MismatchReject} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			f.cfg.Sirveo.OnChecksumMismatch = mode
			f.start()
			token, _ := f.issueToken(wsA, "edge-agent", "sirveo")
			genuine := sirveoPayload("update", true)
			require.Equal(t, http.StatusOK, f.do(http.MethodPost, pathSirveo, sirveoHeaders(token), genuine).code)

			tampered := sirveoPayload("update", true)
			tampered["checksum"] = "0000000000000000"
			resp := f.do(http.MethodPost, pathSirveo, sirveoHeaders(token), tampered)
			if mode == MismatchFlag {
				require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
				assert.Equal(t, "mismatch", resp.json["checksum_status"])
				calls := f.pipe.got()
				require.Len(t, calls, 2)
				lr := calls[1].logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
				assert.Equal(t, "mismatch", lr.Body().Map().AsRaw()["checksumStatus"])
				assert.Equal(t, "warning", mustGet(lr, "event.severity"))
			} else {
				require.Equal(t, http.StatusBadRequest, resp.code, "%s", resp.raw)
				assert.Contains(t, resp.errorMessage(t), "checksum does not match")
				assert.Len(t, f.pipe.got(), 1)
				assert.Equal(t, int64(1), f.requests(epSirveo, 400, "checksum_mismatch"))
			}
			assert.Equal(t, int64(1), f.counter("tfocol_edge_sirveo_checksums", map[string]any{"result": "mismatch"}))

			// The genuine payload again is still consistent: the first sight stays the reference.
			resp = f.do(http.MethodPost, pathSirveo, sirveoHeaders(token), genuine)
			assert.Equal(t, "consistent", resp.json["checksum_status"])

			malformed := sirveoPayload("update", true)
			malformed["checksum"] = "E7916A6B1DAA5149"
			resp = f.do(http.MethodPost, pathSirveo, sirveoHeaders(token), malformed)
			require.Equal(t, http.StatusBadRequest, resp.code)
			assert.Contains(t, resp.errorMessage(t), "16 lowercase hex digits")
		})
	}
}

func TestSirveoWorkspaceAndCredentials(t *testing.T) {
	f := newFixture(t)
	f.cfg.Sirveo.AnonymousWorkspaces = []string{wsB}
	f.start()
	token, _ := f.issueToken(wsA, "edge-agent", "sirveo")

	// The path names the workspace: it must be the token's.
	resp := f.do(http.MethodPost, pathSirveo+"/"+wsA, sirveoHeaders(token), sirveoPayload("begin", true))
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	resp = f.do(http.MethodPost, pathSirveo+"/"+wsB, sirveoHeaders(token), sirveoPayload("begin", true))
	require.Equal(t, http.StatusForbidden, resp.code, "%s", resp.raw)

	// Without Authorization only an anonymous workspace, named in the path, accepts telemetry.
	anon := map[string]string{"User-Agent": "Sirveo"}
	resp = f.do(http.MethodPost, pathSirveo+"/"+wsB, anon, sirveoPayload("begin", true))
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	assert.Equal(t, wsB, resp.json["workspace_id"])
	for _, path := range []string{pathSirveo + "/" + wsA, pathSirveo} {
		resp = f.do(http.MethodPost, path, anon, sirveoPayload("begin", true))
		require.Equal(t, http.StatusUnauthorized, resp.code, "%s: %s", path, resp.raw)
	}
	resp = f.do(http.MethodPost, pathSirveo+"/not-a-workspace", anon, sirveoPayload("begin", true))
	require.Equal(t, http.StatusBadRequest, resp.code)

	for name, body := range map[string]any{
		"not an object":  []any{1},
		"unknown reason": map[string]any{"reason": "restart", "checksum": "e7916a6b1daa5149"},
		"no checksum":    map[string]any{"reason": "begin"},
	} {
		resp = f.do(http.MethodPost, pathSirveo, sirveoHeaders(token), body)
		assert.Equal(t, http.StatusBadRequest, resp.code, name)
	}

	// A payload the contract refuses is kept annotated (as over OTLP) and answered with its reason.
	bad := sirveoPayload("update", true)
	bad["instance_id"] = "not-a-uuid"
	resp = f.do(http.MethodPost, pathSirveo, sirveoHeaders(token), bad)
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	assert.Equal(t, "rejected", resp.json["status"])
	assert.Equal(t, "at '/body/instanceId': 'not-a-uuid' is not valid uuid: must have 5 elements", resp.json["reason"])

	// Fields missing are the contract's to judge too; unknown fields are kept under extra.
	partial := sirveoPayload("update", true)
	delete(partial, "license_valid")
	partial["uptime_seconds"] = 3600
	resp = f.do(http.MethodPost, pathSirveo, sirveoHeaders(token), partial)
	require.Equal(t, http.StatusOK, resp.code, "%s", resp.raw)
	assert.Equal(t, "at '/body': missing property 'licenseValid'", resp.json["reason"])
	calls := f.pipe.got()
	body := calls[len(calls)-1].logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Map().AsRaw()
	assert.Equal(t, map[string]any{"uptime_seconds": int64(3600)}, body["extra"])
}

var statusID = component.MustNewID("ingest_status")

// statusExt stands in for the ingest-status extension: it answers what it was asked about.
type statusExt struct {
	component.StartFunc
	component.ShutdownFunc
}
