package eventrouterconnector

import (
	"encoding/json"
	"hash/maphash"
	"math"
	"math/big"
	"regexp/syntax"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// The library validator builds error trees and compares every number through math/big; that costs tens of
// microseconds and hundreds of allocations per event. Most events are valid, so a contract also gets a
// fast path: an evaluator over the library's own compiled schema for the keywords event contracts use.
// Only its "valid" verdict is trusted; anything else (a violation, or a case it cannot decide exactly)
// goes to the library, which stays the authority for every rejection and its reason. A schema using a
// keyword outside this subset has no fast path at all. FuzzContract checks both agree.

type verdict uint8

const (
	valid verdict = iota
	invalid
	unsure // e.g. an integer beyond 2^53 compared with a float bound
)

// maxFastDepth bounds $ref chains and nesting; deeper documents are left to the library.
const maxFastDepth = 64

// JSON types, as bits.
const (
	tNull uint8 = 1 << iota
	tBoolean
	tNumber
	tInteger
	tString
	tArray
	tObject
)

var typeBits = map[string]uint8{
	"null": tNull, "boolean": tBoolean, "number": tNumber, "integer": tInteger,
	"string": tString, "array": tArray, "object": tObject,
}

type fastNode struct {
	always *bool // boolean schema

	types    uint8 // 0: any type
	enum     []any // normalized values; nil with hasEnum means nothing matches
	hasEnum  bool
	constVal any
	hasConst bool
	format   func(any) error

	ref                 *fastNode
	allOf, anyOf, oneOf []*fastNode
	not                 *fastNode
	ifNode              *fastNode
	thenNode, elseNode  *fastNode

	// object
	props        map[string]fastProp
	requiredOnly map[string]uint64 // required names without a properties entry, and their bit
	requiredMask uint64            // one bit per required name
	patterns     []fastPattern
	additional   *fastNode // nil: anything goes
	maxProps     int       // -1: unset

	// array
	items              *fastNode
	minItems, maxItems int

	// string
	minLen, maxLen int
	pattern        *matcher

	// number: integral bounds within ±2^53
	min, max, exMin, exMax *float64
}

type fastProp struct {
	node   *fastNode
	reqBit uint64 // non-zero when the property is required
}

type fastPattern struct {
	re   *matcher
	node *fastNode
}

// matcher runs a schema pattern; "^literal" patterns, like the contracts' "^tfo\\.", become a prefix test.
// Other results are remembered in a small direct-mapped cache: the strings patterns guard (agent ids and
// versions, error codes, commit shas) repeat across a fleet's events, and Go's regexp costs hundreds of ns.
type matcher struct {
	re     jsonschema.Regexp
	prefix string
	simple bool
	seed   maphash.Seed
	cache  [matchCacheSize]atomic.Pointer[matchEntry]
}

const (
	matchCacheSize   = 256
	maxCachedPattern = 128 // longer inputs are matched every time
)

type matchEntry struct {
	s  string
	ok bool
}

func newMatcher(re jsonschema.Regexp) *matcher {
	m := &matcher{re: re, seed: maphash.MakeSeed()}
	if parsed, err := syntax.Parse(re.String(), syntax.Perl); err == nil {
		parsed = parsed.Simplify()
		if parsed.Op == syntax.OpConcat && len(parsed.Sub) == 2 &&
			parsed.Sub[0].Op == syntax.OpBeginText && parsed.Sub[1].Op == syntax.OpLiteral &&
			parsed.Sub[1].Flags&syntax.FoldCase == 0 {
			m.prefix, m.simple = string(parsed.Sub[1].Rune), true
		}
	}
	return m
}

func (m *matcher) match(s string) bool {
	if m.simple {
		return strings.HasPrefix(s, m.prefix)
	}
	if len(s) > maxCachedPattern {
		return m.re.MatchString(s)
	}
	slot := &m.cache[maphash.String(m.seed, s)%matchCacheSize]
	if e := slot.Load(); e != nil && e.s == s {
		return e.ok
	}
	ok := m.re.MatchString(s)
	slot.Store(&matchEntry{s: strings.Clone(s), ok: ok})
	return ok
}

// compileFast mirrors a compiled schema; ok is false when it uses a keyword the fast path does not cover.
func compileFast(s *jsonschema.Schema) (node *fastNode, ok bool) {
	c := &fastCompiler{nodes: map[*jsonschema.Schema]*fastNode{}}
	if node, ok = c.compile(s); !ok {
		return nil, false
	}
	memo := map[*fastNode]int{}
	for _, n := range c.nodes { // every subschema: one only reached through a property can loop too
		if _, bounded := inPlacePaths(n, memo); !bounded {
			return nil, false
		}
	}
	return node, true
}

// maxInPlacePaths bounds the subschemas one value is evaluated against without descending into it.
const maxInPlacePaths = 1000

// inPlacePaths counts the evaluations of n's in-place applicators ($ref, allOf, anyOf, oneOf, not,
// if/then/else) on one value. A cycle among them ({"$ref": "#", "not": {"$ref": "#"}}) never consumes
// the document and doubles at every step, and shared subschemas can multiply too: such a schema is
// left to the library, which reports the loop.
func inPlacePaths(n *fastNode, memo map[*fastNode]int) (int, bool) {
	if c, seen := memo[n]; seen {
		return c, c > 0 // 0: on the current path, a cycle
	}
	memo[n] = 0
	total := 1
	for _, m := range slices.Concat([]*fastNode{n.ref, n.not, n.ifNode, n.thenNode, n.elseNode}, n.allOf, n.anyOf, n.oneOf) {
		if m == nil {
			continue
		}
		c, ok := inPlacePaths(m, memo)
		if !ok {
			return 0, false
		}
		if total += c; total > maxInPlacePaths {
			return 0, false
		}
	}
	memo[n] = total
	return total, true
}

type fastCompiler struct {
	nodes map[*jsonschema.Schema]*fastNode
}

func (c *fastCompiler) compile(s *jsonschema.Schema) (*fastNode, bool) {
	if s == nil {
		return nil, true
	}
	if n, ok := c.nodes[s]; ok {
		return n, true // shared or recursive ($ref) subschema
	}
	n := &fastNode{maxProps: -1, minItems: -1, maxItems: -1, minLen: -1, maxLen: -1}
	c.nodes[s] = n
	if s.Bool != nil {
		n.always = s.Bool
		return n, true
	}
	if s.DraftVersion != 2020 || s.RecursiveRef != nil || s.DynamicRef != nil || s.PropertyNames != nil ||
		len(s.Dependencies) > 0 || len(s.DependentRequired) > 0 || len(s.DependentSchemas) > 0 ||
		s.UnevaluatedProperties != nil || s.UnevaluatedItems != nil || s.UniqueItems || s.Contains != nil ||
		len(s.PrefixItems) > 0 || s.Items != nil || s.AdditionalItems != nil ||
		s.ContentEncoding != nil || s.ContentMediaType != nil || s.ContentSchema != nil ||
		s.MultipleOf != nil || len(s.Extensions) > 0 ||
		s.MinProperties != nil || len(s.Required) > 64 {
		// minProperties: pdata maps may repeat a key the document holds once.
		return nil, false
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			n.types |= typeBits[t]
		}
	}
	if s.Enum != nil {
		n.hasEnum = true
		for _, v := range s.Enum.Values {
			nv, ok := normalizeScalar(v)
			if !ok {
				return nil, false
			}
			n.enum = append(n.enum, nv)
		}
	}
	if s.Const != nil {
		nv, ok := normalizeScalar(*s.Const)
		if !ok {
			return nil, false
		}
		n.constVal, n.hasConst = nv, true
	}
	if s.Format != nil {
		if s.Format.Name == "regex" {
			return nil, false // validated with the compiler's regexp engine, not Format.Validate
		}
		n.format = s.Format.Validate
	}

	var ok bool
	sub := func(dst **fastNode, src *jsonschema.Schema) {
		if ok {
			*dst, ok = c.compile(src)
		}
	}
	subs := func(dst *[]*fastNode, src []*jsonschema.Schema) {
		for _, x := range src {
			var fn *fastNode
			sub(&fn, x)
			*dst = append(*dst, fn)
		}
	}
	ok = true
	sub(&n.ref, s.Ref)
	subs(&n.allOf, s.AllOf)
	subs(&n.anyOf, s.AnyOf)
	subs(&n.oneOf, s.OneOf)
	sub(&n.not, s.Not)
	sub(&n.ifNode, s.If)
	sub(&n.thenNode, s.Then)
	sub(&n.elseNode, s.Else)
	sub(&n.items, s.Items2020)
	n.props = make(map[string]fastProp, len(s.Properties))
	for k, ps := range s.Properties {
		var fn *fastNode
		sub(&fn, ps)
		n.props[k] = fastProp{node: fn}
	}
	for i, name := range s.Required {
		bit := uint64(1) << i
		n.requiredMask |= bit
		if p, ok := n.props[name]; ok {
			p.reqBit |= bit
			n.props[name] = p
			continue
		}
		if n.requiredOnly == nil {
			n.requiredOnly = map[string]uint64{}
		}
		n.requiredOnly[name] |= bit
	}
	for re, ps := range s.PatternProperties {
		p := fastPattern{re: newMatcher(re)}
		sub(&p.node, ps)
		n.patterns = append(n.patterns, p)
	}
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case bool:
		t := a
		n.additional = &fastNode{always: &t}
	case *jsonschema.Schema:
		sub(&n.additional, a)
	default:
		return nil, false
	}
	if !ok {
		return nil, false
	}
	setInt(&n.maxProps, s.MaxProperties)
	setInt(&n.minItems, s.MinItems)
	setInt(&n.maxItems, s.MaxItems)
	setInt(&n.minLen, s.MinLength)
	setInt(&n.maxLen, s.MaxLength)
	if s.Pattern != nil {
		n.pattern = newMatcher(s.Pattern)
	}
	for _, b := range []struct {
		dst **float64
		src *big.Rat
	}{{&n.min, s.Minimum}, {&n.max, s.Maximum}, {&n.exMin, s.ExclusiveMinimum}, {&n.exMax, s.ExclusiveMaximum}} {
		if b.src == nil {
			continue
		}
		f, ok := exactInt(b.src)
		if !ok {
			return nil, false
		}
		*b.dst = &f
	}
	return n, true
}

func setInt(dst *int, src *int) {
	if src != nil {
		*dst = *src
	}
}

// normalizeScalar turns a schema literal (as the library decodes it) into the value types documents hold;
// composite and non-integral literals are left to the library.
func normalizeScalar(v any) (any, bool) {
	switch v := v.(type) {
	case nil, bool, string:
		return v, true
	case json.Number:
		r, ok := new(big.Rat).SetString(string(v))
		if !ok {
			return nil, false
		}
		f, ok := exactInt(r)
		return int64(f), ok
	}
	return nil, false
}

// exactInt accepts integral literals within ±2^53 only. The library compares numbers through their
// shortest decimal form; for such integers that form and a float64 comparison always agree, while for
// other literals they may not, and those schemas are left to the library.
func exactInt(r *big.Rat) (float64, bool) {
	if !r.IsInt() {
		return 0, false
	}
	f, exact := r.Float64()
	if !exact || f > maxExactInt || f < -maxExactInt {
		return 0, false
	}
	return f, true
}

// checkRecord evaluates a log record's document (attributes, body under "body") straight from pdata,
// without building it.
func (n *fastNode) checkRecord(lr plog.LogRecord) verdict {
	return n.eval(subject{v: lr.Body(), attrs: lr.Attributes(), root: true}, 0)
}

// subject is the value under evaluation. The root document is the attributes plus a non-empty body
// under "body", which shadows an attribute of that name; there v holds the body.
type subject struct {
	v     pcommon.Value
	attrs pcommon.Map
	root  bool
}

// combine folds a sub-verdict into res; it reports whether evaluation may go on.
func combine(res *verdict, r verdict) bool {
	switch r {
	case invalid:
		*res = invalid
		return false
	case unsure:
		*res = unsure
	}
	return true
}

func (n *fastNode) eval(x subject, depth int) verdict {
	if depth > maxFastDepth {
		return unsure
	}
	if n.always != nil {
		return boolVerdict(*n.always)
	}
	v := x.v
	t := tObject
	if !x.root {
		var sure bool
		if t, sure = typeOf(v); !sure {
			return unsure
		}
	}
	res := valid

	if n.types != 0 && n.types&t == 0 {
		return invalid
	}
	if n.hasConst && !combine(&res, equalScalar(v, t, n.constVal)) {
		return invalid
	}
	if n.hasEnum {
		r := invalid
		for _, w := range n.enum {
			if e := equalScalar(v, t, w); e == valid {
				r = valid
				break
			} else if e == unsure {
				r = unsure
			}
		}
		if !combine(&res, r) {
			return invalid
		}
	}
	if n.ref != nil && !combine(&res, n.ref.eval(x, depth+1)) {
		return invalid
	}

	switch {
	case t&tObject != 0:
		var r verdict
		if x.root {
			r = n.evalObject(x.attrs, v, v.Type() != pcommon.ValueTypeEmpty, depth)
		} else {
			r = n.evalObject(v.Map(), pcommon.Value{}, false, depth)
		}
		if !combine(&res, r) {
			return invalid
		}
	case t&tArray != 0:
		items := v.Slice()
		if n.minItems >= 0 && items.Len() < n.minItems || n.maxItems >= 0 && items.Len() > n.maxItems {
			return invalid
		}
		if n.items != nil {
			for i := 0; i < items.Len(); i++ {
				if !combine(&res, n.items.eval(subject{v: items.At(i)}, depth+1)) {
					return invalid
				}
			}
		}
	case t&tString != 0:
		if v.Type() != pcommon.ValueTypeStr {
			// Bytes: the document holds base64 text; leave string checks on it to the library.
			if n.minLen >= 0 || n.maxLen >= 0 || n.pattern != nil || n.format != nil {
				return unsure
			}
			break
		}
		str := v.Str()
		if n.minLen >= 0 || n.maxLen >= 0 {
			l := utf8.RuneCountInString(str)
			if n.minLen >= 0 && l < n.minLen || n.maxLen >= 0 && l > n.maxLen {
				return invalid
			}
		}
		if n.pattern != nil && !n.pattern.match(str) {
			return invalid
		}
		if n.format != nil && n.format(str) != nil {
			return invalid
		}
	case t&tNumber != 0:
		if !combine(&res, n.evalBounds(v)) {
			return invalid
		}
	}

	for _, s := range n.allOf {
		if !combine(&res, s.eval(x, depth+1)) {
			return invalid
		}
	}
	if len(n.anyOf) > 0 {
		r := invalid
		for _, s := range n.anyOf {
			if e := s.eval(x, depth+1); e == valid {
				r = valid
				break
			} else if e == unsure {
				r = unsure
			}
		}
		if !combine(&res, r) {
			return invalid
		}
	}
	if len(n.oneOf) > 0 {
		matched := 0
		for _, s := range n.oneOf {
			switch s.eval(x, depth+1) {
			case valid:
				matched++
			case unsure:
				return unsure
			}
		}
		if matched != 1 {
			return invalid
		}
	}
	if n.not != nil {
		switch n.not.eval(x, depth+1) {
		case valid:
			return invalid
		case unsure:
			res = unsure
		}
	}
	if n.ifNode != nil {
		var branch *fastNode
		switch n.ifNode.eval(x, depth+1) {
		case valid:
			branch = n.thenNode
		case invalid:
			branch = n.elseNode
		default:
			return unsure
		}
		if branch != nil && !combine(&res, branch.eval(x, depth+1)) {
			return invalid
		}
	}
	return res
}

// evalObject walks the members once: properties, patterns and additionalProperties per member, required
// ones ticked off in a bit set. With hasBody, body is one more member "body", hiding the map's own.
func (n *fastNode) evalObject(m pcommon.Map, body pcommon.Value, hasBody bool, depth int) verdict {
	if n.maxProps >= 0 {
		count := m.Len()
		if hasBody {
			count++
			if _, dup := m.Get(bodyKey); dup {
				count--
			}
		}
		if count > n.maxProps {
			return invalid
		}
	}
	res := valid
	var seen uint64
	m.Range(func(k string, pv pcommon.Value) bool {
		if hasBody && k == bodyKey {
			return true
		}
		return combine(&res, n.evalMember(k, pv, &seen, depth))
	})
	if hasBody && res != invalid {
		combine(&res, n.evalMember(bodyKey, body, &seen, depth))
	}
	if res == invalid || seen != n.requiredMask {
		return invalid
	}
	return res
}

func (n *fastNode) evalMember(k string, pv pcommon.Value, seen *uint64, depth int) verdict {
	res := valid
	evaluated := false
	if p, ok := n.props[k]; ok {
		evaluated = true
		*seen |= p.reqBit
		if p.node != nil && !combine(&res, p.node.eval(subject{v: pv}, depth+1)) {
			return invalid
		}
	} else if bit, ok := n.requiredOnly[k]; ok {
		*seen |= bit
	}
	for _, p := range n.patterns {
		if p.re.match(k) {
			evaluated = true
			if !combine(&res, p.node.eval(subject{v: pv}, depth+1)) {
				return invalid
			}
		}
	}
	if !evaluated && n.additional != nil && !combine(&res, n.additional.eval(subject{v: pv}, depth+1)) {
		return invalid
	}
	return res
}

// maxExactInt is the largest magnitude below which every int64 converts to float64 exactly.
const maxExactInt = 1 << 53

func (n *fastNode) evalBounds(v pcommon.Value) verdict {
	if n.min == nil && n.max == nil && n.exMin == nil && n.exMax == nil {
		return valid
	}
	var f float64
	if v.Type() == pcommon.ValueTypeInt {
		i := v.Int()
		if i > maxExactInt || i < -maxExactInt {
			return unsure
		}
		f = float64(i)
	} else {
		f = v.Double()
	}
	if n.min != nil && f < *n.min || n.max != nil && f > *n.max ||
		n.exMin != nil && f <= *n.exMin || n.exMax != nil && f >= *n.exMax {
		return invalid
	}
	return valid
}

// typeOf gives the JSON type bits of a value as the document holds it; sure is false for doubles the
// document turns into strings (NaN, ±Inf).
func typeOf(v pcommon.Value) (t uint8, sure bool) {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return tNull, true
	case pcommon.ValueTypeBool:
		return tBoolean, true
	case pcommon.ValueTypeStr, pcommon.ValueTypeBytes:
		return tString, true
	case pcommon.ValueTypeSlice:
		return tArray, true
	case pcommon.ValueTypeMap:
		return tObject, true
	case pcommon.ValueTypeInt:
		return tNumber | tInteger, true
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		if f == math.Trunc(f) {
			return tNumber | tInteger, true
		}
		return tNumber, true
	}
	return 0, false
}

// equalScalar compares a value of type t with a normalized schema literal the way JSON Schema does:
// numbers by value, whatever their representation.
func equalScalar(v pcommon.Value, t uint8, w any) verdict {
	switch w := w.(type) {
	case string:
		if t != tString {
			return invalid
		}
		if v.Type() != pcommon.ValueTypeStr {
			return unsure // bytes, compared as base64 text
		}
		return boolVerdict(v.Str() == w)
	case bool:
		return boolVerdict(t == tBoolean && v.Bool() == w)
	case nil:
		return boolVerdict(t == tNull)
	case int64:
		switch {
		case t&tNumber == 0:
			return invalid
		case v.Type() == pcommon.ValueTypeInt:
			return boolVerdict(v.Int() == w)
		default:
			return boolVerdict(v.Double() == float64(w)) // |w| <= 2^53: exact
		}
	}
	return unsure
}

func boolVerdict(b bool) verdict {
	if b {
		return valid
	}
	return invalid
}
