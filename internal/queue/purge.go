package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/message"
)

// Purge removes the class queues of q and the extra queues named (a
// campaign queue) with every task in them and asynq's statistics keys of
// those queues (asynq:{<queue>}:processed:<date> and the like, which
// DeleteQueue leaves behind). It is for throw-away queues of tests and load
// runs; never point it at live queues.
func Purge(ctx context.Context, rdb redis.UniversalClient, q Queues, extra ...string) error {
	insp := asynq.NewInspectorFromRedisClient(rdb) // shares rdb: not closed
	var errs []error
	names := extra
	for _, c := range message.Classes() {
		names = append(names, q.Name(c))
	}
	for _, name := range names {
		if err := insp.DeleteQueue(name, true); err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			errs = append(errs, fmt.Errorf("purge queue %s: %w", name, err))
		}
		// The statistics keys by name (asynq internal/base): a SCAN would
		// walk the whole keyspace.
		keys := []string{prefix(name) + "processed", prefix(name) + "failed"}
		now := time.Now().UTC()
		for _, day := range []time.Time{now.AddDate(0, 0, -1), now} {
			d := day.Format(time.DateOnly)
			keys = append(keys, prefix(name)+"processed:"+d, prefix(name)+"failed:"+d)
		}
		if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
			errs = append(errs, fmt.Errorf("purge queue %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// prefix is asynq's key prefix of queue name; its hash tag keeps one queue's
// keys in one cluster slot, so the UNLINK above is one command on a cluster too.
func prefix(name string) string { return "asynq:{" + name + "}:" }
