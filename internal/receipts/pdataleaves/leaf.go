package pdataleaves

import (
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/internal/leafref"

	"encoding/hex"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

var (
	logsMarshaler    = plog.ProtoMarshaler{}
	metricsMarshaler = pmetric.ProtoMarshaler{}
	tracesMarshaler  = ptrace.ProtoMarshaler{}
)

// resourceFacts are the workspace, service.name and host.name of a resource (shared with the reference encoder).
var resourceFacts = leafref.ResourceFacts

// EventNameOf is the event name of a log record: its EventName field, else its event.name attribute.
func EventNameOf(lr plog.LogRecord) string { return leafref.EventName(lr) }

// EncodeLogs calls fn for every log record with its leaf (record + resource + scope).
func EncodeLogs(ld plog.Logs, wsAttr string, fn func(receipts.Record) error) error {
	raw, err := logsMarshaler.MarshalLogs(ld)
	if err != nil {
		return err
	}
	return EncodeLogsWire(ld, raw, wsAttr, fn)
}

// EncodeMetrics calls fn for every data point with its leaf (the metric with only that point + resource + scope).
func EncodeMetrics(md pmetric.Metrics, wsAttr string, fn func(receipts.Record) error) error {
	raw, err := metricsMarshaler.MarshalMetrics(md)
	if err != nil {
		return err
	}
	return EncodeMetricsWire(md, raw, wsAttr, fn)
}

// EncodeTraces calls fn for every span with its leaf (span + resource + scope).
func EncodeTraces(td ptrace.Traces, wsAttr string, fn func(receipts.Record) error) error {
	raw, err := tracesMarshaler.MarshalTraces(td)
	if err != nil {
		return err
	}
	return EncodeTracesWire(td, raw, wsAttr, fn)
}

type logsShape struct{ rls plog.ResourceLogsSlice }

func (s logsShape) resources() int    { return s.rls.Len() }
func (s logsShape) scopes(ri int) int { return s.rls.At(ri).ScopeLogs().Len() }
func (s logsShape) elements(ri, si int) int {
	return s.rls.At(ri).ScopeLogs().At(si).LogRecords().Len()
}
func (logsShape) points(int, int, int, protowire.Number, int) bool { return false }

// EncodeLogsWire is EncodeLogs for a request already marshaled: raw must be the plog.ProtoMarshaler output of
// ld. The leaves are cut from raw (see wire.go) into one buffer; each leaf has its capacity capped at its length.
// Nothing is passed to fn unless raw matches ld.
func EncodeLogsWire(ld plog.Logs, raw []byte, wsAttr string, fn func(receipts.Record) error) error {
	rls := ld.ResourceLogs()
	nscopes := 0
	for i := 0; i < rls.Len(); i++ {
		nscopes += rls.At(i).ScopeLogs().Len()
	}
	x, err := indexRequest(raw, logsShape{rls}, ld.LogRecordCount(), nscopes, 0, false)
	if err != nil {
		return err
	}
	plan := newLeafPlan(raw)
	buf := make([]byte, plan.total(&x))
	n := 0
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		ws, svc, node := resourceFacts(rl.Resource(), wsAttr)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				leaf, err := plan.carve(&x, &x.recs[n], &buf)
				if err != nil {
					return err
				}
				n++
				lr := lrs.At(k)
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

type tracesShape struct{ rss ptrace.ResourceSpansSlice }

func (s tracesShape) resources() int    { return s.rss.Len() }
func (s tracesShape) scopes(ri int) int { return s.rss.At(ri).ScopeSpans().Len() }
func (s tracesShape) elements(ri, si int) int {
	return s.rss.At(ri).ScopeSpans().At(si).Spans().Len()
}
func (tracesShape) points(int, int, int, protowire.Number, int) bool { return false }

// traceArenas groups the leaves of a request by trace id. A consumer may keep span leaves in memory until their
// trace completes (the receipt engine's open traces did), so the leaves of one trace share a buffer and a
// long-running trace never pins the leaves of other traces of the same request.
type traceArenas struct {
	ids   []pcommon.TraceID
	sizes []int
	bufs  [][]byte
	hexes []string                // the trace ids in hex, shared by the records of the trace
	index map[pcommon.TraceID]int // once there are many traces
	last  int
}

func (a *traceArenas) group(id pcommon.TraceID) int {
	if a.last < len(a.ids) && a.ids[a.last] == id {
		return a.last
	}
	if a.index != nil {
		if g, ok := a.index[id]; ok {
			a.last = g
			return g
		}
	} else {
		for g := range a.ids {
			if a.ids[g] == id {
				a.last = g
				return g
			}
		}
	}
	g := len(a.ids)
	a.ids = append(a.ids, id)
	a.sizes = append(a.sizes, 0)
	switch {
	case a.index != nil:
		a.index[id] = g
	case len(a.ids) > 8:
		a.index = make(map[pcommon.TraceID]int, 2*len(a.ids))
		for i, x := range a.ids {
			a.index[x] = i
		}
	}
	a.last = g
	return g
}

// EncodeTracesWire is EncodeTraces for a request already marshaled: raw must be the ptrace.ProtoMarshaler output
// of td. The leaves are cut from raw (see wire.go), one buffer per trace; each leaf has its capacity capped at its
// length. Nothing is passed to fn unless raw matches td.
func EncodeTracesWire(td ptrace.Traces, raw []byte, wsAttr string, fn func(receipts.Record) error) error {
	rss := td.ResourceSpans()
	nscopes := 0
	for i := 0; i < rss.Len(); i++ {
		nscopes += rss.At(i).ScopeSpans().Len()
	}
	x, err := indexRequest(raw, tracesShape{rss}, td.SpanCount(), nscopes, 0, false)
	if err != nil {
		return err
	}
	plan := newLeafPlan(raw)
	var arenas traceArenas
	n := 0
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				r := &x.recs[n]
				n++
				plan.set(&x, r)
				r.group = int32(arenas.group(spans.At(k).TraceID()))
				arenas.sizes[r.group] += plan.size(r.rec.len())
			}
		}
	}
	arenas.bufs = make([][]byte, len(arenas.ids))
	arenas.hexes = make([]string, len(arenas.ids))
	n = 0
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		ws, svc, node := resourceFacts(rs.Resource(), wsAttr)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				r := &x.recs[n]
				g := r.group
				if arenas.bufs[g] == nil {
					arenas.bufs[g] = make([]byte, arenas.sizes[g])
					tid := arenas.ids[g]
					arenas.hexes[g] = hex.EncodeToString(tid[:])
				}
				leaf, err := plan.carve(&x, r, &arenas.bufs[g])
				if err != nil {
					return err
				}
				n++
				sp := spans.At(k)
				if err := fn(receipts.Record{Workspace: ws, EventTime: int64(sp.EndTimestamp()), Leaf: leaf, Info: spanInfo(sp, svc, node, arenas.hexes[g])}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

type metricsShape struct{ rms pmetric.ResourceMetricsSlice }

func (s metricsShape) resources() int    { return s.rms.Len() }
func (s metricsShape) scopes(ri int) int { return s.rms.At(ri).ScopeMetrics().Len() }
func (s metricsShape) elements(ri, si int) int {
	return s.rms.At(ri).ScopeMetrics().At(si).Metrics().Len()
}

func (s metricsShape) points(ri, si, ei int, dataNum protowire.Number, n int) bool {
	_, num, want := metricPoints(s.rms.At(ri).ScopeMetrics().At(si).Metrics().At(ei))
	return n == want && (n == 0 || num == dataNum)
}

// metricPoints is the point type name and point count of m, and the data field pdata writes for it.
func metricPoints(m pmetric.Metric) (pointType string, dataNum protowire.Number, n int) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return "gauge", 5, m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return "sum", 7, m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return "histogram", 9, m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return "exponential_histogram", 10, m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return "summary", 11, m.Summary().DataPoints().Len()
	}
	return "", 0, 0
}

func pointTime(m pmetric.Metric, i int) pcommon.Timestamp {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().At(i).Timestamp()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().At(i).Timestamp()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().At(i).Timestamp()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().At(i).Timestamp()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().At(i).Timestamp()
	}
	return 0
}

// EncodeMetricsWire is EncodeMetrics for a request already marshaled: raw must be the pmetric.ProtoMarshaler
// output of md. The leaves are cut from raw (see wire.go) into one buffer; each leaf has its capacity capped at
// its length. Nothing is passed to fn unless raw matches md.
func EncodeMetricsWire(md pmetric.Metrics, raw []byte, wsAttr string, fn func(receipts.Record) error) error {
	rms := md.ResourceMetrics()
	nscopes, nmetrics := 0, 0
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		nscopes += sms.Len()
		for j := 0; j < sms.Len(); j++ {
			nmetrics += sms.At(j).Metrics().Len()
		}
	}
	x, err := indexRequest(raw, metricsShape{rms}, md.DataPointCount(), nscopes, nmetrics, true)
	if err != nil {
		return err
	}
	plan := newLeafPlan(raw)
	buf := make([]byte, plan.total(&x))
	n := 0
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		ws, svc, node := resourceFacts(rm.Resource(), wsAttr)
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				pointType, _, np := metricPoints(m)
				for p := 0; p < np; p++ {
					leaf, err := plan.carve(&x, &x.recs[n], &buf)
					if err != nil {
						return err
					}
					n++
					if err := fn(receipts.Record{Workspace: ws, EventTime: int64(pointTime(m, p)), Leaf: leaf, Info: receipts.RecordInfo{
						Service: svc, Node: node, MetricName: m.Name(), PointType: pointType,
					}}); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// spanInfo is the info of a span whose trace id is tid in hex (a string shared by the spans of the trace, which
// the receipt engine keeps while the trace is open). The span and parent ids share one string.
func spanInfo(sp ptrace.Span, svc, node, tid string) receipts.RecordInfo {
	sid, pid := sp.SpanID(), sp.ParentSpanID()
	var b [32]byte
	hex.Encode(b[:16], sid[:])
	n := 16
	if !pid.IsEmpty() {
		hex.Encode(b[16:], pid[:])
		n = 32
	}
	ids := string(b[:n])
	info := receipts.RecordInfo{
		Service: svc, Node: node, TraceID: tid, SpanID: ids[:16],
		SpanName: sp.Name(), Start: int64(sp.StartTimestamp()), End: int64(sp.EndTimestamp()),
		Error: sp.Status().Code() == ptrace.StatusCodeError, Kind: int32(sp.Kind()),
	}
	if n == 32 {
		info.Parent = ids[16:]
	}
	return info
}
