package eventrouterconnector

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// FuzzContract feeds arbitrary event documents to every seed contract. It checks that nothing panics,
// that a rejection always has a reason and a bounded label, and that the fast path never disagrees with
// the library: whatever the fast path calls valid or invalid, the library must too.
//
// The input is a JSON object: its "body" member becomes the record body, the rest its attributes. tweak
// swaps one attribute for a value JSON cannot carry (a NaN double, or bytes).
func FuzzContract(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		doc := map[string]any{}
		for k, v := range fx.Attributes {
			doc[k] = v
		}
		if fx.Body != nil {
			doc[bodyKey] = fx.Body
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, uint8(0))
		f.Add(raw, uint8(3))
		f.Add(raw, uint8(0x85))
	}
	f.Add([]byte(`{"body":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`), uint8(0))
	f.Add([]byte(`{"event.id":12345678901234567890,"body":{"uptime":9007199254740993}}`), uint8(0))

	contracts := make([]*contract, 0, len(seedSchemas))
	for _, name := range sortedKeys(seedSchemas) {
		c, err := loadContract(seedSchemas[name])
		if err != nil {
			f.Fatal(err)
		}
		if c.fast == nil {
			f.Fatalf("%s: the shipped contract must have a fast path", name)
		}
		contracts = append(contracts, c)
	}

	f.Fuzz(func(t *testing.T, raw []byte, tweak uint8) {
		lr, ok := recordFromJSON(raw, tweak)
		if !ok {
			return
		}
		doc := map[string]any{}
		for _, c := range contracts {
			rej := c.check(doc, lr)
			if rej != nil && (rej.reason == "" || rej.label == "" || len(rej.reason) > maxReasonLen+len("…")) {
				t.Fatalf("bad rejection %+v", rej)
			}
			clear(doc)
			if err := buildDocument(doc, lr); err != nil {
				continue // too deep for a document; check above rejected it
			}
			fast := c.fast.checkRecord(lr)
			lib := c.validate(doc)
			clear(doc)
			switch {
			case fast == valid && lib != nil:
				t.Fatalf("%s: fast path accepts what the library rejects: %s", c.id, lib.reason)
			case fast == invalid && lib == nil:
				t.Fatalf("%s: fast path rejects what the library accepts", c.id)
			case (rej == nil) != (lib == nil):
				t.Fatalf("%s: check and library disagree: %v vs %v", c.id, rej, lib)
			}
		}
	})
}

// recordFromJSON builds a log record from a JSON object; false when raw is not one.
func recordFromJSON(raw []byte, tweak uint8) (plog.LogRecord, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return plog.LogRecord{}, false
	}
	lr := plog.NewLogRecord()
	for k, v := range obj {
		if k == bodyKey {
			putValue(lr.Body(), v)
			continue
		}
		putValue(lr.Attributes().PutEmpty(k), v)
	}
	if tweak != 0 && lr.Attributes().Len() > 0 {
		keys := make([]string, 0, lr.Attributes().Len())
		for k := range lr.Attributes().All() {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		v, _ := lr.Attributes().Get(keys[int(tweak&0x7f)%len(keys)])
		if tweak&0x80 != 0 {
			v.SetEmptyBytes().FromRaw([]byte(v.AsString()))
		} else {
			v.SetDouble(math.NaN())
		}
	}
	return lr, true
}

// putValue stores a decoded JSON value; integers become ints, other numbers doubles.
func putValue(dst pcommon.Value, v any) {
	switch v := v.(type) {
	case nil:
	case bool:
		dst.SetBool(v)
	case string:
		dst.SetStr(v)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			dst.SetInt(i)
		} else if f, err := v.Float64(); err == nil {
			dst.SetDouble(f)
		} else {
			dst.SetStr(string(v))
		}
	case []any:
		s := dst.SetEmptySlice()
		for _, x := range v {
			putValue(s.AppendEmpty(), x)
		}
	case map[string]any:
		m := dst.SetEmptyMap()
		for k, x := range v {
			putValue(m.PutEmpty(k), x)
		}
	}
}
