package sms_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/channeltest"
	"github.com/heroldhq/herold/channels/sms"
	"github.com/heroldhq/herold/channels/twilio"
	"github.com/heroldhq/herold/channels/twilio/twiliotest"
)

const (
	transactionalFrom = "+4930123456"
	marketingService  = "MG0123456789abcdef0123456789abcdef"
)

func newSender(t *testing.T, ts *twiliotest.Server, from twilio.From) *sms.Sender {
	t.Helper()
	s, err := sms.New(ts.Client(t), sms.Config{From: from}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func msg(id, to, class string) channels.Outbound {
	return channels.Outbound{MessageID: id, Type: "invoice", Class: class, To: to, Text: "Ihre Rechnung ist da: 12,34 € – Grüße"}
}

func TestContract(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, func(t *testing.T) channeltest.Harness {
		ts := twiliotest.New(t)
		s := newSender(t, ts, twilio.From{Transactional: transactionalFrom, Marketing: marketingService})
		down, err := sms.New(twiliotest.Unreachable(t), sms.Config{From: twilio.From{Transactional: transactionalFrom}}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return channeltest.Harness{
			Sender: s,
			OK:     channeltest.Case{Msg: msg("s-ok", twiliotest.OKNumber, "transactional")},
			Permanent: []channeltest.Case{
				{Msg: msg("s-21211", twiliotest.Number(21211), "transactional"), Is: channels.ErrInvalidAddress},
				{Msg: msg("s-21614", twiliotest.Number(21614), "transactional"), Is: channels.ErrInvalidAddress},
				{Msg: msg("s-21610", twiliotest.Number(21610), "marketing"), Is: channels.ErrUnsubscribed},
				{Msg: msg("s-21408", twiliotest.Number(21408), "transactional")},
				{Msg: msg("s-bad", "0151 1234567", "transactional"), Is: channels.ErrInvalidAddress},
			},
			Retryable: []channeltest.Case{
				{Msg: msg("s-429", twiliotest.Number(429), "transactional")},
				{Msg: msg("s-500", twiliotest.Number(500), "transactional")},
				{Msg: msg("s-503", twiliotest.Number(503), "transactional")},
				{Sender: down, Msg: msg("s-down", twiliotest.OKNumber, "transactional")},
			},
			Stall: channeltest.Case{Msg: msg("s-stall", twiliotest.Number(twiliotest.Stall), "transactional")},
			Receipt: func(t *testing.T, r channels.Receipt) {
				if r.Provider != "twilio" || len(r.ProviderID) != 34 || r.ProviderID[:2] != "SM" {
					t.Errorf("receipt = %+v, want a Twilio SM sid", r)
				}
			},
		}
	})
}

// TestFormFields checks every field twilio-go sends, per queue class.
func TestFormFields(t *testing.T) {
	t.Parallel()
	ts := twiliotest.New(t)
	s := newSender(t, ts, twilio.From{Transactional: transactionalFrom, Marketing: marketingService})
	for _, class := range []string{"transactional", "service", "marketing"} {
		if _, err := s.Send(t.Context(), msg("f-"+class, twiliotest.OKNumber, class)); err != nil {
			t.Fatalf("%s: %v", class, err)
		}
	}
	reqs := ts.Requests()
	if len(reqs) != 3 {
		t.Fatalf("server got %d requests, want 3", len(reqs))
	}
	want := []map[string]string{
		{"To": twiliotest.OKNumber, "From": transactionalFrom, "Body": "Ihre Rechnung ist da: 12,34 € – Grüße", "StatusCallback": "https://herold.example/webhooks/twilio/status"},
		{"To": twiliotest.OKNumber, "From": transactionalFrom, "Body": "Ihre Rechnung ist da: 12,34 € – Grüße", "StatusCallback": "https://herold.example/webhooks/twilio/status"},
		{"To": twiliotest.OKNumber, "MessagingServiceSid": marketingService, "Body": "Ihre Rechnung ist da: 12,34 € – Grüße", "StatusCallback": "https://herold.example/webhooks/twilio/status"},
	}
	for i, w := range want {
		got := reqs[i].Form
		if len(got) != len(w) {
			t.Errorf("request %d has fields %v, want %v", i, got, w)
		}
		for k, v := range w {
			if got.Get(k) != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, got.Get(k), v)
			}
		}
	}
}

func TestMarketingNeverUsesTransactionalSender(t *testing.T) {
	t.Parallel()
	ts := twiliotest.New(t)
	s := newSender(t, ts, twilio.From{Transactional: transactionalFrom})
	_, err := s.Send(t.Context(), msg("m-1", twiliotest.OKNumber, "marketing"))
	if !channels.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent (no marketing sender)", err)
	}
	if n := len(ts.Requests()); n != 0 {
		t.Errorf("server got %d requests, want none", n)
	}
}

func TestErrorKeepsStatusAndCode(t *testing.T) {
	t.Parallel()
	ts := twiliotest.New(t)
	s := newSender(t, ts, twilio.From{Transactional: transactionalFrom})
	_, err := s.Send(t.Context(), msg("e-1", twiliotest.Number(21211), "transactional"))
	var perr *channels.ProviderError
	if !errors.As(err, &perr) || perr.Status != 400 || perr.Code != 21211 || perr.Provider != "twilio" {
		t.Fatalf("err = %v, want ProviderError 400/21211", err)
	}
	_, err = s.Send(t.Context(), msg("e-2", twiliotest.Number(429), "transactional"))
	if after, ok := channels.RetryAfter(err); !ok || after != 7*time.Second {
		t.Errorf("RetryAfter(%v) = %s, %v; want 7s from the Retry-After header", err, after, ok)
	}
	if !errors.As(err, &perr) || perr.Status != 429 {
		t.Errorf("err = %v, want status 429", err)
	}
	_, err = s.Send(t.Context(), msg("e-3", twiliotest.Number(500), "transactional"))
	if !errors.As(err, &perr) || perr.Status != 500 {
		t.Errorf("err = %v, want status 500 from a non-JSON answer", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	if _, err := twilio.New(twilio.Config{AccountSID: "nope", AuthToken: "x"}); err == nil {
		t.Error("twilio.New accepted a bad account SID")
	}
	if _, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID}); err == nil {
		t.Error("twilio.New accepted an empty token")
	}
	ts := twiliotest.New(t)
	if _, err := sms.New(ts.Client(t), sms.Config{}, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("sms.New accepted no sender")
	}
}
