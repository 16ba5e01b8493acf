package receipts

import (
	"os/exec"
	"strings"
	"testing"
)

// otelDeps lists the go.opentelemetry.io packages pkg depends on, directly or not.
func otelDeps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var deps []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "go.opentelemetry.io/") {
			deps = append(deps, p)
		}
	}
	return deps
}

// A verifier of receipts must be buildable without the collector: the format, scroll and verifier (which reads
// leaves with its own protobuf reader, leafwire.go), ROOT files and Merkle proofs need none of it. Producing
// leaves from pdata is internal/receipts/pdataleaves, used by the exporter.
func TestVerifierDependsOnNoOpenTelemetryModule(t *testing.T) {
	for _, pkg := range []string{
		"github.com/tfocol/tfocol/internal/receipts",
		"github.com/tfocol/tfocol/internal/receipts/checkpoint",
		"github.com/tfocol/tfocol/internal/receipts/merkle",
	} {
		if deps := otelDeps(t, pkg); len(deps) > 0 {
			t.Errorf("%s depends on %v", pkg, deps)
		}
	}
}
