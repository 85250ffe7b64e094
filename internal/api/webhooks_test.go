package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/api"
	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/feedback"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/store"
)

const (
	webhookToken  = "f00dfeedf00dfeedf00dfeedf00dfeed"
	webhookPublic = "https://herold.example"
	webhookMobile = "+4915123456789"
)

type webhookBundle struct {
	st     *store.Store
	srv    *httptest.Server
	events *eventLog
}

// eventLog keeps the events published, in order.
type eventLog struct {
	mu  sync.Mutex
	evs []events.Event
}

func (l *eventLog) Publish(_ context.Context, evs ...events.Event) error {
	for _, e := range evs {
		if err := e.Validate(); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, evs...)
	return nil
}

func (l *eventLog) all() []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.evs)
}

// setupWebhooks serves the webhooks over the real store on real Redis, with
// a recipient whose mobile number is webhookMobile and a message Twilio
// knows as SM1.
func setupWebhooks(t *testing.T) webhookBundle {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix, store.WithSalt("webhook-test-salt-0123456789"))
	r, err := recipient.Parse("cust-1", recipient.Input{
		Kind: "customer", FirstName: "Erika", LastName: "Mustermann",
		Emails: []recipient.EmailInput{{Address: "erika@example.de"}},
		Mobile: &recipient.MobileInput{Number: webhookMobile, VerifiedAt: "2025-01-02T10:00:00Z"},
		Locale: "de", Contract: &recipient.ContractInput{StartedAt: "2024-01-01"},
	}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.PutRecipient(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	rec := &store.MessageRecord{ID: "msg-1", Type: "invoice", Class: message.Transactional, RecipientID: "cust-1",
		Status: store.StatusDelivered, Channel: message.SMS, Provider: "twilio", ProviderID: "SM1"}
	if err := st.PutMessage(t.Context(), rec, time.Hour); err != nil {
		t.Fatal(err)
	}
	offer := &store.MessageRecord{ID: "msg-offer", Type: "messenger_offer", Class: message.Marketing, RecipientID: "cust-1",
		Status: store.StatusDelivered, Channel: message.WhatsApp, Provider: "twilio", ProviderID: "MMoffer"}
	if err := st.PutMessage(t.Context(), offer, time.Hour); err != nil {
		t.Fatal(err)
	}
	evs := &eventLog{}
	mux := http.NewServeMux()
	(&api.Webhooks{AuthToken: webhookToken, PublicURL: webhookPublic, Statuses: st, Inbound: feedback.New(st, nil).WithEvents(evs),
		Log: slog.New(slog.DiscardHandler)}).Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return webhookBundle{st: st, srv: srv, events: evs}
}

// sign computes X-Twilio-Signature as Twilio documents it, independently of
// twilio-go's validator that the webhooks use.
var sign = apptest.SignTwilio

func (b webhookBundle) post(t *testing.T, path string, form url.Values, sig string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		req.Header.Set("X-Twilio-Signature", sig)
	}
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func (b webhookBundle) postSigned(t *testing.T, path string, form url.Values) *http.Response {
	return b.post(t, path, form, sign(webhookToken, webhookPublic+path, form))
}

func statusForm(status, code string) url.Values {
	return url.Values{"MessageSid": {"SM1"}, "SmsSid": {"SM1"}, "MessageStatus": {status}, "SmsStatus": {status},
		"ErrorCode": {code}, "AccountSid": {"AC0123456789abcdef0123456789abcdef"}, "To": {webhookMobile}}
}

func TestStatusWebhook(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	if resp := b.postSigned(t, api.TwilioStatusPath, statusForm("undelivered", "30003")); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status = %d, want 204", resp.StatusCode)
	}
	rec, err := b.st.GetMessage(t.Context(), "msg-1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != store.StatusUndelivered || rec.ProviderStatus != "undelivered" || rec.ProviderErrorCode != 30003 {
		t.Errorf("record = status %s, provider %s, code %d; want undelivered/undelivered/30003", rec.Status, rec.ProviderStatus, rec.ProviderErrorCode)
	}
	// A message Herold does not know: accepted, so Twilio does not retry.
	unknown := statusForm("delivered", "")
	unknown.Set("MessageSid", "SM999")
	if resp := b.postSigned(t, api.TwilioStatusPath, unknown); resp.StatusCode != http.StatusNoContent {
		t.Errorf("unknown sid: status = %d, want 204", resp.StatusCode)
	}
}

func TestStatusWebhookRejectsForgeries(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	form := statusForm("failed", "30008")
	for name, sig := range map[string]string{
		"no signature":      "",
		"wrong token":       sign("0000000000000000000000000000beef", webhookPublic+api.TwilioStatusPath, form),
		"other URL":         sign(webhookToken, "https://evil.example"+api.TwilioStatusPath, form),
		"tampered form":     sign(webhookToken, webhookPublic+api.TwilioStatusPath, statusForm("delivered", "")),
		"garbage signature": "bm90IGEgc2lnbmF0dXJl",
	} {
		if resp := b.post(t, api.TwilioStatusPath, form, sig); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status = %d, want 403", name, resp.StatusCode)
		}
	}
	rec, err := b.st.GetMessage(t.Context(), "msg-1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != store.StatusDelivered || rec.ProviderStatus != "" {
		t.Errorf("a forged callback changed the record: %s / %q", rec.Status, rec.ProviderStatus)
	}
}

func TestInboundStop(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	for i, in := range []struct{ from, body string }{
		{webhookMobile, " Stopp. "},
		{"whatsapp:" + webhookMobile, "ABMELDEN"},
		{"rcs:" + webhookMobile, "stop"},
		{webhookMobile, "Hallo, wann kommt meine Rechnung?"}, // not a keyword
		{"+4915199999999", "STOP"},                           // unknown number
	} {
		form := url.Values{"From": {in.from}, "To": {"+4930123456"}, "Body": {in.body}, "MessageSid": {fmt.Sprintf("SMin%d", i)}}
		resp := b.postSigned(t, api.TwilioInboundPath, form)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
			t.Fatalf("%q: status %d, type %q; want 200 TwiML", in.body, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	events, err := b.st.Ledger(t.Context(), "cust-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 {
		t.Fatalf("ledger has %d events, want 3 objections: %+v", len(events), events)
	}
	for i, want := range []struct {
		ch     string
		source consent.Source
		text   string
	}{{"sms", consent.SMSKeyword, "STOPP (provider message SMin0)"}, {"whatsapp", consent.MessengerKeyword, "ABMELDEN (provider message SMin1)"},
		{"rcs", consent.MessengerKeyword, "STOP (provider message SMin2)"}} {
		e := events[i]
		if e.Kind != consent.Object || e.Purpose != consent.Advertising || e.Channel != want.ch || e.Source != want.source || e.Text != want.text {
			t.Errorf("event %d = %+v, want an objection to advertising on %s from %s with the words sent", i, e, want.ch, want.source)
		}
	}
	state := consent.Fold(events, time.Now())
	if got := state.Lookup(consent.Advertising, message.SMS).Status; got != consent.Objected {
		t.Errorf("advertising by sms: %q, want objected", got)
	}
}

// TestInboundOptOutButtonOnce: the "Keine Angebote mehr" button (payload
// STOP) on WhatsApp records one objection with the provider's message id as
// proof; Twilio's retry and a replay of the same signed request record none.
func TestInboundOptOutButtonOnce(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	form := url.Values{"From": {"whatsapp:" + webhookMobile}, "To": {"whatsapp:+4930555000"}, "Body": {"Keine Angebote mehr"},
		"ButtonText": {"Keine Angebote mehr"}, "ButtonPayload": {"STOP"}, "MessageSid": {"SMbutton1"},
		"OriginalRepliedMessageSid": {"MMoffer"}}
	for range 3 {
		if resp := b.postSigned(t, api.TwilioInboundPath, form); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
	}
	evs, err := b.st.Ledger(t.Context(), "cust-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("ledger has %d events, want one objection: %+v", len(evs), evs)
	}
	e := evs[0]
	if e.Kind != consent.Object || e.Channel != "whatsapp" || e.Source != consent.MessengerKeyword ||
		e.Text != "Keine Angebote mehr (button STOP) (provider message SMbutton1)" || e.ID != consent.ProofID("twilio", "SMbutton1") {
		t.Errorf("objection = %+v", e)
	}
	if got := consent.Fold(evs, time.Now()).Lookup(consent.Advertising, message.SMS).Status; got != consent.None {
		t.Errorf("a WhatsApp opt-out objected on sms too: %q", got)
	}
	// The WhatsApp message opened the number's session window.
	if open, err := b.st.SessionOpen(t.Context(), message.WhatsApp, webhookMobile); err != nil || !open {
		t.Errorf("session window open = %v, %v; want open", open, err)
	}
	if open, _ := b.st.SessionOpen(t.Context(), message.WhatsApp, "+4915199999999"); open {
		t.Error("another number's window is open")
	}
}

// TestInboundReplyButton: a button that is not an opt-out is handed on as
// message.reply with its payload and ids only; nothing is written to the
// ledger, and a repeat carries the same event id.
func TestInboundReplyButton(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	form := url.Values{"From": {"whatsapp:" + webhookMobile}, "Body": {"Mehr erfahren, Anna hier"}, "ButtonText": {"Mehr erfahren"},
		"ButtonPayload": {"MORE_INFO"}, "MessageSid": {"SMreply1"}, "OriginalRepliedMessageSid": {"MMoffer"}}
	for range 2 {
		if resp := b.postSigned(t, api.TwilioInboundPath, form); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
	}
	if evs, _ := b.st.Ledger(t.Context(), "cust-1"); len(evs) != 0 {
		t.Errorf("a reply wrote %d ledger events", len(evs))
	}
	got := b.events.all()
	if len(got) != 2 || got[0].ID != got[1].ID {
		t.Fatalf("events %+v, want the same message.reply twice (same id)", got)
	}
	e := got[0]
	if e.Type != events.MessageReply || e.Data.Reply == nil || e.Data.Reply.Payload != "MORE_INFO" ||
		e.Data.MessageID != "msg-offer" || e.Data.RecipientID != "cust-1" || e.Data.MessageType != "messenger_offer" || e.Data.Channel != "whatsapp" {
		t.Errorf("event = %+v, reply %+v", e, e.Data.Reply)
	}
	if raw, _ := json.Marshal(e); strings.Contains(string(raw), "Anna") || strings.Contains(string(raw), "4915123456789") || strings.Contains(string(raw), "Mehr erfahren") {
		t.Errorf("the event carries what the person wrote or their number: %s", raw)
	}
}

// TestInboundStartDoesNotRegrant: START after STOP leaves the objection in force.
func TestInboundStartDoesNotRegrant(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	for _, body := range []string{"STOP", "START", "unstop"} {
		form := url.Values{"From": {webhookMobile}, "Body": {body}}
		if resp := b.postSigned(t, api.TwilioInboundPath, form); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", body, resp.StatusCode)
		}
	}
	events, err := b.st.Ledger(t.Context(), "cust-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("ledger has %d events, want only the objection", len(events))
	}
	if got := consent.Fold(events, time.Now()).Lookup(consent.Advertising, message.SMS).Status; got != consent.Objected {
		t.Errorf("advertising by sms after START: %q, want objected", got)
	}
}

func TestInboundRejectsForgeries(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	form := url.Values{"From": {"whatsapp:" + webhookMobile}, "Body": {"Keine Angebote mehr"}, "ButtonPayload": {"STOP"}, "MessageSid": {"SMf"}}
	for name, sig := range map[string]string{
		"no signature":  "",
		"wrong token":   sign("0000000000000000000000000000beef", webhookPublic+api.TwilioInboundPath, form),
		"other URL":     sign(webhookToken, "https://evil.example"+api.TwilioInboundPath, form),
		"tampered form": sign(webhookToken, webhookPublic+api.TwilioInboundPath, url.Values{"From": {"whatsapp:" + webhookMobile}, "Body": {"Hallo"}}),
	} {
		if resp := b.post(t, api.TwilioInboundPath, form, sig); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status = %d, want 403", name, resp.StatusCode)
		}
	}
	if events, _ := b.st.Ledger(t.Context(), "cust-1"); len(events) != 0 {
		t.Errorf("a forged STOP wrote %d events", len(events))
	}
	if open, _ := b.st.SessionOpen(t.Context(), message.WhatsApp, webhookMobile); open {
		t.Error("a forged message opened the session window")
	}
	if got := b.events.all(); len(got) != 0 {
		t.Errorf("a forged message published %+v", got)
	}
}

func TestWebhooksWithoutTokenRefuseAll(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	(&api.Webhooks{PublicURL: webhookPublic, Log: slog.New(slog.DiscardHandler)}).Routes(mux)
	form := statusForm("delivered", "")
	req := httptest.NewRequest(http.MethodPost, api.TwilioStatusPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sign("", webhookPublic+api.TwilioStatusPath, form))
	rr := httptest.NewRecorder()
	mux.ServeHTTP(rr, req)
	if rr.Code != http.StatusForbidden {
		t.Errorf("status = %d, want 403", rr.Code)
	}
}

// TestReplayedWebhooksChangeNothing is defect 7 of issue 14: one STOP and
// three identical replays, each correctly signed (Twilio's signatures carry
// no timestamp), gave four ledger events. An inbound message is applied once
// per MessageSid; a replay answers as the first did and changes nothing. A
// replayed status callback leaves the record untouched, revision included.
func TestReplayedWebhooksChangeNothing(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	stop := url.Values{"From": {webhookMobile}, "To": {"+4930123456"}, "Body": {"STOP"}, "MessageSid": {"SMstop1"}}
	for i := range 4 {
		resp := b.postSigned(t, api.TwilioInboundPath, stop)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
			t.Fatalf("STOP %d: status %d, want 200 TwiML", i, resp.StatusCode)
		}
	}
	events, err := b.st.Ledger(t.Context(), "cust-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("ledger holds %d events after one STOP and three replays, want 1: %+v", len(events), events)
	}
	// Another STOP (a new inbound message) is recorded.
	stop.Set("MessageSid", "SMstop2")
	b.postSigned(t, api.TwilioInboundPath, stop)
	if events, _ := b.st.Ledger(t.Context(), "cust-1"); len(events) != 2 {
		t.Errorf("a second STOP message: %d events, want 2", len(events))
	}

	for _, f := range []url.Values{statusForm("delivered", ""), statusForm("delivered", ""), statusForm("sent", "")} {
		if resp := b.postSigned(t, api.TwilioStatusPath, f); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status callback: %d, want 204", resp.StatusCode)
		}
	}
	first, err := b.st.GetMessage(t.Context(), "msg-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []url.Values{statusForm("delivered", ""), statusForm("sent", "")} {
		b.postSigned(t, api.TwilioStatusPath, f) // a replay, and a late "sent"
	}
	again, err := b.st.GetMessage(t.Context(), "msg-1")
	if err != nil {
		t.Fatal(err)
	}
	if again.Rev != first.Rev || again.ProviderStatus != "delivered" || !again.UpdatedAt.Equal(first.UpdatedAt) {
		t.Errorf("after replays: rev %d→%d, provider status %q, updated %s→%s; want nothing changed",
			first.Rev, again.Rev, again.ProviderStatus, first.UpdatedAt, again.UpdatedAt)
	}
}
