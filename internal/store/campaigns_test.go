package store

import (
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
		{"delivered", Outcome{Recipient: "r1", Status: OutcomeDelivered, Origin: "c12", Channel: message.Email,
			Basis: policy.LegitimateInterest, Reason: policy.Allowed, Rule: "legitimate_interest_existing_customer",
			Catalog: "2026-11-25.1", DecidedAt: at, DoneAt: at.Add(2 * time.Second), ProviderID: "=@example.com"}},
		{"suppressed", Outcome{Recipient: "r2", Status: OutcomeSuppressed, Origin: "l", Channel: message.SMS,
			Reason: policy.FrequencyCap, Catalog: "v", DecidedAt: at, DoneAt: at}},
		{"failed after retries", Outcome{Recipient: "r3", Status: OutcomeFailed, Origin: "c0", Channel: message.WhatsApp,
			Basis: policy.Consent, Reason: policy.Allowed, Rule: "consent", DecidedAt: at, DoneAt: at.Add(time.Hour),
			Attempts: 5, ErrorClass: "retries_exhausted", ProviderID: "SM|with|bars"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := tt.o.encode()
			if diff := cmp.Diff(tt.o, decodeOutcome(tt.o.Recipient, v)); diff != "" {
				t.Errorf("round trip of %q (-want +got):\n%s", v, diff)
			}
			if markOrigin(v) != tt.o.Origin {
				t.Errorf("markOrigin(%q) = %q, want %q", v, markOrigin(v), tt.o.Origin)
			}
		})
	}
	for mark, origin := range map[string]string{"pc3": "c3", "wc3": "c3", "pl.c3": "c3", "": ""} {
		if got := markOrigin(mark); got != origin {
			t.Errorf("markOrigin(%q) = %q, want %q", mark, got, origin)
		}
	}
	if n := len(tests[0].o.encode()); n > 100 {
		t.Errorf("a delivered outcome takes %d bytes: %s", n, tests[0].o.encode())
	}
}
