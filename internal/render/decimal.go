package render

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// decimal is a number as its decimal digits: what template data carries
// (json.Number, the producer's literal) is formatted from those digits, never
// through a float64, so 12345678901234567890 stays 12345678901234567890 and
// 0.125 rounds the way a person rounds it on paper.
type decimal struct {
	neg  bool
	int  string // integer digits without leading zeros ("" for 0)
	frac string // fraction digits
}

// maxShift bounds the exponent a literal may carry: intake refuses numbers
// outside float64's range, so anything beyond this is not a number a
// template is meant to print.
const maxShift = 400

// decimalOf reads the numeric forms JSON and Go callers produce: json.Number
// and numeric strings by their digits, Go floats by their shortest exact
// decimal form, Go integers as they are.
func decimalOf(v any) (decimal, error) {
	switch n := v.(type) {
	case json.Number:
		return parseDecimal(string(n))
	case string:
		return parseDecimal(strings.TrimSpace(n))
	case float64:
		return floatDecimal(n)
	case float32:
		return floatDecimal(float64(n))
	case int:
		return parseDecimal(strconv.Itoa(n))
	case int64:
		return parseDecimal(strconv.FormatInt(n, 10))
	}
	return decimal{}, errNotNumber
}

func floatDecimal(f float64) (decimal, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return decimal{}, errNotNumber
	}
	return parseDecimal(strconv.FormatFloat(f, 'g', -1, 64))
}

// parseDecimal reads a JSON number literal: -?digits[.digits][e±digits].
func parseDecimal(s string) (decimal, error) {
	var d decimal
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		d.neg, s = true, rest
	} else if rest, ok := strings.CutPrefix(s, "+"); ok {
		s = rest // strings from Go callers may carry a plus sign
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e > maxShift || e < -maxShift {
			return decimal{}, errNotNumber
		}
		mant, exp = s[:i], e
	}
	ip, fp, _ := strings.Cut(mant, ".")
	if ip == "" && fp == "" || !digits(ip) || !digits(fp) {
		return decimal{}, errNotNumber
	}
	all := ip + fp
	point := len(ip) + exp // position of the decimal point in all
	switch {
	case point <= 0:
		d.frac = strings.Repeat("0", -point) + all
	case point >= len(all):
		d.int = all + strings.Repeat("0", point-len(all))
	default:
		d.int, d.frac = all[:point], all[point:]
	}
	d.int = strings.TrimLeft(d.int, "0")
	d.frac = strings.TrimRight(d.frac, "0")
	if d.int == "" && d.frac == "" {
		d.neg = false // -0 prints as 0
	}
	return d, nil
}

func digits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// round keeps at most places fraction digits, rounding half away from zero
// (commercial rounding, as on an invoice).
func (d decimal) round(places int) decimal {
	if len(d.frac) <= places {
		return d
	}
	up := d.frac[places] >= '5'
	d.frac = d.frac[:places]
	if up {
		digs := []byte(d.int + d.frac)
		i := len(digs) - 1
		for ; i >= 0; i-- {
			if digs[i] == '9' {
				digs[i] = '0'
				continue
			}
			digs[i]++
			break
		}
		if i < 0 {
			digs = append([]byte{'1'}, digs...)
		}
		n := len(digs) - places
		d.int, d.frac = string(digs[:n]), string(digs[n:])
	}
	d.int = strings.TrimLeft(d.int, "0")
	if d.int == "" && strings.Trim(d.frac, "0") == "" {
		d.neg = false
	}
	return d
}

// format writes d with thousands separators and at most decimals fraction
// digits; fixed keeps trailing zeros (amounts), else they are dropped.
func (d decimal) format(decimals int, fixed, comma bool) string {
	d = d.round(decimals)
	intPart := d.int
	if intPart == "" {
		intPart = "0"
	}
	frac := d.frac
	if fixed {
		frac += strings.Repeat("0", decimals-len(frac))
	} else {
		frac = strings.TrimRight(frac, "0")
	}
	thousands, point := ",", "."
	if comma {
		thousands, point = ".", ","
	}
	var b strings.Builder
	if d.neg {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(thousands)
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString(point)
		b.WriteString(frac)
	}
	return b.String()
}
