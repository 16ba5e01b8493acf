package tfologreceiver

import (
	"context"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.yaml.in/yaml/v3"

	"github.com/tfocol/tfocol/components/receiver/tfologreceiver/internal/metadata"
)

// Every metric the receiver records is declared in metadata.yaml with the same name, unit, description and
// attributes.
func TestMetricsMatchMetadata(t *testing.T) {
	var md struct {
		Telemetry struct {
			Metrics map[string]struct {
				Description string   `yaml:"description"`
				Unit        string   `yaml:"unit"`
				Attributes  []string `yaml:"attributes"`
			} `yaml:"metrics"`
		} `yaml:"telemetry"`
	}
	raw, err := os.ReadFile("metadata.yaml")
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, &md))

	// Exercise every metric: a delivery, a retry, a park (permanent), a replay, one undecodable entry.
	dir := t.TempDir()
	l := openLog(t, dir)
	defer l.Close()
	appendLogs(t, l, "ok", "poison")
	_, _, err = l.Append(context.Background(), durablelogRecord(1, []byte{0xff, 0xff}))
	require.NoError(t, err)
	reader := sdkmetric.NewManualReader()
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewIDWithName("tfo_log", "md")
	set.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	cfg := parkConfig("md")
	cfg.Park.Permanent = true
	g := newGate(true, "poison")
	calls := 0
	r, err := NewFactory().CreateLogs(context.Background(), set, cfg, consumerFunc(func(ctx context.Context, ld plog.Logs) error {
		if calls++; calls == 1 {
			return errTransient
		}
		return g.consume(ctx, ld)
	}))
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), host{componenttest.NewNopHost(), l}))
	defer r.Shutdown(context.Background())
	require.Eventually(t, func() bool { return len(parkedIn(t, dir, "md")) == 1 }, 5*time.Second, 5*time.Millisecond)
	g.accept("poison")
	s := openParked(t, dir, "md")
	_, err = s.Replay(nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(g.got()) == 2 }, 5*time.Second, 5*time.Millisecond)

	var rm metricdata.ResourceMetrics
	require.Eventually(t, func() bool {
		require.NoError(t, reader.Collect(context.Background(), &rm))
		n := 0
		for _, sm := range rm.ScopeMetrics {
			n += len(sm.Metrics)
		}
		return n == len(md.Telemetry.Metrics)
	}, 5*time.Second, 50*time.Millisecond, "every declared metric recorded")
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			want, ok := md.Telemetry.Metrics[m.Name]
			require.True(t, ok, "%s is not declared in metadata.yaml", m.Name)
			assert.Equal(t, want.Description, m.Description, m.Name)
			assert.Equal(t, want.Unit, m.Unit, m.Name)
			got := attrKeys(m.Data)
			sort.Strings(want.Attributes)
			assert.Equal(t, want.Attributes, got, "%s attributes", m.Name)
		}
	}
}

func attrKeys(data metricdata.Aggregation) []string {
	keys := map[string]bool{}
	add := func(s attribute.Set) {
		for _, kv := range s.ToSlice() {
			keys[string(kv.Key)] = true
		}
	}
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	}
	out := []string{}
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
