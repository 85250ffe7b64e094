// Package dispatch accepts messages (Service) and delivers them (Dispatcher).
//
// Delivery is internal/delivery's one attempt; this package only says how a
// single message's outcome is recorded: in its full message record, with
// every decision and its evidence and every attempt, written with a
// compare-and-set on the record's revision. The worker loads the recipient's
// facts in one Redis round trip right before the attempt, so a withdrawal
// that arrives while a message waits in the queue stops it.
//
// Outcomes, and what the caller (internal/queue) does with them:
//   - delivered, suppressed, canceled, gone: nil, no retry. Suppression is a
//     successful outcome, recorded with its reason.
//   - held (quiet hours): status scheduled with the reason and the time it
//     waits for, and a queue.HoldError: the task runs again then and the
//     message is decided again.
//   - permanent failure (bad address, provider STOP, missing template data, no
//     sender): status failed with its error class and an error for which
//     channels.IsPermanent is true.
//   - retryable failure: status back to queued with the attempt recorded, and
//     the error; after the last retry the queue calls GiveUp.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/delivery"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// Options are the dependencies of New.
type Options struct {
	Store     *store.Store
	Delivery  *delivery.Deliverer
	RecordTTL time.Duration // HEROLD_RECORD_TTL
	Log       *slog.Logger
}

// Dispatcher delivers messages. It is safe for concurrent use.
type Dispatcher struct {
	o Options
}

// New returns a Dispatcher.
func New(o Options) (*Dispatcher, error) {
	switch {
	case o.Store == nil || o.Delivery == nil:
		return nil, errors.New("dispatcher: Store and Delivery are required")
	case o.RecordTTL <= 0:
		return nil, errors.New("dispatcher: RecordTTL must be positive")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
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
	return d.DeliverTry(ctx, id, lastTry(ctx))
}

// DeliverTry is Deliver for a caller that keeps its own retry budget (a
// batch chunk): last says that no try follows this one, so a retryable
// error fails the message for good.
func (d *Dispatcher) DeliverTry(ctx context.Context, id string, last bool) error {
	var out error
	d.DeliverChunk(ctx, []string{id}, last, 1, func(_ string, err error) { out = err })
	return out
}

// DeliverChunk makes one try of each message of ids, as DeliverTry would,
// but loads their records and their recipients' facts in one pipeline each
// instead of two round trips a message, and tries up to parallel of them
// at once. done hears each message's outcome (from several goroutines).
func (d *Dispatcher) DeliverChunk(ctx context.Context, ids []string, last bool, parallel int, done func(id string, err error)) {
	recs, errs := d.o.Store.GetMessages(ctx, ids)
	// open are the indexes of ids still to try: stored and not settled.
	var open []int
	var rids []message.RecipientID
	for i, id := range ids {
		switch err := errs[i]; {
		case errors.Is(err, store.ErrNotFound):
			d.o.Log.InfoContext(ctx, "message record gone, nothing to deliver", "message_id", id)
			done(id, nil)
		case err != nil:
			done(id, fmt.Errorf("deliver %s: %w", id, err))
		case recs[i].Status.Final():
			done(id, nil)
		default:
			open, rids = append(open, i), append(rids, recs[i].RecipientID)
		}
	}
	if len(open) == 0 {
		return
	}
	// Profile, ledger and the frequency-cap count of every recipient.
	since := d.o.Delivery.Catalog().FrequencyCountSince(d.o.Delivery.Now())
	snaps, err := d.o.Store.LoadFactsBatchSince(ctx, rids, since)
	if err != nil {
		for _, i := range open {
			done(ids[i], fmt.Errorf("deliver %s: %w", ids[i], err))
		}
		return
	}
	if len(open) == 1 {
		_, err := d.deliverWithSnapshot(ctx, recs[open[0]], snaps[0], last)
		done(ids[open[0]], err)
		return
	}
	msgs := make([]store.MessageRecord, len(open))
	for j, i := range open {
		msgs[j] = recs[i]
	}
	begun, berrs := d.beginChunk(ctx, msgs, d.o.Delivery.Now())
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for j, i := range open {
		if ctx.Err() != nil {
			done(ids[i], fmt.Errorf("deliver %s: %w", ids[i], ctx.Err()))
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := d.deliverBegun(ctx, msgs[j], begun[j], berrs[j], snaps[j], last)
			done(ids[i], err)
		})
	}
	wg.Wait()
}

var errSettled = errors.New("message already settled")

// DeliverWithSnapshot makes one attempt for msg with the facts in snap and
// records the outcome in the message record. msg may be a record read from
// the store, or a new one (Rev 0, e.g. an item of a batch), which is then
// created; if a record with its id exists and is settled, nothing is done
// (Outcome.Skipped). Errors are classified as for Deliver. For the frequency
// cap, snap must come from Store.LoadFactsSince with the catalog's
// FrequencyCountSince.
func (d *Dispatcher) DeliverWithSnapshot(ctx context.Context, msg store.MessageRecord, snap recipient.Snapshot) (Outcome, error) {
	return d.deliverWithSnapshot(ctx, msg, snap, lastTry(ctx))
}

func (d *Dispatcher) deliverWithSnapshot(ctx context.Context, msg store.MessageRecord, snap recipient.Snapshot, last bool) (Outcome, error) {
	rec, err := d.begin(ctx, msg, d.o.Delivery.Now())
	return d.deliverBegun(ctx, msg, rec, err, snap, last)
}

// deliverBegun makes the attempt for rec, which begin (or beginChunk) moved
// to sending from msg with the error berr.
func (d *Dispatcher) deliverBegun(ctx context.Context, msg, rec store.MessageRecord, berr error, snap recipient.Snapshot, last bool) (Outcome, error) {
	if errors.Is(berr, errSettled) {
		return Outcome{MessageID: rec.ID, Status: rec.Status, Channel: rec.Channel, ProviderID: rec.ProviderID, Skipped: true}, nil
	}
	if berr != nil {
		return Outcome{MessageID: msg.ID}, fmt.Errorf("deliver %s: %w", msg.ID, berr)
	}
	var out Outcome
	spec := specOf(rec)
	spec.LastTry = last
	res, err := d.o.Delivery.Run(ctx, spec, snap, delivery.RecorderFunc(func(ctx context.Context, _ delivery.Spec, res delivery.Result) error {
		var rerr error
		out, rerr = d.record(ctx, rec, res)
		return rerr
	}))
	return out, d.result(ctx, rec, res, err)
}

// specOf is what the record asks to deliver.
func specOf(rec store.MessageRecord) delivery.Spec {
	return delivery.Spec{MessageID: rec.ID, Type: rec.Type, Class: rec.Class, Channels: rec.Channels,
		Data: rec.Data, Locale: rec.Locale, CampaignID: rec.CampaignID}
}

// lastTry reports whether the running task has no retry left (asynq's
// retry count has reached its maximum). Outside asynq every try may be
// retried.
func lastTry(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	max, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= max
}

// record writes the attempt's outcome into the message record: the full
// record with every decision and attempt.
func (d *Dispatcher) record(ctx context.Context, rec store.MessageRecord, res delivery.Result) (Outcome, error) {
	attempt := store.Attempt{At: res.At, Channel: res.Channel, Retry: retryCount(ctx, rec), Error: delivery.SafeError(res.Err), Class: res.TryClass}
	var pe *channels.ProviderError
	if errors.As(res.Err, &pe) {
		attempt.Provider = pe
	}
	dec := res.Decision
	apply := func(r *store.MessageRecord) {
		r.Decision, r.Decisions = &dec, res.Decisions
		r.HeldUntil, r.HoldReason = time.Time{}, ""
		switch res.Status {
		case delivery.Suppressed:
			r.Status = store.StatusSuppressed
		case delivery.Held:
			r.Status, r.HeldUntil, r.HoldReason, r.Channel = store.StatusScheduled, res.NotBefore, dec.Hold, res.Channel
		case delivery.Delivered:
			r.Status, r.Channel = store.StatusDelivered, res.Channel
			r.Attempts = append(r.Attempts, attempt)
			r.Provider, r.ProviderID, r.DeliveredAt = res.Receipt.Provider, res.Receipt.ProviderID, res.DoneAt
		case delivery.Failed:
			// A last try's retryable error fails the message, but the
			// try itself was not refused for good.
			attempt.Permanent = channels.IsPermanent(res.Err)
			r.Status, r.Channel, r.ErrorClass = store.StatusFailed, res.Channel, res.Class
			r.Attempts = append(r.Attempts, attempt)
		default: // Retry, Interrupted: waits for the retry
			r.Status, r.Channel = store.StatusQueued, res.Channel
			r.Attempts = append(r.Attempts, attempt)
		}
	}
	if res.Status != delivery.Delivered {
		return d.finish(ctx, rec, apply)
	}
	// The provider has the message: the record must say so, or a retry would
	// send it twice. Try the write a few times before giving up.
	var out Outcome
	var werr error
	for try := range 4 {
		if out, werr = d.finish(ctx, rec, apply); werr == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(50<<try) * time.Millisecond)
	}
	if werr != nil {
		return out, werr
	}
	if res.Advertising {
		cat := d.o.Delivery.Catalog()
		window := res.DoneAt.Sub(cat.FrequencyWindowStart(res.DoneAt))
		if err := d.o.Store.RecordAdvertising(context.WithoutCancel(ctx), rec.RecipientID, rec.ID, res.DoneAt, window); err != nil {
			d.o.Log.ErrorContext(ctx, "count delivery for the frequency cap", "message_id", rec.ID, "err", err)
		}
	}
	return out, nil
}

// result logs the outcome and returns what the queue acts on.
func (d *Dispatcher) result(ctx context.Context, rec store.MessageRecord, res delivery.Result, rerr error) error {
	log := d.o.Log.With("message_id", rec.ID, "recipient_id", rec.RecipientID, "type", rec.Type)
	switch res.Status {
	case delivery.Delivered:
		if rerr != nil {
			log.ErrorContext(ctx, "message sent but not recorded", "channel", res.Channel, "err", rerr)
			return channels.Permanent(fmt.Errorf("deliver %s: sent, but recording failed: %w", rec.ID, rerr))
		}
		log.InfoContext(ctx, "message delivered", "channel", res.Channel, "basis", res.Decision.Basis, "provider", res.Receipt.Provider)
		return nil
	case delivery.Suppressed:
		log.InfoContext(ctx, "message suppressed", "reason", res.Decision.Reason, "channel", res.Decision.Channel)
		return rerr
	case delivery.Held:
		if rerr != nil {
			return rerr // not recorded: the retry decides again soon
		}
		log.InfoContext(ctx, "message held", "channel", res.Channel, "reason", res.Decision.Hold,
			"until", res.NotBefore.UTC().Format(time.RFC3339))
		return &queue.HoldError{Until: res.NotBefore, Wait: res.NotBefore.Sub(res.At), Reason: string(res.Decision.Hold)}
	case delivery.Failed:
		log.WarnContext(ctx, "message failed", "channel", res.Channel, "class", res.Class, "err", delivery.SafeError(res.Err))
		err := fmt.Errorf("deliver %s on %s: %w", rec.ID, res.Channel, res.Err)
		if !channels.IsPermanent(err) {
			err = channels.Permanent(err)
		}
		return errors.Join(err, rerr)
	}
	return errors.Join(fmt.Errorf("deliver %s on %s: %w", rec.ID, res.Channel, res.Err), rerr)
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
		return markSending(r, now, &settled)
	})
	if errors.Is(err, errSettled) {
		return settled, errSettled
	}
	return rec, err
}

// beginChunk is begin for records read together (a batch chunk, all of
// them stored): one pipeline moves them all to sending.
func (d *Dispatcher) beginChunk(ctx context.Context, msgs []store.MessageRecord, now time.Time) ([]store.MessageRecord, []error) {
	settled := make([]store.MessageRecord, len(msgs))
	recs, errs := d.o.Store.UpdateMessagesFrom(ctx, msgs, d.o.RecordTTL, func(i int, r *store.MessageRecord) error {
		return markSending(r, now, &settled[i])
	})
	for i, err := range errs {
		if errors.Is(err, errSettled) {
			recs[i] = settled[i]
		}
	}
	return recs, errs
}

// markSending is begin's change of a stored record: settled ones are left as
// they are (errSettled, with *settled the record), the rest become sending.
func markSending(r *store.MessageRecord, now time.Time, settled *store.MessageRecord) error {
	if r.Status.Final() {
		*settled = *r
		return errSettled
	}
	if r.Status == store.StatusSending || outcomeUnknown(r.Attempts) {
		// The status sending is the mark every try sets before it decides
		// and calls the provider; finding it, an earlier try stopped
		// before recording its outcome (its worker died, or Redis went
		// away after the provider accepted). That try may have sent the
		// message, or a timed-out or cut-off try may have: this one goes
		// out again and its attempt says possible_duplicate.
		//
		// On every channel it is sent again rather than failed as
		// ambiguous. E-mail carries the same Message-ID, by which mail
		// systems drop the second copy. SMS and messengers have no such
		// key — Twilio's Messages API takes none and cannot be asked
		// for "our" message — but the mark is set before the decision,
		// so finding it does not mean the provider was called: most
		// interrupted tries died before or after the call, not during
		// it, and failing them would drop messages (an invoice, a
		// service reply) that were never sent, with no way for anyone
		// to find out which. A duplicate can happen only to the tries in
		// flight at a crash, it is decided again now (a STOP or a
		// withdrawal since stops it), and the record shows it.
		r.Unconfirmed = true
	}
	r.Status, r.UpdatedAt = store.StatusSending, now
	return nil
}

// outcomeUnknown reports whether the last attempt ended without knowing if
// the provider took the message: no answer within the send timeout, or the
// send was cut off (the only attempts recorded with an error but no class).
func outcomeUnknown(attempts []store.Attempt) bool {
	if len(attempts) == 0 {
		return false
	}
	a := attempts[len(attempts)-1]
	return a.Class == delivery.ClassTimeout || (a.Class == "" && a.Error != "")
}

// finish applies fn to the stored record and returns the Outcome it records.
func (d *Dispatcher) finish(ctx context.Context, cur store.MessageRecord, fn func(*store.MessageRecord)) (Outcome, error) {
	// Recording must not be cut short by a deadline that the send used up.
	ctx = context.WithoutCancel(ctx)
	now := d.o.Delivery.Now()
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

// GiveUp marks message id failed after its last retryable attempt failed
// with cause (already recorded as an attempt by Deliver).
func (d *Dispatcher) GiveUp(ctx context.Context, id string, cause error) error {
	now := d.o.Delivery.Now()
	_, err := d.o.Store.UpdateMessage(context.WithoutCancel(ctx), id, d.o.RecordTTL, func(r *store.MessageRecord) error {
		if r.Status.Final() {
			return store.ErrSkipUpdate
		}
		r.Status, r.ErrorClass, r.UpdatedAt = store.StatusFailed, delivery.ClassRetriesExhausted, now
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("give up on %s: %w", id, err)
	}
	d.o.Log.WarnContext(ctx, "message failed after the last retry", "message_id", id, "err", delivery.SafeError(cause))
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
