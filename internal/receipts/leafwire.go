package receipts

import (
	"encoding/binary"
	"errors"
)

// Reading leaves without the collector.
//
// The verifier decodes leaves (§3) for the checks of §7.1 with this small reader instead of pdata, so the package
// needs nothing of the collector. It accepts exactly the bytes the pdata v1.55 protobuf unmarshaler accepts
// (leafschema.go lists every field of the OTLP messages with the wire type pdata requires, including its quirks:
// varints of up to ten bytes without an overflow check, field numbers truncated to int32, packed or unpacked
// repeated scalars, trace and span ids of 0 or 16 / 8 bytes, unknown fields and groups skipped as pdata skips
// them), and reads the fields it needs with pdata's semantics (the last occurrence of a scalar or oneof wins,
// repeated occurrences of a message merge). internal/receipts/pdataleaves/decode_test.go compares the two on
// generated and damaged leaves, and FuzzLeafReaderMatchesPdata on random bytes. docs/receipts.md §3 ("Decoding a
// leaf") states these rules for other implementations.

var (
	errLeafEOF      = errors.New("leaf: unexpected end of data")
	errLeafOverflow = errors.New("leaf: varint overflows 64 bits")
	errLeafField    = errors.New("leaf: illegal field number")
	errLeafWireType = errors.New("leaf: wrong wire type")
	errLeafLength   = errors.New("leaf: invalid length")
	errLeafGroup    = errors.New("leaf: unexpected end of group")
	errLeafID       = errors.New("leaf: trace id must be 16 bytes and span id 8 (or empty)")
)

// Wire types.
const (
	wtVarint     = 0
	wtI64        = 1
	wtLen        = 2
	wtStartGroup = 3
	wtEndGroup   = 4
	wtI32        = 5
)

func consumeVarint(b []byte, pos int) (uint64, int, error) {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if shift >= 64 {
			return 0, 0, errLeafOverflow
		}
		if pos >= len(b) {
			return 0, 0, errLeafEOF
		}
		c := b[pos]
		pos++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, pos, nil
		}
	}
}

func consumeTag(b []byte, pos int) (num int32, wt int8, next int, err error) {
	tag, next, err := consumeVarint(b, pos)
	if err != nil {
		return 0, 0, 0, err
	}
	num = int32(tag >> 3) // truncated, as pdata does
	if num <= 0 {
		return 0, 0, 0, errLeafField
	}
	return num, int8(tag & 7), next, nil
}

func consumeI64(b []byte, pos int) (uint64, int, error) {
	if pos+8 < 0 || pos+8 > len(b) {
		return 0, 0, errLeafEOF
	}
	return binary.LittleEndian.Uint64(b[pos:]), pos + 8, nil
}

func consumeI32(b []byte, pos int) (uint32, int, error) {
	if pos+4 < 0 || pos+4 > len(b) {
		return 0, 0, errLeafEOF
	}
	return binary.LittleEndian.Uint32(b[pos:]), pos + 4, nil
}

// consumeLen reads a length prefix; the payload is b[start:end].
func consumeLen(b []byte, pos int) (start, end int, err error) {
	n, pos, err := consumeVarint(b, pos)
	if err != nil {
		return 0, 0, err
	}
	l := int(n)
	if l < 0 {
		return 0, 0, errLeafLength
	}
	if pos+l < 0 || pos+l > len(b) {
		return 0, 0, errLeafEOF
	}
	return pos, pos + l, nil
}

// consumeUnknown skips a field pdata does not know, the way pdata does: a group ends at its first field of
// another wire type than a group marker, and its field numbers are not matched.
func consumeUnknown(b []byte, pos int, wt int8) (int, error) {
	depth := 0
	for pos < len(b) {
		var err error
		switch wt {
		case wtVarint:
			_, pos, err = consumeVarint(b, pos)
			return pos, err
		case wtI64:
			_, pos, err = consumeI64(b, pos)
			return pos, err
		case wtLen:
			_, pos, err = consumeLen(b, pos)
			return pos, err
		case wtStartGroup:
			depth++
		case wtEndGroup:
			if depth == 0 {
				return 0, errLeafGroup
			}
			depth--
		case wtI32:
			_, pos, err = consumeI32(b, pos)
			return pos, err
		default:
			return 0, errLeafWireType
		}
		if depth == 0 {
			return pos, nil
		}
		if _, wt, pos, err = consumeTag(b, pos); err != nil {
			return 0, err
		}
	}
	return 0, errLeafEOF
}

// wireField is one field of a message: for wtLen its payload is b[s:e], else v is its value.
type wireField struct {
	num  int32
	wt   int8
	v    uint64
	s, e int
}

// eachField calls fn for every field of the message b that pdata reads (unknown fields are skipped). b must
// have passed validate.
func eachField(b []byte, fn func(f wireField)) {
	for pos := 0; pos < len(b); {
		num, wt, p, err := consumeTag(b, pos)
		if err != nil {
			return
		}
		f := wireField{num: num, wt: wt}
		switch wt {
		case wtVarint:
			f.v, pos, err = consumeVarint(b, p)
		case wtI64:
			f.v, pos, err = consumeI64(b, p)
		case wtI32:
			var v uint32
			v, pos, err = consumeI32(b, p)
			f.v = uint64(v)
		case wtLen:
			f.s, f.e, err = consumeLen(b, p)
			pos = f.e
		default:
			pos, err = consumeUnknown(b, p, wt)
			f.num = 0
		}
		if err != nil {
			return
		}
		if f.num != 0 {
			fn(f)
		}
	}
}

// fieldKind is how pdata reads a known field.
type fieldKind uint8

const (
	kVarint       fieldKind = iota
	kI64                    // fixed64, sfixed64, double
	kI32                    // fixed32
	kBytes                  // string or bytes
	kMessage                // a message of the field's schema
	kTraceID                // bytes, empty or 16 long
	kSpanID                 // bytes, empty or 8 long
	kPackedI64              // repeated fixed64 / double: packed, or one value per field
	kPackedVarint           // repeated varint: packed, or one value per field
)

type fieldSpec struct {
	kind fieldKind
	msg  *schema
}

type schema struct{ fields map[int32]fieldSpec }

// validate reports whether pdata would unmarshal b as a message of schema s.
func validate(b []byte, s *schema) error {
	for pos := 0; pos < len(b); {
		num, wt, p, err := consumeTag(b, pos)
		if err != nil {
			return err
		}
		spec, known := s.fields[num]
		if !known {
			if pos, err = consumeUnknown(b, p, wt); err != nil {
				return err
			}
			continue
		}
		if pos, err = validateField(b, p, wt, spec); err != nil {
			return err
		}
	}
	return nil
}

func validateField(b []byte, pos int, wt int8, spec fieldSpec) (int, error) {
	want := int8(wtLen)
	switch spec.kind {
	case kVarint:
		want = wtVarint
	case kI64:
		want = wtI64
	case kI32:
		want = wtI32
	case kPackedI64:
		if wt == wtI64 {
			_, pos, err := consumeI64(b, pos)
			return pos, err
		}
	case kPackedVarint:
		if wt == wtVarint {
			_, pos, err := consumeVarint(b, pos)
			return pos, err
		}
	}
	if wt != want {
		return 0, errLeafWireType
	}
	switch want {
	case wtVarint:
		_, pos, err := consumeVarint(b, pos)
		return pos, err
	case wtI64:
		_, pos, err := consumeI64(b, pos)
		return pos, err
	case wtI32:
		_, pos, err := consumeI32(b, pos)
		return pos, err
	}
	s, e, err := consumeLen(b, pos)
	if err != nil {
		return 0, err
	}
	switch spec.kind {
	case kMessage:
		err = validate(b[s:e], spec.msg)
	case kTraceID:
		if e-s != 0 && e-s != 16 {
			err = errLeafID
		}
	case kSpanID:
		if e-s != 0 && e-s != 8 {
			err = errLeafID
		}
	case kPackedI64:
		if (e-s)%8 != 0 {
			err = errLeafLength
		}
	case kPackedVarint:
		for p := s; p < e && err == nil; {
			_, p, err = consumeVarint(b[:e], p)
		}
	}
	return e, err
}
