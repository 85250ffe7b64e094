package recipient_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/recipient"
)

func withAttributes(attrs map[string]any) recipient.Input {
	return recipient.Input{Kind: "customer", Emails: []recipient.EmailInput{{Address: "a@example.de"}}, Attributes: attrs}
}

func TestAttributesAreKeptAndRoundTrip(t *testing.T) {
	t.Parallel()
	r, err := recipient.Parse("c_1", withAttributes(map[string]any{
		"product": []any{"dsl", "mobile"}, "tariff": "L", "lines": json.Number("2"), "vip": true, "score": 7.5,
	}), "DE")
	if err != nil {
		t.Fatal(err)
	}
	want := recipient.Attributes{"product": []any{"dsl", "mobile"}, "tariff": "L", "lines": 2.0, "vip": true, "score": 7.5}
	if d := cmp.Diff(want, r.Attributes); d != "" {
		t.Fatalf("attributes (-want +got):\n%s", d)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("a parsed profile must validate: %v", err)
	}
	b, _ := json.Marshal(r)
	back, err := recipient.Decode("c_1", b, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, back.Attributes); d != "" {
		t.Fatalf("after a JSON round trip (-want +got):\n%s", d)
	}
	if got := r.Attributes.Values("tariff"); !slices.Equal(got, []any{"L"}) {
		t.Fatalf("Values(tariff) = %v", got)
	}
	if p := r.Profile()[recipient.ProfileAttributes].(map[string]any); p["tariff"] != "L" {
		t.Fatalf("Profile carries the attributes: %v", p)
	}
	c := r.Clone()
	c.Attributes["product"].([]any)[0] = "changed"
	if r.Attributes["product"].([]any)[0] != "dsl" {
		t.Fatal("Clone shares the attribute lists")
	}
}

// Each limit is a 400 naming the field beyond it.
func TestAttributeLimitsNameTheField(t *testing.T) {
	t.Parallel()
	many := map[string]any{}
	for i := range recipient.MaxAttributes + 1 {
		many["k"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	long := make([]any, recipient.MaxAttributeList+1)
	for i := range long {
		long[i] = "x"
	}
	big := map[string]any{}
	for i := range 20 {
		big["k"+string(rune('a'+i))] = strings.Repeat("x", 250)
	}
	tests := []struct {
		name  string
		attrs map[string]any
		field string
	}{
		{"too many keys", many, "attributes"},
		{"bad key", map[string]any{"Product": "dsl"}, "attributes.Product"},
		{"string too long", map[string]any{"note": strings.Repeat("x", recipient.MaxAttributeString+1)}, "attributes.note"},
		{"list too long", map[string]any{"product": long}, "attributes.product"},
		{"object value", map[string]any{"address": map[string]any{"city": "Bonn"}}, "attributes.address"},
		{"nested list", map[string]any{"product": []any{[]any{"dsl"}}}, "attributes.product[0]"},
		{"null value", map[string]any{"product": nil}, "attributes.product"},
		{"control characters", map[string]any{"note": "a\nb"}, "attributes.note"},
		{"all of it too big", big, "attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := recipient.Parse("c_1", withAttributes(tt.attrs), "DE")
			ie, ok := invalid.As(err)
			if !ok {
				t.Fatalf("want an *invalid.Error, got %v", err)
			}
			if !slices.ContainsFunc(ie.Fields, func(f invalid.Field) bool { return f.Field == tt.field }) {
				t.Fatalf("no error for %s: %v", tt.field, ie.Fields)
			}
		})
	}
}

func TestPatchRemovesOneAttribute(t *testing.T) {
	t.Parallel()
	r, err := recipient.Parse("c_1", withAttributes(map[string]any{"product": "dsl", "tariff": "L"}), "DE")
	if err != nil {
		t.Fatal(err)
	}
	next, err := recipient.Patch(r, map[string]any{"attributes": map[string]any{"tariff": nil, "lines": 3.0}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(recipient.Attributes{"product": "dsl", "lines": 3.0}, next.Attributes); d != "" {
		t.Fatalf("patched attributes (-want +got):\n%s", d)
	}
}
