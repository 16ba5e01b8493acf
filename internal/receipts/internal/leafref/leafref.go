// Package leafref is the pdata side of receipt leaves shared by the exporter's encoders and their tests: the facts a
// record's resource and log record carry, and the reference leaf encoder (the record, its resource and scope
// deep-copied into a scratch one-record request and marshaled with the pdata ProtoMarshaler), against which the
// tests require the Encode*Wire functions to agree byte for byte. It imports no receipts package, so the internal
// tests of package receipts can use it as well as those of pdataleaves.
package leafref

import (
	"encoding/hex"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Record is receipts.Record as the reference encoder makes it (no LeafHash).
type Record struct {
	Workspace string
	EventTime int64
	Leaf      []byte
	Info      Info
}

// Info has the fields of receipts.RecordInfo in its order, so that receipts.RecordInfo(info) converts it (a field
// added there and not here fails to compile the tests).
type Info struct {
	Service    string
	Node       string
	Severity   int32
	EventName  string
	MetricName string
	PointType  string
	TraceID    string
	SpanID     string
	SpanName   string
	Parent     string
	Start      int64
	End        int64
	Error      bool
	Kind       int32
}

var (
	logsMarshaler    = plog.ProtoMarshaler{}
	metricsMarshaler = pmetric.ProtoMarshaler{}
	tracesMarshaler  = ptrace.ProtoMarshaler{}
)

// ResourceFacts are the workspace (the wsAttr attribute), service.name and host.name of a resource.
func ResourceFacts(res pcommon.Resource, wsAttr string) (workspace, service, node string) {
	attrs := res.Attributes()
	if v, ok := attrs.Get(wsAttr); ok {
		workspace = v.AsString()
	}
	if v, ok := attrs.Get("service.name"); ok {
		service = v.AsString()
	}
	if v, ok := attrs.Get("host.name"); ok {
		node = v.AsString()
	}
	return
}

// EventName is the event name of a log record: its EventName field, else its event.name attribute.
func EventName(lr plog.LogRecord) string {
	if n := lr.EventName(); n != "" {
		return n
	}
	if v, ok := lr.Attributes().Get("event.name"); ok {
		return v.AsString()
	}
	return ""
}

// Sink adapts fn, which takes the caller's record type, to the encoders below; to converts a Record to it.
func Sink[R any](to func(Record) R, fn func(R) error) func(Record) error {
	return func(r Record) error { return fn(to(r)) }
}

// EncodeLogs calls fn for every log record with its leaf (record + resource + scope).
func EncodeLogs(ld plog.Logs, wsAttr string, fn func(Record) error) error {
	scratch := plog.NewLogs()
	srl := scratch.ResourceLogs().AppendEmpty()
	ssl := srl.ScopeLogs().AppendEmpty()
	slr := ssl.LogRecords().AppendEmpty()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		rl.Resource().CopyTo(srl.Resource())
		srl.SetSchemaUrl(rl.SchemaUrl())
		ws, svc, node := ResourceFacts(rl.Resource(), wsAttr)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			sl.Scope().CopyTo(ssl.Scope())
			ssl.SetSchemaUrl(sl.SchemaUrl())
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				lr.CopyTo(slr)
				leaf, err := logsMarshaler.MarshalLogs(scratch)
				if err != nil {
					return err
				}
				t := int64(lr.Timestamp())
				if t == 0 {
					t = int64(lr.ObservedTimestamp())
				}
				if err := fn(Record{Workspace: ws, EventTime: t, Leaf: leaf, Info: Info{
					Service: svc, Node: node, Severity: int32(lr.SeverityNumber()), EventName: EventName(lr),
				}}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// EncodeMetrics calls fn for every data point with its leaf (the metric with only that point + resource + scope).
func EncodeMetrics(md pmetric.Metrics, wsAttr string, fn func(Record) error) error {
	scratch := pmetric.NewMetrics()
	srm := scratch.ResourceMetrics().AppendEmpty()
	ssm := srm.ScopeMetrics().AppendEmpty()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		rm.Resource().CopyTo(srm.Resource())
		srm.SetSchemaUrl(rm.SchemaUrl())
		ws, svc, node := ResourceFacts(rm.Resource(), wsAttr)
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			sm.Scope().CopyTo(ssm.Scope())
			ssm.SetSchemaUrl(sm.SchemaUrl())
			ms := sm.Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				ssm.Metrics().RemoveIf(func(pmetric.Metric) bool { return true })
				out := ssm.Metrics().AppendEmpty()
				out.SetName(m.Name())
				out.SetDescription(m.Description())
				out.SetUnit(m.Unit())
				m.Metadata().CopyTo(out.Metadata())
				var evt int64
				emit := func(pointType string) func() error {
					return func() error {
						leaf, err := metricsMarshaler.MarshalMetrics(scratch)
						if err != nil {
							return err
						}
						return fn(Record{Workspace: ws, EventTime: evt, Leaf: leaf, Info: Info{
							Service: svc, Node: node, MetricName: m.Name(), PointType: pointType,
						}})
					}
				}
				var err error
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dst := out.SetEmptyGauge().DataPoints()
					err = refCopyPointsTimed(m.Gauge().DataPoints(), dst, &evt, emit("gauge"))
				case pmetric.MetricTypeSum:
					s := out.SetEmptySum()
					s.SetAggregationTemporality(m.Sum().AggregationTemporality())
					s.SetIsMonotonic(m.Sum().IsMonotonic())
					err = refCopyPointsTimed(m.Sum().DataPoints(), s.DataPoints(), &evt, emit("sum"))
				case pmetric.MetricTypeHistogram:
					h := out.SetEmptyHistogram()
					h.SetAggregationTemporality(m.Histogram().AggregationTemporality())
					err = refCopyPointsTimed(m.Histogram().DataPoints(), h.DataPoints(), &evt, emit("histogram"))
				case pmetric.MetricTypeExponentialHistogram:
					h := out.SetEmptyExponentialHistogram()
					h.SetAggregationTemporality(m.ExponentialHistogram().AggregationTemporality())
					err = refCopyPointsTimed(m.ExponentialHistogram().DataPoints(), h.DataPoints(), &evt, emit("exponential_histogram"))
				case pmetric.MetricTypeSummary:
					err = refCopyPointsTimed(m.Summary().DataPoints(), out.SetEmptySummary().DataPoints(), &evt, emit("summary"))
				default:
					// A metric without data carries nothing to seal.
				}
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

type refTimedPoint[T any] interface {
	CopyTo(T)
	Timestamp() pcommon.Timestamp
}

func refCopyPointsTimed[T refTimedPoint[T], S interface {
	Len() int
	At(int) T
}](src S, dst interface {
	AppendEmpty() T
	RemoveIf(func(T) bool)
}, evt *int64, emit func() error) error {
	for i := 0; i < src.Len(); i++ {
		dst.RemoveIf(func(T) bool { return true })
		p := src.At(i)
		p.CopyTo(dst.AppendEmpty())
		*evt = int64(p.Timestamp())
		if err := emit(); err != nil {
			return err
		}
	}
	return nil
}

// EncodeTraces calls fn for every span with its leaf (span + resource + scope).
func EncodeTraces(td ptrace.Traces, wsAttr string, fn func(Record) error) error {
	scratch := ptrace.NewTraces()
	srs := scratch.ResourceSpans().AppendEmpty()
	sss := srs.ScopeSpans().AppendEmpty()
	ssp := sss.Spans().AppendEmpty()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		rs.Resource().CopyTo(srs.Resource())
		srs.SetSchemaUrl(rs.SchemaUrl())
		ws, svc, node := ResourceFacts(rs.Resource(), wsAttr)
		scs := rs.ScopeSpans()
		for j := 0; j < scs.Len(); j++ {
			ss := scs.At(j)
			ss.Scope().CopyTo(sss.Scope())
			sss.SetSchemaUrl(ss.SchemaUrl())
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				sp.CopyTo(ssp)
				leaf, err := tracesMarshaler.MarshalTraces(scratch)
				if err != nil {
					return err
				}
				if err := fn(Record{Workspace: ws, EventTime: int64(sp.EndTimestamp()), Leaf: leaf, Info: refSpanInfo(sp, svc, node)}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func refSpanInfo(sp ptrace.Span, svc, node string) Info {
	tid, sid, pid := sp.TraceID(), sp.SpanID(), sp.ParentSpanID()
	info := Info{
		Service: svc, Node: node, TraceID: hex.EncodeToString(tid[:]), SpanID: hex.EncodeToString(sid[:]),
		SpanName: sp.Name(), Start: int64(sp.StartTimestamp()), End: int64(sp.EndTimestamp()),
		Error: sp.Status().Code() == ptrace.StatusCodeError, Kind: int32(sp.Kind()),
	}
	if !pid.IsEmpty() {
		info.Parent = hex.EncodeToString(pid[:])
	}
	return info
}
