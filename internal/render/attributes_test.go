package render

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
)

// attributeRenderer renders promo_offer SMS with a template of its own
// (sms.txt.tmpl = tmpl) under a catalog in which promo_offer declares the
// attributes product and tariff.
func attributeRenderer(t *testing.T, tmpl string) (*Renderer, *policy.Catalog) {
	t.Helper()
	b := policy.DefaultCatalog()
	key := []byte("  - key: promo_offer\n")
	i := bytes.Index(b, key)
	b = slices.Concat(b[:i+len(key)], []byte("    attributes: [product, tariff]\n"), b[i+len(key):])
	cat, err := policy.ParseCatalog(b)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, l := range []string{"de", "en"} {
		p := filepath.Join(dir, l, "promo_offer")
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "sms.txt.tmpl"), []byte(tmpl), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, _, _ := newTestRenderer(t, func(o *Options) { o.Catalog, o.OverrideDir = cat, dir })
	return r, cat
}

func attributeRequest(attrs recipient.Attributes) Request {
	rec := recipient.Recipient{ID: "c_1", FirstName: "Erika", Attributes: attrs}
	return Request{MessageID: "m1", Type: "promo_offer", Channel: message.SMS, Locale: "de", Recipient: rec.ID,
		Profile: rec.Profile(),
		Data:    map[string]map[string]any{"offer": {"title": "Glasfaser", "price": 30.0, "valid_until": "2026-12-31", "url": "https://x.example"}},
		Decision: policy.Decision{Allowed: true, Reason: policy.Allowed, Type: "promo_offer", Channel: message.SMS,
			DataCategories: []string{"contact", "offer"}}}
}

func TestTemplatesSeeOnlyDeclaredAttributes(t *testing.T) {
	t.Parallel()
	r, _ := attributeRenderer(t, `Hallo {{.Data.contact.first_name}}, zu Ihrem {{.Data.attributes.product}}{{with .Data.attributes.tariff}} im Tarif {{.}}{{end}}.`)
	c, err := r.Render(attributeRequest(recipient.Attributes{"product": "DSL", "secret": "nope"}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Text, "Hallo Erika, zu Ihrem DSL.") || strings.Contains(c.Text, "nope") {
		t.Fatalf("text %q: want the declared product, no tariff (absent), no undeclared attribute", c.Text)
	}
	c, err = r.Render(attributeRequest(recipient.Attributes{"product": "DSL", "tariff": "L"}))
	if err != nil || !strings.HasPrefix(c.Text, "Hallo Erika, zu Ihrem DSL im Tarif L.") {
		t.Fatalf("text %q, %v", c.Text, err)
	}
}

func TestTemplateNamingAnUndeclaredAttributeFails(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []string{`{{.Data.attributes.secret}}`, `{{.Data.contact.attributes.secret}}`} {
		r, _ := attributeRenderer(t, tmpl)
		_, err := r.Render(attributeRequest(recipient.Attributes{"secret": "nope"}))
		if !errors.Is(err, ErrMissingData) {
			t.Fatalf("%s: err = %v, want ErrMissingData: a template must not show what the catalog does not declare", tmpl, err)
		}
	}
}
