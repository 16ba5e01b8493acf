package pdataleaves

// The reference implementation of the leaves: the record (and its resource and scope) deep-copied into a scratch
// one-record request and marshaled with the pdata ProtoMarshaler. This is how leaves were produced before the
// Encode*Wire functions cut them from the request bytes; the tests require both to agree byte for byte.

import (
	"github.com/tfocol/tfocol/internal/receipts"

	"encoding/hex"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// refEncodeLogs calls fn for every log record with its leaf (record + resource + scope).
func refEncodeLogs(ld plog.Logs, wsAttr string, fn func(receipts.Record) error) error {
	scratch := plog.NewLogs()
	srl := scratch.ResourceLogs().AppendEmpty()
	ssl := srl.ScopeLogs().AppendEmpty()
	slr := ssl.LogRecords().AppendEmpty()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		rl.Resource().CopyTo(srl.Resource())
		srl.SetSchemaUrl(rl.SchemaUrl())
		ws, svc, node := resourceFacts(rl.Resource(), wsAttr)
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
				if err := fn(receipts.Record{Workspace: ws, EventTime: t, Leaf: leaf, Info: receipts.RecordInfo{
					Service: svc, Node: node, Severity: int32(lr.SeverityNumber()), EventName: EventNameOf(lr),
				}}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// refEncodeMetrics calls fn for every data point with its leaf (the metric with only that point + resource + scope).
func refEncodeMetrics(md pmetric.Metrics, wsAttr string, fn func(receipts.Record) error) error {
	scratch := pmetric.NewMetrics()
	srm := scratch.ResourceMetrics().AppendEmpty()
	ssm := srm.ScopeMetrics().AppendEmpty()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		rm.Resource().CopyTo(srm.Resource())
		srm.SetSchemaUrl(rm.SchemaUrl())
		ws, svc, node := resourceFacts(rm.Resource(), wsAttr)
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
						return fn(receipts.Record{Workspace: ws, EventTime: evt, Leaf: leaf, Info: receipts.RecordInfo{
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

// refEncodeTraces calls fn for every span with its leaf (span + resource + scope).
func refEncodeTraces(td ptrace.Traces, wsAttr string, fn func(receipts.Record) error) error {
	scratch := ptrace.NewTraces()
	srs := scratch.ResourceSpans().AppendEmpty()
	sss := srs.ScopeSpans().AppendEmpty()
	ssp := sss.Spans().AppendEmpty()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		rs.Resource().CopyTo(srs.Resource())
		srs.SetSchemaUrl(rs.SchemaUrl())
		ws, svc, node := resourceFacts(rs.Resource(), wsAttr)
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
				if err := fn(receipts.Record{Workspace: ws, EventTime: int64(sp.EndTimestamp()), Leaf: leaf, Info: refSpanInfo(sp, svc, node)}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func refSpanInfo(sp ptrace.Span, svc, node string) receipts.RecordInfo {
	tid, sid, pid := sp.TraceID(), sp.SpanID(), sp.ParentSpanID()
	info := receipts.RecordInfo{
		Service: svc, Node: node, TraceID: hex.EncodeToString(tid[:]), SpanID: hex.EncodeToString(sid[:]),
		SpanName: sp.Name(), Start: int64(sp.StartTimestamp()), End: int64(sp.EndTimestamp()),
		Error: sp.Status().Code() == ptrace.StatusCodeError, Kind: int32(sp.Kind()),
	}
	if !pid.IsEmpty() {
		info.Parent = hex.EncodeToString(pid[:])
	}
	return info
}
