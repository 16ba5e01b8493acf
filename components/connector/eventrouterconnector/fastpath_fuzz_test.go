package eventrouterconnector

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// FuzzFastPathGeneratedSchemas compares the fast path with the library on schemas generated from the fuzz input,
// not only the shipped contracts: the keywords the fast path evaluates, mixed with some it must refuse. Whenever
// the fast path decides (valid or invalid), the library must reach the same verdict.
func FuzzFastPathGeneratedSchemas(f *testing.F) {
	f.Add([]byte{7, 2, 3, 0, 1}, []byte{3, 1, 2, 0, 4}, uint8(0))
	f.Add([]byte{4, 14, 1, 2, 8, 0, 9, 1}, []byte{2, 0, 5, 3, 1}, uint8(1))
	f.Add([]byte{3, 16, 8, 0, 7, 1, 3, 5, 2}, []byte{4, 3, 6, 2, 2, 9}, uint8(0x81))
	f.Fuzz(func(t *testing.T, schemaBytes, docBytes []byte, tweak uint8) {
		checkGeneratedSchema(t, schemaBytes, docBytes, tweak)
	})
}

// TestFastPathGeneratedSchemas runs the fuzz check on a fixed pseudo-random sample on every `go test`, and makes
// sure the sample exercises the fast path's own verdicts, not only schemas it refuses.
func TestFastPathGeneratedSchemas(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 4))
	var decided, refused int
	for range 3000 {
		sb, db := make([]byte, 48), make([]byte, 48)
		for i := range sb {
			sb[i], db[i] = byte(rng.UintN(256)), byte(rng.UintN(256))
		}
		switch checkGeneratedSchema(t, sb, db, byte(rng.UintN(256))) {
		case valid, invalid:
			decided++
		case refusedSchema:
			refused++
		}
	}
	t.Logf("fast path decided %d, refused the schema %d of 3000", decided, refused)
	if decided < 500 || refused < 100 {
		t.Fatalf("the generator no longer exercises the fast path: decided %d, refused %d", decided, refused)
	}
}

// refusedSchema: compileFast left the generated schema to the library.
const refusedSchema verdict = 100

// checkGeneratedSchema fails t when the fast path and the library disagree on the generated schema and document;
// it returns the fast path's verdict.
func checkGeneratedSchema(t *testing.T, schemaBytes, docBytes []byte, tweak uint8) verdict {
	t.Helper()
	g := &schemaGen{in: schemaBytes}
	schema := g.schema(0)
	if len(g.defs) > 0 {
		schema["$defs"] = g.defs
	}
	raw, err := json.Marshal(schema)
	if err != nil {
		t.Fatal(err)
	}
	sch, err := compileSchema("mem://generated.json", decodeJSON(t, raw))
	if err != nil {
		return unsure // e.g. an if/then the generator combined into something the metaschema refuses
	}
	fast, ok := compileFast(sch)
	if !ok {
		return refusedSchema
	}
	docRaw, err := json.Marshal((&schemaGen{in: docBytes}).document())
	if err != nil {
		t.Fatal(err)
	}
	lr, ok := recordFromJSON(docRaw, tweak)
	if !ok {
		t.Fatalf("generated document %s is not an object", docRaw)
	}
	v := fast.checkRecord(lr)
	doc := map[string]any{}
	if buildDocument(doc, lr) != nil {
		return v
	}
	lib := sch.Validate(doc)
	switch {
	case v == valid && lib != nil:
		t.Fatalf("fast path accepts what the library rejects (%v)\nschema %s\ndocument %s tweak %#x", lib, raw, docRaw, tweak)
	case v == invalid && lib == nil:
		t.Fatalf("fast path rejects what the library accepts\nschema %s\ndocument %s tweak %#x", raw, docRaw, tweak)
	}
	return v
}

// decodeJSON decodes a schema as loadContract does (numbers stay exact).
func decodeJSON(t *testing.T, raw []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
