package api_test

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/store"
)

type decisionsView struct {
	Decisions []policy.Decision `json:"decisions"`
}

// decide asks POST /v1/decisions for one channel and returns the decision.
func (b *recipientsBundle) decide(t *testing.T, typ, id, ch string) policy.Decision {
	t.Helper()
	status, body := b.do(t, "POST", "/v1/decisions", keyCompliance, map[string]any{"type": typ, "recipient_id": id, "channel": ch})
	if status != http.StatusOK {
		t.Fatalf("decide %s %s %s: %d %s", typ, id, ch, status, body)
	}
	return decode[policy.Decision](t, body)
}

// The acceptance story of the recipients issue, through the HTTP API: create
// a customer, grant advertising by SMS, withdraw, grant again.
func TestAcceptanceGrantWithdrawGrant(t *testing.T) {
	t.Parallel()
	b := setupRecipientsAPI(t)
	if status, body := b.do(t, "PUT", "/v1/recipients/c-42", keyCRM, erika); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	if d := b.decide(t, "promo_offer", "c-42", "sms"); d.Allowed || d.Reason != policy.NoConsent {
		t.Fatalf("before any consent: %+v", d)
	}
	steps := []struct {
		kind   string
		reason policy.Reason
	}{
		{"grant", policy.Allowed},
		{"withdraw", policy.ConsentWithdrawn},
		{"grant", policy.Allowed},
	}
	var ids []string
	for i, step := range steps {
		b.clock.Advance(time.Minute)
		status, body := b.do(t, "POST", "/v1/recipients/c-42/consents", keyCRM, map[string]any{
			"kind": step.kind, "purpose": "advertising", "channel": "sms", "source": "customer_portal",
			"ip": "198.51.100.4", "text": "Ja, ich möchte Angebote per SMS erhalten.",
		})
		if status != http.StatusCreated {
			t.Fatalf("step %d %s: %d %s", i, step.kind, status, body)
		}
		ids = append(ids, decode[struct{ Events []consent.Event }](t, body).Events[0].ID)
		b.clock.Advance(time.Second)
		d := b.decide(t, "promo_offer", "c-42", "sms")
		if d.Reason != step.reason || d.Allowed != (step.reason == policy.Allowed) {
			t.Fatalf("step %d (%s): decision %+v, want %s", i, step.kind, d, step.reason)
		}
		if d.Allowed && (d.Basis != policy.Consent || !slices.Contains(d.Evidence, "consent:"+ids[i])) {
			t.Errorf("step %d: basis %q evidence %v, want consent resting on event %s", i, d.Basis, d.Evidence, ids[i])
		}
		if d.Recipient != "c-42" || d.Type != "promo_offer" || d.Channel != "sms" || !d.DecidedAt.Equal(b.clock.Now()) {
			t.Errorf("step %d: decision header %+v", i, d)
		}
	}
	status, body := b.do(t, "GET", "/v1/recipients/c-42/consents", keyCRM, nil)
	if status != http.StatusOK {
		t.Fatalf("consents: %d %s", status, body)
	}
	view := decode[consentsView](t, body)
	if len(view.History) != 3 {
		t.Fatalf("history: %s", body)
	}
	for i, e := range view.History {
		if e.ID != ids[i] || string(e.Kind) != steps[i].kind || e.RecordedBy != "crm" {
			t.Errorf("history[%d] = %+v", i, e)
		}
	}
	if len(view.State) != 1 || view.State[0].Status != consent.Granted || view.State[0].EventID != ids[2] {
		t.Fatalf("state: %+v", view.State)
	}
}

func TestEraseThenRecreateIsSuppressed(t *testing.T) {
	t.Parallel()
	b := setupRecipientsAPI(t)
	if status, body := b.do(t, "PUT", "/v1/recipients/c-1", keyCRM, erika); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	if d := b.decide(t, "invoice", "c-1", "email"); !d.Allowed {
		t.Fatalf("invoice before erasure: %+v", d)
	}
	if status, body := b.do(t, "DELETE", "/v1/recipients/c-1", keyCRM, nil); status != http.StatusNoContent {
		t.Fatalf("erase: %d %s", status, body)
	}
	if d := b.decide(t, "invoice", "c-1", "email"); d.Reason != policy.UnknownRecipient || d.Recipient != "c-1" {
		t.Fatalf("after erasure: %+v", d)
	}
	// The same person comes back under a new id, address and number written differently.
	again := map[string]any{
		"kind":     "customer",
		"emails":   []any{map[string]any{"address": "erika@EXAMPLE.de"}},
		"mobile":   map[string]any{"number": "+49 (0)151 2345 6789"},
		"contract": map[string]any{"started_at": "2026-03-01"},
	}
	status, body := b.do(t, "PUT", "/v1/recipients/c-2", keyCRM, again)
	if status != http.StatusCreated {
		t.Fatalf("re-create: %d %s", status, body)
	}
	for _, ch := range []string{"email", "sms"} {
		if d := b.decide(t, "invoice", "c-2", ch); d.Allowed || d.Reason != policy.Suppressed {
			t.Errorf("invoice by %s to the re-created person: %+v", ch, d)
		}
	}
	// Another address of the new profile is not suppressed.
	status, body = b.do(t, "PATCH", "/v1/recipients/c-2", keyCRM, `{"emails":[{"address":"erika.neu@example.de"}]}`)
	if status != http.StatusOK {
		t.Fatalf("patch: %d %s", status, body)
	}
	if d := b.decide(t, "invoice", "c-2", "email"); !d.Allowed {
		t.Errorf("invoice to a fresh address: %+v", d)
	}
}

func TestDecisionsRequests(t *testing.T) {
	t.Parallel()
	b := setupRecipientsAPI(t)
	if status, body := b.do(t, "PUT", "/v1/recipients/c-1", keyCRM, erika); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	// Several channels at once, in the order asked.
	status, body := b.do(t, "POST", "/v1/decisions", keyCompliance, map[string]any{
		"type": "invoice", "recipient_id": "c-1", "channels": []string{"sms", "email"}})
	if status != http.StatusOK {
		t.Fatalf("channels: %d %s", status, body)
	}
	many := decode[decisionsView](t, body)
	if len(many.Decisions) != 2 || many.Decisions[0].Channel != "sms" || many.Decisions[1].Channel != "email" ||
		!many.Decisions[0].Allowed || !many.Decisions[1].Allowed || many.Decisions[0].Basis != policy.Contract {
		t.Fatalf("decisions: %s", body)
	}
	if d := b.decide(t, "invoice", "nobody", "email"); d.Allowed || d.Reason != policy.UnknownRecipient {
		t.Fatalf("unknown recipient: %+v", d)
	}
	if d := b.decide(t, "no_such_type", "c-1", "email"); d.Allowed || d.Reason != policy.UnknownType {
		t.Fatalf("unknown type: %+v", d)
	}
	if d := b.decide(t, "newsletter", "c-1", "sms"); d.Allowed || d.Reason != policy.ChannelNotAllowed {
		t.Fatalf("newsletter by sms: %+v", d)
	}

	bad := []struct {
		name   string
		body   any
		fields []string
	}{
		{"empty object", map[string]any{}, []string{"type", "recipient_id", "channel"}},
		{"bad channel", map[string]any{"type": "invoice", "recipient_id": "c-1", "channel": "fax"}, []string{"channel"}},
		{"bad list", map[string]any{"type": "invoice", "recipient_id": "c 1", "channels": []string{"email", "pigeon", "email"}},
			[]string{"recipient_id", "channels[1]", "channels[2]"}},
		{"both", map[string]any{"type": "invoice", "recipient_id": "c-1", "channel": "email", "channels": []string{"sms"}}, []string{"channels"}},
		{"wrong type", map[string]any{"type": 7, "recipient_id": "c-1", "channel": "email"}, []string{"type"}},
		{"unknown field", map[string]any{"type": "invoice", "recipient": "c-1", "channel": "email"}, []string{"recipient"}},
	}
	for _, tt := range bad {
		status, body := b.do(t, "POST", "/v1/decisions", keyCompliance, tt.body)
		if got := fieldNames(t, status, body); !slices.Equal(got, tt.fields) {
			t.Errorf("%s: fields %v, want %v\n%s", tt.name, got, tt.fields, body)
		}
	}
	if status, body := b.do(t, "POST", "/v1/decisions", keyCompliance, `{"type":`); status != http.StatusBadRequest {
		t.Fatalf("malformed: %d %s", status, body)
	}
}

func TestDecisionsCountTheFrequencyCap(t *testing.T) {
	t.Parallel()
	b := setupRecipientsAPI(t)
	if status, body := b.do(t, "PUT", "/v1/recipients/c-1", keyCRM, erika); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	if d := b.decide(t, "promo_offer", "c-1", "email"); !d.Allowed || d.Basis != policy.LegitimateInterest {
		t.Fatalf("before any advertising: %+v", d)
	}
	// The catalog allows 4 advertising messages in 7 days: four campaigns delivered one each.
	for i := range 4 {
		err := b.store.WriteOutcomes(t.Context(), store.Campaign{ID: "camp-" + strconv.Itoa(i), Type: "promo_offer"}, []store.Finished{{
			Outcome:     store.Outcome{Recipient: "c-1", Status: store.OutcomeDelivered, Channel: "email", DoneAt: b.clock.Now().Add(-time.Hour)},
			Advertising: true, Window: 7 * 24 * time.Hour,
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := b.decide(t, "promo_offer", "c-1", "email"); d.Allowed || d.Reason != policy.FrequencyCap {
		t.Fatalf("after four advertising messages: %+v", d)
	}
	if d := b.decide(t, "invoice", "c-1", "email"); !d.Allowed {
		t.Fatalf("the cap must not stop invoices: %+v", d)
	}
}
