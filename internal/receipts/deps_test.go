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

// A verifier of receipts must be buildable without the collector: ROOT files and Merkle proofs need none of it.
func TestCheckpointAndMerkleDependOnNoOpenTelemetryModule(t *testing.T) {
	for _, pkg := range []string{"github.com/tfocol/tfocol/internal/receipts/checkpoint", "github.com/tfocol/tfocol/internal/receipts/merkle"} {
		if deps := otelDeps(t, pkg); len(deps) > 0 {
			t.Errorf("%s depends on %v", pkg, deps)
		}
	}
}

// The receipts package decodes leaves (OTLP protobuf) with pdata to recount derived facts; nothing else of the
// collector (component, consumer, exporter helpers ...) may creep into the verifier.
func TestReceiptsDependsOnPdataOnly(t *testing.T) {
	for _, p := range otelDeps(t, "github.com/tfocol/tfocol/internal/receipts") {
		if !strings.HasPrefix(p, "go.opentelemetry.io/collector/pdata/") && p != "go.opentelemetry.io/collector/featuregate" {
			t.Errorf("internal/receipts depends on %s", p)
		}
	}
}
