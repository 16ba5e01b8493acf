package workspaceprocessor

import (
	"testing"

	"go.uber.org/goleak"
)

// Leases renew in goroutines and the storage store sweeps in one: all must end with their request or store.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
