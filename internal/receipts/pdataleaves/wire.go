package pdataleaves

import (
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
)

// Leaves from wire bytes.
//
// A leaf is the canonical protobuf of a one-record Export*ServiceRequest (docs/receipts.md §3). Rather than
// copying each record into a scratch pdata request and marshaling it, the Encode*Wire functions walk the
// request's own ProtoMarshaler output in lock-step with the pdata and assemble every leaf from the exact bytes of
// its resource, scope, schema_url fields and record, adding the tags and lengths pdata would write around them.
//
// pdata v1.55 (internal/generated_proto_*.go) marshals back to front, so on the wire the fields of a message come
// in descending field-number order, repeated fields in element order, proto3 scalars and strings only when set,
// and the non-nullable resource / scope sub-messages always (empty as 0a 00). A one-record leaf is therefore
//
//	ExportXServiceRequest  = 0a len ResourceX
//	ResourceX              = [schema_url] 12 len ScopeX [resource]
//	ScopeX                 = [schema_url] 12 len record [scope]
//
// (the deprecated ResourceX field 1000, which pdata keeps from a decoded request and writes back, is dropped: the
// scratch copy never carried it), and for a metric data point the record is the metric with only that point:
//
//	Metric                 = <metric fields before the data field> tag len Data <metric fields after it>
//	Data                   = <data fields before the points> 0a len point <data fields after the points>
//
// Every piece is copied verbatim from the request bytes, so the leaves are byte-identical to marshaling the
// scratch copies (leaf_ref_test.go keeps that implementation; the tests and FuzzLeavesMatchReference compare).
//
// The request is parsed once into a wireIndex of byte ranges (no pointers, so it costs the GC nothing); the leaves
// are then sized and written from it into one buffer.

// errWire reports request bytes that are not the ProtoMarshaler output of the pdata passed with them.
var errWire = errors.New("receipts: request bytes do not match the request (want its ProtoMarshaler output)")

// emptyHead is a resource or scope field holding an empty message, as pdata writes it.
var emptyHead = []byte{0x0a, 0x00}

const (
	tagField1 = 0x0a // field 1, length-delimited
	tagField2 = 0x12 // field 2, length-delimited
)

// rng is the byte range raw[s:e] of the request; headless (s < 0) stands for emptyHead.
type rng struct{ s, e int }

var headless = rng{-1, -1}

func (r rng) len() int {
	if r.s < 0 {
		return len(emptyHead)
	}
	return r.e - r.s
}

func (r rng) of(raw []byte) []byte {
	if r.s < 0 {
		return emptyHead
	}
	return raw[r.s:r.e:r.e]
}

type wireField struct {
	num   protowire.Number
	typ   protowire.Type
	whole rng // tag included
	val   rng // the payload of a length-delimited field
}

// readField reads the field at b[pos:]; offsets are those of b.
func readField(b []byte, pos int) (wireField, error) {
	num, typ, n := protowire.ConsumeTag(b[pos:])
	if n < 0 {
		return wireField{}, errWire
	}
	f := wireField{num: num, typ: typ, whole: rng{pos, 0}}
	p := pos + n
	if typ == protowire.BytesType {
		l, m := protowire.ConsumeVarint(b[p:])
		if m < 0 || l > uint64(len(b)-p-m) {
			return wireField{}, errWire
		}
		f.val = rng{p + m, p + m + int(l)}
		f.whole.e = f.val.e
		return f, nil
	}
	m := protowire.ConsumeFieldValue(num, typ, b[p:])
	if m < 0 {
		return wireField{}, errWire
	}
	f.whole.e = p + m
	return f, nil
}

// envelope is what all leaves of one scope share: the whole schema_url and resource / scope fields. An unset
// schema_url is the empty range.
type envelope struct {
	resSchema, resource rng
	scpSchema, scope    rng
}

// metricSplit is a Metric cut around its data field, and the data message cut around its data points.
type metricSplit struct {
	prefix, suffix   rng // metric fields before / after the data field
	dPrefix, dSuffix rng // data fields before the first / after the last point
	tag              byte
}

// recRef is one record (a log record, span or data point) of the request: its bytes, the envelope of its scope,
// for a data point the split of its metric, and for a span its trace's buffer.
type recRef struct {
	rec   rng
	env   int32
	split int32
	group int32
}

// wireIndex is a parsed request: its records in order (the order of the pdata loops) with their envelopes.
type wireIndex struct {
	envs   []envelope
	recs   []recRef
	splits []metricSplit
}

// shape is the pdata side of the lock-step walk. elements is the number of log records, spans or metrics of a
// scope; points (metrics only) checks that metric ei has n points in data field dataNum.
type shape interface {
	resources() int
	scopes(ri int) int
	elements(ri, si int) int
	points(ri, si, ei int, dataNum protowire.Number, n int) bool
}

// scanLevel reads a ResourceX or ScopeX message: its whole field 1 (resource / scope), its whole field 3
// (schema_url; empty when unset or empty, as pdata then writes nothing) and the number of its field-2 children.
func scanLevel(raw []byte, m rng) (head, schema rng, children int, err error) {
	head = headless
	b := raw[:m.e]
	for pos := m.s; pos < m.e; {
		f, err := readField(b, pos)
		if err != nil {
			return head, schema, 0, err
		}
		pos = f.whole.e
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			head = f.whole
		case 2:
			children++
		case 3:
			schema = rng{}
			if f.val.e > f.val.s {
				schema = f.whole
			}
		}
	}
	return head, schema, children, nil
}

// indexRequest parses an Export{Logs,Traces,Metrics}ServiceRequest (they share these field numbers), checking it
// against sh. nrec, nscopes and nmetrics are capacity hints; with metrics every metric is split into data points.
func indexRequest[S shape](raw []byte, sh S, nrec, nscopes, nmetrics int, metrics bool) (x wireIndex, err error) {
	x = wireIndex{envs: make([]envelope, 0, nscopes), recs: make([]recRef, 0, nrec)}
	if metrics {
		x.splits = make([]metricSplit, 0, nmetrics)
	}
	var env envelope
	nres := sh.resources()
	ri := 0
	for pos := 0; pos < len(raw); {
		f, err := readField(raw, pos)
		if err != nil {
			return x, err
		}
		pos = f.whole.e
		if f.num != 1 || f.typ != protowire.BytesType {
			continue
		}
		if ri >= nres {
			return x, errWire
		}
		var nsc int
		if env.resource, env.resSchema, nsc, err = scanLevel(raw, f.val); err != nil {
			return x, err
		}
		if nsc != sh.scopes(ri) {
			return x, errWire
		}
		rb := raw[:f.val.e]
		si := 0
		for p := f.val.s; p < f.val.e; {
			g, _ := readField(rb, p) // scanLevel read these already
			p = g.whole.e
			if g.num != 2 || g.typ != protowire.BytesType {
				continue
			}
			var nel int
			if env.scope, env.scpSchema, nel, err = scanLevel(raw, g.val); err != nil {
				return x, err
			}
			if nel != sh.elements(ri, si) {
				return x, errWire
			}
			ei := int32(len(x.envs))
			x.envs = append(x.envs, env)
			sb := raw[:g.val.e]
			el := 0
			for q := g.val.s; q < g.val.e; {
				h, _ := readField(sb, q)
				q = h.whole.e
				if h.num != 2 || h.typ != protowire.BytesType {
					continue
				}
				if !metrics {
					x.recs = append(x.recs, recRef{rec: h.val, env: ei, split: -1})
				} else {
					dataNum, n, err := x.addMetric(raw, h.val, ei)
					if err != nil {
						return x, err
					}
					if !sh.points(ri, si, el, dataNum, n) {
						return x, errWire
					}
				}
				el++
			}
			si++
		}
		ri++
	}
	if ri != nres {
		return x, errWire
	}
	return x, nil
}

func isDataField(n protowire.Number) bool {
	return n == 5 || n == 7 || n == 9 || n == 10 || n == 11
}

// addMetric splits the Metric raw[m] and adds its data points; it returns the data field number and point count.
func (x *wireIndex) addMetric(raw []byte, m rng, env int32) (protowire.Number, int, error) {
	var (
		ms      metricSplit
		dataNum protowire.Number
		data    rng
	)
	b := raw[:m.e]
	for pos := m.s; pos < m.e; {
		f, err := readField(b, pos)
		if err != nil {
			return 0, 0, err
		}
		pos = f.whole.e
		if f.typ != protowire.BytesType || !isDataField(f.num) {
			continue
		}
		if dataNum != 0 {
			return 0, 0, errWire // a oneof: pdata writes one
		}
		dataNum, data = f.num, f.val
		ms.prefix, ms.suffix = rng{m.s, f.whole.s}, rng{f.whole.e, m.e}
		ms.tag = byte(protowire.EncodeTag(f.num, protowire.BytesType))
	}
	first, last, n := -1, -1, 0
	split := int32(len(x.splits))
	b = raw[:data.e]
	for pos := data.s; pos < data.e; {
		f, err := readField(b, pos)
		if err != nil {
			return 0, 0, err
		}
		pos = f.whole.e
		if f.num != 1 || f.typ != protowire.BytesType {
			continue
		}
		if first < 0 {
			first = f.whole.s
		} else if f.whole.s != last {
			return 0, 0, errWire // pdata writes the points together
		}
		last = f.whole.e
		x.recs = append(x.recs, recRef{rec: f.val, env: env, split: split})
		n++
	}
	if n > 0 {
		ms.dPrefix, ms.dSuffix = rng{data.s, first}, rng{last, data.e}
		x.splits = append(x.splits, ms)
	}
	return dataNum, n, nil
}

// layer is one enclosing message of a leaf: prefix, then the field (tag, length) holding the next layer or the
// record, then suffix.
type layer struct {
	prefix, suffix []byte
	tag            byte
}

const maxLayers = 5 // request, resource, scope, metric, metric data

// leafPlan lays out the leaves of one scope (and metric).
type leafPlan struct {
	raw    []byte
	layers [maxLayers]layer
	n      int
	inner  [maxLayers]int // inner[i] is the length of the message in layer i's field
	env    int32
	split  int32
}

func newLeafPlan(raw []byte) leafPlan {
	return leafPlan{raw: raw, env: -1, split: -1}
}

// set lays out leaves for the records of r's scope (and metric).
func (p *leafPlan) set(x *wireIndex, r *recRef) {
	if r.env != p.env {
		env := &x.envs[r.env]
		p.layers[0] = layer{tag: tagField1}
		p.layers[1] = layer{prefix: env.resSchema.of(p.raw), tag: tagField2, suffix: env.resource.of(p.raw)}
		p.layers[2] = layer{prefix: env.scpSchema.of(p.raw), tag: tagField2, suffix: env.scope.of(p.raw)}
		p.n, p.env = 3, r.env
	}
	if r.split >= 0 && (r.split != p.split || p.n != maxLayers) {
		ms := &x.splits[r.split]
		p.layers[3] = layer{prefix: ms.prefix.of(p.raw), tag: ms.tag, suffix: ms.suffix.of(p.raw)}
		p.layers[4] = layer{prefix: ms.dPrefix.of(p.raw), tag: tagField1, suffix: ms.dSuffix.of(p.raw)}
		p.n, p.split = maxLayers, r.split
	}
}

// size computes the lengths for a record of n bytes and returns the leaf size.
func (p *leafPlan) size(n int) int {
	for i := p.n - 1; i >= 0; i-- {
		p.inner[i] = n
		l := &p.layers[i]
		n = len(l.prefix) + 1 + protowire.SizeVarint(uint64(n)) + n + len(l.suffix)
	}
	return n
}

// total is the size of all leaves of x.
func (p *leafPlan) total(x *wireIndex) int {
	t := 0
	for i := range x.recs {
		r := &x.recs[i]
		p.set(x, r)
		t += p.size(r.rec.len())
	}
	return t
}

// carve writes the leaf of r into the front of *buf and returns it with its capacity capped, so appending to one
// leaf never overwrites the next.
func (p *leafPlan) carve(x *wireIndex, r *recRef, buf *[]byte) ([]byte, error) {
	p.set(x, r)
	rec := r.rec.of(p.raw)
	n := p.size(len(rec))
	b := *buf
	if n > len(b) {
		return nil, errWire
	}
	dst := b[:0:n]
	for i := 0; i < p.n; i++ {
		l := &p.layers[i]
		dst = append(dst, l.prefix...)
		dst = append(dst, l.tag)
		dst = protowire.AppendVarint(dst, uint64(p.inner[i]))
	}
	dst = append(dst, rec...)
	for i := p.n - 1; i >= 0; i-- {
		dst = append(dst, p.layers[i].suffix...)
	}
	if len(dst) != n {
		return nil, errWire
	}
	*buf = b[n:]
	return dst, nil
}
