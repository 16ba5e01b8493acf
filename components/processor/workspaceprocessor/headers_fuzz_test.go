package workspaceprocessor

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/requestcontract"
)

// FuzzRequestHeaders: whatever a client puts in x-workspace-id, Idempotency-Key, x-request-id and traceparent,
// the header parsing never panics, refuses with InvalidArgument only, and what it accepts is well formed
// (surrounding whitespace is trimmed, as HTTP does, so a key is the same over HTTP and gRPC).
func FuzzRequestHeaders(f *testing.F) {
	f.Add("8c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f", "batch-0001", "req-1", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("{8c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f}", "k\x00ey", "", "00-zz-00-01")
	f.Add("urn:uuid:8c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f", strings.Repeat("k", 256), "\xff", "ff-00000000000000000000000000000000-0000000000000000-01")
	f.Fuzz(func(t *testing.T, workspace, key, requestID, traceparent string) {
		ws, err := parseWorkspace([]string{workspace})
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("workspace %q: %v is not InvalidArgument", workspace, err)
			}
		} else if ws != "" {
			if _, perr := uuid.Parse(ws); perr != nil || ws != strings.ToLower(ws) || len(ws) != 36 {
				t.Fatalf("workspace %q accepted as non-canonical %q", workspace, ws)
			}
		}

		k, err := parseIdempotencyKey([]string{key})
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("key %q: %v is not InvalidArgument", key, err)
			}
		} else if k != strings.TrimSpace(key) || len(k) == 0 || len(k) > requestcontract.MaxIdempotencyKeyLen || !requestcontract.PrintableASCII(k) {
			t.Fatalf("key %q accepted as %q", key, k)
		}

		md := client.NewMetadata(map[string][]string{requestcontract.HeaderRequestID: {requestID}, requestcontract.HeaderTraceparent: {traceparent}})
		if id := correlationID(md, func() string { return "generated" }); id == "" {
			t.Fatal("empty correlation id")
		}
	})
}
