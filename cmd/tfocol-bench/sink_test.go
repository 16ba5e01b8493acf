package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"

	"github.com/tfocol/tfocol/internal/e2etest"
)

// Every metric type's data points are counted, as pdata counts them.
func TestCountMetricPoints(t *testing.T) {
	md := pmetric.NewMetrics()
	for r := range 2 {
		sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
		m := sm.Metrics()
		m.AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty()
		sum := m.AppendEmpty().SetEmptySum()
		for range 3 + r {
			sum.DataPoints().AppendEmpty().SetIntValue(7)
		}
		m.AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty().BucketCounts().FromRaw([]uint64{1, 2})
		eh := m.AppendEmpty().SetEmptyExponentialHistogram()
		eh.DataPoints().AppendEmpty()
		eh.DataPoints().AppendEmpty()
		m.AppendEmpty().SetEmptySummary().DataPoints().AppendEmpty().QuantileValues().AppendEmpty()
		m.AppendEmpty().SetName("no data") // a metric without data
	}
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	n, err := countItems(metrics, body)
	require.NoError(t, err)
	assert.Equal(t, md.DataPointCount(), n)
	assert.Equal(t, 2*(1+3+1+2+1)+1, n)
}

func TestCountLogsAndSpans(t *testing.T) {
	ld := e2etest.GenLogs(37, map[string]string{"service.name": "a"})
	e2etest.GenLogs(5, nil).ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	n, err := countItems(logs, body)
	require.NoError(t, err)
	assert.Equal(t, 42, n)

	body, err = ptraceotlp.NewExportRequestFromTraces(e2etest.GenTraces(23, nil)).MarshalProto()
	require.NoError(t, err)
	n, err = countItems(traces, body)
	require.NoError(t, err)
	assert.Equal(t, 23, n)

	_, err = countItems(logs, []byte{0x0a, 0x05, 0x01}) // length 5, 1 byte
	assert.Error(t, err, "truncated request")
}

// The generated payloads hold the items they claim; logs mix plain records and event records, each
// event with its own event.id.
func TestBuildRequests(t *testing.T) {
	spec := payloadSpec{Items: 100, Distinct: 3, EventShare: 0.2, FixturesDir: "../../testdata/events"}
	for sig := range numSignals {
		bodies, err := buildRequests(sig, spec)
		require.NoError(t, err, sig)
		require.Len(t, bodies, 3)
		for _, b := range bodies {
			n, err := countItems(sig, b)
			require.NoError(t, err)
			assert.Equal(t, 100, n, sig)
		}
	}

	bodies, err := buildRequests(logs, spec)
	require.NoError(t, err)
	ids := map[string]bool{}
	events := 0
	for _, b := range bodies {
		req := plogotlp.NewExportRequest()
		require.NoError(t, req.UnmarshalProto(b))
		rls := req.Logs().ResourceLogs()
		for i := range rls.Len() {
			lrs := rls.At(i).ScopeLogs().At(0).LogRecords()
			for j := range lrs.Len() {
				lr := lrs.At(j)
				id, isEvent := lr.Attributes().Get("event.id")
				if !isEvent {
					assert.NotEmpty(t, lr.Body().Str(), "plain log with a message")
					continue
				}
				events++
				ids[id.Str()] = true
				assert.Equal(t, plog.SeverityNumberInfo, lr.SeverityNumber())
			}
		}
	}
	assert.Equal(t, 3*20, events)
	assert.Len(t, ids, events, "event ids are unique")
}

// Event records are mostly heartbeats, some compliance reports and rare failures.
func TestEventMix(t *testing.T) {
	bodies, err := buildRequests(logs, payloadSpec{Items: 100, Distinct: 50, EventShare: 0.2, FixturesDir: "../../testdata/events"})
	require.NoError(t, err)
	types := map[string]int{}
	for _, b := range bodies {
		req := plogotlp.NewExportRequest()
		require.NoError(t, req.UnmarshalProto(b))
		lrs := req.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for j := range lrs.Len() {
			name := lrs.At(j).EventName()
			if name == "" {
				v, _ := lrs.At(j).Attributes().Get("event.name")
				name = v.Str()
			}
			types[name]++
		}
	}
	assert.Equal(t, 1000, types["HostHeartbeat"]+types["PatchCompliance"]+types["BackupFailure"]+
		types["ServiceDegraded"]+types["PipelineFailure"], "every event record has a known type: %v", types)
	assert.InDelta(t, 900, types["HostHeartbeat"], 40, "%v", types)
	assert.InDelta(t, 80, types["PatchCompliance"], 30, "%v", types)
	failures := types["BackupFailure"] + types["ServiceDegraded"] + types["PipelineFailure"]
	assert.Positive(t, failures, "%v", types)
	assert.Less(t, failures, 50, "%v", types)
}

// The counting sink counts what a real OTLP client (pdata's gRPC client, gzip as the otlp exporter
// sends it) exports, and the generator's raw requests reach it with their Idempotency-Key.
func TestCountingSinkAndGenerator(t *testing.T) {
	sink, err := startCountingSink()
	require.NoError(t, err)
	defer sink.Stop()

	cc, err := grpc.NewClient(sink.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = ptraceotlp.NewGRPCClient(cc).Export(ctx, ptraceotlp.NewExportRequestFromTraces(e2etest.GenTraces(17, nil)),
		grpc.UseCompressor(gzip.Name))
	require.NoError(t, err)
	assert.Equal(t, int64(17), sink.Items(traces))

	bodies, err := buildRequests(logs, payloadSpec{Items: 10, Distinct: 2})
	require.NoError(t, err)
	g, err := startGenerator(sink.Addr, loadSpec{Signal: logs, Items: 10, Workers: 2, Conns: 1}, bodies)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return sink.Items(logs) >= 1000 }, 10*time.Second, 10*time.Millisecond)
	g.Stop()
	failed, _ := g.Failures()
	assert.Zero(t, failed)
	// Requests cancelled by Stop may have reached the sink without their answer reaching the generator.
	assert.LessOrEqual(t, g.Acked(), sink.Items(logs))
	assert.LessOrEqual(t, sink.Items(logs)-g.Acked(), int64(2*10))
}
