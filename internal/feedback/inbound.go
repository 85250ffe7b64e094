package feedback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/store"
)

// Inbound is a message a person sent to one of the company's numbers on
// SMS, WhatsApp or RCS, as the provider's webhook reported it.
type Inbound struct {
	Channel message.Channel
	Number  string // E.164, without the channel's prefix
	Body    string // what the person sent; for a tapped button, its text
	// Button is the payload of the quick-reply button tapped, as the
	// template defined it; "" for typed words.
	Button string
	// ProviderMessageID is the provider's id of this message (Twilio's
	// MessageSid): the proof an objection records, and what makes a
	// repeated or replayed report record nothing new.
	ProviderMessageID string
	// RepliedTo is the provider's id of the message the person answered,
	// when the provider names it (Twilio's OriginalRepliedMessageSid).
	RepliedTo string
	Provider  string
	At        time.Time
}

// InboundKind is what an inbound message meant.
type InboundKind string

// What an inbound message can mean.
const (
	// InboundOptOut: an opt-out word (STOP, STOPP, ABMELDEN, … in any case)
	// or an opt-out button: an objection to advertising on that channel.
	InboundOptOut InboundKind = "opt_out"
	// InboundReply: another quick-reply button, handed on to producers as
	// message.reply with its payload; Herold does not interpret it.
	InboundReply InboundKind = "reply"
	// InboundOptIn: START and alike. Logged; it grants nothing (consent
	// needs its documented text, e.g. through the preference centre).
	InboundOptIn InboundKind = "opt_in"
	// InboundText: anything else; nothing to apply.
	InboundText InboundKind = "text"
)

// InboundResult is what Inbound did.
type InboundResult struct {
	Kind      InboundKind
	Keyword   string              // the normalised opt-out or opt-in word, or the button's payload
	Recipient message.RecipientID // "" when nobody has the number
	// Recorded: an objection was written now (false for a repeated report).
	Recorded bool
	// MessageID is Herold's message the person answered, when it is known.
	MessageID string
}

// Opt-out words: Twilio's standard list plus the German ones. A message
// that is exactly one of them (case and surrounding punctuation aside), or
// a button whose payload is one, is an objection to advertising on the
// channel it came in on (Art. 21 GDPR).
var stopKeywords = map[string]bool{
	"STOP": true, "STOPP": true, "ABMELDEN": true, "UNSUBSCRIBE": true, "CANCEL": true,
	"END": true, "QUIT": true, "STOPALL": true, "OPTOUT": true, "REVOKE": true,
}

// Opt-in words. Twilio lifts its own block on them; Herold records nothing:
// a keyword proves neither informed consent nor the text agreed to (Art. 7
// GDPR), and the ledger has no event that would record it without granting.
var startKeywords = map[string]bool{"START": true, "UNSTOP": true, "YES": true}

// normalizeKeyword upper-cases s and drops surrounding space and
// punctuation, so "Stop!" and " stopp." match.
func normalizeKeyword(s string) string {
	return strings.ToUpper(strings.Trim(s, " \t\r\n.!?,;:\"'"))
}

// Inbound applies an inbound message: it opens the number's session window
// on a channel that has one (message.ChannelSpec.Session), records an
// opt-out word or button as an objection (once per provider message id),
// and publishes any other button as message.reply (its event id derived
// from the provider's message id, so receivers drop a repeat). A number
// nobody has changes nothing but the session window, and is no error.
func (f *Feedback) Inbound(ctx context.Context, in Inbound) (InboundResult, error) {
	ctx = context.WithoutCancel(ctx)
	if in.At.IsZero() {
		in.At = time.Now()
	}
	if cs, ok := in.Channel.Spec(); ok && cs.Session > 0 && in.Number != "" {
		if err := f.st.OpenSession(ctx, in.Channel, in.Number, cs.Session); err != nil {
			return InboundResult{}, err
		}
	}
	res := InboundResult{Kind: InboundText}
	switch word := normalizeKeyword(in.Body); {
	case in.Button != "" && stopKeywords[normalizeKeyword(in.Button)]:
		res.Kind, res.Keyword = InboundOptOut, in.Button
	case in.Button != "":
		res.Kind, res.Keyword = InboundReply, in.Button
	case stopKeywords[word]:
		res.Kind, res.Keyword = InboundOptOut, word
	case startKeywords[word]:
		res.Kind, res.Keyword = InboundOptIn, word
	}
	if res.Kind == InboundText || res.Kind == InboundOptIn {
		return res, nil
	}
	id, err := f.st.RecipientByPhone(ctx, in.Number)
	if errors.Is(err, store.ErrNotFound) {
		return res, nil
	}
	if err != nil {
		return InboundResult{}, fmt.Errorf("find the number of an inbound message: %w", err)
	}
	res.Recipient = id
	if res.Kind == InboundOptOut {
		o := consent.OptOut{Channel: in.Channel, At: in.At, Keyword: res.Keyword, Provider: in.Provider,
			ProviderMessageID: in.ProviderMessageID}
		if in.Button != "" {
			o.Keyword, o.Button = strings.TrimSpace(in.Body), in.Button
			if o.Keyword == "" {
				o.Keyword = in.Button
			}
		}
		_, res.Recorded, err = f.OptedOut(ctx, id, o)
		return res, err
	}
	m := events.Message{RecipientID: string(id), Channel: string(in.Channel)}
	if in.RepliedTo != "" {
		rec, err := f.repliedTo(ctx, in.RepliedTo)
		switch {
		case err == nil && rec.RecipientID == id:
			m.ID, m.Type, m.CampaignID = rec.ID, string(rec.Type), rec.CampaignID
			res.MessageID = rec.ID
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return InboundResult{}, fmt.Errorf("find the message a reply answers: %w", err)
		}
	}
	ev := events.Replied(in.At.UTC(), m, in.Button)
	if in.ProviderMessageID != "" { // else Publish draws a random id
		ev.ID = events.DerivedID(ev.Type, in.Provider, in.ProviderMessageID)
	}
	if err := f.events.Publish(ctx, ev); err != nil {
		f.log.WarnContext(ctx, "publish a quick reply", "recipient_id", id, "channel", in.Channel, "err", err)
	}
	return res, nil
}

// repliedTo is the record of the message a provider knows as providerID.
func (f *Feedback) repliedTo(ctx context.Context, providerID string) (store.MessageRecord, error) {
	msgID, err := f.st.MessageByProviderID(ctx, providerID)
	if err != nil {
		return store.MessageRecord{}, err
	}
	return f.st.GetMessage(ctx, msgID)
}
