package workspaceprocessor

import (
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/collector/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/principal"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// Signal names, as principals scope them.
const (
	signalTraces  = principal.SignalTraces
	signalMetrics = principal.SignalMetrics
	signalLogs    = principal.SignalLogs
)

// maxRequestIDLen bounds the x-request-id taken as the correlation id.
const maxRequestIDLen = 128

// parseWorkspace returns the canonical workspace of the x-workspace-id values (requestcontract.WorkspaceHeader),
// "" when the header is absent, or an InvalidArgument error.
func parseWorkspace(values []string) (string, error) {
	ws, err := requestcontract.WorkspaceHeader(values)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, err.Error())
	}
	return ws, nil
}

// parseIdempotencyKey returns the Idempotency-Key (requestcontract.IdempotencyKeyHeader), "" when absent, or an
// InvalidArgument error.
func parseIdempotencyKey(values []string) (string, error) {
	k, err := requestcontract.IdempotencyKeyHeader(values)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, err.Error())
	}
	return k, nil
}

// correlationID picks the id that follows the request through the pipelines:
//  1. the x-request-id header, when it is 1–128 printable ASCII characters;
//  2. else the trace id of a valid W3C traceparent header (32 lowercase hex digits);
//  3. else a newly generated random UUID.
func correlationID(md client.Metadata, generate func() string) string {
	if v, err := requestcontract.SingleValue(md.Get(requestcontract.HeaderRequestID), requestcontract.HeaderRequestID); err == nil &&
		v != "" && len(v) <= maxRequestIDLen && requestcontract.PrintableASCII(v) {
		return v
	}
	if values := md.Get(requestcontract.HeaderTraceparent); len(values) > 0 {
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
