package eventrouterconnector

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

func writeSchema(t *testing.T, body string) *contract {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.json")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	c, err := loadContract(path)
	require.NoError(t, err)
	return c
}

// The shipped contracts all run on the fast path; a schema using a keyword outside it still validates,
// through the library alone.
func TestFastPathCoverage(t *testing.T) {
	for name, path := range seedSchemas {
		c, err := loadContract(path)
		require.NoError(t, err)
		assert.NotNil(t, c.fast, name)
	}

	c := writeSchema(t, `{"type":"object","properties":{"tags":{"type":"array","uniqueItems":true}}}`)
	assert.Nil(t, c.fast, "uniqueItems is left to the library")
	lr := plog.NewLogRecord()
	require.NoError(t, lr.Attributes().FromRaw(map[string]any{"tags": []any{"a", "a"}}))
	rej := c.check(map[string]any{}, lr)
	require.NotNil(t, rej)
	assert.Equal(t, "at '/tags': items at 0 and 1 are equal", rej.reason)

	// Non-integral literals compare differently through the library's decimal arithmetic: no fast path.
	assert.Nil(t, writeSchema(t, `{"properties":{"x":{"maximum":0.1}}}`).fast)
	assert.Nil(t, writeSchema(t, `{"properties":{"x":{"enum":[1.5]}}}`).fast)
	assert.Nil(t, writeSchema(t, `{"properties":{"x":{"enum":[9007199254740993]}}}`).fast)
	assert.NotNil(t, writeSchema(t, `{"properties":{"x":{"maximum":10, "enum":[1, "a", true, null]}}}`).fast)
}

// Values JSON cannot hold exactly are never accepted by the fast path on its own; the library decides.
func TestFastPathDefersOnInexactValues(t *testing.T) {
	c := writeSchema(t, `{"type":"object","properties":{
		"n":{"type":"number","maximum":100},
		"i":{"type":"integer","minimum":0},
		"e":{"enum":[5]},
		"s":{"type":"string","maxLength":3}}}`)
	require.NotNil(t, c.fast)
	tests := []struct {
		name  string
		set   func(pcommon.Map)
		fast  verdict
		valid bool
	}{
		{"double in range", func(m pcommon.Map) { m.PutDouble("n", 99.5) }, valid, true},
		{"double over", func(m pcommon.Map) { m.PutDouble("n", 100.5) }, invalid, false},
		{"NaN", func(m pcommon.Map) { m.PutDouble("n", math.NaN()) }, unsure, false},
		{"+Inf", func(m pcommon.Map) { m.PutDouble("n", math.Inf(1)) }, unsure, false},
		{"integral double is an integer", func(m pcommon.Map) { m.PutDouble("i", 3) }, valid, true},
		{"fraction is not", func(m pcommon.Map) { m.PutDouble("i", 3.5) }, invalid, false},
		{"huge int vs bound", func(m pcommon.Map) { m.PutInt("i", math.MaxInt64) }, unsure, true},
		{"enum compares numbers by value", func(m pcommon.Map) { m.PutDouble("e", 5) }, valid, true},
		{"not in enum", func(m pcommon.Map) { m.PutInt("e", 6) }, invalid, false},
		{"bytes vs maxLength", func(m pcommon.Map) { m.PutEmptyBytes("s").FromRaw([]byte{1, 2, 3}) }, unsure, false},
		{"runes, not bytes", func(m pcommon.Map) { m.PutStr("s", "äöü") }, valid, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := plog.NewLogRecord()
			tt.set(lr.Attributes())
			assert.Equal(t, tt.fast, c.fast.checkRecord(lr))
			assert.Equal(t, tt.valid, c.check(map[string]any{}, lr) == nil)
		})
	}
}

func TestMatcher(t *testing.T) {
	c := writeSchema(t, `{"patternProperties":{"^tfo\\.":{"type":"string"}},"properties":{"v":{"pattern":"^[0-9]+$"}}}`)
	require.NotNil(t, c.fast)
	require.Len(t, c.fast.patterns, 1)
	m := c.fast.patterns[0].re
	assert.True(t, m.simple, "^literal becomes a prefix test")
	assert.True(t, m.match("tfo.workspace.id"))
	assert.False(t, m.match("xtfo.workspace.id"))
	assert.False(t, m.match("tfoXworkspace"))

	p := c.fast.props["v"].node.pattern
	assert.False(t, p.simple)
	for range 2 { // second round answers from the cache
		assert.True(t, p.match("123"))
		assert.False(t, p.match("12a"))
	}
}

func TestBuildDocument(t *testing.T) {
	lr := plog.NewLogRecord()
	attrs := lr.Attributes()
	attrs.PutStr("s", "x")
	attrs.PutInt("i", 7)
	attrs.PutDouble("d", 1.5)
	attrs.PutDouble("nan", math.NaN())
	attrs.PutBool("b", true)
	attrs.PutEmptyBytes("raw").FromRaw([]byte("hi"))
	attrs.PutEmptySlice("list").AppendEmpty().SetInt(1)
	attrs.PutEmptyMap("m").PutEmpty("null")
	attrs.PutStr("body", "shadowed")
	lr.Body().SetEmptyMap().PutStr("k", "v")

	doc := map[string]any{}
	require.NoError(t, buildDocument(doc, lr))
	assert.Equal(t, map[string]any{
		"s": "x", "i": int64(7), "d": 1.5, "nan": "NaN", "b": true, "raw": "aGk=",
		"list": []any{int64(1)}, "m": map[string]any{"null": nil},
		"body": map[string]any{"k": "v"},
	}, doc)

	// A string body is the document's body too; the contract decides whether that is allowed.
	lr.Body().SetStr("text")
	clear(doc)
	require.NoError(t, buildDocument(doc, lr))
	assert.Equal(t, "text", doc["body"])

	// Runaway nesting is refused rather than converted.
	deep := plog.NewLogRecord()
	v := deep.Body()
	for range maxDepth + 1 {
		v = v.SetEmptySlice().AppendEmpty()
	}
	assert.ErrorIs(t, buildDocument(map[string]any{}, deep), errTooDeep)
}

// A cycle of in-place applicators never consumes the document and doubles at every step: such schemas, at the
// root or under a property, are left to the library (found by FuzzFastPathGeneratedSchemas: the fast path ran
// for 2^64 steps).
func TestFastPathRefusesInPlaceCycles(t *testing.T) {
	for _, raw := range []string{
		`{"$ref":"#","not":{"$ref":"#"}}`,
		`{"properties":{"a":{"$ref":"#/$defs/x"}},"$defs":{"x":{"allOf":[{"$ref":"#/$defs/x"}]}}}`,
	} {
		sch, err := compileSchema("mem://cycle.json", decodeJSON(t, []byte(raw)))
		if err != nil {
			continue // refused by the library's compiler: nothing reaches the fast path
		}
		_, ok := compileFast(sch)
		require.False(t, ok, raw)
	}
	sch, err := compileSchema("mem://tree.json", decodeJSON(t, []byte(`{"properties":{"child":{"$ref":"#"}}}`)))
	require.NoError(t, err)
	_, ok := compileFast(sch)
	require.True(t, ok, "recursion through a property consumes the document")
}
