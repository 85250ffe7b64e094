package dispatch_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/message"
)

// problemFields returns the fields a 400 answer names, with their messages.
func problemFields(t *testing.T, r response) map[string]string {
	t.Helper()
	var p struct {
		Code   string `json:"code"`
		Fields []struct{ Field, Message string }
	}
	r.json(t, &p)
	out := map[string]string{}
	for _, f := range p.Fields {
		out[f.Field] = f.Message
	}
	return out
}

// noQueuedWork asserts that no message record and no task exists.
func (b *testBundle) noQueuedWork(t *testing.T) {
	t.Helper()
	keys, err := b.store.Redis().Keys(t.Context(), b.store.Prefix()+"msg:*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("message records: %v %v", keys, err)
	}
	queues := []string{b.Config.Campaigns.Queue + b.queues.Suffix}
	for _, c := range message.Classes() {
		queues = append(queues, b.queues.Name(c))
	}
	for _, q := range queues {
		if info, err := b.inspect.GetQueueInfo(q); err == nil && info.Size > 0 {
			t.Errorf("queue %s holds %d tasks", q, info.Size)
		}
	}
	if ids, err := b.store.CampaignIDs(t.Context()); err != nil || len(ids) != 0 {
		t.Errorf("campaigns: %v %v", ids, err)
	}
}

// TestOutOfRangeNumbersRefused is defect 1 of issue 14: a message with
// "amount": 1e999 was accepted (202) and its record could no longer be read,
// canceled, exported or erased. Now intake refuses it, naming the field, for
// messages and campaigns alike, and nothing is written.
func TestOutOfRangeNumbersRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noWorker: true})
	b.putCustomer(t, customer{id: "c-1", email: "n@example.com"})
	msg := b.do(t, http.MethodPost, "/v1/messages", keyAdmin, `{"type":"invoice","recipient_id":"c-1","channels":["email"],`+
		`"data":{"invoice":{"number":"RE-1","period":"November 2026","amount":1e999,"due_date":"2026-12-03","url":"https://x.example"}}}`)
	if msg.Status != http.StatusBadRequest || !strings.Contains(problemFields(t, msg)["data.invoice.amount"], "out of range") {
		t.Errorf("message with 1e999: %d %s, want 400 naming data.invoice.amount", msg.Status, msg.Body)
	}
	camp := b.do(t, http.MethodPost, "/v1/campaigns", keyAdmin, `{"name":"Winter","type":"promo_offer","channels":["email"],`+
		`"data":{"offer":{"title":"Allnet","price":1e999,"valid_until":"2026-12-31","url":"https://x.example"}},"audience":["c-1"]}`)
	if camp.Status != http.StatusBadRequest || !strings.Contains(problemFields(t, camp)["data.offer.price"], "out of range") {
		t.Errorf("campaign with 1e999: %d %s, want 400 naming data.offer.price", camp.Status, camp.Body)
	}
	b.noQueuedWork(t)
	// The person can still be exported and erased.
	if r := b.do(t, http.MethodGet, "/v1/recipients/c-1/export", keyAdmin, nil); r.Status != http.StatusOK {
		t.Errorf("export: %d %s", r.Status, r.Body)
	}
	if r := b.do(t, http.MethodDelete, "/v1/recipients/c-1", keyAdmin, nil); r.Status != http.StatusNoContent {
		t.Errorf("erase: %d %s", r.Status, r.Body)
	}
}

// TestNumbersStayExact is defect 2 of issue 14: "number":
// 12345678901234567890 was rendered as 1.2345678901234567e+19, because the
// worker decoded the record's data as float64. Numbers now keep every digit
// from the API through the record to the mail.
func TestNumbersStayExact(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putCustomer(t, customer{id: "c-1", email: "exact@example.com"})
	a := b.post(t, keyBilling, `{"type":"invoice","recipient_id":"c-1","channels":["email"],"data":{"invoice":{`+
		`"number":12345678901234567890,"period":"November 2026","amount":12345678901234567890.125,"currency":"EUR",`+
		`"due_date":"2026-12-03","url":"https://service.example.com/r/1"}}}`)
	if v := b.waitStatus(t, a.ID, "delivered", "failed"); v.Status != "delivered" {
		t.Fatalf("status %s\n%s", v.Status, v.Raw)
	}
	mail := b.smtp.Mails()[0].Data
	for _, want := range []string{"Rechnungsnummer: 12345678901234567890", "Rechnungsbetrag: 12.345.678.901.234.567.890,13 =E2=82=AC"} {
		if !bytes.Contains(mail, []byte(want)) {
			t.Errorf("mail lacks %q:\n%s", want, mail)
		}
	}
}

// TestMissingTemplateDataRefusedAtIntake is defect 10 of issue 14: a
// promo_offer SMS posted with "data": {} was accepted (202) and failed in
// the worker with missing template data "offer.title"; a campaign's shared
// data alike. Now intake answers 400 naming each field the templates read,
// and nothing is queued.
func TestMissingTemplateDataRefusedAtIntake(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noWorker: true})
	b.putCustomer(t, customer{id: "c-1", email: "d@example.com", phone: "+4915112345001"})
	want := []string{"data.offer.price", "data.offer.title", "data.offer.url", "data.offer.valid_until"}
	msg := b.do(t, http.MethodPost, "/v1/messages", keyAdmin, `{"type":"promo_offer","recipient_id":"c-1","channels":["sms"],"data":{}}`)
	camp := b.do(t, http.MethodPost, "/v1/campaigns", keyAdmin, `{"name":"Winter","type":"promo_offer","channels":["email"],"data":{},"audience":["c-1"]}`)
	for name, r := range map[string]response{"message": msg, "campaign": camp} {
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.Status, r.Body)
			continue
		}
		got := problemFields(t, r)
		for _, f := range want {
			if !strings.HasPrefix(got[f], "missing") {
				t.Errorf("%s: field %s: %q, want missing\n%s", name, f, got[f], r.Body)
			}
		}
	}
	b.noQueuedWork(t)
}
