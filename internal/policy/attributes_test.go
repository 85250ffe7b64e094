package policy_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/policy"
)

// withPromoAttributes is the default catalog with an attributes line on promo_offer.
func withPromoAttributes(t *testing.T, list string) []byte {
	t.Helper()
	b := policy.DefaultCatalog()
	key := []byte("  - key: promo_offer\n")
	i := bytes.Index(b, key)
	if i < 0 {
		t.Fatal("default catalog has no promo_offer")
	}
	return slices.Concat(b[:i+len(key)], []byte("    attributes: "+list+"\n"), b[i+len(key):])
}

func TestCatalogDeclaresAttributesPerType(t *testing.T) {
	t.Parallel()
	cat, err := policy.ParseCatalog(withPromoAttributes(t, "[product, tariff]"))
	if err != nil {
		t.Fatal(err)
	}
	promo, _ := cat.Type("promo_offer")
	if !slices.Equal(promo.Attributes, []string{"product", "tariff"}) {
		t.Fatalf("promo_offer attributes = %v", promo.Attributes)
	}
	inv, _ := cat.Type("invoice")
	if len(inv.Attributes) != 0 {
		t.Fatalf("invoice declares no attributes, got %v", inv.Attributes)
	}
}

func TestCatalogRefusesBadAttributes(t *testing.T) {
	t.Parallel()
	for list, want := range map[string]string{
		"[Product]":          `attributes: "Product" is not a valid attribute key`,
		"[product, product]": `attributes: "product" listed twice`,
	} {
		_, err := policy.ParseCatalog(withPromoAttributes(t, list))
		if err == nil || !strings.Contains(err.Error(), "type promo_offer: "+want) {
			t.Errorf("attributes %s: err = %v, want %q", list, err, want)
		}
	}
}
