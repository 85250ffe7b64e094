package consent

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/heroldhq/herold/internal/message"
)

// OptOut is an opt-out that reached Herold from outside its own pages: a
// person texted STOP (or tapped an opt-out button on a messenger), or a
// provider refused a message because the person had opted out with it.
type OptOut struct {
	Channel message.Channel
	At      time.Time
	// Keyword is the exact words the person sent (for a button, its text);
	// empty when the provider only reported the opt-out.
	Keyword string
	// Button is the payload of the opt-out button the person tapped ("STOP"),
	// empty for typed words.
	Button string
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
//
// An opt-out the provider names by its message id gets an event ID derived
// from that id (ProofID), so the same inbound message — sent twice by the
// provider, or replayed — is one event (store.AppendConsentOnce).
func OptOutEvent(o OptOut) Event {
	e := Event{Kind: Object, Purpose: Advertising, Channel: string(o.Channel), At: o.At.UTC(),
		RecordedBy: "provider:" + o.Provider}
	if o.ProviderMessageID != "" {
		e.ID = ProofID(o.Provider, o.ProviderMessageID)
	}
	words := o.Keyword
	if o.Button != "" {
		words = fmt.Sprintf("%s (button %s)", o.Keyword, o.Button)
	}
	switch {
	case o.Keyword != "" && o.Channel == message.SMS:
		e.Source, e.Text = SMSKeyword, words
	case o.Keyword != "" || o.Button != "":
		e.Source, e.Text = MessengerKeyword, words
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

// proofSpace is the UUID namespace of ledger event ids derived from what
// they prove. Never change it: stored ids depend on it.
var proofSpace = uuid.MustParse("6f1c2a8e-0d4b-4c8e-9a57-3b2d9e4f7a10")

// ProofID is the ledger event id of the event that provider's message
// providerMessageID proves: the same for every report of that message.
func ProofID(provider, providerMessageID string) string {
	return uuid.NewSHA1(proofSpace, []byte(provider+":"+providerMessageID)).String()
}
