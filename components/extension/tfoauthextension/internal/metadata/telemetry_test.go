package metadata

import (
	"testing"

	"github.com/tfocol/tfocol/internal/metadatatest"
)

func TestTelemetryMatchesMetadata(t *testing.T) {
	metadatatest.CheckBuilder(t, "../../metadata.yaml", NewTelemetryBuilder)
}
