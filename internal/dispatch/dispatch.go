// Package dispatch accepts messages (Service) and delivers them (Dispatcher).
//
// Delivery decides at delivery time: the worker loads the recipient's facts
// in one Redis round trip, asks the policy for each channel in the message's
// order of preference, takes the first allowed one, renders and hands the
// result to that channel's Sender, and records every decision and attempt on
// the message record. A withdrawal that arrives while a message waits in the
// queue therefore stops it.
//
// Outcomes, and what the caller (internal/queue) does with them:
//   - delivered, suppressed, canceled, gone: nil, no retry. Suppression is a
//     successful outcome, recorded with its reason.
//   - permanent failure (bad address, provider STOP, missing template data, no
//     sender): status failed and an error for which channels.IsPermanent is
//     true. A provider STOP also records an objection in the consent ledger, a
//     hard bounce suppresses the address.
//   - retryable failure: status back to queued with the attempt recorded, and
//     the error; after the last retry the queue calls GiveUp.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/store"
)

// Renderer turns a message into per-channel content (internal/render.Renderer).
type Renderer interface {
	Render(req render.Request) (render.Content, error)
}

// Options are the dependencies of New.
type Options struct {
	Store     *store.Store
	Catalog   *policy.Catalog
	Renderer  Renderer
	Senders   map[message.Channel]channels.Sender
	RecordTTL time.Duration // HEROLD_RECORD_TTL
	// SendTimeout limits one provider call (HEROLD_SEND_TIMEOUT; default 30s).
	SendTimeout time.Duration
	Log         *slog.Logger
	Now         func() time.Time // default time.Now
	// Zones resolves recipients' time zones (default: UTC for all).
	Zones *recipient.Zones
}

// Dispatcher delivers messages. It is safe for concurrent use.
type Dispatcher struct {
	o Options
}

// New returns a Dispatcher.
func New(o Options) (*Dispatcher, error) {
	switch {
	case o.Store == nil || o.Catalog == nil || o.Renderer == nil:
		return nil, errors.New("dispatcher: Store, Catalog and Renderer are required")
	case o.RecordTTL <= 0:
		return nil, errors.New("dispatcher: RecordTTL must be positive")
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Zones == nil {
		o.Zones = recipient.NewZones(nil)
	}
	return &Dispatcher{o: o}, nil
}

// Outcome is what one delivery did.
type Outcome struct {
	MessageID  string
	Status     store.MessageStatus
	Channel    message.Channel // channel used or tried; empty when suppressed
	Decision   policy.Decision
	ProviderID string
	// Skipped: the message was already settled or canceled; nothing was done.
	Skipped bool
}

// Deliver delivers message id once (see the package doc for the outcomes).
// A message whose record is gone (erased, expired) or settled is skipped.
func (d *Dispatcher) Deliver(ctx context.Context, id string) error {
	rec, err := d.o.Store.GetMessage(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		d.o.Log.InfoContext(ctx, "message record gone, nothing to deliver", "message_id", id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("deliver %s: %w", id, err)
	}
	if rec.Status.Final() {
		return nil
	}
	// One round trip: profile, ledger and the frequency-cap count.
	snap, err := d.o.Store.LoadFactsSince(ctx, rec.RecipientID, d.o.Catalog.FrequencyCountSince(d.o.Now().UTC()))
	if err != nil {
		return fmt.Errorf("deliver %s: %w", id, err)
	}
	_, err = d.DeliverWithSnapshot(ctx, rec, snap)
	return err
}

var errSettled = errors.New("message already settled")

// DeliverWithSnapshot is the per-recipient core: decide on every channel in
// order at delivery time with the facts in snap, render and send on the first
// allowed one, and record the outcome. msg may be a record read from the
// store, or a new one (Rev 0, e.g. one recipient of a campaign chunk), which
// is then created; if a record with its id exists and is settled, nothing is
// done (Outcome.Skipped). Errors are classified as for Deliver. For the
// frequency cap, snap must come from Store.LoadFactsSince with the catalog's
// FrequencyCountSince.
func (d *Dispatcher) DeliverWithSnapshot(ctx context.Context, msg store.MessageRecord, snap recipient.Snapshot) (Outcome, error) {
	now := d.o.Now().UTC()
	spec, known := d.o.Catalog.Type(msg.Type)
	advertising := known && spec.Advertising && snap.Found
	rec, err := d.begin(ctx, msg, now)
	if errors.Is(err, errSettled) {
		return Outcome{MessageID: rec.ID, Status: rec.Status, Channel: rec.Channel, ProviderID: rec.ProviderID, Skipped: true}, nil
	}
	if err != nil {
		return Outcome{MessageID: msg.ID}, fmt.Errorf("deliver %s: %w", msg.ID, err)
	}
	log := d.o.Log.With("message_id", rec.ID, "recipient_id", rec.RecipientID, "type", rec.Type)

	prefs := rec.Channels
	if len(prefs) == 0 && known {
		prefs = spec.Channels
	}
	if len(prefs) == 0 {
		prefs = []message.Channel{""} // unknown type: Decide denies with unknown_type
	}
	var decisions []policy.Decision
	var chosen *policy.Decision
	for _, ch := range prefs {
		facts := snap.Facts(rec.Type, ch, now, d.o.Zones.Of(snap.Recipient))
		dec := policy.Decide(d.o.Catalog, facts)
		if dec.Allowed && snap.Recipient.Address(ch) == "" {
			// The policy checks contact points; this only guards against a
			// profile changed between its facts and the address.
			dec.Allowed, dec.Reason = false, policy.NoContactPoint
		}
		decisions = append(decisions, dec)
		if dec.Allowed {
			chosen = &decisions[len(decisions)-1]
			break
		}
	}
	if chosen == nil {
		dec := decisions[0]
		out, err := d.finish(ctx, rec, func(r *store.MessageRecord) {
			r.Status, r.Decision, r.Decisions = store.StatusSuppressed, &dec, decisions
		})
		log.InfoContext(ctx, "message suppressed", "reason", dec.Reason, "channel", dec.Channel)
		return out, err
	}
	dec := *chosen
	ch := dec.Channel
	if ch == "" {
		ch = prefs[len(decisions)-1]
	}
	attempt := store.Attempt{At: now, Channel: ch, Retry: retryCount(ctx, rec)}

	fail := func(cause error, permanent bool) (Outcome, error) {
		attempt.Error = safeError(cause)
		var pe *channels.ProviderError
		if errors.As(cause, &pe) {
			attempt.Provider = pe
		}
		attempt.Permanent = permanent
		status := store.StatusQueued // waits for the retry
		if permanent {
			status = store.StatusFailed
		}
		out, err := d.finish(ctx, rec, func(r *store.MessageRecord) {
			r.Status, r.Decision, r.Decisions, r.Channel = status, &dec, decisions, ch
			r.Attempts = append(r.Attempts, attempt)
		})
		if err != nil {
			return out, errors.Join(cause, err)
		}
		if permanent {
			log.WarnContext(ctx, "message failed", "channel", ch, "err", attempt.Error)
			if !channels.IsPermanent(cause) {
				cause = channels.Permanent(cause)
			}
		}
		return out, fmt.Errorf("deliver %s on %s: %w", rec.ID, ch, cause)
	}

	sender := d.o.Senders[ch]
	if sender == nil {
		return fail(fmt.Errorf("no sender configured for channel %s", ch), true)
	}
	content, err := d.o.Renderer.Render(render.Request{
		MessageID:       rec.ID,
		Type:            rec.Type,
		Channel:         ch,
		Locale:          rec.Locale,
		RecipientLocale: snap.Recipient.Locale,
		Recipient:       rec.RecipientID,
		Profile:         snap.Recipient.Profile(),
		Data:            rec.Data,
		Decision:        dec,
	})
	if err != nil {
		// Missing data (render.ErrMissingData) and refused categories fail the
		// same way on every try: permanent.
		return fail(fmt.Errorf("render: %w", err), true)
	}
	sctx, cancel := context.WithTimeout(ctx, d.o.SendTimeout)
	receipt, err := sender.Send(sctx, channels.Outbound{
		MessageID:         rec.ID,
		Type:              string(rec.Type),
		Class:             string(rec.Class),
		Locale:            content.Locale,
		To:                snap.Recipient.Address(ch),
		Subject:           content.Subject,
		Text:              content.Text,
		HTML:              content.HTML,
		UnsubscribeURL:    content.UnsubscribeURL,
		UnsubscribeMailto: content.UnsubscribeMailto,
		ListID:            content.ListID,
		ContentSID:        content.ContentSID,
		ContentVariables:  content.ContentVariables,
		SMSFallback:       dec.SMSFallback,
	})
	cancel()
	if err != nil {
		permanent := channels.IsPermanent(err)
		if permanent {
			d.afterPermanent(ctx, log, rec, ch, err, now)
		}
		return fail(err, permanent)
	}

	attempt.Provider = nil
	var out Outcome
	var werr error
	// The provider has the message: the record must say so, or a retry would
	// send it twice. Try the write a few times before giving up.
	for try := range 4 {
		out, werr = d.finish(ctx, rec, func(r *store.MessageRecord) {
			r.Status, r.Decision, r.Decisions, r.Channel = store.StatusDelivered, &dec, decisions, ch
			r.Attempts = append(r.Attempts, attempt)
			r.Provider, r.ProviderID, r.DeliveredAt = receipt.Provider, receipt.ProviderID, d.o.Now().UTC()
		})
		if werr == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(50<<try) * time.Millisecond)
	}
	if werr != nil {
		log.ErrorContext(ctx, "message sent but not recorded", "channel", ch, "err", werr)
		return out, channels.Permanent(fmt.Errorf("deliver %s: sent, but recording failed: %w", rec.ID, werr))
	}
	if advertising {
		window := now.Sub(d.o.Catalog.FrequencyWindowStart(now))
		if err := d.o.Store.RecordAdvertising(context.WithoutCancel(ctx), rec.RecipientID, rec.ID, now, window); err != nil {
			log.ErrorContext(ctx, "count delivery for the frequency cap", "err", err)
		}
	}
	log.InfoContext(ctx, "message delivered", "channel", ch, "basis", dec.Basis, "provider", receipt.Provider)
	return out, nil
}

// begin moves the record to sending, creating it when msg is new. It returns
// errSettled (with the stored record) when there is nothing to do.
func (d *Dispatcher) begin(ctx context.Context, msg store.MessageRecord, now time.Time) (store.MessageRecord, error) {
	if msg.Rev == 0 {
		rec := msg
		rec.Status, rec.UpdatedAt = store.StatusSending, now
		if rec.CreatedAt.IsZero() {
			rec.CreatedAt = now
		}
		err := d.o.Store.PutMessage(ctx, &rec, d.o.RecordTTL)
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return msg, err
		}
		// It exists: a re-run of the same chunk. Fall through to the stored record.
	}
	var settled store.MessageRecord
	rec, err := d.o.Store.UpdateMessageFrom(ctx, msg, d.o.RecordTTL, func(r *store.MessageRecord) error {
		if r.Status.Final() {
			settled = *r
			return errSettled
		}
		// sending again is fine: a worker died between deciding and recording.
		r.Status, r.UpdatedAt = store.StatusSending, now
		return nil
	})
	if errors.Is(err, errSettled) {
		return settled, errSettled
	}
	return rec, err
}

// finish applies fn to the stored record and returns the Outcome it records.
func (d *Dispatcher) finish(ctx context.Context, cur store.MessageRecord, fn func(*store.MessageRecord)) (Outcome, error) {
	// Recording must not be cut short by a deadline that the send used up.
	ctx = context.WithoutCancel(ctx)
	now := d.o.Now().UTC()
	id := cur.ID
	rec, err := d.o.Store.UpdateMessageFrom(ctx, cur, d.o.RecordTTL, func(r *store.MessageRecord) error {
		fn(r)
		r.UpdatedAt = now
		return nil
	})
	out := Outcome{MessageID: id, Status: rec.Status, Channel: rec.Channel, ProviderID: rec.ProviderID}
	if rec.Decision != nil {
		out.Decision = *rec.Decision
	}
	if err != nil {
		return out, fmt.Errorf("record outcome of %s: %w", id, err)
	}
	return out, nil
}

// afterPermanent acts on what a permanent provider error says about the
// recipient: a STOP (channels.ErrUnsubscribed) is an objection for that
// channel, a hard bounce suppresses the address. Failures are logged: the
// message's own outcome does not depend on them.
func (d *Dispatcher) afterPermanent(ctx context.Context, log *slog.Logger, rec store.MessageRecord, ch message.Channel, err error, now time.Time) {
	ctx = context.WithoutCancel(ctx)
	provider := "provider"
	var pe *channels.ProviderError
	if errors.As(err, &pe) && pe.Provider != "" {
		provider = pe.Provider
	}
	switch {
	case errors.Is(err, channels.ErrUnsubscribed):
		// An SMS STOP or a messenger block is an Art. 21 objection for this
		// channel (DESIGN: mirrored into our own ledger, as the provider's
		// block is per sender only). It covers advertising and surveys (which
		// German courts treat as advertising), never contract mail.
		src := consent.API
		if ch == message.SMS {
			src = consent.SMSKeyword // the person texted STOP; the provider reported it
		}
		text := fmt.Sprintf("%s reported the recipient unsubscribed on %s (message %s)", provider, ch, rec.ID)
		if pe != nil && pe.Code != 0 {
			text = fmt.Sprintf("%s reported the recipient unsubscribed on %s, code %d (message %s)", provider, ch, pe.Code, rec.ID)
		}
		var events []consent.Event
		for _, purpose := range []string{consent.Advertising, consent.Survey} {
			events = append(events, consent.Event{Kind: consent.Object, Purpose: purpose, Channel: string(ch),
				At: now, Source: src, Text: text, RecordedBy: "provider:" + provider})
		}
		if _, aerr := d.o.Store.AppendConsent(ctx, rec.RecipientID, events...); aerr != nil {
			log.ErrorContext(ctx, "record provider objection", "channel", ch, "err", aerr)
			return
		}
		log.InfoContext(ctx, "objection recorded from provider", "channel", ch, "provider", provider)
	case errors.Is(err, channels.ErrHardBounce):
		if serr := d.o.Store.SuppressAddress(ctx, rec.RecipientID, ch, "hard_bounce"); serr != nil {
			log.ErrorContext(ctx, "suppress bounced address", "channel", ch, "err", serr)
			return
		}
		log.InfoContext(ctx, "address suppressed after hard bounce", "channel", ch)
	}
}

// GiveUp marks message id failed after its last retryable attempt failed
// with cause (already recorded as an attempt by Deliver).
func (d *Dispatcher) GiveUp(ctx context.Context, id string, cause error) error {
	now := d.o.Now().UTC()
	_, err := d.o.Store.UpdateMessage(context.WithoutCancel(ctx), id, d.o.RecordTTL, func(r *store.MessageRecord) error {
		if r.Status.Final() {
			return store.ErrSkipUpdate
		}
		r.Status, r.UpdatedAt = store.StatusFailed, now
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("give up on %s: %w", id, err)
	}
	d.o.Log.WarnContext(ctx, "message failed after the last retry", "message_id", id, "err", safeError(cause))
	return nil
}

// retryCount is asynq's retry count of the running task, or the number of
// attempts so far outside asynq.
func retryCount(ctx context.Context, rec store.MessageRecord) int {
	if n, ok := asynq.GetRetryCount(ctx); ok {
		return n
	}
	return len(rec.Attempts)
}

// safeError is the text of err kept in a record: a provider error's safe
// form when there is one (adapters never put addresses in errors; see the
// channels package), cut to a sane length.
func safeError(err error) string {
	s := err.Error()
	var pe *channels.ProviderError
	if errors.As(err, &pe) {
		s = pe.Error()
		switch {
		case errors.Is(err, channels.ErrUnsubscribed):
			s = channels.ErrUnsubscribed.Error() + ": " + s
		case errors.Is(err, channels.ErrHardBounce):
			s = channels.ErrHardBounce.Error() + ": " + s
		case errors.Is(err, channels.ErrInvalidAddress):
			s = channels.ErrInvalidAddress.Error() + ": " + s
		}
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
