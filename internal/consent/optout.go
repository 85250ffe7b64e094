package consent

import (
	"fmt"
	"time"

	"github.com/heroldhq/herold/internal/message"
)

// OptOut is an opt-out that reached Herold from outside its own pages: a
// person texted STOP (or tapped an opt-out button on a messenger), or a
// provider refused a message because the person had opted out with it.
type OptOut struct {
	Channel message.Channel
	At      time.Time
	// Keyword is the exact words the person sent; empty when the provider
	// only reported the opt-out.
	Keyword string
	// Provider reported it ("twilio"); Code is its error code (21610), 0 for an inbound keyword.
	Provider string
	Code     int
	// MessageID is Herold's message the provider refused, if any;
	// ProviderMessageID the provider's id of the inbound message, if any.
	MessageID, ProviderMessageID string
}

// OptOutEvent is what an opt-out means for the ledger, on every road that
// learns of one (a delivery refused with STOP, the inbound webhook): one
// Art. 21 GDPR objection to advertising on that channel only.
//
// Why advertising only, and why that is enough: a STOP answers the
// advertising the person gets on that channel. Surveys are advertising in
// German case law (BGH VI ZR 225/17) and are marked advertising in the
// catalog, so the policy stops them with this objection too, as every
// advertising type; a separate survey objection would claim the person said
// something about surveys in particular, which the ledger must not invent.
// Contract messages (invoices) are not advertising and keep going: their
// own SMS sender is a different number, which the STOP did not block.
func OptOutEvent(o OptOut) Event {
	e := Event{Kind: Object, Purpose: Advertising, Channel: string(o.Channel), At: o.At.UTC(),
		RecordedBy: "provider:" + o.Provider}
	switch {
	case o.Keyword != "" && o.Channel == message.SMS:
		e.Source, e.Text = SMSKeyword, o.Keyword
	case o.Keyword != "":
		e.Source, e.Text = MessengerKeyword, o.Keyword
	default:
		e.Source = ProviderReport
		e.Text = fmt.Sprintf("%s reported the recipient unsubscribed on %s", o.Provider, o.Channel)
		if o.Code != 0 {
			e.Text += fmt.Sprintf(", code %d", o.Code)
		}
	}
	switch {
	case o.MessageID != "":
		e.Text += fmt.Sprintf(" (message %s)", o.MessageID)
	case o.ProviderMessageID != "":
		e.Text += fmt.Sprintf(" (provider message %s)", o.ProviderMessageID)
	}
	if o.Provider == "" {
		e.RecordedBy = "provider"
	}
	return e
}
