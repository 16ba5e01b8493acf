package requestcontract

import (
	"fmt"
	"strings"
)

// Request headers, spelled as the docs and error messages spell them. Lookups are case-insensitive
// (http.Header and client.Metadata both fold case; gRPC metadata keys are lower case).
const (
	HeaderKeyID          = "X-TelemetryFlow-Key-ID"
	HeaderKeySecret      = "X-TelemetryFlow-Key-Secret"
	HeaderAgentID        = "X-TelemetryFlow-Agent-ID"
	HeaderAuthorization  = "Authorization"
	HeaderWorkspaceID    = "x-workspace-id"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderRequestID      = "x-request-id"
	HeaderTraceparent    = "traceparent"
)

// SingleValue returns the trimmed value of a header sent as values, "" when it is absent. A header sent more than
// once must carry the same value each time: otherwise two components could each pick a different one.
func SingleValue(values []string, name string) (string, error) {
	if len(values) == 0 {
		return "", nil
	}
	v := strings.TrimSpace(values[0])
	for _, other := range values[1:] {
		if strings.TrimSpace(other) != v {
			return "", fmt.Errorf("conflicting %s headers", name)
		}
	}
	return v, nil
}

// PrintableASCII reports whether s holds only the characters 0x20-0x7e.
func PrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
