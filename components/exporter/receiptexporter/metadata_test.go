package receiptexporter

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.yaml.in/yaml/v3"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
)

// Every instrument the code creates is declared in metadata.yaml with the same name, description and unit, and
// every declared metric is created.
func TestMetadataDeclaresEveryMetric(t *testing.T) {
	raw, err := os.ReadFile("metadata.yaml")
	require.NoError(t, err)
	var md struct {
		Telemetry struct {
			Metrics map[string]struct {
				Description string `yaml:"description"`
				Unit        string `yaml:"unit"`
			} `yaml:"metrics"`
		} `yaml:"telemetry"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &md))

	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(t.Context())) }()
	tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	ctx := t.Context()
	// Record once on each instrument so the reader reports it.
	tb.ReceiptRecordsAccepted.Add(ctx, 1)
	tb.ReceiptWindowsSealed.Add(ctx, 1)
	tb.ReceiptSealDuration.Record(ctx, 1)
	tb.ReceiptTracesEarly.Add(ctx, 1)
	tb.ReceiptDirectoryBytes.Record(ctx, 1)
	tb.ReceiptBatchFilesRemoved.Add(ctx, 1)

	require.Len(t, md.Telemetry.Metrics, 6, "a metric declared but not created, or created but not recorded above")
	for name, want := range md.Telemetry.Metrics {
		m, err := tel.GetMetric(name)
		require.NoError(t, err, name)
		require.Equal(t, want.Description, m.Description, name)
		require.Equal(t, want.Unit, m.Unit, name)
	}
}
