package delivery_test

import (
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

const (
	waSID      = "HX11111111111111111111111111111111"
	rcsSID     = "HX22222222222222222222222222222222"
	waFrom     = "+4930555000"
	rcsAgent   = "rcs:herold_agent"
	rcsService = "MG33333333333333333333333333333333"
)

// messengerEnv is Herold with WhatsApp and RCS on Twilio (the fake), the
// approved templates of messenger_offer, and extra variables that read
// usage data: the data-category guard decides whether they carry it.
func messengerEnv(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	for _, ch := range []string{"whatsapp", "rcs"} {
		b, err := os.ReadFile(filepath.Join("../../templates/de/messenger_offer", ch+".vars.tmpl"))
		if err != nil {
			t.Fatal(err)
		}
		vars := string(b) + "usage={{with .Data.usage}}{{num .data_used_gb}} GB{{else}}none{{end}}\n"
		if err := os.MkdirAll(filepath.Join(dir, "de/messenger_offer"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "de/messenger_offer", ch+".vars.tmpl"), []byte(vars), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{
		"HEROLD_TEMPLATES_DIR":                   dir,
		"HEROLD_WHATSAPP_FROM_MARKETING":         waFrom,
		"HEROLD_WHATSAPP_CONTENT_SIDS":           "messenger_offer=" + waSID,
		"HEROLD_RCS_FROM_MARKETING":              rcsAgent,
		"HEROLD_RCS_MESSAGING_SERVICE_MARKETING": rcsService,
		"HEROLD_RCS_CONTENT_SIDS":                "messenger_offer=" + rcsSID,
		"HEROLD_MAX_RETRY":                       "0",
	}
}

// person stores a customer with a verified mobile number and the given
// consents ("purpose/channel").
func person(t *testing.T, h *apptest.Herold, id, number string, grants ...string) {
	t.Helper()
	r, err := recipient.Parse(id, recipient.Input{Kind: "customer", FirstName: "Jörg", Locale: "de",
		Emails:   []recipient.EmailInput{{Address: id + "@example.com"}},
		Mobile:   &recipient.MobileInput{Number: number, VerifiedAt: "2025-01-02T10:00:00Z"},
		Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Store.PutRecipient(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		purpose, ch, _ := strings.Cut(g, "/")
		if _, err := h.Store.AppendConsent(t.Context(), r.ID, consent.Event{Kind: consent.Grant, Purpose: purpose, Channel: ch,
			At: time.Now().Add(-time.Hour), Source: consent.WebForm, Text: "Ja, ich möchte Angebote erhalten."}); err != nil {
			t.Fatal(err)
		}
	}
}

var offerData = map[string]map[string]any{
	"offer": {"title": "Allnet Flat 40 GB", "price": 24.99, "valid_until": "2026-12-31",
		"url": "https://www.example.com/angebot/allnet-40", "image": "bilder/allnet-40.jpg"},
	"usage": {"period": "Oktober 2026", "data_used_gb": 19.2, "data_volume_gb": 20},
}

// send submits one message and waits for its final status.
func send(t *testing.T, h *apptest.Herold, typ message.Type, id message.RecipientID, ch message.Channel, data map[string]map[string]any) store.MessageRecord {
	t.Helper()
	acc, err := h.Messages.Submit(t.Context(), dispatch.Submission{Type: typ, RecipientID: id, Channels: []message.Channel{ch}, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	var rec store.MessageRecord
	waitFor(t, "message "+acc.ID+" to settle", func() bool {
		rec, err = h.Store.GetMessage(t.Context(), acc.ID)
		return err == nil && rec.Status.Final()
	})
	return rec
}

// requestsTo returns the fake's requests for number on any channel.
func requestsTo(h *apptest.Herold, number string) []apptest.TwilioRequest {
	var out []apptest.TwilioRequest
	for _, r := range h.Twilio.Requests() {
		if strings.HasSuffix(r.To, number) {
			out = append(out, r)
		}
	}
	return out
}

// TestMessengerOfferRich: a messenger_offer goes as its approved Content
// template on each road the policy opens — RCS with SMS fallback through
// the Messaging Service, RCS only to the rcs: address (never as SMS), and
// WhatsApp — with variables that hold only what the decision allows (the
// usage variable is filled for the person who consented to usage data only).
func TestMessengerOfferRich(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Env: messengerEnv(t)})
	const fallbackNo, rcsOnlyNo, waNo = "+4915110000001", "+4915110000002", "+4915110000003"
	person(t, h, "rcs-sms", fallbackNo, "advertising/rcs", "advertising/sms")
	person(t, h, "rcs-only", rcsOnlyNo, "advertising/rcs")
	person(t, h, "wa", waNo, "advertising/whatsapp", "usage_data/all")

	want := func(usage string) map[string]string {
		return map[string]string{"1": "Jörg", "2": "Allnet Flat 40 GB", "3": "24,99 €", "4": "31.12.2026",
			"5": "https://www.example.com/angebot/allnet-40", "6": "bilder/allnet-40.jpg", "usage": usage}
	}
	for _, tt := range []struct {
		id, number string
		ch         message.Channel
		want       apptest.TwilioRequest
		usage      string
	}{
		{"rcs-sms", fallbackNo, message.RCS, apptest.TwilioRequest{To: fallbackNo, MessagingServiceSid: rcsService, ContentSid: rcsSID}, "none"},
		{"rcs-only", rcsOnlyNo, message.RCS, apptest.TwilioRequest{To: "rcs:" + rcsOnlyNo, From: rcsAgent, ContentSid: rcsSID}, "none"},
		{"wa", waNo, message.WhatsApp, apptest.TwilioRequest{To: "whatsapp:" + waNo, From: "whatsapp:" + waFrom, ContentSid: waSID}, "19,2 GB"},
	} {
		t.Run(tt.id, func(t *testing.T) {
			rec := send(t, h, "messenger_offer", message.RecipientID(tt.id), tt.ch, offerData)
			if rec.Status != store.StatusDelivered {
				t.Fatalf("status %s (%s, %+v), want delivered", rec.Status, rec.ErrorClass, rec.Attempts)
			}
			reqs := requestsTo(h, tt.number)
			if len(reqs) != 1 {
				t.Fatalf("%d requests to the number, want 1: %+v", len(reqs), reqs)
			}
			got := reqs[0]
			link := got.Variables["7"]
			if !strings.HasPrefix(link, h.URL+"/unsubscribe/") {
				t.Errorf("variable 7 = %q, want the opt-out link", link)
			}
			vars := maps.Clone(got.Variables)
			delete(vars, "7")
			if diff := cmp.Diff(want(tt.usage), vars); diff != "" {
				t.Errorf("variables (-want +got):\n%s", diff)
			}
			got = apptest.TwilioRequest{To: got.To, From: got.From, MessagingServiceSid: got.MessagingServiceSid, ContentSid: got.ContentSid, Body: got.Body}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
	if bad := h.Twilio.Bad(); len(bad) > 0 {
		t.Errorf("the fake refused requests: %q", bad)
	}
}

// TestWhatsAppOptOutButton: a tap on "Keine Angebote mehr" records one
// objection to advertising on WhatsApp (a replay records none, a forged
// request nothing at all); the next offer on WhatsApp is suppressed with
// objection, while an invoice by SMS still goes.
func TestWhatsAppOptOutButton(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Env: messengerEnv(t)})
	const number = "+4915110000004"
	person(t, h, "wa-stop", number, "advertising/whatsapp")
	first := send(t, h, "messenger_offer", "wa-stop", message.WhatsApp, offerData)
	if first.Status != store.StatusDelivered {
		t.Fatalf("first offer: %s (%s)", first.Status, first.ErrorClass)
	}
	tap := url.Values{"From": {"whatsapp:" + number}, "To": {"whatsapp:" + waFrom}, "Body": {"Keine Angebote mehr"},
		"ButtonText": {"Keine Angebote mehr"}, "ButtonPayload": {"STOP"}, "MessageSid": {"SM0123456789abcdef0123456789abcdef"},
		"OriginalRepliedMessageSid": {first.ProviderID}, "AccountSid": {apptest.AccountSID}}
	forged := apptest.SignTwilio("0000000000000000000000000000beef", h.URL+"/webhooks/twilio/inbound", tap)
	if code := h.TwilioInbound(t, tap, forged); code != http.StatusForbidden {
		t.Fatalf("forged tap: %d, want 403", code)
	}
	if objections(t, h, "wa-stop") != 0 {
		t.Fatal("a forged tap recorded an objection")
	}
	for range 2 { // the tap, and a replay of the same signed request
		if code := h.TwilioInbound(t, tap, ""); code != http.StatusOK {
			t.Fatalf("tap: %d, want 200", code)
		}
	}
	if n := objections(t, h, "wa-stop"); n != 1 {
		t.Fatalf("%d objections, want exactly 1", n)
	}

	next := send(t, h, "messenger_offer", "wa-stop", message.WhatsApp, offerData)
	if next.Status != store.StatusSuppressed || next.Decision == nil || next.Decision.Reason != policy.Objection {
		t.Errorf("next offer: %s, decision %+v; want suppressed with objection", next.Status, next.Decision)
	}
	invoice := send(t, h, "invoice", "wa-stop", message.SMS, map[string]map[string]any{"invoice": {
		"number": "RE-2026-11-004711", "period": "November 2026", "amount": 29.98, "due_date": "2026-12-03",
		"url": "https://service.example.com/r/4711"}})
	if invoice.Status != store.StatusDelivered {
		t.Errorf("invoice by sms: %s (%s), want delivered", invoice.Status, invoice.ErrorClass)
	}
	reqs := requestsTo(h, number)
	if len(reqs) != 2 || reqs[1].To != number || reqs[1].From != apptest.SMSFromTransactional {
		t.Errorf("requests %+v, want the first offer and the invoice from the transactional sender", reqs)
	}
}

// objections counts the objections in the ledger of id.
func objections(t *testing.T, h *apptest.Herold, id message.RecipientID) int {
	t.Helper()
	ledger, err := h.Store.Ledger(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ledger {
		if e.Kind == consent.Object {
			n++
			if e.Channel != string(message.WhatsApp) || e.Purpose != consent.Advertising || !strings.Contains(e.Text, "SM0123456789abcdef0123456789abcdef") {
				t.Errorf("objection %+v: want advertising on whatsapp with the provider's message id as proof", e)
			}
		}
	}
	return n
}

// TestWhatsAppSessionWindow: without an approved template a WhatsApp
// message may go as free text only inside the 24-hour window the person's
// last message opened; outside it fails with outside_session_window, and
// nothing reaches Twilio.
func TestWhatsAppSessionWindow(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Env: map[string]string{
		"HEROLD_WHATSAPP_FROM_MARKETING": waFrom, "HEROLD_WHATSAPP_FREE_FORM": "true", "HEROLD_MAX_RETRY": "0",
	}})
	const number = "+4915110000005"
	person(t, h, "wa-session", number, "advertising/whatsapp")
	closed := send(t, h, "messenger_offer", "wa-session", message.WhatsApp, offerData)
	if closed.Status != store.StatusFailed || closed.ErrorClass != "outside_session_window" {
		t.Fatalf("outside the window: %s (%s), want failed outside_session_window", closed.Status, closed.ErrorClass)
	}
	if reqs := requestsTo(h, number); len(reqs) != 0 {
		t.Fatalf("outside the window %d requests reached Twilio", len(reqs))
	}
	hello := url.Values{"From": {"whatsapp:" + number}, "To": {"whatsapp:" + waFrom}, "Body": {"Hallo, ist das Angebot noch gültig?"},
		"MessageSid": {"SMfedcba9876543210fedcba9876543210"}}
	if code := h.TwilioInbound(t, hello, ""); code != http.StatusOK {
		t.Fatalf("inbound: %d", code)
	}
	open := send(t, h, "messenger_offer", "wa-session", message.WhatsApp, offerData)
	if open.Status != store.StatusDelivered {
		t.Fatalf("inside the window: %s (%s), want delivered", open.Status, open.ErrorClass)
	}
	reqs := requestsTo(h, number)
	if len(reqs) != 1 || reqs[0].ContentSid != "" || !strings.Contains(reqs[0].Body, "Allnet Flat 40 GB") {
		t.Errorf("requests %+v, want one free-form body", reqs)
	}
}

// TestWhatsAppWithoutTemplate: where free text is off, a type without an
// approved template fails with no_template — even to the outbox, which
// stands in for the provider.
func TestWhatsAppWithoutTemplate(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Env: map[string]string{"HEROLD_MAX_RETRY": "0"}})
	person(t, h, "wa-none", "+4915110000006", "advertising/whatsapp")
	rec := send(t, h, "messenger_offer", "wa-none", message.WhatsApp, offerData)
	if rec.Status != store.StatusFailed || rec.ErrorClass != "no_template" {
		t.Errorf("%s (%s), want failed no_template", rec.Status, rec.ErrorClass)
	}
	entries, err := os.ReadDir(filepath.Join(h.Config.Core.OutboxDir, "whatsapp"))
	if err == nil && len(entries) > 0 {
		t.Errorf("the outbox holds %d WhatsApp messages", len(entries))
	}
}
