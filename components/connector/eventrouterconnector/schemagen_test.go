package eventrouterconnector

import "encoding/json"

// schemaGen turns fuzz bytes into JSON Schema 2020-12 documents and event documents over a small shared
// vocabulary of names and values, so that generated documents often meet the schemas' keywords. Past the end of
// the input every byte reads as 0, which ends lists and nesting.
type schemaGen struct {
	in   []byte
	defs map[string]any
}

func (g *schemaGen) next() byte {
	if len(g.in) == 0 {
		return 0
	}
	b := g.in[0]
	g.in = g.in[1:]
	return b
}

func (g *schemaGen) pick(n int) int { return int(g.next()) % n }

var (
	genNames    = []string{"a", "b", "c", bodyKey, "tfo.x"}
	genPatterns = []string{"^tfo\\.", "^[0-9]+$", "b", "^a", "^[a-c]$"}
	genFormats  = []string{"date-time", "email", "uuid", "ipv4", "date", "regex", "uri"}
	genTypes    = []string{"null", "boolean", "number", "integer", "string", "array", "object"}
	genStrings  = []string{"", "a", "b", "123", "äöü", "tfo.x", "2024-01-02T03:04:05Z", "2024-01-02", "a@b.example",
		"0b6f7c1e-7f4e-4a43-9a55-2f8f2f5b6a01", "10.0.0.1", "https://example.com/x", "[a-", "abcdef"}
	genNumbers = []string{"0", "1", "-1", "2", "3", "10", "-3", "9007199254740993", "1.5", "0.1", "1e2", "-2.5"}
)

const maxGenDepth = 3

// schema generates a schema object of up to 4 keywords.
func (g *schemaGen) schema(depth int) map[string]any {
	s := map[string]any{}
	if depth > maxGenDepth {
		return s
	}
	for range 1 + g.pick(4) {
		g.keyword(s, depth)
	}
	return s
}

// sub is a subschema: mostly an object, sometimes true or false.
func (g *schemaGen) sub(depth int) any {
	switch g.pick(10) {
	case 0:
		return true
	case 1:
		return false
	}
	return g.schema(depth + 1)
}

func (g *schemaGen) subs(depth int) []any {
	out := make([]any, 1+g.pick(3))
	for i := range out {
		out[i] = g.sub(depth)
	}
	return out
}

func (g *schemaGen) name() string { return genNames[g.pick(len(genNames))] }

func (g *schemaGen) number() json.Number { return json.Number(genNumbers[g.pick(len(genNumbers))]) }

func (g *schemaGen) smallInt() int { return g.pick(4) }

// scalar is a JSON literal for enum and const.
func (g *schemaGen) scalar() any { return g.literal(g.pick(5)) }

// literal is null (k 0), a boolean (1), a number (2, 3) or a string (4 and above).
func (g *schemaGen) literal(k int) any {
	switch k {
	case 0:
		return nil
	case 1:
		return g.pick(2) == 0
	case 2, 3:
		return g.number()
	}
	return genStrings[g.pick(len(genStrings))]
}

func (g *schemaGen) keyword(s map[string]any, depth int) {
	k := g.pick(21)
	if g.pick(16) == 0 {
		k = 21 + g.pick(9)
	}
	switch k {
	case 0, 1:
		if g.pick(3) == 0 { // two distinct types: the metaschema wants them unique
			i := g.pick(len(genTypes))
			s["type"] = []any{genTypes[i], genTypes[(i+1+g.pick(len(genTypes)-1))%len(genTypes)]}
		} else {
			s["type"] = genTypes[g.pick(len(genTypes))]
		}
	case 2:
		vals := make([]any, 1+g.pick(3))
		for i := range vals {
			vals[i] = g.scalar()
		}
		s["enum"] = vals
	case 3:
		s["const"] = g.scalar()
	case 4:
		s[[]string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}[g.pick(4)]] = g.number()
	case 5:
		s[[]string{"minLength", "maxLength"}[g.pick(2)]] = g.smallInt()
	case 6:
		s["pattern"] = genPatterns[g.pick(len(genPatterns))]
	case 7:
		s["format"] = genFormats[g.pick(len(genFormats))]
	case 8, 9, 10:
		props := map[string]any{}
		for range 1 + g.pick(3) {
			props[g.name()] = g.sub(depth)
		}
		s["properties"] = props
	case 11:
		req := []any{}
		for _, n := range genNames {
			if g.pick(3) == 0 {
				req = append(req, n)
			}
		}
		s["required"] = req
	case 12:
		s["patternProperties"] = map[string]any{genPatterns[g.pick(len(genPatterns))]: g.sub(depth)}
	case 13:
		s["additionalProperties"] = g.sub(depth)
	case 14:
		s["maxProperties"] = g.smallInt()
	case 15:
		s[[]string{"minItems", "maxItems"}[g.pick(2)]] = g.smallInt()
	case 16:
		s["items"] = g.sub(depth)
	case 17:
		s[[]string{"allOf", "anyOf", "oneOf"}[g.pick(3)]] = g.subs(depth)
	case 18:
		s["not"] = g.sub(depth)
	case 19:
		s["if"], s["then"] = g.sub(depth), g.sub(depth)
		if g.pick(2) == 0 {
			s["else"] = g.sub(depth)
		}
	case 20:
		if g.pick(3) == 0 {
			s["$ref"] = "#" // recursion through the root
			return
		}
		if g.defs == nil {
			g.defs = map[string]any{}
		}
		name := []string{"d0", "d1"}[g.pick(2)]
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder first: a definition may refer to itself
			g.defs[name] = g.sub(depth)
		}
		s["$ref"] = "#/$defs/" + name
	// Keywords the fast path must refuse: the whole schema then goes to the library.
	case 21:
		s["uniqueItems"] = true
	case 22:
		s["contains"] = g.sub(depth)
	case 23:
		s["multipleOf"] = json.Number([]string{"1", "2", "0.5", "3"}[g.pick(4)]) // the metaschema wants > 0
	case 24:
		s["minProperties"] = g.smallInt()
	case 25:
		s["propertyNames"] = g.sub(depth)
	case 26:
		s["dependentRequired"] = map[string]any{g.name(): []any{g.name()}}
	case 27:
		s["prefixItems"] = g.subs(depth)
	case 28:
		s["unevaluatedProperties"] = g.sub(depth)
	case 29:
		s["dependentSchemas"] = map[string]any{g.name(): g.sub(depth)}
	}
}

// document generates an event document: an object over the shared names ("body" becomes the record body).
func (g *schemaGen) document() map[string]any {
	doc := map[string]any{}
	for range g.pick(5) {
		doc[g.name()] = g.value(0)
	}
	return doc
}

func (g *schemaGen) value(depth int) any {
	k := g.pick(8)
	if k < 6 || depth >= maxGenDepth {
		return g.literal(k)
	}
	if k == 6 {
		out := make([]any, g.pick(4))
		for i := range out {
			out[i] = g.value(depth + 1)
		}
		return out
	}
	m := map[string]any{}
	for range g.pick(4) {
		m[g.name()] = g.value(depth + 1)
	}
	return m
}
