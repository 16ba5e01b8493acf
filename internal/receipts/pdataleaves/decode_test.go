package pdataleaves

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tfocol/tfocol/internal/receipts"
)

// The verifier reads leaves with its own protobuf reader (internal/receipts/leafwire.go), so that it needs nothing
// of the collector. These tests compare it with the pdata-based decoding it replaced (the ref* functions below,
// the former receipts.LeafInfo, DecodeAlertEvent and DecodeMetricPoint): on every leaf pdata reads, the facts are
// the same; a leaf pdata rejects is rejected; and the one documented difference (docs/receipts.md §3) is that the
// reader also rejects a leaf whose one record is not alone in one resource, one scope (and one metric), which the
// pdata-based code accepted, reading the first resource (or panicked when the record was not in it).

var (
	logsUnmarshaler    = plog.ProtoUnmarshaler{}
	metricsUnmarshaler = pmetric.ProtoUnmarshaler{}
	tracesUnmarshaler  = ptrace.ProtoUnmarshaler{}
)

var errShape = errors.New("record not alone in one resource, scope and metric")

// noPanic turns a panic of the pdata-based code (At(0) of an empty slice) into an error.
func noPanic(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("panic: %v", r)
	}
}

// refShape is errShape unless the request holds one resource with one scope with one element.
func refShape(resources, scopes, elements int) error {
	if resources != 1 || scopes != 1 || elements != 1 {
		return errShape
	}
	return nil
}

func refLogRecord(leaf []byte) (plog.LogRecord, pcommon.Resource, error, error) {
	ld, err := logsUnmarshaler.UnmarshalLogs(leaf)
	if err != nil {
		return plog.LogRecord{}, pcommon.Resource{}, err, nil
	}
	if ld.LogRecordCount() != 1 {
		return plog.LogRecord{}, pcommon.Resource{}, fmt.Errorf("leaf holds %d log records, want 1", ld.LogRecordCount()), nil
	}
	rls := ld.ResourceLogs()
	shape := refShape(rls.Len(), rls.At(0).ScopeLogs().Len(), rls.At(0).ScopeLogs().At(0).LogRecords().Len())
	rl := rls.At(0)
	return rl.ScopeLogs().At(0).LogRecords().At(0), rl.Resource(), nil, shape
}

// refLeafInfo is the former receipts.LeafInfo; shape reports a leaf the new reader rejects for its shape.
func refLeafInfo(signal string, leaf []byte) (info receipts.RecordInfo, shape, err error) {
	defer noPanic(&err)
	switch signal {
	case receipts.SignalTraces:
		td, err := tracesUnmarshaler.UnmarshalTraces(leaf)
		if err != nil {
			return info, nil, err
		}
		if td.SpanCount() != 1 {
			return info, nil, fmt.Errorf("leaf holds %d spans, want 1", td.SpanCount())
		}
		rss := td.ResourceSpans()
		shape = refShape(rss.Len(), rss.At(0).ScopeSpans().Len(), rss.At(0).ScopeSpans().At(0).Spans().Len())
		rs := rss.At(0)
		_, svc, node := resourceFacts(rs.Resource(), "")
		sp := rs.ScopeSpans().At(0).Spans().At(0)
		tid := sp.TraceID()
		return spanInfo(sp, svc, node, hex.EncodeToString(tid[:])), shape, nil
	case receipts.SignalLogs:
		lr, res, err, shape := refLogRecord(leaf)
		if err != nil {
			return info, nil, err
		}
		_, svc, node := resourceFacts(res, "")
		return receipts.RecordInfo{Service: svc, Node: node, Severity: int32(lr.SeverityNumber()), EventName: EventNameOf(lr)}, shape, nil
	case receipts.SignalMetrics:
		md, err := metricsUnmarshaler.UnmarshalMetrics(leaf)
		if err != nil {
			return info, nil, err
		}
		if md.DataPointCount() != 1 {
			return info, nil, fmt.Errorf("leaf holds %d data points, want 1", md.DataPointCount())
		}
		rms := md.ResourceMetrics()
		shape = refShape(rms.Len(), rms.At(0).ScopeMetrics().Len(), rms.At(0).ScopeMetrics().At(0).Metrics().Len())
		_, svc, node := resourceFacts(rms.At(0).Resource(), "")
		return receipts.RecordInfo{Service: svc, Node: node}, shape, nil
	}
	return info, nil, errors.New("unknown signal " + signal)
}

// refAlert is the former receipts.DecodeAlertEvent with its Field.
type refAlert struct {
	Name, Severity, Node, Service string
	Time                          int64
	record                        plog.LogRecord
	resource                      pcommon.Resource
}

func (ev *refAlert) field(path string) (string, bool) {
	if len(path) >= 5 && path[:5] == "body." {
		v := ev.record.Body()
		for _, k := range splitDots(path[5:]) {
			if v.Type() != pcommon.ValueTypeMap {
				return "", false
			}
			var ok bool
			if v, ok = v.Map().Get(k); !ok {
				return "", false
			}
		}
		return v.AsString(), true
	}
	if v, ok := ev.record.Attributes().Get(path); ok {
		return v.AsString(), true
	}
	if v, ok := ev.resource.Attributes().Get(path); ok {
		return v.AsString(), true
	}
	return "", false
}

func splitDots(s string) []string {
	var out []string
	for {
		i := 0
		for i < len(s) && s[i] != '.' {
			i++
		}
		out = append(out, s[:i])
		if i == len(s) {
			return out
		}
		s = s[i+1:]
	}
}

func refDecodeAlert(leaf []byte) (ev *refAlert, shape, err error) {
	defer noPanic(&err)
	lr, res, err, shape := refLogRecord(leaf)
	if err != nil {
		return nil, nil, err
	}
	ev = &refAlert{Name: EventNameOf(lr), record: lr, resource: res}
	ev.Time = int64(lr.Timestamp())
	if ev.Time == 0 {
		ev.Time = int64(lr.ObservedTimestamp())
	}
	ev.Severity = receipts.SeverityName(int32(lr.SeverityNumber()))
	if v, ok := lr.Attributes().Get("event.severity"); ok && v.Type() == pcommon.ValueTypeStr && receipts.IsAlertSeverity(v.Str()) {
		ev.Severity = v.Str()
	}
	ev.Node, _ = ev.field("host.name")
	if v, ok := ev.field("body.serviceName"); ok && v != "" {
		ev.Service = v
	} else if v, ok := res.Attributes().Get("service.name"); ok {
		ev.Service = v.AsString()
	}
	return ev, shape, nil
}

// fieldPaths are the paths worth asking an event for: every attribute, every member of the body down its maps,
// and some that are not there.
func fieldPaths(ev *refAlert) []string {
	paths := []string{"host.name", "service.name", "event.severity", "event.name", "absent", "body.", "body.absent", "body.serviceName"}
	for k := range ev.record.Attributes().All() {
		paths = append(paths, k)
	}
	for k := range ev.resource.Attributes().All() {
		paths = append(paths, k)
	}
	var walk func(prefix string, v pcommon.Value, depth int)
	walk = func(prefix string, v pcommon.Value, depth int) {
		if v.Type() != pcommon.ValueTypeMap || depth > 4 {
			return
		}
		for k, x := range v.Map().All() {
			paths = append(paths, prefix+k, prefix+k+".absent")
			walk(prefix+k+".", x, depth+1)
		}
	}
	walk("body.", ev.record.Body(), 0)
	return paths
}

// refPoint is the former receipts.MetricPoint.
type refPoint struct {
	metric string
	attrs  pcommon.Map
	value  receipts.Decimal
	ok     bool
}

func refDecodePoint(leaf []byte) (p refPoint, shape, err error) {
	defer noPanic(&err)
	md, err := metricsUnmarshaler.UnmarshalMetrics(leaf)
	if err != nil {
		return p, nil, err
	}
	if md.DataPointCount() != 1 {
		return p, nil, fmt.Errorf("leaf holds %d data points, want 1", md.DataPointCount())
	}
	rms := md.ResourceMetrics()
	shape = refShape(rms.Len(), rms.At(0).ScopeMetrics().Len(), rms.At(0).ScopeMetrics().At(0).Metrics().Len())
	m := rms.At(0).ScopeMetrics().At(0).Metrics().At(0)
	p.metric = m.Name()
	var dp pmetric.NumberDataPoint
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dp = m.Gauge().DataPoints().At(0)
	case pmetric.MetricTypeSum:
		dp = m.Sum().DataPoints().At(0)
	default:
		return p, shape, nil
	}
	p.attrs = dp.Attributes()
	switch dp.ValueType() {
	case pmetric.NumberDataPointValueTypeDouble:
		p.value, p.ok = receipts.DecimalOf(dp.DoubleValue()), true
	case pmetric.NumberDataPointValueTypeInt:
		p.value, p.ok = receipts.Decimal(dp.IntValue())*receipts.DecimalScale, true
	}
	return p, shape, nil
}

func (p refPoint) matches(spec receipts.AggregateSpec) bool {
	if !p.ok || p.metric != spec.Metric {
		return false
	}
	for k, want := range spec.Attributes {
		v, ok := p.attrs.Get(k)
		if !ok || v.AsString() != want {
			return false
		}
	}
	return true
}

// agree reports how the reader's verdict on a leaf differs from the reference's ("" when it does not).
func agree(refErr, shape, err error) (decided bool, diff string) {
	switch {
	case refErr != nil && err == nil:
		return true, fmt.Sprintf("pdata rejects (%v), the reader accepts", refErr)
	case refErr != nil:
		return true, ""
	case shape != nil && err == nil:
		return true, "the reader accepts a record not alone in its resource, scope and metric"
	case shape != nil:
		return true, ""
	case err != nil:
		return true, fmt.Sprintf("pdata accepts, the reader rejects: %v", err)
	}
	return false, ""
}

// diffLeaf compares the reader with the reference on one leaf of the signal.
func diffLeaf(signal string, leaf []byte) string {
	want, shape, refErr := refLeafInfo(signal, leaf)
	got, err := receipts.LeafInfo(signal, leaf)
	if done, d := agree(refErr, shape, err); done {
		return prefix("LeafInfo", d)
	}
	if got != want {
		return fmt.Sprintf("LeafInfo: got %+v, want %+v", got, want)
	}
	switch signal {
	case receipts.SignalLogs:
		return diffAlert(leaf)
	case receipts.SignalMetrics:
		return diffPoint(leaf)
	}
	return ""
}

func prefix(what, d string) string {
	if d == "" {
		return ""
	}
	return what + ": " + d
}

func diffAlert(leaf []byte) string {
	want, shape, refErr := refDecodeAlert(leaf)
	got, err := receipts.DecodeAlertEvent(leaf)
	if done, d := agree(refErr, shape, err); done {
		return prefix("DecodeAlertEvent", d)
	}
	if got.Name != want.Name || got.Severity != want.Severity || got.Node != want.Node || got.Service != want.Service || got.Time != want.Time {
		return fmt.Sprintf("DecodeAlertEvent: got %+v, want %+v", *got, *want)
	}
	for _, p := range fieldPaths(want) {
		gv, gok := got.Field(p)
		wv, wok := want.field(p)
		if gv != wv || gok != wok {
			return fmt.Sprintf("Field(%q): got %q %v, want %q %v", p, gv, gok, wv, wok)
		}
	}
	return ""
}

func diffPoint(leaf []byte) string {
	want, shape, refErr := refDecodePoint(leaf)
	got, err := receipts.DecodeMetricPoint(leaf)
	if done, d := agree(refErr, shape, err); done {
		return prefix("DecodeMetricPoint", d)
	}
	if got.Metric != want.metric || got.Value != want.value {
		return fmt.Sprintf("DecodeMetricPoint: got %s %d, want %s %d", got.Metric, got.Value, want.metric, want.value)
	}
	specs := []receipts.AggregateSpec{{Metric: want.metric}, {Metric: want.metric + "x"}}
	if want.ok {
		for k, v := range want.attrs.All() {
			specs = append(specs,
				receipts.AggregateSpec{Metric: want.metric, Attributes: map[string]string{k: v.AsString()}},
				receipts.AggregateSpec{Metric: want.metric, Attributes: map[string]string{k: v.AsString() + "x"}})
		}
	}
	for _, s := range specs {
		if g, w := got.Matches(s), want.matches(s); g != w {
			return fmt.Sprintf("Matches(%v): got %v, want %v", s, g, w)
		}
	}
	return ""
}

// genLeaves are the leaves of generated requests of every signal (the generator of leaf_wire_test.go: every value
// type, unicode, empty and missing parts, all metric types), and of alert-like records.
func genLeaves(t testing.TB, seed uint64) map[string][][]byte {
	g := newGen(seed)
	out := map[string][][]byte{}
	add := func(signal string) func(receipts.Record) error {
		return func(r receipts.Record) error { out[signal] = append(out[signal], r.Leaf); return nil }
	}
	if err := EncodeLogs(g.logs(), testWSAttr, add(receipts.SignalLogs)); err != nil {
		t.Fatal(err)
	}
	if err := EncodeLogs(alertLogs(g), testWSAttr, add(receipts.SignalLogs)); err != nil {
		t.Fatal(err)
	}
	if err := EncodeTraces(g.traces(5), testWSAttr, add(receipts.SignalTraces)); err != nil {
		t.Fatal(err)
	}
	if err := EncodeMetrics(g.metrics(), testWSAttr, add(receipts.SignalMetrics)); err != nil {
		t.Fatal(err)
	}
	return out
}

// alertLogs are records shaped like alerts: event.severity of several types, host.name on the record or not, a
// map body with serviceName and nested maps, arrays, doubles (NaN too) and bytes whose AsString the checks use.
func alertLogs(g *gen) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	g.resource(rl.Resource())
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := 0; i < 12; i++ {
		lr := lrs.AppendEmpty()
		lr.SetEventName([]string{"", "HostDown", "ServiceDegraded"}[i%3])
		lr.SetSeverityNumber(plog.SeverityNumber(g.n(30)))
		if g.chance(0.5) {
			lr.SetTimestamp(g.ts())
		}
		if g.chance(0.5) {
			lr.SetObservedTimestamp(g.ts())
		}
		a := lr.Attributes()
		switch i % 4 {
		case 0:
			a.PutStr("event.severity", []string{"critical", "warning", "info", "bogus"}[g.n(3)])
		case 1:
			a.PutInt("event.severity", 3)
		case 2:
			a.PutStr("event.name", g.str())
		}
		if g.chance(0.5) {
			a.PutStr("host.name", g.str())
		}
		body := lr.Body().SetEmptyMap()
		if g.chance(0.7) {
			body.PutStr("serviceName", g.str())
		}
		body.PutDouble("ratio", []float64{0.5, 1e21, 1e-7, 2.5e-6, 1e-6, 123456789e12, math.Copysign(0, -1), math.NaN(), math.Inf(1), 3}[g.n(9)])
		nested := body.PutEmptyMap("detail")
		nested.PutInt("n", int64(g.n(1000))-500)
		nested.PutBool("ok", g.chance(0.5))
		nested.PutEmptyBytes("raw").FromRaw([]byte(g.str()))
		nested.PutEmpty("nothing")
		arr := body.PutEmptySlice("list")
		arr.AppendEmpty().SetStr("<&>")
		arr.AppendEmpty().SetDouble(g.float())
		arr.AppendEmpty().SetEmptyMap().PutStr("k", "v")
		if g.chance(0.3) {
			body.PutStr("serviceName", "second") // a repeated key: Get finds the first, AsRaw keeps the last
		}
		g.attrs(nested.PutEmptyMap("random"), 1)
	}
	return ld
}

// mutate is leaf with a few random byte edits, truncations or insertions: mostly malformed, sometimes still valid.
func mutate(r *rand.Rand, leaf []byte) []byte {
	b := append([]byte(nil), leaf...)
	for n := 1 + r.IntN(3); n > 0 && len(b) > 0; n-- {
		i := r.IntN(len(b))
		switch r.IntN(4) {
		case 0:
			b[i] = byte(r.IntN(256))
		case 1:
			b[i] ^= 1 << r.IntN(8)
		case 2:
			b = b[:i]
		case 3:
			b = append(b[:i], append([]byte{byte(r.IntN(256))}, b[i:]...)...)
		}
	}
	return b
}

var signals = []string{receipts.SignalLogs, receipts.SignalMetrics, receipts.SignalTraces}

func TestLeafReaderMatchesPdataOnGeneratedRecords(t *testing.T) {
	n := 0
	for seed := uint64(1); seed <= 40; seed++ {
		for signal, leaves := range genLeaves(t, seed) {
			for _, leaf := range leaves {
				n++
				if d := diffLeaf(signal, leaf); d != "" {
					t.Fatalf("seed %d %s leaf %x: %s", seed, signal, leaf, d)
				}
			}
		}
	}
	if n < 1000 {
		t.Fatalf("only %d leaves generated", n)
	}
}

func TestLeafReaderMatchesPdataOnDamagedLeaves(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	rejected, accepted := 0, 0
	for seed := uint64(100); seed < 120; seed++ {
		for signal, leaves := range genLeaves(t, seed) {
			for _, leaf := range leaves {
				for k := 0; k < 5; k++ {
					m := mutate(r, leaf)
					// Read each damaged leaf as every signal: a log leaf is no valid trace leaf, mostly.
					for _, as := range signals {
						if d := diffLeaf(as, m); d != "" {
							t.Fatalf("%s leaf %x damaged to %x, read as %s: %s", signal, leaf, m, as, d)
						}
						if _, err := receipts.LeafInfo(as, m); err != nil {
							rejected++
						} else {
							accepted++
						}
					}
				}
			}
		}
	}
	// Both verdicts must be exercised for the comparison to mean something.
	if rejected < 1000 || accepted < 500 {
		t.Fatalf("rejected %d, accepted %d", rejected, accepted)
	}
}

// A leaf whose one record is not alone (a second, empty resource; an empty scope before it; an empty metric) is
// rejected, where the pdata-based code read the first resource or panicked.
func TestLeafReaderRejectsRecordNotAlone(t *testing.T) {
	logs := func(build func(ld plog.Logs)) []byte {
		ld := plog.NewLogs()
		build(ld)
		b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one := func(rl plog.ResourceLogs) {
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetSeverityNumber(9)
	}
	cases := map[string][]byte{
		"second empty resource": logs(func(ld plog.Logs) { one(ld.ResourceLogs().AppendEmpty()); ld.ResourceLogs().AppendEmpty() }),
		"empty resource first":  logs(func(ld plog.Logs) { ld.ResourceLogs().AppendEmpty(); one(ld.ResourceLogs().AppendEmpty()) }),
		"empty scope first": logs(func(ld plog.Logs) {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.ScopeLogs().AppendEmpty()
			one(rl)
		}),
	}
	for name, leaf := range cases {
		if _, err := receipts.LeafInfo(receipts.SignalLogs, leaf); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := receipts.DecodeAlertEvent(leaf); err == nil {
			t.Errorf("%s: DecodeAlertEvent accepted", name)
		}
		if d := diffLeaf(receipts.SignalLogs, leaf); d != "" {
			t.Errorf("%s: %s", name, d)
		}
	}
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	ms.AppendEmpty().SetName("empty")
	g := ms.AppendEmpty()
	g.SetName("g")
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	leaf, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := receipts.DecodeMetricPoint(leaf); err == nil {
		t.Error("a point after an empty metric: accepted")
	}
}

func field(num protowire.Number, parts ...[]byte) []byte {
	var payload []byte
	for _, p := range parts {
		payload = append(payload, p...)
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), payload)
}

func varintField(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func attr(k, v string) []byte { return field(1, field(1, []byte(k)), field(2, field(1, []byte(v)))) }

// The reader keeps pdata's reading of leaves that are valid for pdata but not what the exporter writes.
func TestLeafReaderMatchesPdataOnOddEncodings(t *testing.T) {
	logLeaf := func(resource, record []byte) []byte {
		return field(1, field(1, resource), field(2, field(2, record)))
	}
	cases := map[string][]byte{
		// Singular fields repeated: the last scalar wins, messages merge (two resources, two bodies).
		"repeated fields": field(1, field(1, attr("service.name", "a")), field(1, attr("host.name", "h")),
			field(2, field(2, varintField(2, 9), varintField(2, 17), field(12, []byte("e")),
				field(5, field(6, attr("serviceName", "s1"))), field(5, field(6, attr("x", "y")))))),
		// Deprecated scopes (ResourceLogs field 1000) beside the record's: pdata's protobuf unmarshaler keeps them
		// aside (only the OTLP receivers move them in), so they hold no record.
		"deprecated scopes": field(1, field(1, attr("service.name", "old")), field(2, field(2, varintField(2, 9))),
			field(1000, field(2, varintField(2, 13)), field(2, varintField(2, 14)))),
		// An unknown group: pdata ends it at its first non-group field and never looks for its end.
		"unknown group": logLeaf(nil, append(protowire.AppendTag(nil, 20, protowire.StartGroupType), varintField(2, 5)...)),
		// A ten-byte varint whose last byte overflows 64 bits: pdata drops the excess bits.
		"overlong varint": logLeaf(nil, append(protowire.AppendTag(nil, 2, protowire.VarintType),
			0x89, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f)),
		// A field number above 2^31: pdata truncates it to 32 bits, so it reads as severity_number.
		"field number over 2^32": logLeaf(nil, protowire.AppendVarint(protowire.AppendVarint(nil, (1<<32+2)<<3), 21)),
		// string_value_strindex (profiles) after a string: pdata reads an empty value.
		"strindex": logLeaf(attr("host.name", "n"), field(6, field(1, []byte("host.name")),
			field(2, field(1, []byte("s")), varintField(8, 3)))),
		// AnyValue members replace each other: a kvlist then a string is a string.
		"oneof replaced": logLeaf(attr("host.name", "n"), field(5, field(6, attr("serviceName", "s")), field(1, []byte("str")))),
	}
	for name, leaf := range cases {
		if _, err := logsUnmarshaler.UnmarshalLogs(leaf); err != nil {
			t.Fatalf("%s: pdata rejects the case: %v", name, err)
		}
		if _, err := receipts.LeafInfo(receipts.SignalLogs, leaf); err != nil {
			t.Errorf("%s: rejected: %v", name, err)
		}
		if d := diffLeaf(receipts.SignalLogs, leaf); d != "" {
			t.Errorf("%s: %s", name, d)
		}
	}
}

func FuzzLeafReaderMatchesPdata(f *testing.F) {
	for seed := uint64(1); seed <= 3; seed++ {
		for signal, leaves := range genLeaves(f, seed) {
			for i, leaf := range leaves {
				if i < 10 {
					f.Add(byte(len(signal)), leaf)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, s byte, leaf []byte) {
		signal := signals[int(s)%len(signals)]
		if d := diffLeaf(signal, leaf); d != "" {
			t.Fatalf("%s leaf %x: %s", signal, leaf, d)
		}
	})
}
