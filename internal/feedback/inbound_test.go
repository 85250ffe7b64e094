package feedback_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/feedback"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/store"
)

type published struct {
	mu  sync.Mutex
	evs []events.Event
}

func (p *published) Publish(_ context.Context, evs ...events.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.evs = append(p.evs, evs...)
	return nil
}

// TestInboundMeaning: what each inbound message means, on every phone
// channel: the German and English stop words in any case and an opt-out
// button object; another button is a reply; START grants nothing.
func TestInboundMeaning(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix, store.WithSalt("feedback-test-salt-0123456789"))
	const number = "+4915123456789"
	r, err := recipient.Parse("c-1", recipient.Input{Kind: "customer", Mobile: &recipient.MobileInput{Number: number}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.PutRecipient(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	pub := &published{}
	f := feedback.New(st, nil).WithEvents(pub)
	for i, tt := range []struct {
		ch           message.Channel
		number, body string
		button       string
		want         feedback.InboundKind
		recorded     bool
	}{
		{message.WhatsApp, number, "stop", "", feedback.InboundOptOut, true},
		{message.RCS, number, "Abmelden!", "", feedback.InboundOptOut, true},
		{message.SMS, number, " STOPP ", "", feedback.InboundOptOut, true},
		{message.WhatsApp, number, "Keine Angebote mehr", "stop", feedback.InboundOptOut, true},
		{message.RCS, number, "Mehr erfahren", "MORE_INFO", feedback.InboundReply, false},
		{message.WhatsApp, number, "Start", "", feedback.InboundOptIn, false},
		{message.WhatsApp, number, "Wann kommt mein Vertrag?", "", feedback.InboundText, false},
		{message.WhatsApp, "+4915199999999", "STOP", "", feedback.InboundOptOut, false}, // nobody has the number
	} {
		res, err := f.Inbound(t.Context(), feedback.Inbound{Channel: tt.ch, Number: tt.number, Body: tt.body, Button: tt.button,
			ProviderMessageID: fmt.Sprintf("SM%d", i), Provider: "twilio", At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if res.Kind != tt.want || res.Recorded != tt.recorded || (res.Recipient == "c-1") != (tt.number == number && tt.want != feedback.InboundText && tt.want != feedback.InboundOptIn) {
			t.Errorf("%s %q button %q: %+v, want %s recorded %v", tt.ch, tt.body, tt.button, res, tt.want, tt.recorded)
		}
	}
	ledger, err := st.Ledger(t.Context(), "c-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) != 4 {
		t.Errorf("ledger has %d events, want the 4 objections", len(ledger))
	}
	if len(pub.evs) != 1 || pub.evs[0].Type != events.MessageReply || pub.evs[0].Data.Reply.Payload != "MORE_INFO" {
		t.Errorf("events %+v, want one message.reply", pub.evs)
	}
	// Every WhatsApp message opened its number's window, known or not; RCS and SMS have none.
	for _, c := range []struct {
		ch     message.Channel
		number string
		open   bool
	}{{message.WhatsApp, number, true}, {message.WhatsApp, "+4915199999999", true}, {message.RCS, number, false}, {message.SMS, number, false}} {
		if open, err := st.SessionOpen(t.Context(), c.ch, c.number); err != nil || open != c.open {
			t.Errorf("%s window open = %v, %v; want %v", c.ch, open, err, c.open)
		}
	}
}
