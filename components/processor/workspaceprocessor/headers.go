package workspaceprocessor

import (
	"encoding/hex"
	"strings"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/principal"
)

// Signal names, as principals scope them.
const (
	signalTraces  = principal.SignalTraces
	signalMetrics = principal.SignalMetrics
	signalLogs    = principal.SignalLogs
)

const (
	maxIdempotencyKeyLen = 255
	maxRequestIDLen      = 128
)

// parseWorkspace returns the canonical (lowercase, hyphenated) workspace UUID from the header
// values, "" when the header is absent, or an InvalidArgument error.
func parseWorkspace(values []string) (string, error) {
	v, err := singleValue(values, headerWorkspace)
	if err != nil || v == "" {
		return "", err
	}
	// Only the 36-character hyphenated form: uuid.Parse also takes urn:uuid:, {…} and bare hex,
	// which would let one workspace be spelled several ways.
	id, perr := uuid.Parse(v)
	if perr != nil || len(v) != 36 {
		return "", status.Error(codes.InvalidArgument, "x-workspace-id must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
	}
	return id.String(), nil
}

// parseIdempotencyKey returns the Idempotency-Key, "" when absent, or an InvalidArgument error
// unless it is 1–255 printable ASCII characters.
func parseIdempotencyKey(values []string) (string, error) {
	if len(values) == 0 {
		return "", nil
	}
	v, err := singleValue(values, "Idempotency-Key")
	if err != nil {
		return "", err
	}
	if v == "" || len(v) > maxIdempotencyKeyLen || !printableASCII(v) {
		return "", status.Error(codes.InvalidArgument, "Idempotency-Key must be 1 to 255 printable ASCII characters")
	}
	return v, nil
}

// singleValue returns the header's value; repeated headers must agree.
func singleValue(values []string, name string) (string, error) {
	if len(values) == 0 {
		return "", nil
	}
	v := strings.TrimSpace(values[0])
	for _, other := range values[1:] {
		if strings.TrimSpace(other) != v {
			return "", status.Errorf(codes.InvalidArgument, "conflicting %s headers", name)
		}
	}
	return v, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// correlationID picks the id that follows the request through the pipelines:
//  1. the x-request-id header, when it is 1–128 printable ASCII characters;
//  2. else the trace id of a valid W3C traceparent header (32 lowercase hex digits);
//  3. else a newly generated random UUID.
func correlationID(md client.Metadata, generate func() string) string {
	if v, err := singleValue(md.Get(headerRequestID), headerRequestID); err == nil && v != "" &&
		len(v) <= maxRequestIDLen && printableASCII(v) {
		return v
	}
	if values := md.Get(headerTraceparent); len(values) > 0 {
		if id, ok := traceIDFromTraceparent(strings.TrimSpace(values[0])); ok {
			return id
		}
	}
	return generate()
}

// traceIDFromTraceparent extracts the trace id of a W3C traceparent: version-traceid-parentid-flags.
func traceIDFromTraceparent(tp string) (string, bool) {
	parts := strings.Split(tp, "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" || len(parts[1]) != 32 ||
		len(parts[2]) != 16 || len(parts[3]) != 2 {
		return "", false
	}
	if parts[0] == "00" && len(parts) != 4 {
		return "", false
	}
	for _, p := range parts[:4] {
		if !lowerHex(p) {
			return "", false
		}
	}
	if parts[1] == strings.Repeat("0", 32) || parts[2] == strings.Repeat("0", 16) {
		return "", false
	}
	return parts[1], true
}

func lowerHex(s string) bool {
	if _, err := hex.DecodeString(s); err != nil {
		return false
	}
	return strings.ToLower(s) == s
}
