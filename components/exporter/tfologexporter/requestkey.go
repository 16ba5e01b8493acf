package tfologexporter

import (
	"context"
	"strings"

	"github.com/zeebo/blake3"
	"go.opentelemetry.io/collector/client"
)

// Headers the workspace processor scopes Idempotency-Keys by (it has already refused a request whose repeated
// headers disagree or whose key is malformed, so the first value is the value).
const (
	headerWorkspace   = "x-workspace-id"
	headerIdempotency = "idempotency-key"
)

// requestKey is the 16-byte identity of a request sent with an Idempotency-Key:
// BLAKE3(lower(workspace) ‖ 0x00 ‖ key ‖ 0x00 ‖ signal)[:16]. ok is false without a key: nothing was promised.
func requestKey(ctx context.Context, signal string) (key [16]byte, ok bool) {
	md := client.FromContext(ctx).Metadata
	k := first(md.Get(headerIdempotency))
	if k == "" {
		return key, false
	}
	h := blake3.New()
	_, _ = h.WriteString(requestWorkspace(ctx))
	_, _ = h.Write([]byte{0})
	_, _ = h.WriteString(k)
	_, _ = h.Write([]byte{0})
	_, _ = h.WriteString(signal)
	copy(key[:], h.Sum(nil))
	return key, true
}

// requestWorkspace is the request's x-workspace-id (the workspace processor has checked it).
func requestWorkspace(ctx context.Context) string {
	return strings.ToLower(first(client.FromContext(ctx).Metadata.Get(headerWorkspace)))
}

func first(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return strings.TrimSpace(values[0])
}
