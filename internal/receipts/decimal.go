package receipts

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Decimal is a number with at most six fractional digits, held as an integer count of millionths so that the
// exporter and a verifier in any language agree on every digit of what is written (docs/receipts.md §5,
// "Decimals"). It is written as a JSON number in its one canonical spelling: no exponent, no leading zeros, no
// trailing fractional zeros, no "-0".
type Decimal int64

// DecimalScale is the number of Decimal units in 1.
const DecimalScale = 1_000_000

// DecimalOf rounds f to six fractional digits, half away from zero. NaN is 0; infinities saturate.
func DecimalOf(f float64) Decimal {
	switch {
	case math.IsNaN(f):
		return 0
	case f*DecimalScale >= math.MaxInt64:
		return math.MaxInt64
	case f*DecimalScale <= math.MinInt64:
		return math.MinInt64 + 1
	}
	return Decimal(math.Round(f * DecimalScale))
}

// Float is the value as a float64.
func (d Decimal) Float() float64 { return float64(d) / DecimalScale }

// String is the canonical spelling.
func (d Decimal) String() string {
	neg := d < 0
	u := uint64(d)
	if neg {
		u = uint64(-d)
	}
	s := strconv.FormatUint(u/DecimalScale, 10)
	if frac := u % DecimalScale; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// MarshalJSON writes the canonical spelling.
func (d Decimal) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

var decimalSyntax = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,12})(\.[0-9]{0,5}[1-9])?$`)

// UnmarshalJSON accepts only the canonical spelling, so one value has one byte string.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := string(b)
	if !decimalSyntax.MatchString(s) || s == "-0" {
		return fmt.Errorf("decimal %s is not in canonical form (at most 6 fractional digits, no exponent, no trailing zeros)", s)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return err
	}
	f := int64(0)
	if frac != "" {
		if f, err = strconv.ParseInt((frac + "00000")[:6], 10, 64); err != nil {
			return err
		}
	}
	v := w*DecimalScale + f
	if neg {
		v = -v
	}
	*d = Decimal(v)
	return nil
}

// ParseDecimal parses the canonical spelling (tests and config).
func ParseDecimal(s string) (Decimal, error) {
	var d Decimal
	if s == "" {
		return 0, errors.New("empty decimal")
	}
	err := d.UnmarshalJSON([]byte(s))
	return d, err
}
