package render

import (
	"encoding/json"
	"testing"
)

// TestNumbersKeepTheirDigits: template data numbers arrive as json.Number
// (the API and the message record decode with UseNumber) and are formatted
// from their digits, not through a float64.
func TestNumbersKeepTheirDigits(t *testing.T) {
	t.Parallel()
	de, en := funcs("de"), funcs("en")
	money := func(fm map[string]any, v any) string {
		t.Helper()
		s, err := fm["money"].(func(any, ...any) (string, error))(v)
		if err != nil {
			t.Fatalf("money(%v): %v", v, err)
		}
		return s
	}
	num := func(fm map[string]any, v any) string {
		t.Helper()
		s, err := fm["num"].(func(any) (string, error))(v)
		if err != nil {
			t.Fatalf("num(%v): %v", v, err)
		}
		return s
	}
	for _, tc := range []struct{ got, want string }{
		{num(de, json.Number("12345678901234567890")), "12.345.678.901.234.567.890"},
		{money(en, json.Number("12345678901234567890.12")), "€12,345,678,901,234,567,890.12"},
		{money(de, json.Number("29.98")), "29,98 €"},
		{money(de, json.Number("0.125")), "0,13 €"},   // half away from zero, as on paper
		{money(de, json.Number("-0.125")), "-0,13 €"}, // and for negative amounts
		{money(de, json.Number("29.985")), "29,99 €"}, // a float64 would say 29.98
		{money(de, json.Number("-0.001")), "0,00 €"},  // no "-0,00"
		{money(de, json.Number("999.995")), "1.000,00 €"},
		{money(en, json.Number("1.5e3")), "€1,500.00"},
		{money(en, json.Number("25E-1")), "€2.50"},
		{num(de, json.Number("17.40")), "17,4"},
		{num(en, json.Number("0")), "0"},
		{num(en, json.Number("1e-7")), "0"},
		{num(en, 20.0), "20"},
		{num(en, 0.1+0.2), "0.3"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for _, bad := range []any{json.Number("1e9999"), "12,5", "", "1.2.3", json.Number("--1"), true, nil} {
		if _, err := de["num"].(func(any) (string, error))(bad); err == nil {
			t.Errorf("num(%#v): no error", bad)
		}
	}
}
