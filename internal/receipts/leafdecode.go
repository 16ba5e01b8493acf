package receipts

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// The facts the verifier reads from a leaf (see leafwire.go).

// valueKind is the type of an OTLP AnyValue, as pcommon.ValueType.
type valueKind uint8

const (
	valueEmpty valueKind = iota
	valueStr
	valueBool
	valueInt
	valueDouble
	valueMap
	valueSlice
	valueBytes
)

// anyValue is an OTLP AnyValue.
type anyValue struct {
	kind  valueKind
	str   string
	num   uint64 // bool, int or the bits of a double
	bytes []byte
	arr   []anyValue
	kvs   attributes
}

type keyValue struct {
	key string
	val anyValue
}

// attributes is a list of key-values in wire order.
type attributes []keyValue

// get is the value of the first attribute named key, as pcommon.Map.Get.
func (a attributes) get(key string) (anyValue, bool) {
	for i := range a {
		if a[i].key == key {
			return a[i].val, true
		}
	}
	return anyValue{}, false
}

// read applies the AnyValue message b to v: each member of the oneof replaces the value.
func (v *anyValue) read(b []byte) {
	eachField(b, func(f wireField) {
		switch f.num {
		case 1:
			*v = anyValue{kind: valueStr, str: string(b[f.s:f.e])}
		case 2:
			*v = anyValue{kind: valueBool, num: boolNum(f.v != 0)}
		case 3:
			*v = anyValue{kind: valueInt, num: f.v}
		case 4:
			*v = anyValue{kind: valueDouble, num: f.v}
		case 5:
			nv := anyValue{kind: valueSlice, arr: []anyValue{}}
			eachField(b[f.s:f.e], func(g wireField) {
				if g.num == 1 {
					var e anyValue
					e.read(b[f.s:f.e][g.s:g.e])
					nv.arr = append(nv.arr, e)
				}
			})
			*v = nv
		case 6:
			nv := anyValue{kind: valueMap, kvs: attributes{}}
			eachField(b[f.s:f.e], func(g wireField) {
				if g.num == 1 {
					nv.kvs = nv.kvs.add(b[f.s:f.e][g.s:g.e])
				}
			})
			*v = nv
		case 7:
			*v = anyValue{kind: valueBytes, bytes: append([]byte(nil), b[f.s:f.e]...)}
		case 8: // string_value_strindex (profiles): pdata reads it as an empty value
			*v = anyValue{}
		}
	})
}

func boolNum(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// add appends the KeyValue message b.
func (a attributes) add(b []byte) attributes {
	var kv keyValue
	eachField(b, func(f wireField) {
		switch f.num {
		case 1:
			kv.key = string(b[f.s:f.e])
		case 2:
			kv.val.read(b[f.s:f.e])
		}
	})
	return append(a, kv)
}

// read appends the key-values of the fields num of message b.
func (a attributes) read(b []byte, num int32) attributes {
	eachField(b, func(f wireField) {
		if f.num == num && f.wt == wtLen {
			a = a.add(b[f.s:f.e])
		}
	})
	return a
}

// asString is pcommon.Value.AsString.
func (v anyValue) asString() string {
	switch v.kind {
	case valueStr:
		return v.str
	case valueBool:
		return strconv.FormatBool(v.num != 0)
	case valueDouble:
		return float64AsString(math.Float64frombits(v.num))
	case valueInt:
		return strconv.FormatInt(int64(v.num), 10)
	case valueMap, valueSlice:
		j, _ := json.Marshal(v.asRaw())
		return string(j)
	case valueBytes:
		return base64.StdEncoding.EncodeToString(v.bytes)
	}
	return ""
}

// asRaw is pcommon.Value.AsRaw: a map keeps the last value of a repeated key.
func (v anyValue) asRaw() any {
	switch v.kind {
	case valueStr:
		return v.str
	case valueBool:
		return v.num != 0
	case valueDouble:
		return math.Float64frombits(v.num)
	case valueInt:
		return int64(v.num)
	case valueBytes:
		return append([]byte(nil), v.bytes...)
	case valueMap:
		m := make(map[string]any, len(v.kvs))
		for _, kv := range v.kvs {
			m[kv.key] = kv.val.asRaw()
		}
		return m
	case valueSlice:
		s := make([]any, 0, len(v.arr))
		for _, e := range v.arr {
			s = append(s, e.asRaw())
		}
		return s
	}
	return nil
}

// float64AsString spells a double as pcommon does (ES6 number to string).
func float64AsString(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "json: unsupported value: " + strconv.FormatFloat(f, 'g', -1, 64)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(nil, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return string(b)
}

// subs are the payloads of the fields num of message b.
func subs(b []byte, num int32) [][]byte {
	var out [][]byte
	eachField(b, func(f wireField) {
		if f.num == num && f.wt == wtLen {
			out = append(out, b[f.s:f.e])
		}
	})
	return out
}

// lastField is the last field num of message b.
func lastField(b []byte, num int32) (wireField, bool) {
	var last wireField
	ok := false
	eachField(b, func(f wireField) {
		if f.num == num {
			last, ok = f, true
		}
	})
	return last, ok
}

func lastUint(b []byte, num int32) uint64 {
	f, _ := lastField(b, num)
	return f.v
}

func lastString(b []byte, num int32) string {
	if f, ok := lastField(b, num); ok {
		return string(b[f.s:f.e])
	}
	return ""
}

// merged concatenates the payloads of the fields num of message b: a message repeated in place of a singular
// one merges, which for the fields read here is reading the concatenation.
func merged(b []byte, num int32) []byte {
	var out []byte
	for _, s := range subs(b, num) {
		out = append(out, s...)
	}
	return out
}

var dataFields = [...]int32{5, 7, 9, 10, 11} // Metric.data: gauge, sum, histogram, exponential_histogram, summary

// metricData is the data field of a Metric (the last member of the oneof written) and its points.
func metricData(m []byte) (num int32, points [][]byte) {
	eachField(m, func(f wireField) {
		for _, d := range dataFields {
			if f.num == d {
				num, points = d, subs(m[f.s:f.e], 1)
			}
		}
	})
	return num, points
}

// leafParts is the one record of a leaf: its resource (the merged Resource message), for metrics the Metric,
// and the record (the log record, span or data point).
type leafParts struct {
	resource []byte
	metric   []byte
	dataNum  int32
	record   []byte
}

// splitLeaf reads a leaf of the signal: it must be what pdata unmarshals, hold one record (what the pdata-based
// decoder checked) and hold it in one resource, one scope and (metrics) one metric, as §3 says.
func splitLeaf(signal string, leaf []byte) (leafParts, error) {
	var (
		req  *schema
		what string
	)
	switch signal {
	case SignalLogs:
		req, what = schemaLogsRequest, "log records"
	case SignalTraces:
		req, what = schemaTracesRequest, "spans"
	case SignalMetrics:
		req, what = schemaMetricsRequest, "data points"
	default:
		return leafParts{}, fmt.Errorf("unknown signal %s", signal)
	}
	if err := validate(leaf, req); err != nil {
		return leafParts{}, err
	}
	var (
		p                         leafParts
		count, nscopes, nelements int
	)
	resources := subs(leaf, 1)
	for _, rs := range resources {
		scopes := subs(rs, 2) // not the deprecated field 1000, which pdata's protobuf unmarshaler keeps aside
		nscopes += len(scopes)
		for _, sc := range scopes {
			for _, el := range subs(sc, 2) {
				nelements++
				if signal != SignalMetrics {
					count++
					p.record = el
					continue
				}
				num, points := metricData(el)
				count += len(points)
				if len(points) > 0 {
					p.metric, p.dataNum, p.record = el, num, points[0]
				}
			}
		}
	}
	if count != 1 {
		return leafParts{}, fmt.Errorf("leaf holds %d %s, want 1", count, what)
	}
	if len(resources) != 1 || nscopes != 1 || nelements != 1 {
		return leafParts{}, fmt.Errorf("leaf holds its record with %d resources, %d scopes and %d elements, want one each", len(resources), nscopes, nelements)
	}
	p.resource = merged(resources[0], 1)
	return p, nil
}

// resourceFacts are the service.name and host.name of a Resource message.
func resourceFacts(res []byte) (service, node string, attrs attributes) {
	attrs = attributes(nil).read(res, 1)
	if v, ok := attrs.get("service.name"); ok {
		service = v.asString()
	}
	if v, ok := attrs.get("host.name"); ok {
		node = v.asString()
	}
	return service, node, attrs
}

// logRecord is what the verifier reads of a LogRecord.
type logRecord struct {
	time, observed int64
	severity       int32
	eventName      string
	attrs          attributes
	body           anyValue
}

func readLogRecord(b []byte) logRecord {
	lr := logRecord{attrs: attributes{}}
	eachField(b, func(f wireField) {
		switch f.num {
		case 1:
			lr.time = int64(f.v)
		case 11:
			lr.observed = int64(f.v)
		case 2:
			lr.severity = int32(f.v)
		case 12:
			lr.eventName = string(b[f.s:f.e])
		case 6:
			lr.attrs = lr.attrs.add(b[f.s:f.e])
		case 5:
			lr.body.read(b[f.s:f.e])
		}
	})
	return lr
}

// eventNameOf is the event name of a log record: its EventName field, else its event.name attribute.
func (lr *logRecord) eventNameOf() string {
	if lr.eventName != "" {
		return lr.eventName
	}
	if v, ok := lr.attrs.get("event.name"); ok {
		return v.asString()
	}
	return ""
}

// id is the trace or span id field num of b (validate checked it is empty or size long); empty is all zeros.
func id(b []byte, num int32, size int) []byte {
	out := make([]byte, size)
	if f, ok := lastField(b, num); ok {
		copy(out, b[f.s:f.e])
	}
	return out
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// spanInfo reads a Span message.
func spanInfo(sp []byte, svc, node string) RecordInfo {
	info := RecordInfo{
		Service: svc, Node: node,
		TraceID:  hex.EncodeToString(id(sp, 1, 16)),
		SpanID:   hex.EncodeToString(id(sp, 2, 8)),
		SpanName: lastString(sp, 5),
		Kind:     int32(lastUint(sp, 6)),
		Start:    int64(lastUint(sp, 7)),
		End:      int64(lastUint(sp, 8)),
		Error:    int32(lastUint(merged(sp, 15), 3)) == statusCodeError,
	}
	if parent := id(sp, 4, 8); !isZero(parent) {
		info.Parent = hex.EncodeToString(parent)
	}
	return info
}

// OTLP enum values the verifier compares (opentelemetry.proto.trace.v1).
const (
	statusCodeError  = 2
	spanKindServer   = 2
	spanKindConsumer = 5
)
