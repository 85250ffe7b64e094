package pages

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// PruneTaskType is the asynq task that deletes expired unconfirmed sign-ups.
// The scheduler enqueues it every HEROLD_PAGES_PRUNE_EVERY.
const PruneTaskType = "pages:prune_unconfirmed"

// NewPruneTask returns the periodic prune task for queue (the service
// queue: housekeeping must not wait behind a campaign, nor delay an invoice).
// It is unique for a minute, so several schedulers enqueue it once.
func NewPruneTask(queue string) *asynq.Task {
	return asynq.NewTask(PruneTaskType, nil, asynq.Queue(queue), asynq.Unique(time.Minute), asynq.MaxRetry(3))
}

// PruneSchedule is the cron spec for the scheduler, e.g. "@every 15m".
func (p *Pages) PruneSchedule() string { return "@every " + p.cfg.PruneEvery.String() }

// ProcessTask runs the prune task; it makes Pages an asynq.Handler for
// PruneTaskType.
func (p *Pages) ProcessTask(ctx context.Context, _ *asynq.Task) error {
	_, err := p.PruneUnconfirmed(ctx)
	return err
}

// PruneUnconfirmed deletes every prospect whose ledger holds nothing but
// doi_request events, the newest older than HEROLD_PAGES_UNCONFIRMED_RETENTION
// (privacy notice: "Sofern Sie Ihre Anmeldung nicht bestätigen, wird Ihre
// Anmeldung automatisch gelöscht"). Customers and anyone with any other
// event (a confirmation, a consent, a withdrawal) are never deleted; they
// only leave the pending set. It logs the number deleted, never who.
func (p *Pages) PruneUnconfirmed(ctx context.Context) (int, error) {
	cutoff := p.now().Add(-p.cfg.Unconfirmed)
	ids, err := p.rdb.ZRangeByScore(ctx, p.key("pending"), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(cutoff.UnixMilli(), 10),
	}).Result()
	if err != nil {
		return 0, fmt.Errorf("prune: list pending sign-ups: %w", err)
	}
	deleted, kept := 0, 0
	var errs []error
	for _, raw := range ids {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		id := message.RecipientID(raw)
		gone, err := p.pruneOne(ctx, id, cutoff)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if gone {
			deleted++
		} else {
			kept++
		}
	}
	p.log.InfoContext(ctx, "pages: pruned unconfirmed sign-ups", "deleted", deleted, "kept", kept,
		"retention", p.cfg.Unconfirmed.String(), "errors", len(errs))
	return deleted, errors.Join(errs...)
}

// pruneOne deletes id if it is still an expired unconfirmed sign-up, under
// the same lock a sign-up of its address takes, and drops it from the set.
func (p *Pages) pruneOne(ctx context.Context, id message.RecipientID, cutoff time.Time) (bool, error) {
	rec, err := p.store.GetRecipient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, p.unpend(ctx, id)
	}
	if err != nil {
		return false, fmt.Errorf("prune %s: %w", id, err)
	}
	if addr := rec.Address(message.Email); addr != "" {
		unlock, err := p.lock(ctx, p.addressKey(addr))
		if err != nil {
			return false, fmt.Errorf("prune %s: %w", id, err)
		}
		defer unlock()
	}
	rec, err = p.store.GetRecipient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, p.unpend(ctx, id)
	}
	if err != nil {
		return false, fmt.Errorf("prune %s: %w", id, err)
	}
	events, err := p.store.Ledger(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("prune %s: %w", id, err)
	}
	if !unconfirmedOnly(rec, events, cutoff) {
		if newest := newestAt(events); rec.Kind == policy.Prospect && onlyDOIRequests(events) && newest.After(cutoff) {
			// Signed up again meanwhile: keep it pending with the new time.
			return false, p.rdb.ZAdd(ctx, p.key("pending"), redis.Z{Score: float64(newest.UnixMilli()), Member: string(id)}).Err()
		}
		return false, p.unpend(ctx, id)
	}
	if err := p.store.DeleteSignup(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("prune %s: delete: %w", id, err)
	}
	return true, p.unpend(ctx, id)
}

func (p *Pages) unpend(ctx context.Context, id message.RecipientID) error {
	if err := p.rdb.ZRem(ctx, p.key("pending"), string(id)).Err(); err != nil {
		return fmt.Errorf("prune %s: unmark: %w", id, err)
	}
	return nil
}

// unconfirmedOnly reports whether rec is a prospect whose ledger is one or
// more doi_request events, all at or before cutoff.
func unconfirmedOnly(rec recipient.Recipient, events []consent.Event, cutoff time.Time) bool {
	if rec.Kind != policy.Prospect || rec.Contract != nil || rec.OpenRequest || len(events) == 0 {
		return false
	}
	return onlyDOIRequests(events) && !newestAt(events).After(cutoff)
}

func onlyDOIRequests(events []consent.Event) bool {
	for _, e := range events {
		if e.Kind != consent.DOIRequest {
			return false
		}
	}
	return len(events) > 0
}

func newestAt(events []consent.Event) time.Time {
	var t time.Time
	for _, e := range events {
		if e.At.After(t) {
			t = e.At
		}
	}
	return t
}
