package e2etest

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"
)

// MintKey runs `tfocol keys new` against keysFile (created if missing) and returns the printed id and secret.
// scopes is the --scopes value ("traces,metrics,logs" or "*"); extra flags (e.g. --expires) are appended.
func MintKey(t testing.TB, keysFile, workspace, scopes string, extra ...string) (id, secret string) {
	t.Helper()
	args := append([]string{"keys", "new", "--workspace", workspace, "--scopes", scopes, "--file", keysFile, "--output", "env"}, extra...)
	out, err := exec.Command(Binary(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tfocol keys new: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "TELEMETRYFLOW_API_KEY_ID="); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "TELEMETRYFLOW_API_KEY_SECRET="); ok {
			secret = v
		}
	}
	if id == "" || secret == "" {
		t.Fatalf("tfocol keys new printed no key:\n%s", out)
	}
	return id, secret
}

// KeyHeaders are the request headers of a TelemetryFlow API key writing to workspace.
func KeyHeaders(id, secret, workspace string) map[string]string {
	return map[string]string{
		"X-TelemetryFlow-Key-ID":     id,
		"X-TelemetryFlow-Key-Secret": secret,
		"x-workspace-id":             workspace,
	}
}
