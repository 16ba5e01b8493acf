package redactionstatsprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tfocol/tfocol/components/processor/redactionstatsprocessor/internal/metadata"
)

// The summary attributes of the redaction processor become counters and are removed from the data.
func TestLogsCountedAndStripped(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	set := processortest.NewNopSettings(metadata.Type)
	set.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	sink := &consumertest.LogsSink{}
	p, err := NewFactory().CreateLogs(context.Background(), set, &Config{}, sink)
	require.NoError(t, err)

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutInt("redaction.masked.count", 1)
	rl.Resource().Attributes().PutStr("service.name", "web")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Attributes().PutInt("redaction.masked.count", 2)
	lr.Attributes().PutInt("redaction.body.masked.count", 1)
	lr.Attributes().PutInt("redaction.redacted.count", 3)
	lr.Attributes().PutStr("redaction.masked.keys", "a,b")
	lr.Attributes().PutStr("event.name", "HostHeartbeat")
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))

	out := sink.AllLogs()[0].ResourceLogs().At(0)
	assert.Equal(t, 1, out.Resource().Attributes().Len())
	attrs := out.ScopeLogs().At(0).LogRecords().At(0).Attributes()
	assert.Equal(t, 1, attrs.Len(), "only event.name is left")

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != metadata.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				part, _ := dp.Attributes.Value("part")
				sig, _ := dp.Attributes.Value("signal")
				got[m.Name+"/"+sig.AsString()+"/"+part.AsString()] += dp.Value
			}
		}
	}
	assert.Equal(t, map[string]int64{
		"tfocol_redaction_masked/logs/attributes":  3,
		"tfocol_redaction_masked/logs/body":        1,
		"tfocol_redaction_removed/logs/attributes": 3,
	}, got)
}
