package queue

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/redistest"
)

// TestRecovererHandsBackOrphanedTasks: a task whose lease ran out goes back
// to the front of its queue, once, and another worker runs it; a task the
// Recoverer handed back maxRecoveries times is left to asynq. The clock of
// the Recoverer runs a minute ahead, which is what a dead worker's lease
// looks like 30 s after its death, without waiting for it.
func TestRecovererHandsBackOrphanedTasks(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	rdbDead, _ := redistest.Client(t) // the connection of the worker that "dies"
	q := redistest.Queue(t, "recover")
	t.Cleanup(func() { _ = Purge(context.Background(), rdb, Queues{Suffix: "-none"}, q) })
	log := slog.New(slog.DiscardHandler)

	started := make(chan string, 1)
	dead := asynq.NewServerFromRedisClient(rdbDead, asynq.Config{Queues: map[string]int{q: 1}, Concurrency: 1,
		TaskCheckInterval: 10 * time.Millisecond, ShutdownTimeout: time.Second, Logger: NewLogger(log), LogLevel: asynq.FatalLevel})
	deadMux := asynq.NewServeMux()
	deadMux.HandleFunc("t", func(ctx context.Context, t *asynq.Task) error {
		started <- "dead"
		<-ctx.Done()
		return ctx.Err()
	})
	if err := dead.Start(deadMux); err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.TaskID("task-1")); err != nil {
		t.Fatal(err)
	}
	if who := <-started; who != "dead" {
		t.Fatal(who)
	}
	// The first worker stops taking tasks (it is "dead"); its task stays active.
	dead.Stop()

	r := NewRecoverer(rdb, []string{q}, time.Second, log)
	if n, err := r.Recover(t.Context()); err != nil || n != 0 {
		t.Fatalf("recovered %d (%v) while the lease runs, want 0", n, err)
	}
	r.now = func() time.Time { return time.Now().Add(leaseDuration + RecoverMargin + time.Second) }
	if n, err := r.Recover(t.Context()); err != nil || n != 1 {
		t.Fatalf("recovered %d (%v) after the lease ran out, want 1", n, err)
	}
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(q, "task-1")
	if err != nil || info.State != asynq.TaskStatePending || info.Retried != 0 {
		t.Fatalf("task after recovery: %+v %v, want pending without a counted retry", info, err)
	}
	if n, _ := r.Recover(t.Context()); n != 0 {
		t.Errorf("recovered the same task again: %d", n)
	}

	ran := make(chan struct{})
	alive := asynq.NewServerFromRedisClient(rdb, asynq.Config{Queues: map[string]int{q: 1}, Concurrency: 1,
		TaskCheckInterval: 10 * time.Millisecond, Logger: NewLogger(log), LogLevel: asynq.FatalLevel})
	aliveMux := asynq.NewServeMux()
	aliveMux.HandleFunc("t", func(context.Context, *asynq.Task) error { close(ran); return nil })
	if err := alive.Start(aliveMux); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("no worker ran the recovered task")
	}
	alive.Shutdown()
	dead.Shutdown()

	// A task handed back maxRecoveries times is asynq's to count and archive.
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.TaskID("task-2")); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(t.Context(), prefix(q)+"t:task-2", "herold_recovered", maxRecoveries).Err(); err != nil {
		t.Fatal(err)
	}
	// Make it active with a lease that ran out, as a dequeue by a worker that then died leaves it.
	if err := rdb.LMove(t.Context(), prefix(q)+"pending", prefix(q)+"active", "RIGHT", "LEFT").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(t.Context(), prefix(q)+"lease", redisZ(time.Now().Add(-time.Minute), "task-2")).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Recover(t.Context()); err != nil || n != 0 {
		t.Errorf("recovered a task handed back %d times already: %d %v", maxRecoveries, n, err)
	}
}

func TestLeaseExpiryIsRetriedAtOnce(t *testing.T) {
	t.Parallel()
	slow := func(int, error, *asynq.Task) time.Duration { return time.Hour }
	for name, f := range map[string]asynq.RetryDelayFunc{"message worker": RetryDelay(slow), "campaign worker": LeaseExpiredNow(slow)} {
		if d := f(3, asynq.ErrLeaseExpired, nil); d != 0 {
			t.Errorf("%s: delay after a lease expiry %s, want 0", name, d)
		}
		if d := f(3, context.DeadlineExceeded, nil); d != time.Hour {
			t.Errorf("%s: delay after a failure %s, want the back-off", name, d)
		}
	}
}

func redisZ(at time.Time, member string) redis.Z {
	return redis.Z{Score: float64(at.Unix()), Member: member}
}
