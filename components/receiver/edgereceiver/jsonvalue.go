package edgereceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
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

// maxJSONDepth bounds how deeply a payload may nest (contracts reject documents deeper than 64 levels anyway).
const maxJSONDepth = 128

// decodeInto decodes one JSON value into dst in document order: map keys keep the order they were sent in, so the
// same request bytes always make the same pdata, and the workspace processor's payload fingerprint (of the
// protobuf encoding) matches on a retry. Integers (no fraction, no exponent) become int values and other numbers
// doubles, as an OTLP producer would send them, so a contract's "integer" sees an int.
func decodeInto(data []byte, dst pcommon.Value) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := readValue(dec, dst, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

func readValue(dec *json.Decoder, dst pcommon.Value, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("nests deeper than %d levels", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			m := dst.SetEmptyMap()
			for dec.More() {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				if err := readValue(dec, m.PutEmpty(key.(string)), depth+1); err != nil {
					return err
				}
			}
		} else {
			s := dst.SetEmptySlice()
			for dec.More() {
				if err := readValue(dec, s.AppendEmpty(), depth+1); err != nil {
					return err
				}
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err
	case string:
		dst.SetStr(t)
	case bool:
		dst.SetBool(t)
	case json.Number:
		if !strings.ContainsAny(t.String(), ".eE") {
			if i, err := t.Int64(); err == nil {
				dst.SetInt(i)
				return nil
			}
		}
		f, _ := t.Float64()
		dst.SetDouble(f)
	}
	return nil // null stays empty
}
