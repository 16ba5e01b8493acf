package redactionstatsprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tfocol/tfocol/components/processor/redactionstatsprocessor/internal/metadata"
	"github.com/tfocol/tfocol/internal/metadatatest"
)

// The metrics the processor creates and measures with are those metadata.yaml declares.
func TestTelemetryMatchesMetadata(t *testing.T) {
	ld := plog.NewLogs()
	attrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Attributes()
	attrs.PutInt("redaction.masked.count", 1)
	attrs.PutInt("redaction.redacted.count", 1)
	mp := metadatatest.NewProvider()
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = mp.TelemetrySettings()
	p, err := NewFactory().CreateLogs(context.Background(), set, &Config{}, &consumertest.LogsSink{})
	require.NoError(t, err)
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))

	metadatatest.Check(t, "metadata.yaml", mp)
}
