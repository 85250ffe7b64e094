package consent_test

import (
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
)

func TestOptOutEvent(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name   string
		in     consent.OptOut
		source consent.Source
		text   string
	}{
		{"sms keyword", consent.OptOut{Channel: message.SMS, At: at, Keyword: "STOP", Provider: "twilio", ProviderMessageID: "SM1"},
			consent.SMSKeyword, "STOP (provider message SM1)"},
		{"messenger keyword", consent.OptOut{Channel: message.WhatsApp, At: at, Keyword: "ABMELDEN", Provider: "twilio"},
			consent.MessengerKeyword, "ABMELDEN"},
		{"provider refusal", consent.OptOut{Channel: message.SMS, At: at, Provider: "twilio", Code: 21610, MessageID: "msg_x"},
			consent.ProviderReport, "twilio reported the recipient unsubscribed on sms, code 21610 (message msg_x)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := consent.OptOutEvent(tt.in)
			if e.Kind != consent.Object || e.Purpose != consent.Advertising || e.Channel != string(tt.in.Channel) {
				t.Fatalf("event %+v: want an objection to advertising on %s", e, tt.in.Channel)
			}
			if e.Source != tt.source || e.Text != tt.text || !e.At.Equal(at) || e.At.Location() != time.UTC {
				t.Fatalf("event %+v: want source %s, text %q, at %v in UTC", e, tt.source, tt.text, at)
			}
			e.ID = "x"
			if err := e.Validate(); err != nil {
				t.Fatal(err)
			}
			// An objection to advertising on the channel stops every
			// advertising purpose there, and nothing on other channels.
			st := consent.Fold([]consent.Event{e}, at.Add(time.Minute))
			if st.Lookup(consent.Advertising, tt.in.Channel).Status != consent.Objected {
				t.Fatal("not objected on its channel")
			}
			if st.Lookup(consent.Advertising, message.Email).Status != consent.None {
				t.Fatal("an opt-out on one channel must not object on e-mail")
			}
		})
	}
}
