package rcs_test

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/channeltest"
	"github.com/heroldhq/herold/channels/rcs"
	"github.com/heroldhq/herold/channels/twilio"
	"github.com/heroldhq/herold/channels/twilio/twiliotest"
)

const (
	agent           = "rcs:herold_agent"
	fallbackService = "MG0123456789abcdef0123456789abcdef"
)

func newSender(t *testing.T, tw *twilio.Client, cfg rcs.Config) *rcs.Sender {
	t.Helper()
	s, err := rcs.New(tw, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var fullConfig = rcs.Config{
	From:            twilio.From{Transactional: agent, Marketing: agent},
	FallbackService: twilio.From{Marketing: fallbackService},
}

func offer(id, to string, fallback bool) channels.Outbound {
	return channels.Outbound{MessageID: id, Type: "messenger_offer", Class: "marketing", To: to, Text: "Ihr Angebot: 10 GB mehr für 0 €", SMSFallback: fallback}
}

func TestContract(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, func(t *testing.T) channeltest.Harness {
		ts := twiliotest.New(t)
		s := newSender(t, ts.Client(t), fullConfig)
		return channeltest.Harness{
			Sender: s,
			OK:     channeltest.Case{Msg: offer("r-ok", twiliotest.OKNumber, false)},
			Permanent: []channeltest.Case{
				{Msg: offer("r-21211", twiliotest.Number(21211), true), Is: channels.ErrInvalidAddress},
				{Msg: offer("r-21610", twiliotest.Number(21610), true), Is: channels.ErrUnsubscribed},
				{Msg: offer("r-63003", twiliotest.Number(63003), false), Is: channels.ErrInvalidAddress},
			},
			Retryable: []channeltest.Case{
				{Msg: offer("r-503", twiliotest.Number(503), false)},
				{Sender: newSender(t, twiliotest.Unreachable(t), fullConfig), Msg: offer("r-down", twiliotest.OKNumber, false)},
			},
			Stall: channeltest.Case{Msg: offer("r-stall", twiliotest.Number(twiliotest.Stall), true)},
		}
	})
}

// TestFallback: SMS fallback only when the decision allows it, through the
// Messaging Service; otherwise rcs: addresses that Twilio never turns into SMS.
func TestFallback(t *testing.T) {
	t.Parallel()
	ts := twiliotest.New(t)
	s := newSender(t, ts.Client(t), fullConfig)
	if _, err := s.Send(t.Context(), offer("r-1", twiliotest.OKNumber, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(t.Context(), offer("r-2", twiliotest.OKNumber, true)); err != nil {
		t.Fatal(err)
	}
	tx := offer("r-3", twiliotest.OKNumber, true)
	tx.Class = "transactional" // no fallback service for this class: RCS only
	if _, err := s.Send(t.Context(), tx); err != nil {
		t.Fatal(err)
	}
	reqs := ts.Requests()
	want := []map[string]string{
		{"To": "rcs:" + twiliotest.OKNumber, "From": agent, "MessagingServiceSid": ""},
		{"To": twiliotest.OKNumber, "From": "", "MessagingServiceSid": fallbackService},
		{"To": "rcs:" + twiliotest.OKNumber, "From": agent, "MessagingServiceSid": ""},
	}
	for i, w := range want {
		for k, v := range w {
			if got := reqs[i].Form.Get(k); got != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, got, v)
			}
		}
		if reqs[i].Form.Get("Body") == "" || reqs[i].Form.Get("StatusCallback") == "" {
			t.Errorf("request %d lacks Body or StatusCallback: %v", i, reqs[i].Form)
		}
	}
}

// TestCard: a rich card goes as its ContentSid with the variables as JSON,
// through the fallback service or to the rcs: address, never with a Body.
func TestCard(t *testing.T) {
	t.Parallel()
	ts := twiliotest.New(t)
	s := newSender(t, ts.Client(t), fullConfig)
	for i, fallback := range []bool{true, false} {
		m := offer("r-card", twiliotest.OKNumber, fallback)
		m.ContentSID, m.ContentVariables = "HX0123456789abcdef0123456789abcdef", map[string]string{"1": "Jörg", "7": "https://h.example/u/x"}
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		f := ts.Requests()[i].Form
		var vars map[string]string
		if err := json.Unmarshal([]byte(f.Get("ContentVariables")), &vars); err != nil || vars["1"] != "Jörg" || vars["7"] != "https://h.example/u/x" {
			t.Errorf("fallback %v: ContentVariables %q (%v)", fallback, f.Get("ContentVariables"), err)
		}
		if f.Get("ContentSid") != m.ContentSID || f.Has("Body") {
			t.Errorf("fallback %v: ContentSid %q, Body %q; want the card only", fallback, f.Get("ContentSid"), f.Get("Body"))
		}
		if svc := f.Get("MessagingServiceSid"); (svc == fallbackService) != fallback {
			t.Errorf("fallback %v: MessagingServiceSid %q", fallback, svc)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tw := twiliotest.New(t).Client(t)
	if _, err := rcs.New(tw, rcs.Config{}, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("rcs.New accepted no sender")
	}
	if _, err := rcs.New(tw, rcs.Config{FallbackService: twilio.From{Marketing: "+4930123"}}, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("rcs.New accepted a number as fallback service")
	}
}
