package requestcontract

import (
	"errors"
	"strings"

	"github.com/zeebo/blake3"
	"go.opentelemetry.io/collector/client"
)

// MaxIdempotencyKeyLen is the longest Idempotency-Key accepted.
const MaxIdempotencyKeyLen = 255

var errBadIdempotencyKey = errors.New(HeaderIdempotencyKey + " must be 1 to 255 printable ASCII characters")

// ValidIdempotencyKey reports whether k is 1 to 255 printable ASCII characters.
func ValidIdempotencyKey(k string) bool {
	return k != "" && len(k) <= MaxIdempotencyKeyLen && PrintableASCII(k)
}

// IdempotencyKeyHeader returns the Idempotency-Key of the header values, "" when the header is absent. Repeated
// headers must agree and the key must be ValidIdempotencyKey.
func IdempotencyKeyHeader(values []string) (string, error) {
	if len(values) == 0 {
		return "", nil
	}
	v, err := SingleValue(values, HeaderIdempotencyKey)
	if err != nil {
		return "", err
	}
	if !ValidIdempotencyKey(v) {
		return "", errBadIdempotencyKey
	}
	return v, nil
}

// Scope is what an Idempotency-Key deduplicates within: the same key sent for another workspace is another request.
type Scope struct {
	Workspace string // canonical workspace id, "" when the request named none
	Key       string // the Idempotency-Key
}

// ScopeFromMetadata reads the scope of a request from its client metadata, for components behind the workspace
// processor: it has already refused disagreeing repeats and malformed values, so the first value is the value. ok is
// false without a key: nothing was promised.
func ScopeFromMetadata(md client.Metadata) (s Scope, ok bool) {
	s = Scope{Workspace: WorkspaceFromMetadata(md), Key: first(md.Get(HeaderIdempotencyKey))}
	return s, s.Key != ""
}

// WorkspaceFromMetadata is the request's canonical workspace for components behind the workspace processor (which
// has checked it), "" when it named none.
func WorkspaceFromMetadata(md client.Metadata) string {
	return strings.ToLower(first(md.Get(HeaderWorkspaceID)))
}

// LogKey is the 16-byte identity under which the durable log remembers a request of signal in scope s:
// BLAKE3(workspace ‖ 0x00 ‖ key ‖ 0x00 ‖ signal)[:16]. Changing it makes every key already in a log unknown
// (a retry after an upgrade would be written twice).
func (s Scope) LogKey(signal string) (key [16]byte) {
	h := blake3.New()
	_, _ = h.WriteString(s.Workspace)
	_, _ = h.Write([]byte{0})
	_, _ = h.WriteString(s.Key)
	_, _ = h.Write([]byte{0})
	_, _ = h.WriteString(signal)
	copy(key[:], h.Sum(nil))
	return key
}

func first(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return strings.TrimSpace(values[0])
}
