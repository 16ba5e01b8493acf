package eventrouterconnector

import (
	"reflect"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
)

// How the fast path treats a field of the library's compiled jsonschema.Schema.
type fieldClass uint8

const (
	// fastEvaluated: the fast path evaluates the keyword itself.
	fastEvaluated fieldClass = iota + 1
	// slowOnly: a schema using the keyword gets no fast path (compileFast refuses it); the library decides.
	slowOnly
	// noVerdict: the field cannot change whether a document is valid (annotations, identifiers, library
	// bookkeeping, or keywords that only act through a slowOnly one).
	noVerdict
)

// schemaFields classifies every field of jsonschema.Schema, with a 2020-12 schema that sets it (where the draft
// can) so that the classification is checked against compileFast, not only written down.
var schemaFields = map[string]struct {
	class   fieldClass
	example string
}{
	// library bookkeeping, derived from the keywords below
	"up": {noVerdict, ""}, "resource": {noVerdict, ""}, "dynamicAnchors": {noVerdict, ""},
	"allPropsEvaluated": {noVerdict, ""}, "allItemsEvaluated": {noVerdict, ""}, "numItemsEvaluated": {noVerdict, ""},
	"DraftVersion": {fastEvaluated, `{}`}, // anything but 2020 is refused
	"Location":     {noVerdict, ""},

	// type agnostic
	"Bool":            {fastEvaluated, `{"properties":{"x":false}}`},
	"ID":              {noVerdict, `{"$id":"https://example.com/s"}`},
	"Ref":             {fastEvaluated, `{"$defs":{"d":{"type":"string"}},"properties":{"x":{"$ref":"#/$defs/d"}}}`},
	"Anchor":          {noVerdict, `{"$defs":{"d":{"$anchor":"a"}}}`},
	"RecursiveRef":    {slowOnly, ""},  // draft 2019-09 only; other drafts are refused
	"RecursiveAnchor": {noVerdict, ""}, // acts only through RecursiveRef
	"DynamicRef":      {slowOnly, `{"$dynamicAnchor":"n","properties":{"x":{"$dynamicRef":"#n"}}}`},
	"DynamicAnchor":   {noVerdict, ""}, // acts only through DynamicRef
	"Types":           {fastEvaluated, `{"type":["object","null"]}`},
	"Enum":            {fastEvaluated, `{"properties":{"x":{"enum":[1,"a",true,null]}}}`},
	"Const":           {fastEvaluated, `{"properties":{"x":{"const":"a"}}}`},
	"Not":             {fastEvaluated, `{"not":{"required":["x"]}}`},
	"AllOf":           {fastEvaluated, `{"allOf":[{"required":["x"]}]}`},
	"AnyOf":           {fastEvaluated, `{"anyOf":[{"required":["x"]},{"required":["y"]}]}`},
	"OneOf":           {fastEvaluated, `{"oneOf":[{"required":["x"]},{"required":["y"]}]}`},
	"If":              {fastEvaluated, `{"if":{"required":["x"]},"then":{"required":["y"]},"else":{"required":["z"]}}`},
	"Then":            {fastEvaluated, `{"if":{"required":["x"]},"then":{"required":["y"]}}`},
	"Else":            {fastEvaluated, `{"if":{"required":["x"]},"else":{"required":["z"]}}`},
	"Format":          {fastEvaluated, `{"properties":{"x":{"format":"date-time"}}}`},

	// object
	"MaxProperties":         {fastEvaluated, `{"maxProperties":3}`},
	"MinProperties":         {slowOnly, `{"minProperties":1}`},
	"Required":              {fastEvaluated, `{"required":["x"]}`},
	"PropertyNames":         {slowOnly, `{"propertyNames":{"maxLength":3}}`},
	"Properties":            {fastEvaluated, `{"properties":{"x":{"type":"string"}}}`},
	"PatternProperties":     {fastEvaluated, `{"patternProperties":{"^tfo\\.":{"type":"string"}}}`},
	"AdditionalProperties":  {fastEvaluated, `{"additionalProperties":{"type":"string"}}`},
	"Dependencies":          {slowOnly, ""}, // draft 7 and older only
	"DependentRequired":     {slowOnly, `{"dependentRequired":{"x":["y"]}}`},
	"DependentSchemas":      {slowOnly, `{"dependentSchemas":{"x":{"required":["y"]}}}`},
	"UnevaluatedProperties": {slowOnly, `{"unevaluatedProperties":false}`},

	// array
	"MinItems":         {fastEvaluated, `{"properties":{"x":{"minItems":1}}}`},
	"MaxItems":         {fastEvaluated, `{"properties":{"x":{"maxItems":1}}}`},
	"UniqueItems":      {slowOnly, `{"properties":{"x":{"uniqueItems":true}}}`},
	"Contains":         {slowOnly, `{"properties":{"x":{"contains":{"type":"string"}}}}`},
	"MinContains":      {noVerdict, ""}, // acts only through Contains
	"MaxContains":      {noVerdict, ""}, // acts only through Contains
	"Items":            {slowOnly, ""},  // draft 2019-09 and older; 2020-12 items is Items2020
	"AdditionalItems":  {slowOnly, ""},  // draft 2019-09 and older
	"PrefixItems":      {slowOnly, `{"properties":{"x":{"prefixItems":[{"type":"string"}]}}}`},
	"Items2020":        {fastEvaluated, `{"properties":{"x":{"items":{"type":"string"}}}}`},
	"UnevaluatedItems": {slowOnly, `{"properties":{"x":{"unevaluatedItems":false}}}`},

	// string
	"MinLength": {fastEvaluated, `{"properties":{"x":{"minLength":1}}}`},
	"MaxLength": {fastEvaluated, `{"properties":{"x":{"maxLength":1}}}`},
	"Pattern":   {fastEvaluated, `{"properties":{"x":{"pattern":"^[0-9]+$"}}}`},
	// The content keywords are compiled only with Compiler.AssertContent, which contracts do not use.
	"ContentEncoding":  {slowOnly, ""},
	"ContentMediaType": {slowOnly, ""},
	"ContentSchema":    {slowOnly, ""},

	// number
	"Maximum":          {fastEvaluated, `{"properties":{"x":{"maximum":10}}}`},
	"Minimum":          {fastEvaluated, `{"properties":{"x":{"minimum":0}}}`},
	"ExclusiveMaximum": {fastEvaluated, `{"properties":{"x":{"exclusiveMaximum":10}}}`},
	"ExclusiveMinimum": {fastEvaluated, `{"properties":{"x":{"exclusiveMinimum":0}}}`},
	"MultipleOf":       {slowOnly, `{"properties":{"x":{"multipleOf":2}}}`},

	"Extensions": {slowOnly, ""}, // only with a vocabulary registered on the compiler, which contracts never do

	// annotations
	"Title": {noVerdict, `{"title":"t"}`}, "Description": {noVerdict, `{"description":"d"}`},
	"Default": {noVerdict, `{"properties":{"x":{"default":1}}}`}, "Comment": {noVerdict, `{"$comment":"c"}`},
	"ReadOnly": {noVerdict, `{"readOnly":true}`}, "WriteOnly": {noVerdict, `{"writeOnly":true}`},
	"Examples": {noVerdict, `{"examples":[{}]}`}, "Deprecated": {noVerdict, `{"deprecated":true}`},
}

// TestFastPathClassifiesEverySchemaField fails when a jsonschema upgrade adds (or drops) a field of the compiled
// Schema: a new keyword the fast path does not know would otherwise be ignored, and it would call valid what the
// library rejects. Classify the new field above, and make compileFast evaluate or refuse it.
func TestFastPathClassifiesEverySchemaField(t *testing.T) {
	typ := reflect.TypeFor[jsonschema.Schema]()
	var fields []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		fields = append(fields, f.Name)
		assert.Contains(t, schemaFields, f.Name, "jsonschema.Schema.%s (%s) is not classified for the fast path", f.Name, f.Type)
	}
	for name := range schemaFields {
		assert.True(t, slices.Contains(fields, name), "jsonschema.Schema has no field %s any more", name)
	}
}

// TestFastPathFieldExamples checks the classification against compileFast: a slowOnly keyword leaves the schema
// without a fast path, the others keep it.
func TestFastPathFieldExamples(t *testing.T) {
	for name, f := range schemaFields {
		if f.example == "" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			c := writeSchema(t, f.example)
			if f.class == slowOnly {
				assert.True(t, c.fast == nil, "%s must leave the schema to the library", name)
			} else {
				assert.True(t, c.fast != nil, "%s must keep the fast path", name)
			}
		})
	}
}
