package metrics

import (
	"strings"
	"testing"
)

// A label value is a code or Other, never free text.
func TestCodeKeepsOnlyCodes(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]string{
		"no_consent":            "no_consent",
		"hard_bounce":           "hard_bounce",
		"legitimate_interest":   "legitimate_interest",
		"x1":                    "x1",
		strings.Repeat("a", 48): strings.Repeat("a", 48),
		strings.Repeat("a", 49): Other,
		"":                      Other,
		"No_Consent":            Other,
		"kunde@example.com":     Other,
		"550 mailbox unknown":   Other,
		"retries-exhausted":     Other,
		"ümlaut":                Other,
		"line\nbreak":           Other,
	} {
		if got := code(v); got != want {
			t.Errorf("code(%q) = %q, want %q", v, got, want)
		}
	}
}
