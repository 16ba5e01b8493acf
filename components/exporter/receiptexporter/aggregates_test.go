package receiptexporter

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/tfocol/tfocol/internal/receipts"
)

// hostMetrics is a scrape of an agent's hostmetrics receiver after resourcedetection: host.name on the resource,
// no service.name; cpu utilization per state.
func hostMetrics(host string, at time.Time, user, idle float64, memUsed float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("tfo.workspace.id", "ws")
	rm.Resource().Attributes().PutStr("host.name", host)
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	cpu := ms.AppendEmpty()
	cpu.SetName("system.cpu.utilization")
	g := cpu.SetEmptyGauge()
	for state, v := range map[string]float64{"user": user, "idle": idle} {
		dp := g.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
		dp.Attributes().PutStr("state", state)
		dp.SetDoubleValue(v)
	}
	mem := ms.AppendEmpty()
	mem.SetName("system.memory.utilization")
	dp := mem.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
	dp.Attributes().PutStr("state", "used")
	dp.SetDoubleValue(memUsed)
	return md
}

func TestMetricSnapshotAggregatesAndReportingHosts(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: base.Add(time.Second)}
	lg := newTestLog(clock)
	cfg := testConfig(dir)
	cfg.Aggregates = []AggregateConfig{
		{Name: "cpu_user", Metric: "system.cpu.utilization", Attributes: map[string]string{"state": "user"}},
		{Name: "memory_used", Metric: "system.memory.utilization", Attributes: map[string]string{"state": "used"}},
		{Name: "disk_io", Metric: "system.disk.io"},
	}
	e := startExporter(t, cfg, clock)
	require.NoError(t, lg.metrics(e, hostMetrics("brick-01", base, 0.25, 0.7, 0.5)))
	require.NoError(t, lg.metrics(e, hostMetrics("brick-02", base.Add(time.Second), 0.75, 0.2, 0.6)))
	require.NoError(t, lg.metrics(e, hostMetrics("brick-01", base.Add(2*time.Second), 0.1, 0.9, 0.4)))
	clock.Set(base.Add(2 * time.Minute))
	rs := waitReceipts(t, filepath.Join(dir, "ws"), 1)
	r := rs[0]
	require.Equal(t, receipts.TypeMetricSnapshot, r.Type)
	require.Equal(t, []string{"brick-01", "brick-02"}, r.NodesReporting)
	require.Empty(t, r.ServicesReporting, "host metrics name a host, not a service")
	cpu := r.Aggregates["cpu_user"]
	require.Equal(t, uint64(3), cpu.Points)
	require.Equal(t, "0.366667", cpu.Avg.String())
	require.Equal(t, "0.1", cpu.Min.String())
	require.Equal(t, "0.75", cpu.Max.String())
	require.Equal(t, "0.5", r.Aggregates["memory_used"].Avg.String())
	require.Equal(t, uint64(0), r.Aggregates["disk_io"].Points)
	require.Nil(t, r.Aggregates["disk_io"].Avg)
	require.NoError(t, e.shutdown(context.Background()))
	verifyAll(t, dir)
}
