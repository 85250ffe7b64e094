package dispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/delivery"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/feedback"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/privacy"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/smtpsink"
	"github.com/heroldhq/herold/internal/store"
)

const (
	smsFromTx  = apptest.SMSFromTransactional
	smsFromMkt = apptest.SMSFromMarketing

	keyAdmin     = "hrld_admin_secret"
	keyBilling   = "hrld_billing_secret"
	keyMarketing = "hrld_marketing_secret"
)

// testBundle is one isolated Herold, built by the composition root: real
// Redis under a prefix of its own, asynq on queues of its own, a real SMTP
// server and a Twilio API fake behind the real e-mail and SMS adapters, and
// the HTTP API.
type testBundle struct {
	*apptest.Herold
	store   *store.Store
	smtp    *smtpsink.Sink
	twilio  *apptest.TwilioFake
	queues  queue.Queues
	inspect *asynq.Inspector
	svc     *dispatch.Service
}

type setupOpts struct {
	noWorker bool // accept only: nothing is delivered
}

func setup(t *testing.T, opts ...setupOpts) *testBundle {
	t.Helper()
	var o setupOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	role := app.Role{Name: "test", HTTP: true, Worker: !o.noWorker}
	h := apptest.New(t, apptest.Options{Role: role, Env: map[string]string{
		"HEROLD_HTTP_MAX_BODY": "4096",
		"HEROLD_API_KEYS": "admin:" + keyAdmin + ":*,billing:" + keyBilling + ":send:invoice," +
			"marketing:" + keyMarketing + ":send:class:marketing",
	}})
	return &testBundle{Herold: h, store: h.Store, smtp: h.SMTP, twilio: h.Twilio, queues: h.Queues,
		inspect: h.Inspector, svc: h.Messages}
}

type customer struct {
	id         string
	email      string
	phone      string
	fromSale   bool
	noContract bool
}

// putCustomer stores a recipient with an active contract.
func (b *testBundle) putCustomer(t *testing.T, c customer) {
	t.Helper()
	in := recipient.Input{Kind: "customer", Salutation: "Frau", FirstName: "Anna", LastName: "Schmidt", Locale: "de"}
	if c.email != "" {
		in.Emails = []recipient.EmailInput{{Address: c.email, CollectedInSale: c.fromSale}}
	}
	if c.phone != "" {
		in.Mobile = &recipient.MobileInput{Number: c.phone, VerifiedAt: "2026-01-01T10:00:00Z"}
	}
	if !c.noContract {
		in.Contract = &recipient.ContractInput{StartedAt: "2024-01-01"}
	}
	r, err := recipient.Parse(c.id, in, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.store.PutRecipient(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}

func (b *testBundle) grant(t *testing.T, id, purpose string, ch message.Channel, at time.Time) {
	t.Helper()
	if _, err := b.store.AppendConsent(t.Context(), message.RecipientID(id), consent.Event{
		Kind: consent.Grant, Purpose: purpose, Channel: string(ch), At: at, Source: consent.WebForm,
		Text: "Ja, ich möchte Angebote per SMS erhalten.",
	}); err != nil {
		t.Fatal(err)
	}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (b *testBundle) do(t *testing.T, method, path, key string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, b.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: rb}
}

type accepted struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	StatusURL string `json:"status_url"`
}

// post sends a message and expects 202.
func (b *testBundle) post(t *testing.T, key string, body any, header ...string) accepted {
	t.Helper()
	r := b.do(t, http.MethodPost, "/v1/messages", key, body, header...)
	if r.Status != http.StatusAccepted {
		t.Fatalf("POST /v1/messages: %d %s", r.Status, r.Body)
	}
	var a accepted
	r.json(t, &a)
	if a.ID == "" || a.StatusURL != "/v1/messages/"+a.ID {
		t.Fatalf("POST /v1/messages: bad answer %s", r.Body)
	}
	return a
}

type view struct {
	ID          string           `json:"id"`
	Type        string           `json:"type"`
	RecipientID string           `json:"recipient_id"`
	Status      string           `json:"status"`
	Channel     string           `json:"channel"`
	Decision    *policy.Decision `json:"decision"`
	Attempts    []store.Attempt  `json:"attempts"`
	ProviderID  string           `json:"provider_message_id"`
	Raw         json.RawMessage  `json:"-"`
}

func (b *testBundle) get(t *testing.T, id string) view {
	t.Helper()
	r := b.do(t, http.MethodGet, "/v1/messages/"+id, keyAdmin, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /v1/messages/%s: %d %s", id, r.Status, r.Body)
	}
	var v view
	r.json(t, &v)
	v.Raw = r.Body
	return v
}

// waitFinal polls the message until its status is final (or want's).
func (b *testBundle) waitStatus(t *testing.T, id string, want ...string) view {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		v := b.get(t, id)
		for _, w := range want {
			if v.Status == w {
				return v
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s: status %s after 15s, want %v\n%s", id, v.Status, want, v.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func invoiceData() map[string]any {
	return map[string]any{"invoice": map[string]any{
		"number": "RE-2026-11-004711", "period": "November 2026", "amount": 29.98, "currency": "EUR",
		"due_date": "2026-12-03", "direct_debit": true, "url": "https://service.example.com/rechnungen/RE-2026-11-004711",
	}}
}

func offerData() map[string]any {
	return map[string]any{"offer": map[string]any{
		"title": "Allnet Flat 40 GB", "price": 24.99, "regular_price": 29.99, "data_volume_gb": 40,
		"valid_until": "2026-12-31", "url": "https://www.example.com/angebot/allnet-40",
	}}
}

// noTask asserts that asynq holds no task for message id in any class queue.
func (b *testBundle) noTask(t *testing.T, id string) {
	t.Helper()
	for _, c := range message.Classes() {
		if _, err := b.inspect.GetTaskInfo(b.queues.Name(c), id); err == nil {
			t.Errorf("a task for %s is in queue %s", id, b.queues.Name(c))
		}
	}
}

// waitTask waits until message id's task is in state want in its class
// queue, or gone (want 0: a completed task is deleted, Retention 0). Either
// proves that no further delivery of the message can come: the task that
// would make it has finished, or is archived and never retried.
func (b *testBundle) waitTask(t *testing.T, id string, class message.Class, want asynq.TaskState) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := b.inspect.GetTaskInfo(b.queues.Name(class), id)
		switch {
		case want == 0 && errors.Is(err, asynq.ErrTaskNotFound):
			return
		case err == nil && info.State == want:
			return
		case err != nil && !errors.Is(err, asynq.ErrTaskNotFound):
			t.Fatalf("task %s: %v", id, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: not %v after 15s (now %+v, %v)", id, want, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInvoiceEmailDelivered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putCustomer(t, customer{id: "c-100", email: "anna.schmidt@example.com"})
	a := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-100", "channels": []string{"email"}, "data": invoiceData()})
	if a.Status != "queued" {
		t.Errorf("accepted status %q, want queued", a.Status)
	}
	v := b.waitStatus(t, a.ID, "delivered", "failed", "suppressed")
	if v.Status != "delivered" || v.Channel != "email" {
		t.Fatalf("status %s on %q, want delivered on email\n%s", v.Status, v.Channel, v.Raw)
	}
	if v.Decision == nil || v.Decision.Basis != policy.Contract || !v.Decision.Allowed {
		t.Errorf("decision %+v, want allowed on basis contract", v.Decision)
	}
	if len(v.Attempts) != 1 || v.Attempts[0].Error != "" || v.ProviderID == "" {
		t.Errorf("attempts %+v provider id %q, want one clean attempt and a provider id", v.Attempts, v.ProviderID)
	}
	mails := b.smtp.Mails()
	if len(mails) != 1 || len(mails[0].To) != 1 || mails[0].To[0] != "anna.schmidt@example.com" {
		t.Fatalf("SMTP got %+v, want one mail to anna.schmidt@example.com", mails)
	}
	if !bytes.Contains(mails[0].Data, []byte("RE-2026-11-004711")) {
		t.Errorf("mail does not carry the invoice number:\n%s", mails[0].Data)
	}
	if bytes.Contains(v.Raw, []byte("anna.schmidt")) || bytes.Contains(v.Raw, []byte("RE-2026")) {
		t.Errorf("GET shows personal data or template data:\n%s", v.Raw)
	}
	recs, err := b.store.RecipientMessages(t.Context(), "c-100")
	if err != nil || len(recs) != 1 || recs[0].ID != a.ID {
		t.Errorf("recipient index: %+v, %v", recs, err)
	}
}

func TestPromoSMSWithoutConsentSuppressed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putCustomer(t, customer{id: "c-200", phone: "+4915112345200"})
	a := b.post(t, keyMarketing, map[string]any{"type": "promo_offer", "recipient_id": "c-200", "channels": []string{"sms"}, "data": offerData()})
	v := b.waitStatus(t, a.ID, "delivered", "failed", "suppressed")
	if v.Status != "suppressed" || v.Decision == nil || v.Decision.Reason != policy.NoConsent || v.Decision.Allowed {
		t.Fatalf("status %s decision %+v, want suppressed with no_consent\n%s", v.Status, v.Decision, v.Raw)
	}
	if len(v.Attempts) != 0 {
		t.Errorf("attempts %+v, want none", v.Attempts)
	}
	if n := len(b.twilio.Requests()); n != 0 {
		t.Errorf("Twilio got %d requests, want none", n)
	}
}

func TestWithdrawalAfterEnqueueSuppresses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putCustomer(t, customer{id: "c-300", phone: "+4915112345300"})
	b.grant(t, "c-300", consent.Advertising, message.SMS, time.Now().Add(-24*time.Hour))

	sendAt := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339Nano)
	a := b.post(t, keyMarketing, map[string]any{"type": "promo_offer", "recipient_id": "c-300", "channels": []string{"sms"}, "data": offerData(), "send_at": sendAt})
	if a.Status != "scheduled" {
		t.Fatalf("accepted status %q, want scheduled", a.Status)
	}
	if _, err := b.store.AppendConsent(t.Context(), "c-300", consent.Event{
		Kind: consent.Withdraw, Purpose: consent.Advertising, Channel: string(message.SMS), At: time.Now(), Source: consent.CustomerPortal,
	}); err != nil {
		t.Fatal(err)
	}
	v := b.waitStatus(t, a.ID, "delivered", "failed", "suppressed")
	if v.Status != "suppressed" || v.Decision.Reason != policy.ConsentWithdrawn {
		t.Fatalf("status %s reason %s, want suppressed with consent_withdrawn\n%s", v.Status, v.Decision.Reason, v.Raw)
	}
	if n := len(b.twilio.Requests()); n != 0 {
		t.Errorf("Twilio got %d requests, want none", n)
	}
}

func TestConsentedPromoSMSDelivered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putCustomer(t, customer{id: "c-310", phone: "+4915112345310"})
	b.grant(t, "c-310", consent.Advertising, message.SMS, time.Now().Add(-time.Hour))
	a := b.post(t, keyMarketing, map[string]any{"type": "promo_offer", "recipient_id": "c-310", "channels": []string{"sms"}, "data": offerData()})
	v := b.waitStatus(t, a.ID, "delivered", "failed", "suppressed")
	if v.Status != "delivered" || v.Decision.Basis != policy.Consent {
		t.Fatalf("status %s basis %s, want delivered on consent\n%s", v.Status, v.Decision.Basis, v.Raw)
	}
	reqs := b.twilio.Requests()
	if len(reqs) != 1 || reqs[0].To != "+4915112345310" || reqs[0].From != smsFromMkt || reqs[0].Body == "" {
		t.Fatalf("Twilio got %+v, want one SMS from the marketing sender", reqs)
	}
	if v.ProviderID != reqs[0].SID {
		t.Errorf("provider id %q, want Twilio's %q", v.ProviderID, reqs[0].SID)
	}
	if bad := b.twilio.Bad(); len(bad) > 0 {
		t.Errorf("malformed Twilio calls: %v", bad)
	}
}

func TestIdempotentRetrySendsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putCustomer(t, customer{id: "c-400", email: "idem@example.com"})
	body := map[string]any{"type": "invoice", "recipient_id": "c-400", "data": invoiceData()}
	first := b.post(t, keyBilling, body, "Idempotency-Key", "inv-4711")
	second := b.do(t, http.MethodPost, "/v1/messages", keyBilling, body, "Idempotency-Key", "inv-4711")
	if second.Status != http.StatusAccepted || second.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat: %d %s", second.Status, second.Body)
	}
	var a2 accepted
	second.json(t, &a2)
	if a2.ID != first.ID {
		t.Fatalf("repeat answered message %s, want %s", a2.ID, first.ID)
	}
	// The key in the body means the same.
	third := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-400", "data": invoiceData(), "idempotency_key": "inv-4711"})
	if third.ID != first.ID {
		t.Fatalf("key in body answered %s, want %s", third.ID, first.ID)
	}
	b.waitStatus(t, first.ID, "delivered")
	// After delivery a repeat still answers the first message, with its status.
	again := b.post(t, keyBilling, body, "Idempotency-Key", "inv-4711")
	if again.ID != first.ID || again.Status != "delivered" {
		t.Errorf("repeat after delivery: %+v, want %s delivered", again, first.ID)
	}
	otherData := invoiceData()
	otherData["invoice"].(map[string]any)["number"] = "RE-other"
	other := b.do(t, http.MethodPost, "/v1/messages", keyBilling,
		map[string]any{"type": "invoice", "recipient_id": "c-400", "data": otherData},
		"Idempotency-Key", "inv-4711")
	if other.Status != http.StatusConflict {
		t.Errorf("other body under a used key: %d %s, want 409", other.Status, other.Body)
	}
	// The one task has run to its end, and the repeats made no message of
	// their own: nothing is left that could send a second mail.
	b.waitTask(t, first.ID, message.Transactional, 0)
	if recs, err := b.store.RecipientMessages(t.Context(), "c-400"); err != nil || len(recs) != 1 {
		t.Errorf("messages of the recipient: %d (%v), want 1", len(recs), err)
	}
	if n := b.smtp.Count(); n != 1 {
		t.Errorf("SMTP got %d mails, want exactly 1", n)
	}
}

func TestProvider500RetriedThenDelivered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const phone = "+4915112345500"
	b.putCustomer(t, customer{id: "c-500", phone: phone})
	b.twilio.Script(phone, apptest.TwilioReply{Status: 500, Code: 20500})
	a := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-500", "channels": []string{"sms"}, "data": invoiceData()})
	v := b.waitStatus(t, a.ID, "delivered", "failed")
	if v.Status != "delivered" {
		t.Fatalf("status %s, want delivered\n%s", v.Status, v.Raw)
	}
	if len(v.Attempts) != 2 || v.Attempts[0].Provider == nil || v.Attempts[0].Provider.Status != 500 || v.Attempts[0].Permanent || v.Attempts[1].Error != "" {
		t.Errorf("attempts %+v, want a retryable 500 then success", v.Attempts)
	}
	if n := b.twilio.Accepted(); n != 1 {
		t.Errorf("Twilio accepted %d messages, want 1", n)
	}
	reqs := b.twilio.Requests()
	if len(reqs) != 2 || reqs[1].From != smsFromTx {
		t.Errorf("Twilio requests %+v, want 2 from the transactional sender", reqs)
	}
	if bytes.Contains(v.Raw, []byte(phone)) {
		t.Errorf("record shows the phone number:\n%s", v.Raw)
	}
}

func TestProvider21211FailsWithoutRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const phone = "+4915112345211"
	b.putCustomer(t, customer{id: "c-211", phone: phone})
	b.twilio.Script(phone, apptest.TwilioReply{Status: 400, Code: 21211})
	a := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-211", "channels": []string{"sms"}, "data": invoiceData()})
	v := b.waitStatus(t, a.ID, "delivered", "failed")
	if v.Status != "failed" || len(v.Attempts) != 1 || !v.Attempts[0].Permanent || v.Attempts[0].Provider == nil || v.Attempts[0].Provider.Code != 21211 {
		t.Fatalf("status %s attempts %+v, want failed after one permanent 21211\n%s", v.Status, v.Attempts, v.Raw)
	}
	b.waitTask(t, a.ID, message.Transactional, asynq.TaskStateArchived) // archived: never retried
	if n := len(b.twilio.Requests()); n != 1 {
		t.Errorf("Twilio got %d requests, want 1 (no retry)", n)
	}
	if bytes.Contains(v.Raw, []byte(phone)) {
		t.Errorf("record shows the phone number Twilio's error text repeated:\n%s", v.Raw)
	}
}

func TestProvider21610RecordsObjection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const phone = "+4915112345610"
	b.putCustomer(t, customer{id: "c-610", phone: phone})
	b.grant(t, "c-610", consent.Advertising, message.SMS, time.Now().Add(-time.Hour))
	b.twilio.Script(phone, apptest.TwilioReply{Status: 400, Code: 21610})
	a := b.post(t, keyMarketing, map[string]any{"type": "promo_offer", "recipient_id": "c-610", "channels": []string{"sms"}, "data": offerData()})
	v := b.waitStatus(t, a.ID, "delivered", "failed")
	if v.Status != "failed" || len(v.Attempts) != 1 || !v.Attempts[0].Permanent {
		t.Fatalf("status %s attempts %+v, want failed without retry\n%s", v.Status, v.Attempts, v.Raw)
	}
	events, err := b.store.Ledger(t.Context(), "c-610")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events {
		if e.Kind == consent.Object && e.Purpose == consent.Advertising && e.Channel == string(message.SMS) {
			found = true
			if e.Source != consent.ProviderReport || e.RecordedBy != "provider:twilio" || !strings.Contains(e.Text, "code 21610") {
				t.Errorf("objection source %s recorded by %s (%q), want provider by provider:twilio naming code 21610", e.Source, e.RecordedBy, e.Text)
			}
		}
	}
	if !found {
		t.Fatalf("no SMS objection in the ledger: %+v", events)
	}
	// The next offer by SMS is stopped by the policy, before Twilio.
	next := b.post(t, keyMarketing, map[string]any{"type": "promo_offer", "recipient_id": "c-610", "channels": []string{"sms"}, "data": offerData()})
	nv := b.waitStatus(t, next.ID, "delivered", "failed", "suppressed")
	if nv.Status != "suppressed" || nv.Decision.Reason != policy.Objection {
		t.Errorf("next offer: %s %s, want suppressed with objection", nv.Status, nv.Decision.Reason)
	}
	if n := len(b.twilio.Requests()); n != 1 {
		t.Errorf("Twilio got %d requests, want 1", n)
	}
}

func TestHardBounceSuppressesAddress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putCustomer(t, customer{id: "c-550", email: "bounce.me@example.com"})
	a := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-550", "data": invoiceData()})
	v := b.waitStatus(t, a.ID, "delivered", "failed", "suppressed")
	if v.Status != "failed" || len(v.Attempts) != 1 || !v.Attempts[0].Permanent {
		t.Fatalf("status %s attempts %+v, want failed after a permanent bounce\n%s", v.Status, v.Attempts, v.Raw)
	}
	next := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-550", "channels": []string{"email"}, "data": invoiceData()})
	nv := b.waitStatus(t, next.ID, "delivered", "failed", "suppressed")
	if nv.Status != "suppressed" || nv.Decision.Reason != policy.Suppressed {
		t.Errorf("after the bounce: %s %s, want suppressed with suppressed", nv.Status, nv.Decision.Reason)
	}
	if bytes.Contains(v.Raw, []byte("bounce.me")) {
		t.Errorf("record shows the address:\n%s", v.Raw)
	}
}

func TestChannelFallbackInPreferenceOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// No consent for SMS advertising, but an existing customer whose address
	// came from a sale: SMS is denied, e-mail allowed on legitimate interest.
	b.putCustomer(t, customer{id: "c-600", email: "jonas@example.com", phone: "+4915112345600", fromSale: true})
	a := b.post(t, keyMarketing, map[string]any{"type": "promo_offer", "recipient_id": "c-600", "channels": []string{"sms", "email"}, "data": offerData()})
	v := b.waitStatus(t, a.ID, "delivered", "failed", "suppressed")
	if v.Status != "delivered" || v.Channel != "email" || v.Decision.Basis != policy.LegitimateInterest {
		t.Fatalf("status %s channel %s basis %s, want delivered by email on legitimate interest\n%s", v.Status, v.Channel, v.Decision.Basis, v.Raw)
	}
	if n := len(b.twilio.Requests()); n != 0 {
		t.Errorf("Twilio got %d requests, want none", n)
	}
	if !bytes.Contains(b.smtp.Mails()[0].Data, []byte("List-Unsubscribe")) {
		t.Error("advertising mail without List-Unsubscribe")
	}
}

func TestCancelScheduled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putCustomer(t, customer{id: "c-700", email: "cancel@example.com"})
	due := time.Now().Add(3 * time.Second)
	a := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-700", "data": invoiceData(), "send_at": due.UTC().Format(time.RFC3339Nano)})
	r := b.do(t, http.MethodDelete, "/v1/messages/"+a.ID, keyBilling, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	b.noTask(t, a.ID)
	// A message due just after the canceled one arrives: the worker has
	// passed the canceled message's send time, and sent only the later one.
	later := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-700", "data": invoiceData(),
		"send_at": due.Add(200 * time.Millisecond).UTC().Format(time.RFC3339Nano)})
	b.waitStatus(t, later.ID, "delivered")
	if v := b.get(t, a.ID); v.Status != "canceled" {
		t.Errorf("status %s, want canceled", v.Status)
	}
	if n := b.smtp.Count(); n != 1 {
		t.Errorf("SMTP got %d mails, want only the later one", n)
	}
	// Canceling a delivered message is refused.
	d := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-700", "data": invoiceData()})
	b.waitStatus(t, d.ID, "delivered")
	if r := b.do(t, http.MethodDelete, "/v1/messages/"+d.ID, keyBilling, nil); r.Status != http.StatusConflict {
		t.Errorf("DELETE of a delivered message: %d %s, want 409", r.Status, r.Body)
	}
}

// TestCanceledAfterDequeue: a worker that got the task before the cancel
// reached Redis still sends nothing.
func TestCanceledRecordIsSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noWorker: true})
	b.putCustomer(t, customer{id: "c-710", email: "x@example.com"})
	a := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-710", "data": invoiceData()})
	if _, err := b.svc.Cancel(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	// Run the handler on the (deleted) task's payload as a worker would.
	task, err := queue.NewDeliverTask(b.queues, a.ID, message.Transactional, 3)
	if err != nil {
		t.Fatal(err)
	}
	cat, _ := policy.ParseCatalog(policy.DefaultCatalog())
	core, err := delivery.New(delivery.Options{Catalog: cat, Renderer: failRenderer{t}, Feedback: feedback.New(b.store, nil),
		Senders: map[message.Channel]channels.Sender{message.Email: channels.SenderFunc(func(context.Context, channels.Outbound) (channels.Receipt, error) {
			t.Error("a canceled message was sent")
			return channels.Receipt{}, nil
		})}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Options{Store: b.store, Delivery: core, RecordTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := queue.NewDeliverHandler(d, slog.New(slog.DiscardHandler)).ProcessTask(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	if v := b.get(t, a.ID); v.Status != "canceled" {
		t.Errorf("status %s, want canceled", v.Status)
	}
}

type failRenderer struct{ t *testing.T }

func (f failRenderer) Render(render.Request) (render.Content, error) {
	f.t.Error("a canceled message was rendered")
	return render.Content{}, fmt.Errorf("not expected")
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noWorker: true})
	b.putCustomer(t, customer{id: "c-800", email: "keys@example.com"})
	promo := map[string]any{"type": "promo_offer", "recipient_id": "c-800", "data": offerData()}
	r := b.do(t, http.MethodPost, "/v1/messages", keyBilling, promo)
	if r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), `send:promo_offer`) {
		t.Errorf("billing key sending promo_offer: %d %s, want 403 naming send:promo_offer", r.Status, r.Body)
	}
	if r := b.do(t, http.MethodPost, "/v1/messages", "", promo); r.Status != http.StatusUnauthorized {
		t.Errorf("no key: %d %s, want 401", r.Status, r.Body)
	}
	if r := b.do(t, http.MethodPost, "/v1/messages", "hrld_wrong", promo); r.Status != http.StatusUnauthorized {
		t.Errorf("wrong key: %d %s, want 401", r.Status, r.Body)
	}
	inline := map[string]any{"type": "promo_offer", "recipient": map[string]any{"id": "c-801", "kind": "customer", "emails": []any{map[string]any{"address": "new@example.com"}}}, "data": offerData()}
	if r := b.do(t, http.MethodPost, "/v1/messages", keyMarketing, inline); r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), `recipients`) {
		t.Errorf("inline recipient without the recipients scope: %d %s, want 403 naming recipients", r.Status, r.Body)
	}
	if _, err := b.store.GetRecipient(t.Context(), "c-801"); err == nil {
		t.Error("a recipient was written although the key lacks the scope")
	}
	// The marketing key may not read the billing key's invoice.
	inv := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-800", "data": invoiceData()})
	if r := b.do(t, http.MethodGet, "/v1/messages/"+inv.ID, keyMarketing, nil); r.Status != http.StatusNotFound {
		t.Errorf("marketing key reading an invoice: %d, want 404", r.Status)
	}
	if r := b.do(t, http.MethodGet, "/v1/messages/"+inv.ID, keyBilling, nil); r.Status != http.StatusOK {
		t.Errorf("billing key reading its invoice: %d, want 200", r.Status)
	}
}

func TestInlineRecipientUpserted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.post(t, keyAdmin, map[string]any{
		"type": "invoice",
		"recipient": map[string]any{"id": "c-900", "kind": "customer", "emails": []any{map[string]any{"address": "inline@example.com"}},
			"contract": map[string]any{"started_at": "2024-01-01"}},
		"data": invoiceData(),
	})
	v := b.waitStatus(t, a.ID, "delivered", "failed", "suppressed")
	if v.Status != "delivered" || v.RecipientID != "c-900" {
		t.Fatalf("status %s recipient %s, want delivered to c-900\n%s", v.Status, v.RecipientID, v.Raw)
	}
	if _, err := b.store.GetRecipient(t.Context(), "c-900"); err != nil {
		t.Errorf("inline recipient not stored: %v", err)
	}
}

func TestRetriesExhaustedFail(t *testing.T) {
	t.Parallel()
	b := setup(t) // MaxRetry 3: four attempts in all
	const phone = "+4915112345503"
	b.putCustomer(t, customer{id: "c-503", phone: phone})
	for range 4 {
		b.twilio.Script(phone, apptest.TwilioReply{Status: 503, Code: 20503})
	}
	a := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-503", "channels": []string{"sms"}, "data": invoiceData()})
	v := b.waitStatus(t, a.ID, "delivered", "failed")
	if v.Status != "failed" || len(v.Attempts) != 4 {
		t.Fatalf("status %s with %d attempts, want failed after 4\n%s", v.Status, len(v.Attempts), v.Raw)
	}
	for i, at := range v.Attempts {
		if at.Permanent || at.Retry != i {
			t.Errorf("attempt %d: %+v, want retryable with retry %d", i, at, i)
		}
	}
	b.waitTask(t, a.ID, message.Transactional, asynq.TaskStateArchived) // archived: no fifth try
	if n := len(b.twilio.Requests()); n != 4 {
		t.Errorf("Twilio got %d requests, want 4", n)
	}
}

func TestErasedRecipientsQueuedMessageIsNotSent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putCustomer(t, customer{id: "c-960", email: "erase@example.com"})
	due := time.Now().Add(3 * time.Second)
	a := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-960", "data": invoiceData(), "send_at": due.UTC().Format(time.RFC3339Nano)})
	if err := privacy.New(b.store, nil).Erase(t.Context(), "c-960"); err != nil {
		t.Fatal(err)
	}
	if r := b.do(t, http.MethodGet, "/v1/messages/"+a.ID, keyAdmin, nil); r.Status != http.StatusNotFound {
		t.Errorf("record after erasure: %d %s, want 404", r.Status, r.Body)
	}
	// The task runs at its send time, finds no record and ends: only then
	// is it gone (completed tasks are deleted), and nothing can send it.
	b.waitTask(t, a.ID, message.Transactional, 0)
	if n := b.smtp.Count(); n != 0 {
		t.Errorf("SMTP got %d mails after erasure, want none", n)
	}
}

func TestFrequencyCapStopsTheFifthOffer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putCustomer(t, customer{id: "c-970", phone: "+4915112345970"})
	b.grant(t, "c-970", consent.Advertising, message.SMS, time.Now().Add(-time.Hour))
	for i := range 5 {
		a := b.post(t, keyMarketing, map[string]any{"type": "promo_offer", "recipient_id": "c-970", "channels": []string{"sms"}, "data": offerData()})
		v := b.waitStatus(t, a.ID, "delivered", "failed", "suppressed")
		want, reason := "delivered", policy.Allowed
		if i == 4 { // the catalog allows 4 advertising messages in 7 days
			want, reason = "suppressed", policy.FrequencyCap
		}
		if v.Status != want || v.Decision.Reason != reason {
			t.Fatalf("offer %d: %s %s, want %s %s", i+1, v.Status, v.Decision.Reason, want, reason)
		}
	}
	if n := b.twilio.Accepted(); n != 4 {
		t.Errorf("Twilio accepted %d, want 4", n)
	}
}
