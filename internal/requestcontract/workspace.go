package requestcontract

import (
	"errors"

	"github.com/google/uuid"
)

// ErrNotWorkspace is returned for a workspace id that is not a UUID in its 36-character hyphenated form.
var ErrNotWorkspace = errors.New("a workspace id is a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")

// CanonicalWorkspace returns a workspace id in its one canonical spelling: the lower-case 36-character hyphenated
// UUID. Only that form (in any case) is accepted: uuid.Parse also takes urn:uuid:, {…} and bare hex, which would let
// one workspace be spelled several ways and so escape deduplication and per-workspace limits.
func CanonicalWorkspace(s string) (string, error) {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", ErrNotWorkspace
	}
	return id.String(), nil
}

// WorkspaceHeader returns the canonical workspace of the x-workspace-id header values, "" when the header is
// absent. Repeated headers must agree (SingleValue).
func WorkspaceHeader(values []string) (string, error) {
	v, err := SingleValue(values, HeaderWorkspaceID)
	if err != nil || v == "" {
		return "", err
	}
	ws, err := CanonicalWorkspace(v)
	if err != nil {
		return "", errors.New(HeaderWorkspaceID + " must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
	}
	return ws, nil
}
