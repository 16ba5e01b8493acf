package receipts

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Receipt lines are read as JSON that every conforming parser reads the same way (docs/receipts.md §5, "Line
// syntax"). encoding/json alone is more lenient than that: it keeps the last of duplicate keys, matches keys
// case-insensitively, replaces invalid UTF-8 and lone surrogates with U+FFFD and decodes null into a zero value,
// so two parsers could read one signed line differently. checkLineSyntax rejects all of those before decoding.

// maxExactInteger is the largest integer an IEEE-754 double (the number type of many JSON parsers) holds exactly.
const maxExactInteger = 1<<53 - 1

type lineScanner struct {
	b   []byte
	pos int
}

// checkLineSyntax checks one receipt line and returns the keys of its top-level object in line order.
func checkLineSyntax(line []byte) ([]string, error) {
	if !utf8.Valid(line) {
		return nil, errors.New("line is not valid UTF-8")
	}
	s := &lineScanner{b: line}
	if s.pos >= len(s.b) || s.b[0] != '{' {
		return nil, s.errorf("", "a receipt line is one JSON object starting with '{' (no leading whitespace)")
	}
	keys, err := s.object("")
	if err != nil {
		return nil, err
	}
	if s.pos != len(s.b) {
		if isJSONSpace(s.b[s.pos]) {
			return nil, s.errorf("", "whitespace after the object (a line ends with '}' then \\n; \\r\\n is not allowed)")
		}
		return nil, s.errorf("", "trailing data after the object")
	}
	return keys, nil
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *lineScanner) errorf(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return fmt.Errorf("invalid receipt JSON at byte %d: %s", s.pos, msg)
}

// expect consumes c, refusing whitespace in its place: receipt lines are compact.
func (s *lineScanner) expect(path string, c byte) error {
	if s.pos >= len(s.b) {
		return s.errorf(path, "line ends inside the object")
	}
	if s.b[s.pos] != c {
		if isJSONSpace(s.b[s.pos]) {
			return s.errorf(path, "whitespace outside strings (receipt lines are compact JSON)")
		}
		return s.errorf(path, "want %q, got %q", c, s.b[s.pos])
	}
	s.pos++
	return nil
}

func (s *lineScanner) object(path string) ([]string, error) {
	if err := s.expect(path, '{'); err != nil {
		return nil, err
	}
	var keys []string
	seen := map[string]bool{}
	if s.pos < len(s.b) && s.b[s.pos] == '}' {
		s.pos++
		return keys, nil
	}
	for {
		start := s.pos
		key, err := s.string(path)
		if err != nil {
			return nil, err
		}
		kp := key
		if path != "" {
			kp = path + "." + key
		}
		if seen[key] {
			s.pos = start
			return nil, s.errorf(kp, "duplicate key %q", key)
		}
		seen[key] = true
		if !isFieldName(key) {
			s.pos = start
			return nil, s.errorf(kp, "key %q is not a field name (lowercase ASCII letters, digits and '_', starting with a letter)", key)
		}
		keys = append(keys, key)
		if err := s.expect(kp, ':'); err != nil {
			return nil, err
		}
		if err := s.value(kp); err != nil {
			return nil, err
		}
		if s.pos < len(s.b) && s.b[s.pos] == '}' {
			s.pos++
			return keys, nil
		}
		if err := s.expect(path, ','); err != nil {
			return nil, err
		}
	}
}

// isFieldName accepts the spelling of every receipt field name. Keys are compared byte for byte, so a key that
// differs from a field name only in case (which encoding/json would match) is refused.
func isFieldName(k string) bool {
	if k == "" || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (s *lineScanner) value(path string) error {
	if s.pos >= len(s.b) {
		return s.errorf(path, "line ends before the value")
	}
	switch c := s.b[s.pos]; {
	case c == '{':
		_, err := s.object(path)
		return err
	case c == '[':
		s.pos++
		if s.pos < len(s.b) && s.b[s.pos] == ']' {
			s.pos++
			return nil
		}
		for i := 0; ; i++ {
			if err := s.value(fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
			if s.pos < len(s.b) && s.b[s.pos] == ']' {
				s.pos++
				return nil
			}
			if err := s.expect(path, ','); err != nil {
				return err
			}
		}
	case c == '"':
		_, err := s.string(path)
		return err
	case c == 't':
		return s.literal(path, "true")
	case c == 'f':
		return s.literal(path, "false")
	case c == 'n':
		return s.errorf(path, "null is not allowed (a field without a value is omitted)")
	case c == '-' || c >= '0' && c <= '9':
		return s.number(path)
	case isJSONSpace(c):
		return s.errorf(path, "whitespace outside strings (receipt lines are compact JSON)")
	default:
		return s.errorf(path, "unexpected %q", c)
	}
}

func (s *lineScanner) literal(path, lit string) error {
	if !strings.HasPrefix(string(s.b[s.pos:min(len(s.b), s.pos+len(lit))]), lit) {
		return s.errorf(path, "invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// number accepts JSON numbers without exponent and without "-0"; an integer (no fraction) must be at most
// 2^53-1 in magnitude.
func (s *lineScanner) number(path string) error {
	start := s.pos
	if s.b[s.pos] == '-' {
		s.pos++
	}
	digits := s.pos
	for s.pos < len(s.b) && s.b[s.pos] >= '0' && s.b[s.pos] <= '9' {
		s.pos++
	}
	intPart := string(s.b[digits:s.pos])
	if intPart == "" || len(intPart) > 1 && intPart[0] == '0' {
		return s.errorf(path, "invalid number")
	}
	fraction := false
	if s.pos < len(s.b) && s.b[s.pos] == '.' {
		s.pos++
		f := s.pos
		for s.pos < len(s.b) && s.b[s.pos] >= '0' && s.b[s.pos] <= '9' {
			s.pos++
		}
		if s.pos == f {
			return s.errorf(path, "invalid number")
		}
		fraction = true
	}
	if s.pos < len(s.b) && (s.b[s.pos] == 'e' || s.b[s.pos] == 'E') {
		return s.errorf(path, "number with an exponent")
	}
	num := string(s.b[start:s.pos])
	if num == "-0" || strings.HasPrefix(num, "-0.") && strings.Trim(num[3:], "0") == "" {
		return s.errorf(path, "negative zero")
	}
	if !fraction {
		var v uint64
		for _, d := range intPart {
			v = v*10 + uint64(d-'0')
			if v > maxExactInteger {
				return s.errorf(path, "integer %s is larger than 2^53-1", num)
			}
		}
	}
	return nil
}

// string consumes a JSON string: no raw control characters, only the JSON escapes, and \u escapes of UTF-16
// surrogates only as a high-low pair (a lone surrogate is no Unicode character; parsers disagree on it).
func (s *lineScanner) string(path string) (string, error) {
	if err := s.expect(path, '"'); err != nil {
		return "", err
	}
	var out strings.Builder
	for {
		if s.pos >= len(s.b) {
			return "", s.errorf(path, "line ends inside a string")
		}
		c := s.b[s.pos]
		switch {
		case c == '"':
			s.pos++
			return out.String(), nil
		case c < 0x20:
			return "", s.errorf(path, "raw control character 0x%02x in a string", c)
		case c != '\\':
			out.WriteByte(c)
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.b) {
			return "", s.errorf(path, "line ends inside a string")
		}
		e := s.b[s.pos+1]
		s.pos += 2
		switch e {
		case '"', '\\', '/':
			out.WriteByte(e)
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", s.errorf(path, "invalid \\u escape")
			}
			if r >= 0xDC00 && r <= 0xDFFF {
				return "", s.errorf(path, "lone low surrogate \\u%04x", r)
			}
			if r >= 0xD800 && r <= 0xDBFF {
				if s.pos+1 >= len(s.b) || s.b[s.pos] != '\\' || s.b[s.pos+1] != 'u' {
					return "", s.errorf(path, "lone high surrogate \\u%04x", r)
				}
				s.pos += 2
				lo, ok := s.hex4()
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return "", s.errorf(path, "high surrogate \\u%04x not followed by a low surrogate", r)
				}
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
			}
			out.WriteRune(r)
		default:
			return "", s.errorf(path, "invalid escape \\%c", e)
		}
	}
}

func (s *lineScanner) hex4() (rune, bool) {
	if s.pos+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.pos : s.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	s.pos += 4
	return r, true
}
