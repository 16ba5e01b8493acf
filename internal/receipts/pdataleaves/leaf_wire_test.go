package pdataleaves

import (
	"github.com/tfocol/tfocol/internal/receipts"

	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

const testWSAttr = "tfo.workspace.id"

// gen builds varied random requests: several resources and scopes, empty and missing parts, every value type,
// schema urls set or not, unicode, all metric types with exemplars and metadata.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }
func (g *gen) n(max int) int         { return g.r.IntN(max + 1) }

var strPool = []string{"", "a", "svc", "checkout", "日本語のログ", "émoji 🚀 ok", "tab\tnewline\n", "ws-1", "ws-2",
	"\x00nul", "https://opentelemetry.io/schemas/1.26.0", "long-" + string(bytes.Repeat([]byte("x"), 300))}

func (g *gen) str() string {
	if g.chance(0.2) {
		return fmt.Sprintf("s-%d-%s", g.r.IntN(1000), strPool[g.r.IntN(len(strPool))])
	}
	return strPool[g.r.IntN(len(strPool))]
}

func (g *gen) ts() pcommon.Timestamp {
	switch g.n(3) {
	case 0:
		return 0
	case 1:
		return pcommon.Timestamp(g.r.Uint64())
	default:
		return pcommon.Timestamp(1_765_000_000_000_000_000 + g.r.Int64N(1e12))
	}
}

func (g *gen) float() float64 {
	switch g.n(5) {
	case 0:
		return 0
	case 1:
		return math.NaN()
	case 2:
		return math.Inf(-1)
	case 3:
		return math.Copysign(0, -1) // negative zero
	default:
		return g.r.NormFloat64() * 1e6
	}
}

func (g *gen) value(v pcommon.Value, depth int) {
	k := g.n(8)
	if depth > 2 && k >= 6 {
		k = 0
	}
	switch k {
	case 0:
		v.SetStr(g.str())
	case 1:
		v.SetInt(g.r.Int64() >> g.n(63))
	case 2:
		v.SetDouble(g.float())
	case 3:
		v.SetBool(g.chance(0.5))
	case 4:
		b := make([]byte, g.n(20))
		for i := range b {
			b[i] = byte(g.r.IntN(256))
		}
		v.SetEmptyBytes().FromRaw(b)
	case 5:
		// leave empty (an AnyValue with no value)
	case 6:
		g.attrs(v.SetEmptyMap(), depth+1)
	default:
		s := v.SetEmptySlice()
		for i := g.n(3); i > 0; i-- {
			g.value(s.AppendEmpty(), depth+1)
		}
	}
}

func (g *gen) attrs(m pcommon.Map, depth int) {
	for i := g.n(4); i > 0; i-- {
		g.value(m.PutEmpty(fmt.Sprintf("%s.%d", g.str(), i)), depth)
	}
}

func (g *gen) resource(res pcommon.Resource) {
	a := res.Attributes()
	if g.chance(0.6) {
		a.PutStr(testWSAttr, strPool[7+g.n(1)])
	}
	if g.chance(0.6) {
		a.PutStr("service.name", g.str())
	}
	if g.chance(0.4) {
		a.PutStr("host.name", g.str())
	}
	if g.chance(0.1) {
		a.PutInt("service.name", 7) // non-string facts are read with AsString
	}
	if g.chance(0.5) {
		g.attrs(a, 0)
	}
	if g.chance(0.2) {
		res.SetDroppedAttributesCount(uint32(g.n(5)))
	}
}

func (g *gen) scope(s pcommon.InstrumentationScope) {
	if g.chance(0.7) {
		s.SetName(g.str())
	}
	if g.chance(0.4) {
		s.SetVersion(g.str())
	}
	if g.chance(0.3) {
		g.attrs(s.Attributes(), 0)
	}
	if g.chance(0.1) {
		s.SetDroppedAttributesCount(uint32(g.n(3)))
	}
}

func (g *gen) schema() string {
	if g.chance(0.5) {
		return ""
	}
	return g.str()
}

func (g *gen) traceID(pool int) pcommon.TraceID {
	if g.chance(0.1) {
		return pcommon.TraceID{}
	}
	return pcommon.TraceID{byte(g.r.IntN(pool)), 0xaa, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
}

func (g *gen) spanID() pcommon.SpanID {
	if g.chance(0.2) {
		return pcommon.SpanID{}
	}
	var s pcommon.SpanID
	for i := range s {
		s[i] = byte(g.r.IntN(256))
	}
	return s
}

func (g *gen) logs() plog.Logs {
	ld := plog.NewLogs()
	for i := g.n(3); i > 0; i-- {
		rl := ld.ResourceLogs().AppendEmpty()
		g.resource(rl.Resource())
		rl.SetSchemaUrl(g.schema())
		for j := g.n(3); j > 0; j-- {
			sl := rl.ScopeLogs().AppendEmpty()
			g.scope(sl.Scope())
			sl.SetSchemaUrl(g.schema())
			for k := g.n(5); k > 0; k-- {
				lr := sl.LogRecords().AppendEmpty()
				if g.chance(0.1) {
					continue // an empty record
				}
				lr.SetTimestamp(g.ts())
				lr.SetObservedTimestamp(g.ts())
				lr.SetSeverityNumber(plog.SeverityNumber(g.n(24)))
				if g.chance(0.5) {
					lr.SetSeverityText(g.str())
				}
				if g.chance(0.8) {
					g.value(lr.Body(), 0)
				}
				g.attrs(lr.Attributes(), 0)
				if g.chance(0.2) {
					lr.Attributes().PutStr("event.name", g.str())
				}
				if g.chance(0.2) {
					lr.SetEventName(g.str())
				}
				if g.chance(0.1) {
					lr.SetDroppedAttributesCount(uint32(g.n(9)))
				}
				if g.chance(0.3) {
					lr.SetFlags(plog.LogRecordFlags(g.r.Uint32()))
				}
				if g.chance(0.5) {
					lr.SetTraceID(g.traceID(50))
					lr.SetSpanID(g.spanID())
				}
			}
		}
	}
	return ld
}

func (g *gen) traces(tracePool int) ptrace.Traces {
	td := ptrace.NewTraces()
	for i := g.n(3); i > 0; i-- {
		rs := td.ResourceSpans().AppendEmpty()
		g.resource(rs.Resource())
		rs.SetSchemaUrl(g.schema())
		for j := g.n(3); j > 0; j-- {
			ss := rs.ScopeSpans().AppendEmpty()
			g.scope(ss.Scope())
			ss.SetSchemaUrl(g.schema())
			for k := g.n(8); k > 0; k-- {
				sp := ss.Spans().AppendEmpty()
				if g.chance(0.05) {
					continue // an empty span
				}
				sp.SetTraceID(g.traceID(tracePool))
				sp.SetSpanID(g.spanID())
				if g.chance(0.6) {
					sp.SetParentSpanID(g.spanID())
				}
				if g.chance(0.2) {
					sp.TraceState().FromRaw(g.str())
				}
				sp.SetName(g.str())
				sp.SetKind(ptrace.SpanKind(g.n(6)))
				sp.SetStartTimestamp(g.ts())
				sp.SetEndTimestamp(g.ts())
				g.attrs(sp.Attributes(), 0)
				if g.chance(0.2) {
					sp.SetFlags(g.r.Uint32())
				}
				if g.chance(0.1) {
					sp.SetDroppedAttributesCount(1)
					sp.SetDroppedEventsCount(2)
					sp.SetDroppedLinksCount(3)
				}
				for e := g.n(2); e > 0; e-- {
					ev := sp.Events().AppendEmpty()
					ev.SetName(g.str())
					ev.SetTimestamp(g.ts())
					g.attrs(ev.Attributes(), 0)
				}
				for l := g.n(2); l > 0; l-- {
					ln := sp.Links().AppendEmpty()
					ln.SetTraceID(g.traceID(tracePool))
					ln.SetSpanID(g.spanID())
					g.attrs(ln.Attributes(), 0)
					if g.chance(0.3) {
						ln.SetFlags(g.r.Uint32())
					}
				}
				switch g.n(3) {
				case 1:
					sp.Status().SetCode(ptrace.StatusCodeError)
					sp.Status().SetMessage(g.str())
				case 2:
					sp.Status().SetCode(ptrace.StatusCodeOk)
				}
			}
		}
	}
	return td
}

func (g *gen) exemplars(es pmetric.ExemplarSlice) {
	for i := g.n(2); i > 0; i-- {
		e := es.AppendEmpty()
		e.SetTimestamp(g.ts())
		switch g.n(2) {
		case 0:
			e.SetDoubleValue(g.float())
		case 1:
			e.SetIntValue(g.r.Int64())
		}
		g.attrs(e.FilteredAttributes(), 0)
		if g.chance(0.5) {
			e.SetTraceID(g.traceID(10))
			e.SetSpanID(g.spanID())
		}
	}
}

func (g *gen) numberPoints(ps pmetric.NumberDataPointSlice) {
	for i := g.n(4); i > 0; i-- {
		p := ps.AppendEmpty()
		if g.chance(0.05) {
			continue
		}
		p.SetStartTimestamp(g.ts())
		p.SetTimestamp(g.ts())
		switch g.n(2) {
		case 0:
			p.SetDoubleValue(g.float())
		case 1:
			p.SetIntValue(g.r.Int64() >> g.n(63))
		}
		g.attrs(p.Attributes(), 0)
		g.exemplars(p.Exemplars())
		if g.chance(0.2) {
			p.SetFlags(pmetric.DataPointFlags(g.n(1)))
		}
	}
}

func (g *gen) metrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	for i := g.n(3); i > 0; i-- {
		rm := md.ResourceMetrics().AppendEmpty()
		g.resource(rm.Resource())
		rm.SetSchemaUrl(g.schema())
		for j := g.n(3); j > 0; j-- {
			sm := rm.ScopeMetrics().AppendEmpty()
			g.scope(sm.Scope())
			sm.SetSchemaUrl(g.schema())
			for k := g.n(6); k > 0; k-- {
				m := sm.Metrics().AppendEmpty()
				if g.chance(0.7) {
					m.SetName(g.str())
				}
				if g.chance(0.4) {
					m.SetDescription(g.str())
				}
				if g.chance(0.4) {
					m.SetUnit(g.str())
				}
				if g.chance(0.3) {
					g.attrs(m.Metadata(), 0)
				}
				switch g.n(6) {
				case 0:
					g.numberPoints(m.SetEmptyGauge().DataPoints())
				case 1:
					s := m.SetEmptySum()
					s.SetAggregationTemporality(pmetric.AggregationTemporality(g.n(2)))
					s.SetIsMonotonic(g.chance(0.5))
					g.numberPoints(s.DataPoints())
				case 2:
					h := m.SetEmptyHistogram()
					h.SetAggregationTemporality(pmetric.AggregationTemporality(g.n(2)))
					for n := g.n(3); n > 0; n-- {
						p := h.DataPoints().AppendEmpty()
						p.SetStartTimestamp(g.ts())
						p.SetTimestamp(g.ts())
						p.SetCount(g.r.Uint64N(1000))
						if g.chance(0.5) {
							p.SetSum(g.float())
						}
						if g.chance(0.5) {
							p.SetMin(g.float())
						}
						if g.chance(0.5) {
							p.SetMax(g.float())
						}
						nb := g.n(5)
						for b := 0; b < nb; b++ {
							p.BucketCounts().Append(g.r.Uint64N(100))
							if b > 0 {
								p.ExplicitBounds().Append(float64(b) * 2.5)
							}
						}
						g.attrs(p.Attributes(), 0)
						g.exemplars(p.Exemplars())
						if g.chance(0.1) {
							p.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
						}
					}
				case 3:
					h := m.SetEmptyExponentialHistogram()
					h.SetAggregationTemporality(pmetric.AggregationTemporality(g.n(2)))
					for n := g.n(3); n > 0; n-- {
						p := h.DataPoints().AppendEmpty()
						p.SetStartTimestamp(g.ts())
						p.SetTimestamp(g.ts())
						p.SetCount(g.r.Uint64N(1000))
						p.SetScale(int32(g.n(20)) - 10)
						p.SetZeroCount(g.r.Uint64N(5))
						if g.chance(0.3) {
							p.SetZeroThreshold(g.float())
						}
						if g.chance(0.5) {
							p.SetSum(g.float())
						}
						if g.chance(0.5) {
							p.SetMin(g.float())
							p.SetMax(g.float())
						}
						if g.chance(0.7) {
							p.Positive().SetOffset(int32(g.n(10)) - 5)
							for b := g.n(4); b > 0; b-- {
								p.Positive().BucketCounts().Append(g.r.Uint64N(50))
							}
						}
						if g.chance(0.4) {
							p.Negative().SetOffset(int32(g.n(10)) - 5)
							for b := g.n(4); b > 0; b-- {
								p.Negative().BucketCounts().Append(g.r.Uint64N(50))
							}
						}
						g.attrs(p.Attributes(), 0)
						g.exemplars(p.Exemplars())
					}
				case 4:
					s := m.SetEmptySummary()
					for n := g.n(3); n > 0; n-- {
						p := s.DataPoints().AppendEmpty()
						p.SetStartTimestamp(g.ts())
						p.SetTimestamp(g.ts())
						p.SetCount(g.r.Uint64N(1000))
						p.SetSum(g.float())
						for q := g.n(3); q > 0; q-- {
							v := p.QuantileValues().AppendEmpty()
							v.SetQuantile(g.r.Float64())
							v.SetValue(g.float())
						}
						g.attrs(p.Attributes(), 0)
					}
				case 5:
					// no data: a metric without points has no leaves
				default:
					m.SetEmptyGauge() // data without points
				}
			}
		}
	}
	return md
}

func collect(enc func(func(receipts.Record) error) error) ([]receipts.Record, error) {
	var recs []receipts.Record
	err := enc(func(r receipts.Record) error { recs = append(recs, r); return nil })
	return recs, err
}

// sameRecords reports how got (new) differs from want (reference), or "".
func sameRecords(got, want []receipts.Record) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d records, reference has %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Leaf, w.Leaf) {
			return fmt.Sprintf("record %d: leaf\n%x\nreference\n%x", i, g.Leaf, w.Leaf)
		}
		if cap(g.Leaf) != len(g.Leaf) {
			return fmt.Sprintf("record %d: leaf capacity %d > length %d", i, cap(g.Leaf), len(g.Leaf))
		}
		if g.Workspace != w.Workspace || g.EventTime != w.EventTime || g.Info != w.Info || g.LeafHash != nil {
			return fmt.Sprintf("record %d: %+v\nreference %+v", i, g, w)
		}
	}
	return ""
}

// signalCodec is what checkSignal needs of one signal: the reference encoder, the wire encoder, the old entry
// point (marshal + wire) and a protobuf round trip.
type signalCodec[T any] struct {
	name      string
	reference func(T, string, func(receipts.Record) error) error
	wire      func(T, []byte, string, func(receipts.Record) error) error
	encode    func(T, string, func(receipts.Record) error) error
	marshal   func(T) ([]byte, error)
	unmarshal func([]byte) (T, error)
}

// checkSignal compares the wire leaves of x with the reference implementation, directly and after the request
// is decoded from its bytes (replay); it returns the first difference, or "".
func checkSignal[T any](c signalCodec[T], x T) string {
	want, err := collect(func(fn func(receipts.Record) error) error { return c.reference(x, testWSAttr, fn) })
	if err != nil {
		return err.Error()
	}
	raw, err := c.marshal(x)
	if err != nil {
		return err.Error()
	}
	got, err := collect(func(fn func(receipts.Record) error) error { return c.wire(x, raw, testWSAttr, fn) })
	if err != nil {
		return c.name + " wire: " + err.Error()
	}
	if d := sameRecords(got, want); d != "" {
		return c.name + ": " + d
	}
	back, err := c.unmarshal(raw)
	if err != nil {
		return err.Error()
	}
	got, err = collect(func(fn func(receipts.Record) error) error { return c.encode(back, testWSAttr, fn) })
	if err != nil {
		return c.name + " after round trip: " + err.Error()
	}
	if d := sameRecords(got, want); d != "" {
		return c.name + " after round trip: " + d
	}
	return ""
}

var (
	logsCodec = signalCodec[plog.Logs]{"logs", refEncodeLogs, EncodeLogsWire, EncodeLogs,
		(&plog.ProtoMarshaler{}).MarshalLogs, (&plog.ProtoUnmarshaler{}).UnmarshalLogs}
	tracesCodec = signalCodec[ptrace.Traces]{"traces", refEncodeTraces, EncodeTracesWire, EncodeTraces,
		(&ptrace.ProtoMarshaler{}).MarshalTraces, (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces}
	metricsCodec = signalCodec[pmetric.Metrics]{"metrics", refEncodeMetrics, EncodeMetricsWire, EncodeMetrics,
		(&pmetric.ProtoMarshaler{}).MarshalMetrics, (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics}
)

func checkLogs(ld plog.Logs) string          { return checkSignal(logsCodec, ld) }
func checkTraces(td ptrace.Traces) string    { return checkSignal(tracesCodec, td) }
func checkMetrics(md pmetric.Metrics) string { return checkSignal(metricsCodec, md) }

// TestWireLeavesMatchReference: for many random requests the leaves cut from the request bytes, their info and
// event times equal those of the reference (copy + marshal) implementation, record for record.
func TestWireLeavesMatchReference(t *testing.T) {
	iters := 600
	if testing.Short() {
		iters = 100
	}
	var nLogs, nSpans, nPoints int
	for i := 0; i < iters; i++ {
		g := newGen(uint64(i))
		ld := g.logs()
		require.Empty(t, checkLogs(ld), "seed %d", i)
		td := g.traces(1 + g.r.IntN(40)) // few traces (a buffer each) up to many (the map)
		require.Empty(t, checkTraces(td), "seed %d", i)
		md := g.metrics()
		require.Empty(t, checkMetrics(md), "seed %d", i)
		nLogs += ld.LogRecordCount()
		nSpans += td.SpanCount()
		nPoints += md.DataPointCount()
	}
	t.Logf("compared %d log records, %d spans, %d data points", nLogs, nSpans, nPoints)
	require.Greater(t, nLogs, 1000)
	require.Greater(t, nSpans, 1000)
	require.Greater(t, nPoints, 1000)
}

func TestWireLeavesEmptyRequests(t *testing.T) {
	require.Empty(t, checkLogs(plog.NewLogs()))
	require.Empty(t, checkTraces(ptrace.NewTraces()))
	require.Empty(t, checkMetrics(pmetric.NewMetrics()))
	// Resources and scopes without records.
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	ld.ResourceLogs().AppendEmpty()
	require.Empty(t, checkLogs(ld))
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Metrics().AppendEmpty().SetName("no data")
	sm.Metrics().AppendEmpty().SetEmptySum().SetIsMonotonic(true)
	require.Empty(t, checkMetrics(md))
}

// The leaves share a buffer; appending to one must not overwrite the next.
func TestWireLeavesDoNotAlias(t *testing.T) {
	ld := newGen(7).logs()
	for seed := uint64(100); ld.LogRecordCount() < 3; seed++ {
		ld = newGen(seed).logs()
	}
	recs, err := collect(func(fn func(receipts.Record) error) error { return EncodeLogs(ld, testWSAttr, fn) })
	require.NoError(t, err)
	want := make([][]byte, len(recs))
	for i, r := range recs {
		want[i] = bytes.Clone(r.Leaf)
	}
	for _, r := range recs {
		_ = append(r.Leaf, 0xff, 0xff, 0xff)
	}
	for i, r := range recs {
		require.Equal(t, want[i], r.Leaf)
	}
}

// Bytes that are not the request's own encoding are rejected before any record is passed on.
func TestWireMismatchRejected(t *testing.T) {
	g := newGen(3)
	ld, other := g.logs(), g.logs()
	for ld.LogRecordCount() == 0 || other.LogRecordCount() == ld.LogRecordCount() {
		ld, other = g.logs(), g.logs()
	}
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(other)
	require.NoError(t, err)
	called := false
	err = EncodeLogsWire(ld, raw, testWSAttr, func(receipts.Record) error { called = true; return nil })
	require.Error(t, err)
	require.False(t, called)

	good, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	require.Error(t, EncodeLogsWire(ld, good[:len(good)-1], testWSAttr, func(receipts.Record) error { called = true; return nil }))
	require.False(t, called)

	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty()
	md2 := pmetric.NewMetrics()
	md2.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptySum().DataPoints().AppendEmpty()
	raw2, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md2)
	require.NoError(t, err)
	require.Error(t, EncodeMetricsWire(md, raw2, testWSAttr, func(receipts.Record) error { called = true; return nil }))
	require.False(t, called)
}

// An error from fn stops the walk and is returned as is.
func TestWireCallbackError(t *testing.T) {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty()
	lrs.AppendEmpty()
	stop := fmt.Errorf("stop")
	n := 0
	err := EncodeLogs(ld, testWSAttr, func(receipts.Record) error { n++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, n)
}

// deprecatedScopeSeed is an ExportLogsServiceRequest whose resource also holds the deprecated field 1000
// (instrumentation_library_logs), which pdata keeps and marshals but the leaves never carried.
func deprecatedScopeSeed() []byte {
	rec := protowire.AppendTag(nil, 1, protowire.Fixed64Type)
	rec = protowire.AppendFixed64(rec, 42)
	scope := protowire.AppendTag(nil, 2, protowire.BytesType)
	scope = protowire.AppendBytes(scope, rec)
	var rl []byte
	rl = protowire.AppendTag(rl, 1000, protowire.BytesType)
	rl = protowire.AppendBytes(rl, scope)
	rl = protowire.AppendTag(rl, 2, protowire.BytesType)
	rl = protowire.AppendBytes(rl, scope)
	res := protowire.AppendTag(nil, 3, protowire.BytesType) // entity_refs
	res = protowire.AppendBytes(res, protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte("service")))
	rl = protowire.AppendTag(rl, 1, protowire.BytesType)
	rl = protowire.AppendBytes(rl, res)
	rl = protowire.AppendTag(rl, 3, protowire.BytesType)
	rl = protowire.AppendBytes(rl, []byte("https://schema"))
	req := protowire.AppendTag(nil, 1, protowire.BytesType)
	return protowire.AppendBytes(req, rl)
}

func TestWireDeprecatedScopesIgnored(t *testing.T) {
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(deprecatedScopeSeed())
	require.NoError(t, err)
	require.Equal(t, 1, ld.LogRecordCount())
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	require.True(t, bytes.Contains(raw, []byte{0xc2, 0x3e}), "pdata keeps and writes field 1000")
	require.Empty(t, checkLogs(ld))
}

// FuzzLeavesMatchReference: whatever bytes decode as a logs, traces or metrics request, the leaves cut from its
// encoding equal the reference leaves, with the same info and event times.
func FuzzLeavesMatchReference(f *testing.F) {
	for i := uint64(0); i < 6; i++ {
		g := newGen(1000 + i)
		raw, _ := (&plog.ProtoMarshaler{}).MarshalLogs(g.logs())
		f.Add(raw)
		raw, _ = (&ptrace.ProtoMarshaler{}).MarshalTraces(g.traces(5))
		f.Add(raw)
		raw, _ = (&pmetric.ProtoMarshaler{}).MarshalMetrics(g.metrics())
		f.Add(raw)
	}
	f.Add(deprecatedScopeSeed())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(data); err == nil {
			if d := checkLogs(ld); d != "" {
				t.Fatal(d)
			}
		}
		if td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(data); err == nil {
			if d := checkTraces(td); d != "" {
				t.Fatal(d)
			}
		}
		if md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(data); err == nil {
			if d := checkMetrics(md); d != "" {
				t.Fatal(d)
			}
		}
	})
}
