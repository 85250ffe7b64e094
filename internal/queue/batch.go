package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/message"
)

// TypeDeliverBatch is the task that delivers a chunk of a batch's messages
// (POST /v1/messages/batch): one task per chunk instead of one per message,
// since a billing run of a million invoices would otherwise cost a million
// enqueues and dequeues. Each message still gets the one delivery attempt
// and its own record.
const TypeDeliverBatch = "message:deliver_batch"

// BatchPayload is the payload of a TypeDeliverBatch task: message ids only,
// like DeliverPayload.
type BatchPayload struct {
	Class      message.Class `json:"c"` // of every message in it: their queue
	MessageIDs []string      `json:"ids"`
}

// batchTaskRetries bounds how often a chunk runs again after its worker
// died or Redis failed it. Messages it settled are skipped on a re-run, so
// this is about infrastructure, not about the messages' own retries.
const batchTaskRetries = 25

// NewBatchTask returns the task delivering ids (all of class c) in c's queue,
// so a batch of invoices has the priority of invoices. taskID makes a
// repeated enqueue of the same chunk a conflict instead of a second run.
func NewBatchTask(q Queues, taskID string, ids []string, c message.Class) (*asynq.Task, error) {
	if len(ids) == 0 {
		return nil, errors.New("new batch task: no message ids")
	}
	b, err := json.Marshal(BatchPayload{Class: c, MessageIDs: ids})
	if err != nil {
		return nil, fmt.Errorf("new batch task: %w", err)
	}
	return asynq.NewTask(TypeDeliverBatch, b, asynq.TaskID(taskID), asynq.Queue(q.Name(c)),
		asynq.MaxRetry(batchTaskRetries)), nil
}

// ChunkDeliverer makes one try of each message of a chunk with a retry
// budget the caller keeps (dispatch.Dispatcher.DeliverChunk).
type ChunkDeliverer interface {
	DeliverChunk(ctx context.Context, ids []string, last bool, parallel int, done func(id string, err error))
}

// Enqueuer is the part of *asynq.Client that hands a message on to its own task.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// BatchOptions configure NewBatchHandler.
type BatchOptions struct {
	Deliverer ChunkDeliverer
	Client    Enqueuer
	Queues    Queues
	// MaxRetry is a message's retry budget (HEROLD_MAX_RETRY), the same as
	// a single message's: the chunk's try is the first, a message that
	// needs more goes on as a TypeDeliver task with the retries left.
	MaxRetry int
	// RetryDelay is the worker's retry delay (ServerConfig's); nil: RetryDelay(nil).
	RetryDelay asynq.RetryDelayFunc
	// Parallel is how many messages of a chunk are tried at once (default 8):
	// a try waits mostly on the provider, so a chunk overlaps its waits
	// instead of taking one worker slot per message.
	Parallel int
	Log      *slog.Logger
}

// BatchHandler processes TypeDeliverBatch tasks.
type BatchHandler struct {
	o BatchOptions
}

// NewBatchHandler returns the handler for TypeDeliverBatch.
func NewBatchHandler(o BatchOptions) (*BatchHandler, error) {
	if o.Deliverer == nil || o.Client == nil {
		return nil, errors.New("batch handler: Deliverer and Client are required")
	}
	if o.RetryDelay == nil {
		o.RetryDelay = RetryDelay(nil)
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &BatchHandler{o: o}, nil
}

// ProcessTask tries every message of the chunk once. What happens next to
// each is what happens to a single message after its first try: settled
// (delivered, suppressed, failed for good) stays settled; held waits for
// its time and retryable waits for its retry delay, both in a TypeDeliver
// task of its own (task id = message id). The chunk fails (and runs again,
// skipping the settled ones) only when such a hand-on cannot be enqueued.
func (h *BatchHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p BatchPayload
	err := json.Unmarshal(t.Payload(), &p)
	if err == nil && len(p.MessageIDs) == 0 {
		err = errors.New("no message ids")
	}
	if err == nil {
		_, err = message.ParseClass(string(p.Class))
	}
	if err != nil {
		return fmt.Errorf("decode %s: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	last := h.o.MaxRetry <= 0
	var (
		mu   sync.Mutex
		errs []error
	)
	h.o.Deliverer.DeliverChunk(ctx, p.MessageIDs, last, h.o.Parallel, func(id string, err error) {
		if ctx.Err() != nil {
			return // shutting down: the chunk runs again and skips what is settled
		}
		if err := h.next(ctx, p.Class, id, err); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("batch chunk interrupted: %w", err)
	}
	return errors.Join(errs...)
}

// next hands message id on after its try ended with err; it returns an error
// only when the hand-on failed.
func (h *BatchHandler) next(ctx context.Context, c message.Class, id string, err error) error {
	if err == nil || channels.IsPermanent(err) {
		return nil
	}
	task, terr := NewDeliverTask(h.o.Queues, id, c, h.o.MaxRetry-1)
	if terr != nil {
		return terr
	}
	var wait time.Duration
	if hold := (*HoldError)(nil); errors.As(err, &hold) {
		wait = holdDelay(hold)
		// A held message has not used a try: it keeps its whole budget.
		task, terr = NewDeliverTask(h.o.Queues, id, c, h.o.MaxRetry)
		if terr != nil {
			return terr
		}
	} else {
		wait = h.o.RetryDelay(0, err, task)
	}
	if _, err := h.o.Client.EnqueueContext(context.WithoutCancel(ctx), task, asynq.ProcessIn(wait)); err != nil &&
		!errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("hand on message %s: %w", id, err)
	}
	return nil
}
