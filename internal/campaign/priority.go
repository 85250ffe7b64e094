package campaign

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

// maxHold bounds how long a campaign sender waits for transactional work:
// priority, not starvation.
const maxHold = 100 * time.Millisecond

// Priority lets transactional messages handled in the same process go first.
// Its middleware, on the message worker's mux, counts the tasks of the given
// queues while they run; while any runs, campaign senders wait (at most
// maxHold) before they start their next message, so an invoice does not queue
// for the CPU behind a campaign's renders and sends. Across processes the
// separate campaign queue and its few workers are what reserve capacity.
type Priority struct {
	queues []string
	active atomic.Int64
}

// NewPriority returns a Priority for tasks of the named queues.
func NewPriority(queues ...string) *Priority {
	return &Priority{queues: queues}
}

// Middleware counts the running tasks of the priority queues.
func (p *Priority) Middleware(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		if q, ok := asynq.GetQueueName(ctx); ok && slices.Contains(p.queues, q) {
			p.active.Add(1)
			defer p.active.Add(-1)
		}
		return next.ProcessTask(ctx, t)
	})
}

// Busy reports whether a priority task is running.
func (p *Priority) Busy() bool { return p != nil && p.active.Load() > 0 }

// wait holds a campaign sender while priority work runs, at most maxHold.
func (p *Priority) wait(ctx context.Context) {
	if !p.Busy() {
		return
	}
	deadline := time.Now().Add(maxHold)
	for p.Busy() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(500 * time.Microsecond)
	}
}
