package render

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/message"
)

// TestNeedsOfTheDefaultTemplates: what intake asks of a message is exactly
// what the templates read outside {{if}}: the sample data of every type has
// all of it (no false refusal), and an empty data object lacks each field.
func TestNeedsOfTheDefaultTemplates(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, nil)
	n, err := r.Needs()
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range cat.Types() {
		for _, l := range r.Locales() {
			s, ok, err := r.Sample(spec.Key, l)
			if err != nil || !ok {
				continue
			}
			if p := n.Missing(spec.Key, spec.Channels, l, s.Data); len(p) > 0 {
				t.Errorf("%s/%s: the sample data lacks %+v", spec.Key, l, p)
			}
		}
	}
	got := fields(n.Missing("promo_offer", []message.Channel{message.SMS}, "", map[string]map[string]any{}))
	want := []string{"data.offer.price", "data.offer.title", "data.offer.url", "data.offer.valid_until"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("promo_offer sms with no data (-want +got):\n%s", diff)
	}
	// A fallback channel counts too: e-mail reads no more than the SMS here,
	// but the invoice's e-mail reads the number, which its SMS does not.
	got = fields(n.Missing("invoice", []message.Channel{message.SMS}, "de", map[string]map[string]any{"invoice": {
		"period": "November 2026", "amount": json.Number("29.98"), "due_date": "2026-12-03", "url": "https://x.example"}}))
	if len(got) != 0 {
		t.Errorf("invoice by sms: %v, want nothing missing", got)
	}
	got = fields(n.Missing("invoice", []message.Channel{message.SMS, message.Email}, "de", map[string]map[string]any{"invoice": {
		"period": "November 2026", "amount": json.Number("29.98"), "due_date": "2026-12-03", "url": "https://x.example"}}))
	if diff := cmp.Diff([]string{"data.invoice.number"}, got); diff != "" {
		t.Errorf("invoice by sms, falling back to email (-want +got):\n%s", diff)
	}
}

// TestNeedsFollowWithRangeAndKinds: fields inside {{with}} and {{range}} are
// needed only when the block runs; money, num and date want their kind.
func TestNeedsFollowWithRangeAndKinds(t *testing.T) {
	t.Parallel()
	r, _, _ := newTestRenderer(t, nil)
	n, err := r.Needs()
	if err != nil {
		t.Fatal(err)
	}
	offer := map[string]any{"title": "Allnet", "price": "abc", "valid_until": "morgen", "url": "https://x.example"}
	p := n.Missing("promo_offer", []message.Channel{message.Email}, "de", map[string]map[string]any{
		"offer": offer,
		"usage": {"period": "Oktober", "data_used_gb": json.Number("3")}, // data_volume_gb missing
	})
	got := map[string]string{}
	for _, x := range p {
		got[x.Field] = x.Message
	}
	for field, want := range map[string]string{
		"data.offer.price":          "must be a number",
		"data.offer.valid_until":    "must be a date",
		"data.usage.data_volume_gb": "missing",
	} {
		if !strings.Contains(got[field], want) || !strings.Contains(got[field], "promo_offer template on email") {
			t.Errorf("%s: %q, want %q naming the template", field, got[field], want)
		}
	}
	if len(got) != 3 {
		t.Errorf("problems %v, want exactly 3", got)
	}
	// Without usage the {{with .Data.usage}} block does not run.
	offer["price"], offer["valid_until"] = json.Number("24.99"), "2026-12-31"
	if p := n.Missing("promo_offer", []message.Channel{message.Email}, "de", map[string]map[string]any{"offer": offer}); len(p) > 0 {
		t.Errorf("offer without usage: %+v, want nothing missing", p)
	}
	nl := map[string]any{"list_name": "News", "edition": "1", "headline": "H", "intro": "I", "url": "https://x.example",
		"items": []any{map[string]any{"title": "a", "text": "b", "url": "c"}, map[string]any{"title": "a"}}}
	got2 := fields(n.Missing("newsletter", []message.Channel{message.Email}, "de", map[string]map[string]any{"newsletter": nl}))
	if diff := cmp.Diff([]string{"data.newsletter.items[1].text", "data.newsletter.items[1].url"}, got2); diff != "" {
		t.Errorf("newsletter items (-want +got):\n%s", diff)
	}
}

func fields(p []Problem) []string {
	out := []string{}
	for _, x := range p {
		out = append(out, x.Field)
	}
	return out
}
