package tfostatusextension

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/metadatatest"
)

// The metrics the extension creates and measures with are those metadata.yaml declares.
func TestTelemetryMatchesMetadata(t *testing.T) {
	mp := metadatatest.NewProvider()
	tel, err := newTelemetry(mp.TelemetrySettings(), &statusExtension{})
	require.NoError(t, err)
	t.Cleanup(tel.close)
	tel.answered("/status")(200)
	tel.snapshot(errors.New("disk full"))

	metadatatest.Check(t, "metadata.yaml", mp)
}
