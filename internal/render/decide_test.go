package render

import (
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// TestUsageDataFollowsTheDecision runs the real policy: a promotion to a
// customer renders the usage numbers only when the usage_data consent is in
// force, although the producer sent them either way.
func TestUsageDataFollowsTheDecision(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, nil)
	rcpt := &policy.Recipient{ID: "C-1", Kind: policy.Customer, ContractStart: testNow.AddDate(-2, 0, 0),
		HasEmail: true, EmailFromSale: true, HasPhone: true, PhoneVerifiedAt: testNow.AddDate(-1, 0, 0)}
	grant := func(purpose string) consent.Event {
		return consent.Event{ID: purpose, Kind: consent.Grant, Purpose: purpose, Channel: consent.AllChannels,
			At: testNow.AddDate(0, -1, 0), Source: consent.WebForm}
	}
	for _, tt := range []struct {
		name   string
		ch     message.Channel
		events []consent.Event
		usage  bool
	}{
		{"e-mail on legitimate interest, no usage consent", message.Email, nil, false},
		{"e-mail with usage consent", message.Email, []consent.Event{grant(consent.UsageData)}, true},
		{"sms with advertising consent only", message.SMS, []consent.Event{grant(consent.Advertising)}, false},
		{"sms with advertising and usage consent", message.SMS, []consent.Event{grant(consent.Advertising), grant(consent.UsageData)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dec := policy.Decide(cat, policy.Facts{Type: "promo_offer", Channel: tt.ch, Now: testNow, Recipient: rcpt,
				Consent: consent.Fold(tt.events, testNow)})
			if !dec.Allowed {
				t.Fatalf("decision denies: %s", dec.Reason)
			}
			req := PreviewRequest(spec(t, cat, "promo_offer"), tt.ch, "de", sample(t, r, "promo_offer", "de"))
			req.Decision, req.Recipient = dec, "C-1"
			c, err := r.Render(req)
			if err != nil {
				t.Fatal(err)
			}
			shown := strings.Contains(c.Text, "19,2") || strings.Contains(c.HTML, "19,2")
			if tt.ch == message.Email && shown != tt.usage {
				t.Errorf("usage shown = %v, want %v:\n%s", shown, tt.usage, c.Text)
			}
			if tt.ch == message.SMS && shown {
				t.Errorf("the SMS template does not use usage data, yet it shows: %s", c.Text)
			}
			if !strings.Contains(c.Text, "/unsubscribe/") {
				t.Errorf("no opt-out notice: %s", c.Text)
			}
		})
	}
}
