package main

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
)

// signal is one OTLP signal type.
type signal int

const (
	logs signal = iota
	traces
	metrics
	numSignals
)

func (s signal) String() string {
	return [...]string{"logs", "traces", "metrics"}[s]
}

func (s signal) method() string {
	return [...]string{methodLogs, methodTraces, methodMetrics}[s]
}

func parseSignal(name string) (signal, error) {
	for s := range numSignals {
		if s.String() == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown signal %q (want logs, traces or metrics)", name)
}

// payloadSpec says what the generated requests hold.
type payloadSpec struct {
	Items       int     // items per request
	Distinct    int     // distinct requests per signal; the generator cycles through them
	EventShare  float64 // share of log records that are event records (the rest are plain logs)
	FixturesDir string  // testdata/events: valid event examples per event type
}

// buildRequests returns Distinct pre-marshaled OTLP export requests of the signal, Items items each.
func buildRequests(sig signal, spec payloadSpec) ([][]byte, error) {
	var events *eventMix
	if sig == logs && spec.EventShare > 0 {
		var err error
		if events, err = validEvents(spec.FixturesDir); err != nil {
			return nil, err
		}
	}
	rng := rand.New(rand.NewPCG(uint64(sig)+1, 42))
	out := make([][]byte, spec.Distinct)
	for i := range out {
		var (
			body []byte
			err  error
		)
		switch sig {
		case logs:
			ld, lerr := genLogs(rng, spec, events)
			if lerr != nil {
				return nil, lerr
			}
			body, err = plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		case traces:
			body, err = ptraceotlp.NewExportRequestFromTraces(genTraces(rng, spec.Items)).MarshalProto()
		case metrics:
			body, err = pmetricotlp.NewExportRequestFromMetrics(genMetrics(rng, spec.Items)).MarshalProto()
		}
		if err != nil {
			return nil, err
		}
		n, err := countItems(sig, body)
		if err != nil || n != spec.Items {
			return nil, fmt.Errorf("generated %s request holds %d items (%v), want %d", sig, n, err, spec.Items)
		}
		out[i] = body
	}
	return out, nil
}

// eventShares is how often each event type occurs among event records: mostly heartbeats (one per
// host and interval), some compliance reports, rare failures. Types not listed share failureShare.
var eventShares = map[string]float64{"HostHeartbeat": 0.90, "PatchCompliance": 0.08}

const failureShare = 0.02

// eventMix picks event examples with the eventShares of their types.
type eventMix struct {
	types  []string
	cum    []float64 // cumulative share per type
	byType map[string][]eventtest.Fixture
}

func (m *eventMix) pick(rng *rand.Rand) eventtest.Fixture {
	x := rng.Float64() * m.cum[len(m.cum)-1]
	i := 0
	for i < len(m.cum)-1 && x >= m.cum[i] {
		i++
	}
	fxs := m.byType[m.types[i]]
	return fxs[rng.IntN(len(fxs))]
}

// validEvents loads the event examples the router must accept (every type's valid*.json).
func validEvents(dir string) (*eventMix, error) {
	all, err := eventtest.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("event fixtures: %w", err)
	}
	m := &eventMix{byType: map[string][]eventtest.Fixture{}}
	for _, fx := range all {
		typ := fx.EventType()
		if fx.Expect.Outcome == "routed" && strings.HasPrefix(filepath.Base(fx.File), "valid") {
			if m.byType[typ] == nil {
				m.types = append(m.types, typ)
			}
			m.byType[typ] = append(m.byType[typ], fx)
		}
	}
	if len(m.types) == 0 {
		return nil, fmt.Errorf("no valid event fixtures under %s", dir)
	}
	others := 0
	for _, typ := range m.types {
		if _, ok := eventShares[typ]; !ok {
			others++
		}
	}
	total := 0.0
	for _, typ := range m.types {
		share, ok := eventShares[typ]
		if !ok {
			share = failureShare / float64(others)
		}
		total += share
		m.cum = append(m.cum, total)
	}
	return m, nil
}

var (
	services = []string{"checkout", "payments", "inventory", "frontend", "search"}
	routes   = []string{"GET /api/orders/{id}", "POST /api/orders", "GET /api/cart", "POST /api/pay",
		"GET /api/items", "GET /healthz", "PUT /api/cart/{id}", "DELETE /api/cart/{id}"}
	levels = []struct {
		num  plog.SeverityNumber
		text string
	}{{plog.SeverityNumberInfo, "INFO"}, {plog.SeverityNumberInfo, "INFO"}, {plog.SeverityNumberInfo, "INFO"},
		{plog.SeverityNumberWarn, "WARN"}, {plog.SeverityNumberError, "ERROR"}}
)

func putResource(res pcommon.Resource, service string, host int) {
	a := res.Attributes()
	a.PutStr("service.name", service)
	a.PutStr("service.version", "2.14.1")
	a.PutStr("deployment.environment.name", "production")
	a.PutStr("host.name", "prod-server-"+strconv.Itoa(host))
	a.PutStr("telemetry.sdk.language", "go")
	a.PutStr("telemetry.sdk.name", "opentelemetry")
	a.PutStr("telemetry.sdk.version", "1.42.0")
}

func randomID(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// genLogs builds one request: event records as a TelemetryFlow agent sends them (each with a fresh
// event.id) in one resource, plain application logs in another.
func genLogs(rng *rand.Rand, spec payloadSpec, events *eventMix) (plog.Logs, error) {
	ld := plog.NewLogs()
	now := pcommon.NewTimestampFromTime(time.Now())
	nEvents := int(float64(spec.Items)*spec.EventShare + 0.5)
	if nEvents > 0 {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "tfo-agent")
		rl.Resource().Attributes().PutStr("host.name", "prod-server-01")
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("github.com/telemetryflow/tfo-agent/events")
		for range nEvents {
			lr := sl.LogRecords().AppendEmpty()
			if err := events.pick(rng).CopyTo(lr); err != nil {
				return plog.Logs{}, err
			}
			lr.Attributes().PutStr("event.id", uuid.Must(uuid.NewRandomFromReader(rngReader{rng})).String())
			lr.SetTimestamp(now)
			lr.SetObservedTimestamp(now)
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
		}
	}
	rl := ld.ResourceLogs().AppendEmpty()
	putResource(rl.Resource(), services[rng.IntN(len(services))], 1+rng.IntN(20))
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("app/http")
	for range spec.Items - nEvents {
		lr := sl.LogRecords().AppendEmpty()
		lvl := levels[rng.IntN(len(levels))]
		route := routes[rng.IntN(len(routes))]
		code := []int64{200, 200, 200, 201, 404, 500}[rng.IntN(6)]
		ms := 1 + rng.IntN(250)
		lr.SetTimestamp(now)
		lr.SetObservedTimestamp(now)
		lr.SetSeverityNumber(lvl.num)
		lr.SetSeverityText(lvl.text)
		lr.Body().SetStr(fmt.Sprintf("%s completed status=%d duration=%dms user=u-%05d", route, code, ms, rng.IntN(100000)))
		var tid pcommon.TraceID
		var sid pcommon.SpanID
		randomID(rng, tid[:])
		randomID(rng, sid[:])
		lr.SetTraceID(tid)
		lr.SetSpanID(sid)
		a := lr.Attributes()
		a.PutStr("http.request.method", strings.Fields(route)[0])
		a.PutStr("http.route", strings.Fields(route)[1])
		a.PutInt("http.response.status_code", code)
		a.PutDouble("duration_ms", float64(ms))
		a.PutStr("user.id", fmt.Sprintf("u-%05d", rng.IntN(100000)))
		a.PutStr("code.function", "handler.ServeHTTP")
	}
	return ld, nil
}

// genTraces builds one request of n spans: traces of 10 spans (a server span and its children).
func genTraces(rng *rand.Rand, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	putResource(rs.Resource(), services[rng.IntN(len(services))], 1+rng.IntN(20))
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
	ss.Scope().SetVersion("0.60.0")
	end := time.Now()
	var tid pcommon.TraceID
	var root pcommon.SpanID
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		var sid pcommon.SpanID
		randomID(rng, sid[:])
		route := routes[rng.IntN(len(routes))]
		if i%10 == 0 {
			randomID(rng, tid[:])
			root = sid
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetName(route)
		} else {
			sp.SetParentSpanID(root)
			sp.SetKind([]ptrace.SpanKind{ptrace.SpanKindClient, ptrace.SpanKindInternal}[rng.IntN(2)])
			sp.SetName([]string{"SELECT orders", "redis GET", "POST /charge", "render"}[rng.IntN(4)])
		}
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		d := time.Duration(1+rng.IntN(200)) * time.Millisecond
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-d)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		a := sp.Attributes()
		a.PutStr("http.request.method", strings.Fields(route)[0])
		a.PutStr("http.route", strings.Fields(route)[1])
		a.PutInt("http.response.status_code", 200)
		a.PutStr("server.address", "api.internal")
		a.PutInt("server.port", 8080)
		a.PutStr("network.protocol.version", "1.1")
		if rng.IntN(50) == 0 {
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage("upstream timeout")
		}
	}
	return td
}

// genMetrics builds one request of n data points spread over gauges, cumulative sums and
// histograms, 10 points (attribute sets) per metric.
func genMetrics(rng *rand.Rand, n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	putResource(rm.Resource(), services[rng.IntN(len(services))], 1+rng.IntN(20))
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/runtime")
	now := pcommon.NewTimestampFromTime(time.Now())
	start := pcommon.NewTimestampFromTime(time.Now().Add(-time.Hour))
	const perMetric = 10
	for m := 0; m*perMetric < n; m++ {
		met := sm.Metrics().AppendEmpty()
		points := min(perMetric, n-m*perMetric)
		attrs := func(a pcommon.Map, p int) {
			a.PutStr("http.route", strings.Fields(routes[p%len(routes)])[1])
			a.PutInt("http.response.status_code", []int64{200, 404, 500}[p%3])
		}
		switch m % 5 {
		case 0, 1: // gauges
			met.SetName("process.runtime.go.mem.heap_alloc." + strconv.Itoa(m))
			met.SetUnit("By")
			g := met.SetEmptyGauge()
			for p := range points {
				dp := g.DataPoints().AppendEmpty()
				dp.SetTimestamp(now)
				dp.SetDoubleValue(rng.Float64() * 1e8)
				attrs(dp.Attributes(), p)
			}
		case 2, 3: // cumulative monotonic sums
			met.SetName("http.server.requests." + strconv.Itoa(m))
			met.SetUnit("{request}")
			s := met.SetEmptySum()
			s.SetIsMonotonic(true)
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for p := range points {
				dp := s.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(start)
				dp.SetTimestamp(now)
				dp.SetIntValue(rng.Int64N(1e6))
				attrs(dp.Attributes(), p)
			}
		default: // histograms
			met.SetName("http.server.request.duration." + strconv.Itoa(m))
			met.SetUnit("s")
			h := met.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
			for p := range points {
				dp := h.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(start)
				dp.SetTimestamp(now)
				dp.ExplicitBounds().FromRaw(bounds)
				var count uint64
				buckets := make([]uint64, len(bounds)+1)
				for b := range buckets {
					buckets[b] = uint64(rng.IntN(1000))
					count += buckets[b]
				}
				dp.BucketCounts().FromRaw(buckets)
				dp.SetCount(count)
				dp.SetSum(float64(count) * 0.08)
				attrs(dp.Attributes(), p)
			}
		}
	}
	return md
}

// rngReader adapts a seeded generator to io.Reader, so event ids are reproducible UUIDv4s.
type rngReader struct{ r *rand.Rand }

func (r rngReader) Read(p []byte) (int, error) {
	randomID(r.r, p)
	return len(p), nil
}
