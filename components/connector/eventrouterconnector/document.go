package eventrouterconnector

import (
	"encoding/base64"
	"errors"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// bodyKey is where a record's body goes in the validated document.
const bodyKey = "body"

// maxDepth bounds how deep a document may nest before it is rejected instead of converted.
const maxDepth = 64

var errTooDeep = errors.New("document nests deeper than 64 levels")

// buildDocument fills doc (cleared by the caller) with the record's attributes as a JSON object and
// a non-empty body under "body", shadowing an attribute of that name. Values are converted straight
// from pdata into the types the validator accepts (string, bool, int64, float64, []any,
// map[string]any), without a JSON round trip.
func buildDocument(doc map[string]any, lr plog.LogRecord) error {
	var err error
	lr.Attributes().Range(func(k string, v pcommon.Value) bool {
		var val any
		val, err = toJSONValue(v, 1)
		doc[k] = val
		return err == nil
	})
	if err != nil {
		return err
	}
	if body := lr.Body(); body.Type() != pcommon.ValueTypeEmpty {
		val, err := toJSONValue(body, 1)
		if err != nil {
			return err
		}
		doc[bodyKey] = val
	}
	return nil
}

func toJSONValue(v pcommon.Value, depth int) (any, error) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str(), nil
	case pcommon.ValueTypeInt:
		return v.Int(), nil
	case pcommon.ValueTypeDouble:
		return jsonDouble(v.Double()), nil
	case pcommon.ValueTypeBool:
		return v.Bool(), nil
	case pcommon.ValueTypeBytes:
		// As in OTLP/JSON: bytes are base64 strings.
		return base64.StdEncoding.EncodeToString(v.Bytes().AsRaw()), nil
	case pcommon.ValueTypeMap:
		if depth >= maxDepth {
			return nil, errTooDeep
		}
		m := v.Map()
		out := make(map[string]any, m.Len())
		var err error
		m.Range(func(k string, mv pcommon.Value) bool {
			var val any
			val, err = toJSONValue(mv, depth+1)
			out[k] = val
			return err == nil
		})
		return out, err
	case pcommon.ValueTypeSlice:
		if depth >= maxDepth {
			return nil, errTooDeep
		}
		s := v.Slice()
		out := make([]any, s.Len())
		for i := range out {
			val, err := toJSONValue(s.At(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = val
		}
		return out, nil
	default: // empty
		return nil, nil
	}
}

// jsonDouble maps non-finite doubles to their OTLP/JSON strings: JSON has no NaN or Infinity, and a
// contract asking for a number must reject them rather than compare against them.
func jsonDouble(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}
