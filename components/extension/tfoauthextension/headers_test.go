package tfoauthextension

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/status"
)

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer abc.def.ghi":   "abc.def.ghi",
		"bearer abc":           "abc",
		"BEARER   abc  ":       "abc",
		"Bearer":               "",
		"Bearer ":              "",
		"Basic dXNlcjpwYXNz":   "",
		"Bearer a b":           "",
		"Bearerabc":            "",
		"Token abc.def.ghi":    "",
		"Bearer\tabc.def.ghi":  "",
		"  Bearer abc.def.ghi": "",
	} {
		got, ok := bearerToken(in)
		if got != want || ok != (want != "") {
			t.Errorf("bearerToken(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

var fixedMessages = map[string]bool{msgMissing: true, msgFailed: true, msgAgentID: true, msgWorkspace: true, msgNoScopes: true, msgThrottled: true}

// FuzzCredentialHeaders feeds arbitrary header names and values through the whole server path: no panic, and a
// refusal only ever carries one of the fixed messages, so nothing a client sent is reflected back.
func FuzzCredentialHeaders(f *testing.F) {
	f.Add("X-Telemetryflow-Key-Id", "tfk_abc", "x-telemetryflow-key-secret", "tfs_abc", "x-workspace-id", ws1)
	f.Add("Authorization", "Bearer a.b.c", "X-Workspace-Id", ws2, "X-TelemetryFlow-Agent-ID", "agent\x00")
	f.Add("authorization", "bearer", "X-TELEMETRYFLOW-KEY-SECRET", "", "", "")
	f.Add("x-telemetryflow-key-id", strings.Repeat("tfk_", 100), "x-telemetryflow-key-secret", strings.Repeat("s", 300), "x-workspace-id", "*")
	f.Add("Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJleHAiOjF9.", "x-workspace-id", "", "x", "y")

	ext, err := newAuthExtension(createDefaultConfig().(*Config), nopSettings())
	if err != nil {
		f.Fatal(err)
	}
	jc := defaultJWTConfig()
	jc.HMACSecretFile = "unused"
	if ext.jwt, err = newJWTVerifier(jc, time.Now); err != nil {
		f.Fatal(err)
	}
	ext.jwt.setHMACSecret(hmacSecret)
	ext.throttle = nil

	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		h := map[string][]string{}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}} {
			h[kv[0]] = append(h[kv[0]], kv[1])
		}
		p := parseCredentials(h)
		if p.kind == credBearer && (p.token == "" || strings.ContainsAny(p.token, " \t")) {
			t.Fatalf("bad bearer token %q", p.token)
		}
		if p.kind == credAPIKey && (p.keyID == "" || p.secret == "") {
			t.Fatalf("api key with empty part")
		}
		_, _, _ = ext.authenticate(h, netip.Addr{}, time.Now())
		if _, err := ext.Authenticate(t.Context(), h); err != nil {
			if msg := status.Convert(err).Message(); !fixedMessages[msg] {
				t.Fatalf("unexpected message %q", msg)
			}
		}
	})
}
