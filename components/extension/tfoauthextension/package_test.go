package tfoauthextension

import (
	"testing"

	"go.uber.org/goleak"
)

// The file watcher runs a goroutine per extension; Shutdown must stop it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
