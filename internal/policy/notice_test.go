package policy_test

import (
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/policy"
)

// TestExpandNamesEnforcedPeriods: the periods a notice text names are the
// catalog's own, in German nominative and dative and in English.
func TestExpandNamesEnforcedPeriods(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		retention, de, deDat, en string
	}{
		{"1 year", "1 Jahr", "1 Jahr", "1 year"},
		{"10 years", "10 Jahre", "10 Jahren", "10 years"},
		{"6 months", "6 Monate", "6 Monaten", "6 months"},
		{"2 weeks", "2 Wochen", "2 Wochen", "2 weeks"},
		{"30 days", "30 Tage", "30 Tagen", "30 days"},
		{"1 day", "1 Tag", "1 Tag", "1 day"},
	} {
		src := strings.Replace(validCatalog, "    retention: 10 years\n", "    retention: "+tt.retention+"\n", 1)
		src = strings.Replace(src, "blocking_period: 3 months", "blocking_period: 2 months\nunconfirmed_signup_retention: 7 days", 1)
		cat, err := policy.ParseCatalog([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		const text = "{retention}|{retention_dat}|{blocking}|{blocking_dat}|{unconfirmed_dat}"
		if got, want := cat.Expand("invoice", "de", text), tt.de+"|"+tt.deDat+"|2 Monate|2 Monaten|7 Tagen"; got != want {
			t.Errorf("retention %s, de: %q, want %q", tt.retention, got, want)
		}
		if got, want := cat.Expand("invoice", "en", text), tt.en+"|"+tt.en+"|2 months|2 months|7 days"; got != want {
			t.Errorf("retention %s, en: %q, want %q", tt.retention, got, want)
		}
	}
}
