package store

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

func TestOutcomeEncodingRoundTrips(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		o    Outcome
	}{
		{"delivered", Outcome{Recipient: "r1", Status: OutcomeDelivered, Origin: ChunkOwner(12), Channel: message.Email,
			Basis: policy.LegitimateInterest, Reason: policy.Allowed, Rule: "promo_offer/email/legitimate_interest_existing_customer",
			Catalog: "2026-11-25.1", DecidedAt: at, DoneAt: at.Add(2 * time.Second), ProviderID: CampaignMessageID("cmp_1", "r1") + "@example.com"}},
		{"suppressed", Outcome{Recipient: "r2", Status: OutcomeSuppressed, Origin: SweepOwner(), Channel: message.SMS,
			Reason: policy.FrequencyCap, Catalog: "v", DecidedAt: at, DoneAt: at}},
		{"failed after retries", Outcome{Recipient: "r3", Status: OutcomeFailed, Origin: ChunkOwner(0), Channel: message.WhatsApp,
			Basis: policy.Consent, Reason: policy.Allowed, Rule: "promo_offer/whatsapp/consent", DecidedAt: at, DoneAt: at.Add(time.Hour),
			Attempts: 5, ErrorClass: "retries_exhausted", ProviderID: "SM|with|bars"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := tt.o.encode("cmp_1", "promo_offer")
			if diff := cmp.Diff(tt.o, decodeOutcome("cmp_1", "promo_offer", tt.o.Recipient, v), cmp.AllowUnexported(Owner{})); diff != "" {
				t.Errorf("round trip of %q (-want +got):\n%s", v, diff)
			}
			if got := parseOwner(markOrigin(v)); got != tt.o.Origin {
				t.Errorf("markOrigin(%q) = %v, want %v", v, got, tt.o.Origin)
			}
		})
	}
	for mark, origin := range map[string]string{"pc3": "c3", "wc3": "c3", "pl.c3": "c3", "": ""} {
		if got := markOrigin(mark); got != origin {
			t.Errorf("markOrigin(%q) = %q, want %q", mark, got, origin)
		}
	}
	if v := tests[0].o.encode("cmp_1", "promo_offer"); len(v) > 100 || strings.Contains(v, "promo_offer") || strings.Contains(v, "cm.") {
		t.Errorf("a delivered outcome takes %d bytes (rule and provider id are stored short): %s", len(v), v)
	}
}
