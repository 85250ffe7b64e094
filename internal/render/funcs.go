package render

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// commaDecimal lists the languages that write 1.234,56 rather than 1,234.56.
const commaDecimal = " de da es fi fr it nl no nb nn pl pt ru sv tr cs sk sl hr hu ro bg el "

// lang returns the language part of a locale: "de-AT" → "de".
func lang(locale string) string {
	l, _, _ := strings.Cut(strings.ToLower(locale), "-")
	l, _, _ = strings.Cut(l, "_")
	return l
}

// funcs returns the template functions for one locale. They never put the
// value they were given into an error: values may be personal data.
//
//	money  amount [currency]  "29,98 €" (de) / "€29.98" (en); currency defaults to EUR
//	num    number             up to two decimals: "17,4" (de) / "17.4" (en)
//	date   "2006-01-02"|RFC 3339|time.Time   "03.12.2026" (de) / "3 December 2026" (en)
//	title  salutation         "Frau"/"Herr" as "Frau"/"Herr" (de) or "Ms"/"Mr" (en); "" otherwise
//	paragraphs text           text split at blank lines, for <p> in HTML
//
// money and num format a number from its decimal digits (decimal.go), so a
// json.Number keeps every digit the producer sent; they round half away
// from zero, as amounts are rounded on paper.
func funcs(locale string) map[string]any {
	l := lang(locale)
	comma := strings.Contains(commaDecimal, " "+l+" ")
	return map[string]any{
		"money": func(v any, currency ...any) (string, error) {
			d, err := decimalOf(v)
			if err != nil {
				return "", fmt.Errorf("money: %w", err)
			}
			cur := "EUR"
			if len(currency) > 0 {
				if s, ok := currency[0].(string); ok && s != "" {
					cur = strings.ToUpper(s)
				}
			}
			amount := d.format(2, true, comma)
			switch {
			case cur == "EUR" && comma:
				return amount + " €", nil
			case cur == "EUR":
				return "€" + amount, nil
			case comma:
				return amount + " " + cur, nil
			default:
				return cur + " " + amount, nil
			}
		},
		"num": func(v any) (string, error) {
			d, err := decimalOf(v)
			if err != nil {
				return "", fmt.Errorf("num: %w", err)
			}
			return d.format(2, false, comma), nil
		},
		"date": func(v any) (string, error) {
			t, err := dateOf(v)
			if err != nil {
				return "", fmt.Errorf("date: %w", err)
			}
			switch l {
			case "de":
				return t.Format("02.01.2006"), nil
			case "en":
				return t.Format("2 January 2006"), nil
			default:
				return t.Format("2006-01-02"), nil
			}
		},
		"title": func(v any) string {
			s, _ := v.(string)
			switch strings.ToLower(strings.TrimSpace(strings.TrimSuffix(s, "."))) {
			case "frau", "ms", "mrs", "f":
				if l == "de" {
					return "Frau"
				}
				return "Ms"
			case "herr", "mr", "m":
				if l == "de" {
					return "Herr"
				}
				return "Mr"
			}
			return ""
		},
		"paragraphs": func(v any) []string {
			s, _ := v.(string)
			s = strings.ReplaceAll(s, "\r\n", "\n")
			var out []string
			for p := range strings.SplitSeq(s, "\n\n") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			return out
		},
	}
}

var errNotNumber = errors.New("want a number")

func dateOf(v any) (time.Time, error) {
	switch d := v.(type) {
	case time.Time:
		return d, nil
	case string:
		if t, err := time.Parse("2006-01-02", d); err == nil {
			return t, nil
		}
		if t, err := time.Parse(time.RFC3339, d); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("want a date as YYYY-MM-DD or RFC 3339")
}
