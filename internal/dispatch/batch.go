package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/redisconn"
	"github.com/heroldhq/herold/internal/store"
)

// MaxBatch is the most messages one SubmitBatch takes: a billing run of a
// million invoices is a thousand calls, and one call's body (about 0.5 KB a
// message) stays well inside a request a proxy lets through.
const MaxBatch = 1000

// batchChunk is how many messages one delivery task of a batch carries. It
// is small enough that a chunk's tries end within seconds, so an invoice of
// a batch waits little behind its chunk-mates, and large enough that a
// batch of 1,000 is 20 tasks, not 1,000.
const batchChunk = 50

// batchAccepting is how many of a batch's messages are accepted at once:
// each costs a few Redis round trips, which overlap.
const batchAccepting = 16

// BatchItem is the answer for one message of a batch: accepted, or Err
// saying why not (the same errors Submit returns for it).
type BatchItem struct {
	Accepted
	Err error
}

// SubmitBatch accepts up to MaxBatch messages for key in one call. The whole
// batch is validated first: if any message has a bad field, nothing is
// accepted and the error names every field as messages[i].field. Then each
// message is accepted as Submit would (scopes, idempotency per message,
// recipient) and may fail on its own (its BatchItem.Err); the others go on.
// Messages due now are delivered in chunks through the same attempt as every
// message, with a record each; messages with a send_at wait in their own
// task. Items are answered in the order given.
func (s *Service) SubmitBatch(ctx context.Context, key *apikey.Key, subs []Submission) ([]BatchItem, error) {
	now := s.o.Now().UTC()
	checked, err := s.validateBatch(key, subs, nil, now)
	if err != nil {
		return nil, err
	}
	for i := range subs {
		subs[i].Key = key
	}
	items := make([]BatchItem, len(subs))
	var (
		mu      sync.Mutex
		waiting = map[message.Class][]int{} // item indexes to enqueue in chunks, by class
		pend    = make([]pending, len(subs))
		wg      sync.WaitGroup
		sem     = make(chan struct{}, batchAccepting)
	)
	for i := range subs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			acc, err := s.acceptChecked(ctx, subs[i], checked[i], now, func(p pending) {
				mu.Lock()
				pend[i] = p
				waiting[p.rec.Class] = append(waiting[p.rec.Class], i)
				mu.Unlock()
			})
			items[i] = BatchItem{Accepted: acc, Err: err}
		})
	}
	wg.Wait()

	var queued []int
	var queues []string
	for _, c := range message.Classes() {
		idx := waiting[c]
		for start := 0; start < len(idx); start += batchChunk {
			chunk := idx[start:min(start+batchChunk, len(idx))]
			if err := s.enqueueChunk(ctx, c, chunk, pend); err != nil {
				for _, i := range chunk {
					pend[i].undo(context.WithoutCancel(ctx))
					items[i] = BatchItem{Err: fmt.Errorf("submit: %w", err)}
				}
				continue
			}
			queued = append(queued, chunk...)
		}
		if len(idx) > 0 {
			queues = append(queues, redisconn.AsynqQueueKey(s.o.Queues.Name(c)))
		}
	}
	// With HEROLD_REDIS_MIN_REPLICAS_ACK, one barrier confirms the whole
	// batch's writes; unconfirmed, each message is answered as Submit would
	// (queued, but the producer retries with its key).
	recs, keys := make([]*store.MessageRecord, len(queued)), make([]string, len(queued))
	for j, i := range queued {
		recs[j], keys[j] = pend[i].rec, pend[i].idempotencyKey
	}
	if err := s.o.Store.SyncMessages(ctx, recs, keys, queues...); err != nil {
		for _, i := range queued {
			items[i] = BatchItem{Err: fmt.Errorf("submit: %w", err)}
		}
	} else {
		for _, i := range queued {
			s.accepted(ctx, pend[i].rec, slog.LevelDebug)
		}
	}
	accepted := 0
	for _, it := range items {
		if it.Err == nil {
			accepted++
		}
	}
	s.o.Log.InfoContext(ctx, "batch accepted", "messages", len(subs), "accepted", accepted,
		"refused", len(subs)-accepted, "api_key", keyName(key))
	return items, nil
}

// ValidateBatch checks every message of a batch for key without I/O, as
// SubmitBatch does first, and names each bad field as messages[i].field;
// messages for which skip (may be nil) says true are not looked at (the
// caller found them malformed already).
func (s *Service) ValidateBatch(key *apikey.Key, subs []Submission, skip func(i int) bool) error {
	_, err := s.validateBatch(key, subs, skip, s.o.Now().UTC())
	return err
}

// checked is one message of a batch as validation left it: good (v), or
// refused for a reason of its own that is not a field (err: a scope).
type checked struct {
	v   valid
	err error
}

// acceptChecked accepts one message of a validated batch.
func (s *Service) acceptChecked(ctx context.Context, sub Submission, c checked, now time.Time, later func(pending)) (Accepted, error) {
	if c.err != nil {
		return Accepted{}, c.err
	}
	return s.accept(ctx, sub, c.v, now, later)
}

// validateBatch is ValidateBatch that keeps what validation found of each message.
func (s *Service) validateBatch(key *apikey.Key, subs []Submission, skip func(i int) bool, now time.Time) ([]checked, error) {
	var bad invalid.List
	switch {
	case len(subs) == 0:
		bad.Add("messages", "empty: give 1 to %d messages", MaxBatch)
	case len(subs) > MaxBatch:
		bad.Add("messages", "%d messages: at most %d per batch", len(subs), MaxBatch)
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	out := make([]checked, len(subs))
	firstUse := map[string]int{}
	for i, sub := range subs {
		prefix := fmt.Sprintf("messages[%d].", i)
		if k := sub.IdempotencyKey; k != "" {
			if j, seen := firstUse[k]; seen {
				bad.Add(prefix+"idempotency_key", "also used by messages[%d]: each message of a batch needs its own key", j)
			} else {
				firstUse[k] = i
			}
		}
		if skip != nil && skip(i) {
			continue
		}
		sub.Key = key
		v, err := s.validated(sub, now)
		if ve, ok := invalid.As(err); ok {
			bad.Merge(ve.WithPrefix(prefix))
		}
		out[i] = checked{v: v, err: err}
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// enqueueChunk enqueues one delivery task for the messages pend[i], i in chunk.
func (s *Service) enqueueChunk(ctx context.Context, c message.Class, chunk []int, pend []pending) error {
	ids := make([]string, len(chunk))
	for j, i := range chunk {
		ids[j] = pend[i].rec.ID
	}
	// The first message id is fresh, so the chunk's task id is too.
	task, err := queue.NewBatchTask(s.o.Queues, "batch_"+ids[0], ids, c)
	if err != nil {
		return err
	}
	if _, err := s.o.Client.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue batch chunk of %d: %w", len(ids), err)
	}
	return nil
}
