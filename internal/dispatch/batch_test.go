package dispatch_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

const (
	batchAdmin   = "hrld_batch_admin_0123456789"
	batchBilling = "hrld_batch_billing_0123456"
)

type batchAnswer struct {
	Accepted int `json:"accepted"`
	Refused  int `json:"refused"`
	Results  []struct {
		Index     int    `json:"index"`
		Status    int    `json:"status"`
		ID        string `json:"id"`
		State     string `json:"state"`
		StatusURL string `json:"status_url"`
		Duplicate bool   `json:"duplicate"`
		Code      string `json:"code"`
		Fields    []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"fields"`
	} `json:"results"`
}

func batchHerold(t *testing.T, env map[string]string) *apptest.Herold {
	t.Helper()
	all := map[string]string{"HEROLD_API_KEYS": "admin:" + batchAdmin + ":*,billing:" + batchBilling + ":send:class:transactional"}
	for k, v := range env {
		all[k] = v
	}
	return apptest.New(t, apptest.Options{Env: all})
}

// call sends body to path with key and returns the status and body.
func call(t *testing.T, h *apptest.Herold, method, path, key string, body any) (int, []byte) {
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
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func putBatchCustomer(t *testing.T, h *apptest.Herold, id, email, zone string) {
	t.Helper()
	r, err := recipient.Parse(id, recipient.Input{Kind: "customer", Locale: "de", TimeZone: zone,
		Emails:   []recipient.EmailInput{{Address: email, CollectedInSale: true}},
		Mobile:   &recipient.MobileInput{Number: "+4915112345" + fmt.Sprintf("%03d", len(id)*7%1000)},
		Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Store.PutRecipient(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}

func batchInvoice(rid, number string) map[string]any {
	return map[string]any{"type": "invoice", "recipient_id": rid, "data": map[string]any{"invoice": map[string]any{
		"number": number, "period": "November 2026", "amount": 29.98, "currency": "EUR",
		"due_date": "2026-12-03", "url": "https://service.example.com/r/" + number}}}
}

func settled(t *testing.T, h *apptest.Herold, id string) store.MessageRecord {
	t.Helper()
	var rec store.MessageRecord
	waitFor(t, "message "+id+" to settle", func() bool {
		var err error
		rec, err = h.Store.GetMessage(t.Context(), id)
		return err == nil && rec.Status.Final()
	})
	return rec
}

// A bad field anywhere in a batch refuses all of it, naming each field by
// its message's index, and accepts nothing.
func TestBatchValidatesAllBeforeAccepting(t *testing.T) {
	t.Parallel()
	h := batchHerold(t, nil)
	putBatchCustomer(t, h, "K-b1", "b1@example.com", "")
	code, body := call(t, h, "POST", "/v1/messages/batch", batchAdmin, map[string]any{"messages": []any{
		batchInvoice("K-b1", "RE-1"),
		map[string]any{"type": "fax", "recipient_id": "K-b1"},
		map[string]any{"type": "invoice", "recipient_id": "K-b1", "data": map[string]any{"invoice": "nope"}},
		map[string]any{"type": "invoice", "recipient_id": "K-b1", "idempotency_key": "k1", "data": batchInvoice("K-b1", "RE-4")["data"]},
		map[string]any{"type": "invoice", "recipient_id": "K-b1", "idempotency_key": "k1", "data": batchInvoice("K-b1", "RE-5")["data"]},
	}})
	if code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", code, body)
	}
	for _, f := range []string{`"messages[1].type"`, `"messages[2].data.invoice"`, `"messages[4].idempotency_key"`} {
		if !strings.Contains(string(body), f) {
			t.Errorf("the answer does not name %s: %s", f, body)
		}
	}
	if strings.Contains(string(body), `"messages[0].`) || strings.Contains(string(body), `"messages[3].`) {
		t.Errorf("a good message is named: %s", body)
	}
	msgs, err := h.Store.RecipientMessages(t.Context(), "K-b1")
	if err != nil || len(msgs) != 0 {
		t.Errorf("records after a refused batch: %d (%v), want none", len(msgs), err)
	}
	if n := queued(t, h); n != 0 {
		t.Errorf("%d tasks queued after a refused batch, want none", n)
	}

	tooMany := make([]any, 1001)
	for i := range tooMany {
		tooMany[i] = batchInvoice("K-b1", fmt.Sprintf("RE-%d", i))
	}
	if code, body := call(t, h, "POST", "/v1/messages/batch", batchAdmin, map[string]any{"messages": tooMany}); code != http.StatusBadRequest ||
		!strings.Contains(string(body), `"messages"`) || !strings.Contains(string(body), "at most 1000") {
		t.Errorf("1,001 messages: %d %s, want 400 naming messages", code, body)
	}
	if code, body := call(t, h, "POST", "/v1/messages/batch", batchAdmin, map[string]any{"messages": []any{}}); code != http.StatusBadRequest {
		t.Errorf("no messages: %d %s, want 400", code, body)
	}
}

// queued counts the tasks waiting in Herold's message queues.
func queued(t *testing.T, h *apptest.Herold) int {
	t.Helper()
	n := 0
	for _, c := range message.Classes() {
		info, err := h.Inspector.GetQueueInfo(h.Queues.Name(c))
		if err != nil {
			continue // a queue nothing was ever put in does not exist
		}
		n += info.Size
	}
	return n
}

// Each message of a batch is accepted or refused on its own: unknown
// recipient 422, a type the key may not send 403, an idempotency key reused
// with another body 409; the accepted ones are delivered, each with its
// record, and a repeated key answers the first message without sending it
// again.
func TestBatchPartialFailureAndIdempotency(t *testing.T) {
	t.Parallel()
	h := batchHerold(t, nil)
	putBatchCustomer(t, h, "K-p1", "p1@example.com", "")
	putBatchCustomer(t, h, "K-p2", "p2@example.com", "")
	first := batchInvoice("K-p2", "RE-2")
	first["idempotency_key"] = "invoice-RE-2"
	promo := map[string]any{"type": "promo_offer", "recipient_id": "K-p1", "data": map[string]any{"offer": map[string]any{
		"title": "Allnet Flat", "price": 19.99, "valid_until": "2026-12-31", "url": "https://example.com/o"}}}
	code, body := call(t, h, "POST", "/v1/messages/batch", batchBilling, map[string]any{"messages": []any{
		batchInvoice("K-p1", "RE-1"), batchInvoice("K-nobody", "RE-x"), promo, first,
	}})
	if code != http.StatusMultiStatus {
		t.Fatalf("status %d, want 207: %s", code, body)
	}
	var ans batchAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatal(err)
	}
	want := []int{202, 422, 403, 202}
	if len(ans.Results) != len(want) || ans.Accepted != 2 || ans.Refused != 2 {
		t.Fatalf("answer %s, want 4 results, 2 accepted", body)
	}
	for i, w := range want {
		if r := ans.Results[i]; r.Index != i || r.Status != w {
			t.Errorf("result %d: %+v, want status %d", i, r, w)
		}
	}
	if ans.Results[1].Code != "unknown_recipient" || ans.Results[2].Code != "forbidden" {
		t.Errorf("codes %q, %q: want unknown_recipient, forbidden", ans.Results[1].Code, ans.Results[2].Code)
	}
	for _, i := range []int{0, 3} {
		r := ans.Results[i]
		rec := settled(t, h, r.ID)
		if rec.Status != store.StatusDelivered || rec.Type != "invoice" || len(rec.Attempts) != 1 {
			t.Errorf("message %d: %s with %d attempts, want delivered once", i, rec.Status, len(rec.Attempts))
		}
		if code, body := call(t, h, "GET", r.StatusURL, batchBilling, nil); code != http.StatusOK || !strings.Contains(string(body), `"delivered"`) {
			t.Errorf("GET %s: %d %s", r.StatusURL, code, body)
		}
	}
	if n := h.SMTP.Count(); n != 2 {
		t.Errorf("%d mails sent, want 2", n)
	}

	// The same key again: the first message, not a new one; with another body: 409.
	other := batchInvoice("K-p2", "RE-3")
	other["idempotency_key"] = "invoice-RE-2"
	first2 := batchInvoice("K-p2", "RE-2")
	first2["idempotency_key"] = "invoice-RE-2"
	firstID := ans.Results[3].ID
	code, body = call(t, h, "POST", "/v1/messages/batch", batchBilling, map[string]any{"messages": []any{first2}})
	if err := json.Unmarshal(body, &ans); err != nil || code != http.StatusAccepted || ans.Results[0].ID != firstID || !ans.Results[0].Duplicate {
		t.Fatalf("repeat: %d %s, want 202 naming the first message %s as duplicate", code, body, firstID)
	}
	code, body = call(t, h, "POST", "/v1/messages/batch", batchBilling, map[string]any{"messages": []any{other}})
	if err := json.Unmarshal(body, &ans); err != nil || code != http.StatusMultiStatus || ans.Results[0].Status != http.StatusConflict {
		t.Errorf("reused key with another body: %d %s, want 207 with a 409 item", code, body)
	}
	if n := h.SMTP.Count(); n != 2 {
		t.Errorf("%d mails sent after the repeats, want still 2", n)
	}
}

// A message of a batch that needs another try goes on as a message of its
// own with the retries left, and ends as a single message would.
func TestBatchRetriesLikeSingleMessages(t *testing.T) {
	t.Parallel()
	h := batchHerold(t, map[string]string{"HEROLD_MAX_RETRY": "1"})
	putBatchCustomer(t, h, "K-r1", "later1@example.com", "") // the sink answers 451 to later…@
	code, body := call(t, h, "POST", "/v1/messages/batch", batchAdmin, map[string]any{"messages": []any{batchInvoice("K-r1", "RE-r")}})
	var ans batchAnswer
	if err := json.Unmarshal(body, &ans); err != nil || code != http.StatusAccepted {
		t.Fatalf("%d %s", code, body)
	}
	rec := settled(t, h, ans.Results[0].ID)
	if rec.Status != store.StatusFailed || rec.ErrorClass != "retries_exhausted" || len(rec.Attempts) != 2 {
		t.Errorf("retried message: %s/%s with %d attempts, want failed/retries_exhausted after 2 (1 + HEROLD_MAX_RETRY)",
			rec.Status, rec.ErrorClass, len(rec.Attempts))
	}
}

// A message of a batch held by quiet hours waits in a task of its own until
// they end, and nothing is sent at night.
func TestBatchHoldsLikeSingleMessages(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	night := time.Date(2026, 11, 25, 23, 0, 0, 0, berlin)
	h := apptest.New(t, apptest.Options{Now: func() time.Time { return night },
		Env: map[string]string{"HEROLD_API_KEYS": "admin:" + batchAdmin + ":*"}})
	putBatchCustomer(t, h, "K-n1", "n1@example.com", "Europe/Berlin")
	if _, err := h.Store.AppendConsent(t.Context(), "K-n1", consent.Event{Kind: consent.Grant, Purpose: consent.Advertising,
		Channel: "sms", At: night.Add(-time.Hour), Source: consent.WebForm, Text: "Ja, Angebote per SMS."}); err != nil {
		t.Fatal(err)
	}
	promo := map[string]any{"type": "promo_offer", "recipient_id": "K-n1", "channels": []string{"sms"},
		"data": map[string]any{"offer": map[string]any{"title": "Allnet Flat", "price": 19.99, "valid_until": "2026-12-31", "url": "https://example.com/o"}}}
	code, body := call(t, h, "POST", "/v1/messages/batch", batchAdmin, map[string]any{"messages": []any{promo}})
	var ans batchAnswer
	if err := json.Unmarshal(body, &ans); err != nil || code != http.StatusAccepted {
		t.Fatalf("%d %s", code, body)
	}
	id := ans.Results[0].ID
	var held store.MessageRecord
	waitFor(t, "the offer to be held", func() bool {
		held, err = h.Store.GetMessage(t.Context(), id)
		return err == nil && !held.HeldUntil.IsZero()
	})
	if held.Status != store.StatusScheduled || held.HoldReason != "quiet_hours" || !held.HeldUntil.Equal(night.Add(9*time.Hour)) {
		t.Errorf("held offer: %s/%s until %v, want scheduled for quiet_hours until 08:00", held.Status, held.HoldReason, held.HeldUntil)
	}
	waitFor(t, "the held offer's own task", func() bool {
		info, err := h.Inspector.GetTaskInfo(h.Queues.Name(message.Marketing), id)
		return err == nil && info.State == asynq.TaskStateScheduled && info.NextProcessAt.After(time.Now().Add(8*time.Hour))
	})
	if reqs := h.Twilio.Requests(); len(reqs) != 0 {
		t.Errorf("the held offer was sent at night: %+v", reqs)
	}
}

// waitFor polls cond; the minute only bounds a very slow machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A billing run's batch goes ahead of a campaign that is sending: its
// invoices are all delivered while the campaign still has most of its
// audience to go.
func TestBatchGoesAheadOfARunningCampaign(t *testing.T) {
	t.Parallel()
	h := batchHerold(t, nil)
	const audience, invoices = 2000, 50
	ids := make([]message.RecipientID, audience)
	for i := range ids {
		id := fmt.Sprintf("K-c%d", i)
		putBatchCustomer(t, h, id, fmt.Sprintf("c%d@example.com", i), "") // an address from a sale: offers by e-mail allowed (UWG §7(3))
		ids[i] = message.RecipientID(id)
	}
	for i := range invoices {
		putBatchCustomer(t, h, fmt.Sprintf("K-i%d", i), fmt.Sprintf("i%d@example.com", i), "")
	}
	now := time.Now().UTC()
	camp := store.Campaign{ID: "cmp_ahead", Name: "offer", Type: "promo_offer", Class: message.Marketing,
		Channels: []message.Channel{message.Email}, Data: map[string]map[string]any{"offer": {"title": "Allnet Flat", "price": 19.99,
			"valid_until": "2026-12-31", "url": "https://example.com/o"}},
		CreatedAt: now, StartAt: now}
	if err := h.Campaigns.Create(t.Context(), camp, ids); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the campaign to be sending", func() bool {
		st, err := h.Campaigns.Status(t.Context(), camp.ID)
		return err == nil && st.Counters.Delivered >= 20
	})
	batch := make([]any, invoices)
	for i := range batch {
		batch[i] = batchInvoice(fmt.Sprintf("K-i%d", i), fmt.Sprintf("RE-%d", i))
	}
	code, body := call(t, h, "POST", "/v1/messages/batch", batchBilling, map[string]any{"messages": batch})
	var ans batchAnswer
	if err := json.Unmarshal(body, &ans); err != nil || code != http.StatusAccepted || ans.Accepted != invoices {
		t.Fatalf("%d %s", code, body)
	}
	for _, r := range ans.Results {
		if rec := settled(t, h, r.ID); rec.Status != store.StatusDelivered {
			t.Fatalf("invoice %s: %s", r.ID, rec.Status)
		}
	}
	st, err := h.Campaigns.Status(t.Context(), camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the campaign had delivered %d of %d when the batch's %d invoices were through", st.Counters.Delivered, audience, invoices)
	if st.State == store.CampaignDone || st.Counters.Delivered > audience/2 {
		t.Errorf("the campaign delivered %d of %d (%s) before the batch's %d invoices were through: they waited behind it",
			st.Counters.Delivered, audience, st.State, invoices)
	}
}
