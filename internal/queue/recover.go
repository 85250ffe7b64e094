package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Crash recovery.
//
// A worker holds a 30-second lease on every task it runs and extends it
// every 5 seconds (asynq's heartbeat). When the worker dies — SIGKILL, an
// out-of-memory kill, a lost machine — its tasks stay "active" until the
// lease runs out. asynq's own recoverer then hands them back, but it looks
// only once a minute and only at leases that ran out 30 seconds before (for
// clock skew), and it adds the retry delay: 95-105 s from the kill in
// Herold's measurements. An invoice should not wait that long.
//
// The Recoverer closes the gap: every HEROLD_WORKER_RECOVER_EVERY it moves
// the tasks whose lease ran out RecoverMargin ago back to the front of their
// queue, as asynq does with the tasks of a worker that shuts down gracefully
// (rdb.Requeue: active → pending, state pending, the retry count untouched,
// since the task did not fail). A task the Recoverer has handed back
// maxRecoveries times (it may be what kills its workers) is left to asynq's
// recoverer, which counts each lease expiry as a failed try, so such a task
// ends archived after HEROLD_MAX_RETRY tries instead of circling for ever.
//
// A task is therefore running again at most the lease (30 s, minus the up
// to 5 s since its last extension), the margin and one interval after its
// worker died. The keys are asynq's own (internal/base of asynq
// v0.26: asynq:{<queue>}:lease, :active, :pending, :t:<id>), all in the
// queue's hash tag, so the script runs on Redis Cluster too.

// leaseDuration is asynq's task lease (rdb.LeaseDuration), which its
// heartbeat extends every 5 seconds.
const leaseDuration = 30 * time.Second

// RecoverMargin is how long after its lease ran out a task counts as
// orphaned: leases are stamped with the worker's clock and checked with the
// recovering process's, so this is the clock skew tolerated. A live worker's
// lease always lies at least 25 s ahead of its own clock, so a task is taken
// from a live worker only if the clocks differ by more than 30 s.
const RecoverMargin = 5 * time.Second

// maxRecoveries is how often the Recoverer hands the same task back before
// leaving it to asynq's slower, counting recoverer.
const maxRecoveries = 3

// recoverScript moves orphaned tasks of one queue back to pending.
// KEYS: lease, active, pending. ARGV: cutoff (unix seconds), task key
// prefix, batch limit, maxRecoveries. Returns the task ids moved.
var recoverScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local moved = {}
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  local times = tonumber(redis.call('HGET', key, 'herold_recovered') or '0')
  if times < tonumber(ARGV[4]) and redis.call('LREM', KEYS[2], 0, id) > 0 then
    redis.call('ZREM', KEYS[1], id)
    redis.call('RPUSH', KEYS[3], id)
    redis.call('HSET', key, 'state', 'pending', 'herold_recovered', times + 1)
    moved[#moved + 1] = id
  end
end
return moved
`)

// Recoverer hands the tasks of dead workers back to their queues (see
// above). Every worker process runs one; they do not get in each other's
// way, since the script moves each task once.
type Recoverer struct {
	rdb    redis.UniversalClient
	queues []string
	every  time.Duration
	log    *slog.Logger
	now    func() time.Time
}

// NewRecoverer returns a Recoverer of queues that looks every `every`.
func NewRecoverer(rdb redis.UniversalClient, queues []string, every time.Duration, log *slog.Logger) *Recoverer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recoverer{rdb: rdb, queues: queues, every: every, log: log, now: time.Now}
}

// Run recovers every interval until ctx is done.
func (r *Recoverer) Run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		if _, err := r.Recover(ctx); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "recovering tasks of stopped workers", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Recover hands back what is orphaned now and returns how many tasks it moved.
func (r *Recoverer) Recover(ctx context.Context) (int, error) {
	cutoff := r.now().Add(-RecoverMargin).Unix()
	var errs []error
	n := 0
	for _, q := range r.queues {
		keys := []string{prefix(q) + "lease", prefix(q) + "active", prefix(q) + "pending"}
		ids, err := recoverScript.Run(ctx, r.rdb, keys, cutoff, prefix(q)+"t:", 1000, maxRecoveries).StringSlice()
		if err != nil && !errors.Is(err, redis.Nil) {
			errs = append(errs, fmt.Errorf("queue %s: %w", q, err))
			continue
		}
		for _, id := range ids {
			r.log.WarnContext(ctx, "task of a stopped worker handed back to its queue", "queue", q, "task_id", id)
		}
		n += len(ids)
	}
	return n, errors.Join(errs...)
}

// leaseExpired reports whether err is asynq's verdict on a task whose worker
// stopped extending its lease: the task did not fail, its worker did, so it
// runs again at once.
func leaseExpired(err error) bool { return errors.Is(err, asynq.ErrLeaseExpired) }

// LeaseExpiredNow wraps a RetryDelayFunc so that a task whose lease expired
// (its worker died or lost Redis) is retried at once, not after the
// back-off meant for failures.
func LeaseExpiredNow(f asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	return func(n int, err error, t *asynq.Task) time.Duration {
		if leaseExpired(err) {
			return 0
		}
		return f(n, err, t)
	}
}
