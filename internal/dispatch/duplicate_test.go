package dispatch_test

import (
	"bytes"
	"context"
	"net/http"
	"net/mail"
	"sync/atomic"
	"testing"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/redistest"
)

// TestSentButNotRecordedIsMarked is defect 6 of issue 14: when Redis went
// away between the provider accepting a message and the record write, the
// task ran again, the message went out twice, and the record showed
// "delivered" with one attempt and no trace of the second send. The run
// that finds the first one's sending mark without an outcome now records
// possible_duplicate on its attempt, and the e-mail carries the same
// Message-ID both times.
func TestSentButNotRecordedIsMarked(t *testing.T) {
	t.Parallel()
	proxy, rdb := redistest.NewProxy(t)
	var cutAfterSend atomic.Bool
	wrap := func(_ message.Channel, s channels.Sender) channels.Sender {
		return channels.SenderFunc(func(ctx context.Context, m channels.Outbound) (channels.Receipt, error) {
			r, err := s.Send(ctx, m)
			if err == nil && cutAfterSend.CompareAndSwap(true, false) {
				proxy.Cut() // the provider has it; the record write that follows fails
			}
			return r, err
		})
	}
	h := apptest.New(t, apptest.Options{Role: app.Role{Name: "test", HTTP: true}, Redis: rdb, WrapSender: wrap,
		Env: map[string]string{"HEROLD_API_KEYS": "admin:" + keyAdmin + ":*,billing:" + keyBilling + ":send:invoice"}})
	b := &testBundle{Herold: h, store: h.Store, smtp: h.SMTP, queues: h.Queues, inspect: h.Inspector, svc: h.Messages}
	b.putCustomer(t, customer{id: "c-1", email: "twice@example.com"})
	a := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-1", "channels": []string{"email"}, "data": invoiceData()})

	cutAfterSend.Store(true)
	if err := h.Dispatcher.Deliver(t.Context(), a.ID); err == nil {
		t.Fatal("the first run recorded its outcome although Redis was cut off after the send")
	}
	proxy.Restore()
	if v := b.get(t, a.ID); v.Status != "sending" || len(v.Attempts) != 0 {
		t.Fatalf("after the lost write: %s with %d attempts, want the sending mark alone\n%s", v.Status, len(v.Attempts), v.Raw)
	}
	// The task runs again, as asynq runs it after the lost worker's lease.
	if err := h.Dispatcher.Deliver(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	v := b.get(t, a.ID)
	if v.Status != "delivered" || len(v.Attempts) != 1 || !v.Attempts[0].PossibleDuplicate {
		t.Fatalf("record %s with attempts %+v, want delivered with one attempt marked possible_duplicate\n%s", v.Status, v.Attempts, v.Raw)
	}
	if bytes.Contains(v.Raw, []byte(`"unconfirmed"`)) {
		t.Errorf("the record still says unconfirmed after the attempt took the mark:\n%s", v.Raw)
	}
	mails := b.smtp.Mails()
	if len(mails) != 2 {
		t.Fatalf("SMTP got %d mails, want 2 (the first send was not recorded)", len(mails))
	}
	ids := make([]string, 2)
	for i, m := range mails {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = msg.Header.Get("Message-ID")
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("Message-IDs %q, want the same one twice", ids)
	}
}

// TestProviderTimeoutMarksTheResend is defect 8 of issue 14: Twilio created
// the message but did not answer within the send timeout, the retry sent a
// second SMS, and nothing said so. Twilio's Messages API has no idempotency
// key, so the second SMS is inherent; the retry's attempt now says
// possible_duplicate (see dispatch.begin for why SMS is resent, not failed).
func TestProviderTimeoutMarksTheResend(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Env: map[string]string{
		"HEROLD_API_KEYS":     "admin:" + keyAdmin + ":*,billing:" + keyBilling + ":send:invoice",
		"HEROLD_SEND_TIMEOUT": "1s",
	}})
	b := &testBundle{Herold: h, store: h.Store, smtp: h.SMTP, twilio: h.Twilio, queues: h.Queues, inspect: h.Inspector, svc: h.Messages}
	const phone = "+4915112345800"
	b.putCustomer(t, customer{id: "c-800", phone: phone})
	b.twilio.Script(phone, apptest.TwilioReply{Hang: true})
	a := b.post(t, keyBilling, map[string]any{"type": "invoice", "recipient_id": "c-800", "channels": []string{"sms"}, "data": invoiceData()})
	v := b.waitStatus(t, a.ID, "delivered", "failed")
	if v.Status != "delivered" || len(v.Attempts) != 2 {
		t.Fatalf("status %s with %d attempts, want delivered after 2\n%s", v.Status, len(v.Attempts), v.Raw)
	}
	if v.Attempts[0].Class != "timeout" || v.Attempts[0].PossibleDuplicate {
		t.Errorf("first attempt %+v, want a timeout", v.Attempts[0])
	}
	if !v.Attempts[1].PossibleDuplicate {
		t.Errorf("second attempt %+v, want possible_duplicate: the timed-out try may have been sent", v.Attempts[1])
	}
	if n := len(b.twilio.Requests()); n != 2 {
		t.Errorf("Twilio got %d requests, want 2", n)
	}
	if r := b.do(t, http.MethodGet, "/v1/messages/"+a.ID, keyBilling, nil); !bytes.Contains(r.Body, []byte(`"possible_duplicate": true`)) {
		t.Errorf("GET does not show possible_duplicate:\n%s", r.Body)
	}
}
