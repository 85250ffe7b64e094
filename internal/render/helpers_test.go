package render

import (
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/token"
)

const testSecret = "0123456789abcdef0123456789abcdef-test"

var testNow = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// newTestRenderer returns a Renderer over the default templates and catalog,
// with opts applied on top of test defaults.
func newTestRenderer(t testing.TB, edit func(*Options)) (*Renderer, *policy.Catalog, *token.Sealer) {
	t.Helper()
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	sealer, err := token.NewSealer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Catalog: cat, Sealer: sealer, PublicURL: "https://herold.example.com",
		SMSStopNumber: "80888", UnsubscribeMailto: "abmelden@example.com",
		Now: func() time.Time { return testNow }}
	if edit != nil {
		edit(&opts)
	}
	r, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r, cat, sealer
}
