package dispatch_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/redistest"
)

// TestSubmitValidation: every bad input is a 4xx naming the field, and
// nothing is written or enqueued.
func TestSubmitValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noWorker: true})
	b.putCustomer(t, customer{id: "c-1", email: "v@example.com", phone: "+4915112345001"})
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	far := time.Now().Add(60 * 24 * time.Hour).UTC().Format(time.RFC3339)
	ok := `"type":"invoice","recipient_id":"c-1"`
	// inv is complete invoice data with the amount left to the case.
	inv := func(amount string) string {
		return `"data":{"invoice":{"number":"RE-1","period":"November 2026","amount":` + amount +
			`,"due_date":"2026-12-03","url":"https://service.example.com/r/1"}}`
	}

	tests := []struct {
		name   string
		body   string
		header []string
		status int
		field  string // the field the answer must name ("" for body-level problems)
		want   string // a substring of the answer
	}{
		{"empty body", ``, nil, 400, "", "empty body"},
		{"malformed JSON", `{"type":`, nil, 400, "", "malformed JSON"},
		{"not an object", `[1,2]`, nil, 400, "", "must be"},
		{"unknown field", `{` + ok + `,"priority":1}`, nil, 400, "priority", "unknown field"},
		{"type missing", `{"recipient_id":"c-1"}`, nil, 400, "type", "missing"},
		{"type of wrong JSON type", `{"type":5,"recipient_id":"c-1"}`, nil, 400, "type", "string"},
		{"unknown type", `{"type":"invoize","recipient_id":"c-1"}`, nil, 400, "type", `unknown message type "invoize"`},
		{"recipient missing", `{"type":"invoice"}`, nil, 400, "recipient_id", "missing"},
		{"malformed recipient id", `{"type":"invoice","recipient_id":"c 1/ä"}`, nil, 400, "recipient_id", "1-128 characters"},
		{"unknown channel", `{` + ok + `,"channels":["fax"]}`, nil, 400, "channels[0]", `unknown channel "fax"`},
		{"channel not in type", `{` + ok + `,"channels":["email","whatsapp"]}`, nil, 400, "channels[1]", "not allowed for type invoice"},
		{"channel twice", `{` + ok + `,"channels":["sms","sms"]}`, nil, 400, "channels[1]", "twice"},
		{"data not an object", `{` + ok + `,"data":"RE-1"}`, nil, 400, "data", "JSON object"},
		{"data an array", `{` + ok + `,"data":[{"invoice":{}}]}`, nil, 400, "data", "JSON object"},
		{"category not declared", `{` + ok + `,"data":{"invoice":{"number":"1"},"usage":{"gb":3}}}`, nil, 400, "data.usage", "not declared by type invoice"},
		{"category not an object", `{` + ok + `,"data":{"invoice":5}}`, nil, 400, "data.invoice", "JSON object"},
		{"send_at malformed", `{` + ok + `,"send_at":"tomorrow"}`, nil, 400, "send_at", "RFC 3339"},
		{"send_at in the past", `{` + ok + `,"send_at":"` + past + `"}`, nil, 400, "send_at", "in the past"},
		{"send_at beyond the horizon", `{` + ok + `,"send_at":"` + far + `"}`, nil, 400, "send_at", "ahead"},
		{"bad locale", `{` + ok + `,"locale":"deutsch"}`, nil, 400, "locale", "not a locale Herold has templates for (want de or en)"},
		{"idempotency key with spaces", `{` + ok + `,"idempotency_key":"a b"}`, nil, 400, "idempotency_key", "printable"},
		{"idempotency key too long", `{` + ok + `,"idempotency_key":"` + strings.Repeat("k", 256) + `"}`, nil, 400, "idempotency_key", "1-255"},
		{"idempotency keys differ", `{` + ok + `,"idempotency_key":"a"}`, []string{"Idempotency-Key", "b"}, 400, "idempotency_key", "differs"},
		{"inline recipient invalid", `{"type":"invoice","recipient":{"id":"c-2","kind":"customer","emails":[{"address":"not-an-address"}]}}`, nil, 400, "recipient.emails[0].address", ""},
		{"inline id differs", `{"type":"invoice","recipient_id":"c-3","recipient":{"id":"c-2","kind":"customer"}}`, nil, 400, "recipient.id", "does not match"},
		{"several problems at once", `{"type":"invoice","recipient_id":"c 1","channels":["fax"],"locale":"x"}`, nil, 400, "channels[0]", "recipient id"},
		{"body too large", `{` + ok + `,"data":{"invoice":{"note":"` + strings.Repeat("x", 5000) + `"}}}`, nil, 413, "", "exceeds"},
		{"wrong content type", `type=invoice`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "", "Content-Type"},
		{"unknown recipient", `{"type":"invoice","recipient_id":"c-nobody",` + inv("29.98") + `}`, nil, 422, "recipient_id", "unknown recipient"},
		// Defect 1 of issue 14: 1e999 was accepted and made a record nobody could read.
		{"number beyond float64", `{` + ok + `,` + inv("1e999") + `}`, nil, 400, "data.invoice.amount", "out of range"},
		{"negative number beyond float64", `{` + ok + `,` + inv("-1e400") + `}`, nil, 400, "data.invoice.amount", "out of range"},
		{"number that vanishes", `{` + ok + `,` + inv("1e-999") + `}`, nil, 400, "data.invoice.amount", "too small"},
		{"number of absurd length", `{` + ok + `,` + inv("1"+strings.Repeat("0", 70)) + `}`, nil, 400, "data.invoice.amount", "more than 64"},
		{"number deep inside", `{` + ok + `,"data":{"invoice":{"number":"RE-1","period":"November 2026","amount":1,"due_date":"2026-12-03","url":"u","lines":[{"amount":2},{"amount":1e999}]}}}`,
			nil, 400, "data.invoice.lines[1].amount", "out of range"},
		// Defect 10 of issue 14: missing template data was found only in the worker.
		{"template data missing", `{"type":"promo_offer","recipient_id":"c-1","channels":["sms"],"data":{}}`, nil, 400, "data.offer.title",
			"missing (read by the promo_offer template on sms)"},
		{"template data of a fallback channel missing", `{` + ok + `,"channels":["sms","email"],"data":{"invoice":{"period":"November 2026","amount":1,"due_date":"2026-12-03","url":"u"}}}`,
			nil, 400, "data.invoice.number", "read by the invoice template on email"},
		{"template data of the wrong kind", `{` + ok + `,` + inv(`"neunundzwanzig"`) + `}`, nil, 400, "data.invoice.amount", "must be a number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := b.do(t, http.MethodPost, "/v1/messages", keyAdmin, tc.body, tc.header...)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			var p struct {
				Code    string `json:"code"`
				Message string `json:"message"`
				Fields  []struct{ Field, Message string }
			}
			r.json(t, &p)
			if p.Code == "" || p.Message == "" {
				t.Errorf("answer is not a Problem: %s", r.Body)
			}
			if tc.field != "" {
				found := false
				for _, f := range p.Fields {
					found = found || f.Field == tc.field
				}
				if !found {
					t.Errorf("answer does not name field %q: %s", tc.field, r.Body)
				}
			}
			text := p.Message
			for _, f := range p.Fields {
				text += "; " + f.Field + ": " + f.Message
			}
			if !strings.Contains(text, tc.want) {
				t.Errorf("answer does not say %q: %s", tc.want, r.Body)
			}
		})
	}

	// Nothing was written or enqueued by any of them.
	recs, err := b.store.RecipientMessages(t.Context(), "c-1")
	if err != nil || len(recs) != 0 {
		t.Errorf("records written: %+v %v", recs, err)
	}
	if keys := redistest.Keys(t, b.store.Redis(), b.store.Prefix()+"msg:*"); len(keys) != 0 {
		t.Errorf("message keys in Redis: %v", keys)
	}
	for _, id := range []string{"c-2", "c-3"} {
		if _, err := b.store.GetRecipient(t.Context(), message.RecipientID(id)); err == nil {
			t.Errorf("inline recipient %s written by a refused request", id)
		}
	}
	for _, c := range message.Classes() {
		if info, err := b.inspect.GetQueueInfo(b.queues.Name(c)); err == nil && info.Size > 0 {
			t.Errorf("queue %s holds %d tasks", b.queues.Name(c), info.Size)
		}
	}
}

func TestGetUnknownMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noWorker: true})
	for _, id := range []string{"msg_aaaaaaaaaaaaaaaaaaaaaaaaaa", "nope", "msg_"} {
		if r := b.do(t, http.MethodGet, "/v1/messages/"+id, keyAdmin, nil); r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 404", id, r.Status, r.Body)
		}
		if r := b.do(t, http.MethodDelete, "/v1/messages/"+id, keyAdmin, nil); r.Status != http.StatusNotFound {
			t.Errorf("DELETE %s: %d %s, want 404", id, r.Status, r.Body)
		}
	}
}
