// Package feedback applies what providers and mailboxes report about a
// person — an SMS STOP, a messenger block, a hard bounce — to the consent
// ledger and the suppression list. Every road that learns such a fact (a
// delivery the provider refused, the inbound webhook, a bounce report) calls
// it here, so what each fact means exists once.
package feedback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/store"
)

// Suppression reasons recorded here.
const (
	// ReasonHardBounce: the mailbox or number does not exist or refuses
	// mail for good.
	ReasonHardBounce = "hard_bounce"
)

// ErrUnknownNumber means no recipient has the number an opt-out came from.
var ErrUnknownNumber = errors.New("no recipient with this number")

// ErrReplayed means the opt-out's inbound message (by the provider's id)
// was applied before: the provider, or someone with a copy of its signed
// request, sent the same webhook again. Nothing was recorded.
var ErrReplayed = errors.New("inbound message applied before")

// Store is what feedback writes to (internal/store.Store implements it).
type Store interface {
	AppendConsent(ctx context.Context, id message.RecipientID, events ...consent.Event) ([]consent.Event, error)
	AppendConsentOnce(ctx context.Context, id message.RecipientID, ref string, events ...consent.Event) ([]consent.Event, error)
	SuppressAddress(ctx context.Context, id message.RecipientID, ch message.Channel, reason string) error
	RecipientByPhone(ctx context.Context, e164 string) (message.RecipientID, error)
}

// Feedback applies reports. It is safe for concurrent use.
type Feedback struct {
	st  Store
	log *slog.Logger
}

// New returns a Feedback writing to st.
func New(st Store, log *slog.Logger) *Feedback {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Feedback{st: st, log: log}
}

// OptedOut records an opt-out of recipient id: an objection to advertising
// on the opt-out's channel (consent.OptOutEvent says why exactly that).
func (f *Feedback) OptedOut(ctx context.Context, id message.RecipientID, o consent.OptOut) (consent.Event, error) {
	events, err := f.st.AppendConsent(context.WithoutCancel(ctx), id, consent.OptOutEvent(o))
	if err != nil {
		return consent.Event{}, fmt.Errorf("record opt-out of %s on %s: %w", id, o.Channel, err)
	}
	f.log.InfoContext(ctx, "objection recorded from an opt-out", "recipient_id", id, "channel", o.Channel,
		"source", events[0].Source, "provider", o.Provider)
	return events[0], nil
}

// NumberOptedOut records an opt-out that came from a number (an inbound
// STOP): the recipient is found by the number. ErrUnknownNumber if nobody
// has it. An opt-out with the provider's message id is recorded once per
// id: Twilio's signatures carry no timestamp, so a replayed STOP is as
// validly signed as the first, and without this each replay would add an
// objection (and, after the person consented again, revoke that consent).
// A replay is ErrReplayed and records nothing.
func (f *Feedback) NumberOptedOut(ctx context.Context, e164 string, o consent.OptOut) (message.RecipientID, consent.Event, error) {
	id, err := f.st.RecipientByPhone(ctx, e164)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", consent.Event{}, ErrUnknownNumber
		}
		return "", consent.Event{}, fmt.Errorf("find the number of an opt-out: %w", err)
	}
	if o.ProviderMessageID == "" {
		ev, err := f.OptedOut(ctx, id, o)
		return id, ev, err
	}
	ref := o.Provider + ":" + o.ProviderMessageID
	events, err := f.st.AppendConsentOnce(context.WithoutCancel(ctx), id, ref, consent.OptOutEvent(o))
	switch {
	case errors.Is(err, store.ErrApplied):
		f.log.InfoContext(ctx, "opt-out replayed: recorded before, nothing changed", "recipient_id", id, "channel", o.Channel, "provider", o.Provider)
		return id, consent.Event{}, ErrReplayed
	case err != nil:
		return id, consent.Event{}, fmt.Errorf("record opt-out of %s on %s: %w", id, o.Channel, err)
	}
	f.log.InfoContext(ctx, "objection recorded from an opt-out", "recipient_id", id, "channel", o.Channel,
		"source", events[0].Source, "provider", o.Provider)
	return id, events[0], nil
}

// HardBounced suppresses recipient id's contact point of channel ch: the
// address does not exist (SMTP 550 at RCPT, a DSN with a permanent status).
func (f *Feedback) HardBounced(ctx context.Context, id message.RecipientID, ch message.Channel) error {
	if err := f.st.SuppressAddress(context.WithoutCancel(ctx), id, ch, ReasonHardBounce); err != nil {
		return fmt.Errorf("suppress the bounced address of %s on %s: %w", id, ch, err)
	}
	f.log.InfoContext(ctx, "address suppressed after a hard bounce", "recipient_id", id, "channel", ch)
	return nil
}
