package store_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/privacy"
	"github.com/heroldhq/herold/internal/recipient"
)

// TestFactsCarrySuppressionForLift: after an erasure, the facts of a person
// re-created with the same address carry the erasure's reason and time, so
// the policy lets a contract started after it through, and not one that
// started before.
func TestFactsCarrySuppressionForLift(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := setupRecipients(t)
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.s.PutRecipient(ctx, customer(t, "c-1")); err != nil {
		t.Fatal(err)
	}
	if err := privacy.New(b.s, nil).Erase(ctx, "c-1"); err != nil {
		t.Fatal(err)
	}
	erasedBy := time.Now()
	for _, tt := range []struct {
		id, started string
		want        policy.Reason
	}{
		{"c-2", erasedBy.AddDate(0, 0, 1).UTC().Format(time.DateOnly), policy.Allowed},
		{"c-3", "2024-01-01", policy.Suppressed}, // stale: the contract began before the erasure
	} {
		again, err := recipient.Parse(tt.id, recipient.Input{
			Kind: "customer", Emails: []recipient.EmailInput{{Address: "erika.m@example.de"}},
			Contract: &recipient.ContractInput{StartedAt: tt.started},
		}, "DE")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.s.PutRecipient(ctx, again); err != nil {
			t.Fatal(err)
		}
		snap, err := b.s.LoadFacts(ctx, message.RecipientID(tt.id))
		if err != nil {
			t.Fatal(err)
		}
		f := snap.Facts("invoice", message.Email, erasedBy.AddDate(0, 0, 2), time.UTC)
		if !f.Recipient.Suppressed || len(f.Recipient.Suppressions) != 1 || f.Recipient.Suppressions[0].Reason != policy.SuppressionErased ||
			f.Recipient.Suppressions[0].At.After(erasedBy) {
			t.Fatalf("%s: suppression facts %+v", tt.id, f.Recipient)
		}
		d := policy.Decide(cat, f)
		if d.Reason != tt.want {
			t.Errorf("%s (contract from %s): %s, want %s; evidence %v", tt.id, tt.started, d.Reason, tt.want, d.Evidence)
		}
		if tt.want == policy.Allowed && !slices.ContainsFunc(d.Evidence, func(e string) bool { return strings.HasPrefix(e, "suppression_lifted:erased@") }) {
			t.Errorf("%s: the lift is not in the evidence: %v", tt.id, d.Evidence)
		}
	}
}
