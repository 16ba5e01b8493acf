package edgereceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// decodeStrict decodes one JSON value into v, refusing unknown fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// decodeValue decodes a JSON value into the types pdata's FromRaw takes: integers (no fraction, no exponent) as
// int64 and other numbers as float64, as an OTLP producer would send them, so a contract's "integer" sees an int.
func decodeValue(data []byte) (any, error) {
	var v any
	if err := decodeStrict(data, &v); err != nil {
		return nil, err
	}
	return pdataNumbers(v), nil
}

func pdataNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if !strings.ContainsAny(x.String(), ".eE") {
			if i, err := x.Int64(); err == nil {
				return i
			}
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = pdataNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = pdataNumbers(e)
		}
	}
	return v
}
