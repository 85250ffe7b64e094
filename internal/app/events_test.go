package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

const adminKey = "hrld_admin_secret_0123"

// call is one webhook request the receiver got.
type call struct {
	header http.Header
	body   []byte
}

// receiver is a producer's webhook endpoint on loopback.
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []call
	got   chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.calls = append(r.calls, call{header: req.Header.Clone(), body: b})
		r.mu.Unlock()
		r.got <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// event waits for the first event of type typ and returns its call.
func (r *receiver) event(t *testing.T, typ events.Type) (call, events.Event) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		for _, c := range r.calls {
			var evs []events.Event
			if err := json.Unmarshal(c.body, &evs); err != nil {
				var ev events.Event
				if err := json.Unmarshal(c.body, &ev); err != nil {
					t.Fatalf("webhook body %s: %v", c.body, err)
				}
				evs = []events.Event{ev}
			}
			for _, ev := range evs {
				if ev.Type == typ {
					r.mu.Unlock()
					return c, ev
				}
			}
		}
		r.mu.Unlock()
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("no %s event arrived", typ)
		}
	}
}

func api(t *testing.T, h *apptest.Herold, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, h.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func putCustomer(t *testing.T, h *apptest.Herold, id, email string) {
	t.Helper()
	r, err := recipient.Parse(id, recipient.Input{Kind: "customer", Locale: "de",
		Emails:   []recipient.EmailInput{{Address: email, CollectedInSale: true}},
		Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Store.PutRecipient(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}

func invoiceData() map[string]map[string]any {
	return map[string]map[string]any{"invoice": {"number": "RE-2026-11-4711", "period": "November 2026", "amount": 29.98,
		"currency": "EUR", "due_date": "2026-12-03", "url": "https://service.example.com/r/4711"}}
}

// waitFor polls cond; the minute only bounds a very slow machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An invoice sent through the API reaches the producer's webhook as
// message.delivered, signed by the Standard Webhooks scheme, with ids and
// no address; the consent recorded before it is told as consent.recorded.
func TestDeliveredInvoiceIsToldBySignedWebhook(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Env: map[string]string{
		"HEROLD_API_KEYS":               "admin:" + adminKey + ":*",
		"HEROLD_WEBHOOKS_ALLOW_PRIVATE": "true", // the receiver is on loopback
		"HEROLD_WEBHOOKS_REFRESH":       "100ms",
	}})
	rcv := newReceiver(t)
	code, body := api(t, h, "POST", "/v1/webhooks", map[string]any{"url": rcv.srv.URL + "/hook",
		"event_types": []string{"message.queued", "message.delivered", "consent.recorded"}})
	if code != http.StatusCreated {
		t.Fatalf("create endpoint: %d %s", code, body)
	}
	var ep struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(body, &ep); err != nil || !strings.HasPrefix(ep.Secret, "whsec_") {
		t.Fatalf("endpoint answer %s: %v", body, err)
	}

	putCustomer(t, h, "c-4711", "anna.schmidt@example.net")
	if _, err := h.Store.AppendConsent(t.Context(), "c-4711", consent.Event{Kind: consent.Grant, Purpose: consent.Advertising,
		Channel: "email", At: time.Now().Add(-time.Minute), Source: consent.WebForm, Text: "Ja, Angebote per E-Mail."}); err != nil {
		t.Fatal(err)
	}
	acc, err := h.Messages.Submit(t.Context(), dispatch.Submission{Type: "invoice", RecipientID: "c-4711", Data: invoiceData()})
	if err != nil {
		t.Fatal(err)
	}

	c, ev := rcv.event(t, events.MessageDelivered)
	wh, err := standardwebhooks.NewWebhook(ep.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(c.body, c.header); err != nil {
		t.Errorf("signature: %v", err)
	}
	if ev.Data.MessageID != acc.ID || ev.Data.RecipientID != "c-4711" || ev.Data.MessageType != "invoice" || ev.Data.Basis != "contract" {
		t.Errorf("message.delivered = %+v", ev)
	}
	if strings.Contains(string(c.body), "@") {
		t.Errorf("the webhook body holds an address: %s", c.body)
	}
	if _, q := rcv.event(t, events.MessageQueued); q.Data.MessageID != acc.ID {
		t.Errorf("message.queued = %+v", q)
	}
	if _, cr := rcv.event(t, events.ConsentRecorded); cr.Data.Consent == nil || cr.Data.Consent.Kind != "grant" || cr.Data.Consent.TextSHA256 == "" {
		t.Errorf("consent.recorded = %+v", cr)
	}
}

// sendReport delivers a bounce or complaint report to the bounce listener
// over SMTP, as a mailbox provider's MTA does. The report is processed while
// the DATA command runs, so its effects are in place when this returns.
func sendReport(t *testing.T, addr, to string, report []byte) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(""); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to); err != nil {
		t.Fatalf("RCPT TO %s: %v", to, err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(report); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

// sample reads one of the bounce package's RFC 3464/5965 samples with the
// VERP address and message id filled in.
func sample(t *testing.T, name, verp, msgID string) []byte {
	t.Helper()
	b, err := os.ReadFile("../bounce/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("{{VERP}}", verp, "{{MSGID}}", msgID).Replace(string(b))
	return []byte(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n"))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Reports sent over SMTP to the bounce listener take the same effects as a
// refusal at send time: a hard bounce suppresses the address and marks the
// message bounced, soft bounces suppress at the limit, a complaint is an
// objection; a vacation reply and a forged VERP address change nothing.
func TestBounceReportsOverSMTP(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	h := apptest.New(t, apptest.Options{Env: map[string]string{
		"HEROLD_BOUNCE_DOMAIN": "bounces.herold.test", "HEROLD_BOUNCE_SMTP_ADDR": addr, "HEROLD_BOUNCE_SOFT_LIMIT": "2",
	}})
	send := func(id, email string) (string, string) {
		putCustomer(t, h, id, email)
		acc, err := h.Messages.Submit(t.Context(), dispatch.Submission{Type: "invoice", RecipientID: message.RecipientID(id), Data: invoiceData()})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the invoice to be delivered", func() bool {
			rec, err := h.Store.GetMessage(t.Context(), acc.ID)
			return err == nil && rec.Status == store.StatusDelivered
		})
		want, err := h.Bounces.VERP().ReturnPath(acc.ID)
		if err != nil {
			t.Fatal(err)
		}
		// The report goes where a mailbox provider sends it: to the
		// envelope sender the mail went out with.
		var verp string
		for _, m := range h.SMTP.Mails() {
			if len(m.To) == 1 && m.To[0] == email && m.From == want {
				verp = m.From
			}
		}
		if verp == "" {
			t.Fatalf("no mail to the recipient went out with the VERP envelope sender %s", want)
		}
		return acc.ID, verp
	}
	suppressed := func(id string) []recipient.Suppression {
		r, err := h.Store.GetRecipient(t.Context(), message.RecipientID(id))
		if err != nil {
			t.Fatal(err)
		}
		return r.Emails[0].Suppressed
	}
	objections := func(id string) []consent.Event {
		evs, err := h.Store.Ledger(t.Context(), message.RecipientID(id))
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}

	// A vacation reply, then a forged VERP address: nothing changes.
	vacID, vacVERP := send("c-vacation", "anna.schmidt@example.net")
	sendReport(t, addr, vacVERP, sample(t, "vacation.eml", vacVERP, vacID))
	forged := strings.Replace(vacVERP, "=", "=x", 1)
	if err := smtpRcptRefused(addr, forged); err == nil {
		sendReport(t, addr, forged, sample(t, "hard.eml", forged, vacID))
	}
	if s := suppressed("c-vacation"); len(s) != 0 {
		t.Errorf("a vacation reply or a forged address suppressed the address: %+v", s)
	}
	if rec, _ := h.Store.GetMessage(t.Context(), vacID); rec.Status != store.StatusDelivered {
		t.Errorf("after a vacation reply the message is %s, want delivered", rec.Status)
	}

	// A hard bounce.
	hardID, hardVERP := send("c-hard", "anna.schmidt@example.org")
	sendReport(t, addr, hardVERP, sample(t, "hard.eml", hardVERP, hardID))
	if s := suppressed("c-hard"); len(s) != 1 || s[0].Reason != "hard_bounce" {
		t.Errorf("after a hard bounce: suppression %+v, want hard_bounce", s)
	}
	rec, err := h.Store.GetMessage(t.Context(), hardID)
	if err != nil || rec.Status != store.StatusBounced || len(rec.Reports) != 1 || rec.Reports[0].Kind != "hard" {
		t.Errorf("after a hard bounce the record is %s with reports %+v (%v), want bounced with the report", rec.Status, rec.Reports, err)
	}
	if _, err := h.Bounces.Get(t.Context(), rec.Reports[0].ID); err != nil {
		t.Errorf("the linked report: %v", err)
	}

	// Soft bounces: the second suppresses (limit 2).
	softID, softVERP := send("c-soft", "soft@example.org")
	sendReport(t, addr, softVERP, sample(t, "soft.eml", softVERP, softID))
	if s := suppressed("c-soft"); len(s) != 0 {
		t.Errorf("one soft bounce suppressed the address: %+v", s)
	}
	soft2ID, soft2VERP := send("c-soft", "soft@example.org")
	sendReport(t, addr, soft2VERP, sample(t, "soft.eml", soft2VERP, soft2ID))
	if s := suppressed("c-soft"); len(s) != 1 || s[0].Reason != "soft_bounce" {
		t.Errorf("after two soft bounces: suppression %+v, want soft_bounce", s)
	}

	// A complaint: an objection to advertising by e-mail.
	compID, compVERP := send("c-complaint", "complaint@example.org")
	sendReport(t, addr, compVERP, sample(t, "complaint.eml", compVERP, compID))
	evs := objections("c-complaint")
	if len(evs) != 1 || evs[0].Kind != consent.Object || evs[0].Source != consent.Complaint || evs[0].Channel != "email" {
		t.Errorf("after a complaint the ledger is %+v, want one objection from complaint", evs)
	}
}

// smtpRcptRefused reports nil when the listener takes RCPT TO to, else its refusal.
func smtpRcptRefused(addr, to string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(""); err != nil {
		return err
	}
	return c.Rcpt(to)
}

// GET /metrics after a delivered invoice and a suppressed offer shows them,
// in the Prometheus text format, with no label holding an id or address.
func TestMetricsAfterASmallRun(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	putCustomer(t, h, "c-1", "anna@example.org")
	r, err := recipient.Parse("p-1", recipient.Input{Kind: "prospect", Emails: []recipient.EmailInput{{Address: "p@example.org"}}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Store.PutRecipient(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	inv, err := h.Messages.Submit(t.Context(), dispatch.Submission{Type: "invoice", RecipientID: "c-1", Data: invoiceData()})
	if err != nil {
		t.Fatal(err)
	}
	offer, err := h.Messages.Submit(t.Context(), dispatch.Submission{Type: "promo_offer", RecipientID: "p-1", Channels: []message.Channel{message.Email},
		Data: map[string]map[string]any{"offer": {"title": "Allnet", "price": 9.99, "valid_until": "2026-12-31", "url": "https://example.com/o"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{inv.ID, offer.ID} {
		waitFor(t, "the messages to settle", func() bool {
			rec, err := h.Store.GetMessage(t.Context(), id)
			return err == nil && rec.Status.Final()
		})
	}
	resp, err := http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string, labels map[string]string) float64 {
		f, ok := fams[name]
		if !ok {
			t.Fatalf("no metric %s", name)
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetHistogram().GetSampleSum()
		}
		return 0
	}
	if v := value("herold_messages_total", map[string]string{"type": "invoice", "channel": "email", "status": "delivered"}); v != 1 {
		t.Errorf("delivered invoices by e-mail: %v, want 1", v)
	}
	if v := value("herold_messages_total", map[string]string{"type": "promo_offer", "status": "suppressed"}); v != 1 {
		t.Errorf("suppressed offers: %v, want 1", v)
	}
	if v := value("herold_suppressions_total", map[string]string{"reason": "no_consent"}); v != 1 {
		t.Errorf("suppressions for no_consent: %v, want 1", v)
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "@") || strings.HasPrefix(l.GetValue(), "msg_") || l.GetValue() == "c-1" {
					t.Errorf("%s has label %s=%q: no ids or addresses in labels", name, l.GetName(), l.GetValue())
				}
			}
		}
	}

}
