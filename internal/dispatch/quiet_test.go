package dispatch_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
)

// clock is a delivery clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Quiet hours are policy for single messages too: a promo SMS at 23:00 in the
// recipient's zone waits (scheduled, with reason and time), goes out after
// 08:00 when decided again, and is suppressed instead when the consent is
// withdrawn while it waits; the same offer by e-mail and an invoice by SMS
// are not held.
func TestQuietHoursHoldSingleMessages(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	night := time.Date(2026, 11, 25, 23, 0, 0, 0, berlin)
	morning := time.Date(2026, 11, 26, 8, 0, 0, 0, berlin)
	clk := &clock{t: night}
	h := apptest.New(t, apptest.Options{Now: clk.Now, Role: app.Role{Name: "test", HTTP: true, Worker: true},
		Env: map[string]string{"HEROLD_API_KEYS": "admin:" + keyAdmin + ":*"}})
	b := &testBundle{Herold: h, store: h.Store, smtp: h.SMTP, twilio: h.Twilio, queues: h.Queues, inspect: h.Inspector, svc: h.Messages}
	for i, id := range []string{"c-stays", "c-withdraws"} {
		r, err := recipient.Parse(id, recipient.Input{Kind: "customer", Locale: "de", TimeZone: "Europe/Berlin",
			Emails:   []recipient.EmailInput{{Address: id + "@example.com", CollectedInSale: true}},
			Mobile:   &recipient.MobileInput{Number: fmt.Sprintf("+491511234560%d", i)},
			Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}}, "DE")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := h.Store.PutRecipient(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		b.grant(t, id, consent.Advertising, message.SMS, night.Add(-24*time.Hour))
	}
	promoSMS := func(id string) accepted {
		return b.post(t, keyAdmin, map[string]any{"type": "promo_offer", "recipient_id": id, "channels": []string{"sms"}, "data": offerData()})
	}

	stays, withdraws := promoSMS("c-stays"), promoSMS("c-withdraws")
	for _, a := range []accepted{stays, withdraws} {
		v := b.waitHeld(t, a.ID)
		if !v.HeldUntil.Equal(morning) || v.HoldReason != policy.HoldQuietHours || v.Status != "scheduled" {
			t.Fatalf("held message: status %s until %v (%s), want scheduled until %v for quiet_hours\n%s",
				v.Status, v.HeldUntil, v.HoldReason, morning, v.Raw)
		}
		if v.Decision == nil || !v.Decision.Allowed || !v.Decision.NotBefore.Equal(morning) {
			t.Fatalf("the decision of a held message: %+v", v.Decision)
		}
	}
	// Not held: the offer by e-mail, an invoice by SMS (transactional).
	mail := b.post(t, keyAdmin, map[string]any{"type": "promo_offer", "recipient_id": "c-stays", "channels": []string{"email"}, "data": offerData()})
	invoice := b.post(t, keyAdmin, map[string]any{"type": "invoice", "recipient_id": "c-stays", "channels": []string{"sms"}, "data": invoiceData()})
	for _, a := range []accepted{mail, invoice} {
		if v := b.waitStatus(t, a.ID, "delivered", "failed", "suppressed", "scheduled"); v.Status != "delivered" {
			t.Fatalf("%s: status %s, want delivered at 23:00\n%s", a.ID, v.Status, v.Raw)
		}
	}
	// The only SMS sent so far is the invoice, to the transactional sender.
	if reqs := b.twilio.Requests(); len(reqs) != 1 || reqs[0].From != smsFromTx {
		t.Fatalf("Twilio requests at night: %+v, want only the invoice", reqs)
	}

	// While it waits, one person withdraws; then it is morning.
	if _, err := h.Store.AppendConsent(t.Context(), "c-withdraws", consent.Event{Kind: consent.Withdraw, Purpose: consent.Advertising,
		Channel: "sms", At: night.Add(2 * time.Hour), Source: consent.WebForm}); err != nil {
		t.Fatal(err)
	}
	clk.Set(morning.Add(time.Minute))
	for _, a := range []accepted{stays, withdraws} {
		// The task waits in asynq's retry set until 08:00 by the wall clock
		// of its decision; run it now, as asynq would then.
		if err := h.Inspector.RunTask(h.Queues.Name(message.Marketing), a.ID); err != nil {
			t.Fatal(err)
		}
	}
	if v := b.waitStatus(t, stays.ID, "delivered", "failed", "suppressed"); v.Status != "delivered" || v.Decision.DecidedAt.Before(morning) {
		t.Fatalf("after 08:00: status %s decided at %v, want delivered on a decision of the morning\n%s", v.Status, v.Decision.DecidedAt, v.Raw)
	}
	if v := b.waitStatus(t, withdraws.ID, "delivered", "failed", "suppressed"); v.Status != "suppressed" || v.Decision.Reason != policy.ConsentWithdrawn {
		t.Fatalf("withdrawn while waiting: status %s (%+v), want suppressed for consent_withdrawn\n%s", v.Status, v.Decision, v.Raw)
	}
	if n := b.twilio.Accepted(); n != 2 {
		t.Fatalf("Twilio accepted %d SMS, want 2 (the invoice and the offer in the morning)", n)
	}
}

// heldView is a message as the API shows it while it is held.
type heldView struct {
	view
	HeldUntil  time.Time     `json:"held_until"`
	HoldReason policy.Reason `json:"hold_reason"`
}

// waitHeld polls message id until a decision has held it.
func (b *testBundle) waitHeld(t *testing.T, id string) heldView {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := b.do(t, http.MethodGet, "/v1/messages/"+id, keyAdmin, nil)
		var v heldView
		r.json(t, &v)
		v.Raw = r.Body
		if !v.HeldUntil.IsZero() || v.Status == "delivered" || v.Status == "suppressed" || v.Status == "failed" {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s not held after 15s: %s", id, r.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
