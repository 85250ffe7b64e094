package render

import (
	"strings"
	"testing"
)

func TestSMSInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		text     string
		encoding string
		segments int
	}{
		{"empty", "", GSM7, 0},
		{"one char", "a", GSM7, 1},
		{"160 GSM-7", strings.Repeat("a", 160), GSM7, 1},
		{"161 GSM-7", strings.Repeat("a", 161), GSM7, 2},
		{"306 GSM-7", strings.Repeat("a", 306), GSM7, 2},
		{"307 GSM-7", strings.Repeat("a", 307), GSM7, 3},
		{"German umlauts stay GSM-7", "Grüße aus Köln: Straße, Übergabe, Ärger, Öl", GSM7, 1},
		{"euro costs two septets", strings.Repeat("€", 80), GSM7, 1},
		{"euro over 160 septets", strings.Repeat("€", 81), GSM7, 2},
		{"escape fits one message", strings.Repeat("a", 152) + "€" + "a", GSM7, 1},
		{"escape pushed to next segment", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 152), GSM7, 3},
		{"70 UCS-2", strings.Repeat("ı", 70), UCS2, 1},
		{"71 UCS-2", strings.Repeat("ı", 71), UCS2, 2},
		{"134 UCS-2", strings.Repeat("ı", 134), UCS2, 2},
		{"135 UCS-2", strings.Repeat("ı", 135), UCS2, 3},
		{"one non-GSM char switches all", strings.Repeat("a", 100) + "ć", UCS2, 2},
		{"en dash is not GSM-7", "a – b", UCS2, 1},
		{"emoji is a surrogate pair", strings.Repeat("😀", 35), UCS2, 1},
		{"emoji over 70 units", strings.Repeat("😀", 36), UCS2, 2},
		{"surrogate pair never split", strings.Repeat("a", 66) + "😀" + strings.Repeat("a", 66), UCS2, 3},
		{"surrogate pair fits", strings.Repeat("a", 66) + "😀" + strings.Repeat("a", 65), UCS2, 2},
		{"newline and brackets", "a\nb[c]", GSM7, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			enc, n := SMSInfo(tt.text)
			if enc != tt.encoding || n != tt.segments {
				t.Errorf("SMSInfo = %s, %d; want %s, %d", enc, n, tt.encoding, tt.segments)
			}
		})
	}
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	de, en := funcs("de"), funcs("en")
	call := func(fm map[string]any, name string, args ...any) string {
		t.Helper()
		switch f := fm[name].(type) {
		case func(any, ...any) (string, error):
			s, err := f(args[0], args[1:]...)
			if err != nil {
				t.Fatalf("%s%v: %v", name, args, err)
			}
			return s
		case func(any) (string, error):
			s, err := f(args[0])
			if err != nil {
				t.Fatalf("%s%v: %v", name, args, err)
			}
			return s
		case func(any) string:
			return f(args[0])
		}
		t.Fatalf("no func %s", name)
		return ""
	}
	tests := []struct{ got, want string }{
		{call(de, "money", 29.98), "29,98 €"},
		{call(en, "money", 29.98), "€29.98"},
		{call(de, "money", 1234.5, "usd"), "1.234,50 USD"},
		{call(en, "money", 1234567, "EUR"), "€1,234,567.00"},
		{call(de, "money", "-5"), "-5,00 €"},
		{call(de, "num", 17.4), "17,4"},
		{call(en, "num", 20.0), "20"},
		{call(de, "date", "2026-12-03"), "03.12.2026"},
		{call(en, "date", "2026-12-03T10:00:00Z"), "3 December 2026"},
		{call(de, "title", "herr"), "Herr"},
		{call(en, "title", "Frau"), "Ms"},
		{call(en, "title", "divers"), ""},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: got %q, want %q", i, tt.got, tt.want)
		}
	}
	if _, err := de["money"].(func(any, ...any) (string, error))("zwölf"); err == nil || strings.Contains(err.Error(), "zwölf") {
		t.Errorf("money(bad) error = %v: want an error without the value", err)
	}
}
