package whatsapp_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/channeltest"
	"github.com/heroldhq/herold/channels/twilio"
	"github.com/heroldhq/herold/channels/twilio/twiliotest"
	"github.com/heroldhq/herold/channels/whatsapp"
)

const (
	offerTemplate = "HX0123456789abcdef0123456789abcdef"
	enTemplate    = "HXfedcba9876543210fedcba9876543210"
	waFrom        = "+4930555000"
)

func newSender(t *testing.T, tw *twilio.Client) *whatsapp.Sender {
	t.Helper()
	s, err := whatsapp.New(tw, whatsapp.Config{From: twilio.From{Marketing: waFrom, Transactional: waFrom}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func offer(id, to string) channels.Outbound {
	return channels.Outbound{MessageID: id, Type: "messenger_offer", Class: "marketing", Locale: "de-DE", To: to,
		Text: "Hallo Jörg", ContentSID: offerTemplate, ContentVariables: map[string]string{"1": "Jörg", "2": "5 GB"}}
}

func TestContract(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, func(t *testing.T) channeltest.Harness {
		ts := twiliotest.New(t)
		s := newSender(t, ts.Client(t))
		noTemplate := offer("w-notpl", twiliotest.OKNumber)
		noTemplate.ContentSID = ""
		return channeltest.Harness{
			Sender: s,
			OK:     channeltest.Case{Msg: offer("w-ok", twiliotest.OKNumber)},
			Permanent: []channeltest.Case{
				{Msg: offer("w-63016", twiliotest.Number(63016)), Is: channels.ErrOutsideWindow},
				{Msg: offer("w-63024", twiliotest.Number(63024)), Is: channels.ErrInvalidAddress},
				{Msg: offer("w-63027", twiliotest.Number(63027))},
				{Msg: offer("w-21610", twiliotest.Number(21610)), Is: channels.ErrUnsubscribed},
				{Msg: noTemplate, Is: channels.ErrNoTemplate},
			},
			Retryable: []channeltest.Case{
				{Msg: offer("w-429", twiliotest.Number(429))},
				{Msg: offer("w-63018", twiliotest.Number(63018))},
				{Sender: newSender(t, twiliotest.Unreachable(t)), Msg: offer("w-down", twiliotest.OKNumber)},
			},
			Stall: channeltest.Case{Msg: offer("w-stall", twiliotest.Number(twiliotest.Stall))},
		}
	})
}

func TestTemplateFields(t *testing.T) {
	t.Parallel()
	ts := twiliotest.New(t)
	s := newSender(t, ts.Client(t))
	en := offer("w-2", twiliotest.OKNumber)
	en.Locale, en.ContentSID = "en", enTemplate
	for _, m := range []channels.Outbound{offer("w-1", twiliotest.OKNumber), en} {
		m.FreeForm = true // a template wins even inside the session window
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	reqs := ts.Requests()
	for i, sid := range []string{offerTemplate, enTemplate} {
		f := reqs[i].Form
		if f.Get("To") != "whatsapp:"+twiliotest.OKNumber || f.Get("From") != "whatsapp:"+waFrom {
			t.Errorf("request %d: To %q From %q, want whatsapp: addresses", i, f.Get("To"), f.Get("From"))
		}
		if f.Get("ContentSid") != sid {
			t.Errorf("request %d: ContentSid %q, want %q", i, f.Get("ContentSid"), sid)
		}
		if f.Has("Body") {
			t.Errorf("request %d: a template message carries a free-form Body", i)
		}
		var vars map[string]string
		if err := json.Unmarshal([]byte(f.Get("ContentVariables")), &vars); err != nil || vars["1"] != "Jörg" || vars["2"] != "5 GB" {
			t.Errorf("request %d: ContentVariables %q (%v)", i, f.Get("ContentVariables"), err)
		}
		if f.Get("StatusCallback") == "" {
			t.Errorf("request %d: no StatusCallback", i)
		}
	}
}

// TestFreeForm: text without a template goes only when the caller allows
// it (the session window is open); otherwise nothing reaches Twilio.
func TestFreeForm(t *testing.T) {
	t.Parallel()
	ts := twiliotest.New(t)
	m := offer("w-ff", twiliotest.OKNumber)
	m.Type, m.Class, m.ContentSID = "service_reply", "service", ""
	s := newSender(t, ts.Client(t))
	if _, err := s.Send(t.Context(), m); !channels.IsPermanent(err) || !errors.Is(err, channels.ErrNoTemplate) {
		t.Fatalf("free-form without permission: err = %v, want permanent, no template", err)
	}
	m.FreeForm = true
	if _, err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := ts.Requests()
	if len(reqs) != 1 || reqs[0].Form.Get("Body") != "Hallo Jörg" || reqs[0].Form.Has("ContentSid") {
		t.Fatalf("requests = %+v, want one free-form body", reqs)
	}
}
