package redisconn_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/redisconn"
	"github.com/heroldhq/herold/internal/redistest"
)

// asynq shares the client: enqueue, inspect and process through it.
func checkAsynq(t *testing.T, url string) {
	rdb, _ := redistest.ClientFor(t, url)
	ctx := t.Context()
	q := redistest.Queue(t, "redisconn")
	client := asynq.NewClientFromRedisClient(rdb) // shares rdb: not closed
	insp := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() {
		if err := insp.DeleteQueue(q, true); err != nil {
			t.Logf("delete queue %s: %v", q, err)
		}
	})
	if _, err := client.EnqueueContext(ctx, asynq.NewTask("ping", []byte("1")), asynq.Queue(q), asynq.TaskID("t-1")); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	if _, err := client.EnqueueContext(ctx, asynq.NewTask("ping", []byte("1")), asynq.Queue(q), asynq.TaskID("t-1")); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Errorf("second enqueue with the same id: %v, want ErrTaskIDConflict", err)
	}
	info, err := insp.GetQueueInfo(q)
	if err != nil || info.Pending != 1 {
		t.Fatalf("GetQueueInfo = %+v, %v; want 1 pending", info, err)
	}
	if tasks, err := insp.ListPendingTasks(q); err != nil || len(tasks) != 1 || tasks[0].ID != "t-1" {
		t.Fatalf("ListPendingTasks = %v, %v", tasks, err)
	}
	if qs, err := insp.Queues(); err != nil || !slices.Contains(qs, q) {
		t.Errorf("Queues = %v, %v; want %s among them", qs, err, q)
	}

	done := make(chan string, 1)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 1, Queues: map[string]int{q: 1}, TaskCheckInterval: 10 * time.Millisecond,
		Logger: discardLogger{}, LogLevel: asynq.FatalLevel,
	})
	err = srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		done <- id
		return nil
	}))
	if err != nil {
		t.Fatalf("server start: %v", err)
	}
	defer srv.Shutdown()
	select {
	case id := <-done:
		if id != "t-1" {
			t.Errorf("processed %q, want t-1", id)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not process the task")
	}
	if servers, err := insp.Servers(); err != nil || len(servers) == 0 {
		t.Errorf("Servers = %v, %v; want the running server", servers, err)
	}
}

type discardLogger struct{}

func (discardLogger) Debug(...any) {}
func (discardLogger) Info(...any)  {}
func (discardLogger) Warn(...any)  {}
func (discardLogger) Error(...any) {}
func (discardLogger) Fatal(...any) {}

func TestOnCluster(t *testing.T) {
	t.Parallel()
	tp := redistest.StartCluster(t)
	runChecks(t, tp.URL)

	t.Run("Open", func(t *testing.T) {
		t.Parallel()
		rdb, err := redisconn.Open(t.Context(), load(t, map[string]string{"HEROLD_REDIS_URL": tp.URL}), 1)
		if err != nil {
			t.Fatal(err)
		}
		defer rdb.Close()
		if _, ok := rdb.(*redis.ClusterClient); !ok {
			t.Fatalf("Open built a %T", rdb)
		}
		var mu sync.Mutex
		var primaries []string
		err = redisconn.ForEachPrimary(t.Context(), rdb, func(ctx context.Context, node *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			primaries = append(primaries, node.Options().Addr)
			return nil
		})
		if err != nil || len(primaries) != 3 {
			t.Errorf("ForEachPrimary visited %v (%v), want the 3 primaries", primaries, err)
		}
	})

	t.Run("SlotMatchesRedis", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := redistest.ClientFor(t, tp.URL)
		cc := rdb.(*redis.ClusterClient)
		for i := range 50 {
			for _, key := range []string{fmt.Sprintf("%sr:{r:%d}:p", prefix, i), fmt.Sprintf("%sk%d", prefix, i)} {
				want, err := cc.ClusterKeySlot(t.Context(), key).Result()
				if err != nil {
					t.Fatal(err)
				}
				if got := redisconn.Slot(key); got != int(want) {
					t.Errorf("Slot(%q) = %d, Redis says %d", key, got, want)
				}
			}
		}
	})

	// Sync over keys on all three primaries waits on each and leaves one
	// small key per primary, not one per key.
	t.Run("SyncEveryPrimary", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := redistest.ClientFor(t, tp.URL)
		ctx := t.Context()
		var keys []string
		for i := range 40 {
			k := fmt.Sprintf("%sm:{m:%d}", prefix, i)
			if err := rdb.Set(ctx, k, "v", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
		d := redisconn.NewDurability(config.Redis{MinReplicasAck: 1, AckTimeout: time.Second, KeyPrefix: prefix})
		if err := d.Sync(ctx, rdb, keys...); err != nil {
			t.Fatal(err)
		}
		if ack := redistest.Keys(t, rdb, prefix+"ack:*"); len(ack) != 3 {
			t.Errorf("Sync left %d keys (%v), want one per primary", len(ack), ack)
		}
		d = redisconn.NewDurability(config.Redis{MinReplicasAck: 2, AckTimeout: 50 * time.Millisecond, KeyPrefix: prefix})
		err := d.Sync(ctx, rdb, keys...)
		var na *redisconn.NotAckedError
		if !errors.As(err, &na) || na.Got != 1 {
			t.Errorf("Sync for 2 replicas of 1 = %v, want NotAckedError with Got 1", err)
		}
	})
}

func TestOnSentinel(t *testing.T) {
	t.Parallel()
	tp := redistest.StartSentinel(t, 1)
	runChecks(t, tp.URL)

	t.Run("UnknownMaster", func(t *testing.T) {
		t.Parallel()
		url := strings.Replace(tp.URL, "/herold/", "/nosuchmaster/", 1)
		_, err := redisconn.Open(t.Context(), load(t, map[string]string{"HEROLD_REDIS_URL": url}), 1)
		if err == nil || !strings.Contains(err.Error(), `knows no master "nosuchmaster"`) {
			t.Errorf("Open = %v, want an error saying the sentinels know no such master", err)
		}
	})
}

// An acknowledged write survives SIGKILL of the primary: writes acked by one
// replica keep coming while the primary dies and the sentinels promote one of
// its two replicas; once the other replica follows the new primary, writes
// are acked again, the client having found the new primary by itself; every
// acked write is on the new primary.
func TestSentinelFailoverKeepsAckedWrites(t *testing.T) {
	t.Parallel()
	tp := redistest.StartSentinel(t, 2)
	rdb, prefix := redistest.ClientFor(t, tp.URL)
	d := redisconn.NewDurability(config.Redis{MinReplicasAck: 1, AckTimeout: 500 * time.Millisecond, KeyPrefix: prefix})
	key := prefix + "acked"
	ctx := t.Context()
	oldPrimary, err := tp.PrimaryPort(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var acked []string
	var failed int
	var firstFail, lastFail time.Time
	var longest time.Duration // go-redis retries while the sentinels fail over
	write := func(i int) error {
		start := time.Now()
		defer func() { longest = max(longest, time.Since(start)) }()
		_, err := d.Pipelined(ctx, rdb, key, func(p redis.Pipeliner) error {
			p.RPush(ctx, key, strconv.Itoa(i))
			return nil
		})
		if err != nil {
			failed++
			if firstFail.IsZero() {
				firstFail = time.Now()
			}
			lastFail = time.Now()
			if !redisconn.Unavailable(err) {
				t.Errorf("write %d failed with %v, which Unavailable does not recognise (the API would answer 500)", i, err)
			}
			return err
		}
		acked = append(acked, strconv.Itoa(i))
		return nil
	}
	i := 0
	for ; i < 100; i++ {
		if err := write(i); err != nil {
			t.Fatalf("write %d before the failover: %v", i, err)
		}
	}
	tp.Kill(t, oldPrimary)
	// Keep writing until the sentinels have promoted a replica and 100
	// writes more are acknowledged.
	deadline := time.Now().Add(30 * time.Second)
	for n := len(acked); len(acked) < n+100; i++ {
		if err := write(i); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("writes still fail 30s after the primary died: %v", err)
			}
			time.Sleep(10 * time.Millisecond) // pace the retries, not a proof of anything
		}
	}
	if p, err := tp.PrimaryPort(ctx); err != nil || p == oldPrimary {
		t.Fatalf("writes are acknowledged, but the sentinels name primary %d (%v), the dead one", p, err)
	}

	got, err := rdb.LRange(ctx, key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var lost []string
	for _, a := range acked {
		if !slices.Contains(got, a) {
			lost = append(lost, a)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d acknowledged writes lost in the failover: %v", len(lost), lost)
	}
	t.Logf("SIGKILL of the primary on port %d: acked %d, not acknowledged %d, writes failed for %.1fs, longest write %s",
		oldPrimary, len(acked), failed, lastFail.Sub(firstFail).Seconds(), longest.Round(time.Millisecond))
}

// BenchmarkDurability measures what WAIT costs on the Sentinel topology (a
// primary and one replica on loopback): a message-record-like write (HSET of
// 6 fields and PEXPIRE in one pipeline) alone, with WAIT 1 in the same
// pipeline, and followed by Sync (a second round trip, as after an asynq
// enqueue). Serial and with 8 goroutines.
func BenchmarkDurability(b *testing.B) {
	tp := redistest.StartSentinel(b, 1)
	rdb, prefix := redistest.ClientFor(b, tp.URL)
	d := redisconn.NewDurability(config.Redis{MinReplicasAck: 1, AckTimeout: time.Second, KeyPrefix: prefix})
	ctx := context.Background()
	write := func(key string) func(redis.Pipeliner) error {
		return func(p redis.Pipeliner) error {
			p.HSet(ctx, key, "status", "queued", "type", "invoice", "recipient", "c-1001", "channel", "email", "rev", "1", "at", "2026-12-01T09:00:00Z")
			p.PExpire(ctx, key, time.Hour)
			return nil
		}
	}
	modes := []struct {
		name string
		do   func(key string) error
	}{
		{"write", func(key string) error { _, err := rdb.Pipelined(ctx, write(key)); return err }},
		{"write+WAIT", func(key string) error { _, err := d.Pipelined(ctx, rdb, key, write(key)); return err }},
		{"write,Sync", func(key string) error {
			if _, err := rdb.Pipelined(ctx, write(key)); err != nil {
				return err
			}
			return d.Sync(ctx, rdb, key)
		}},
	}
	for _, m := range modes {
		b.Run(m.name+"/serial", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if err := m.do(prefix + "m:{" + strconv.Itoa(i%1000) + "}"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(m.name+"/8-goroutines", func(b *testing.B) {
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1))
					if err := m.do(prefix + "m:{" + strconv.Itoa(i%1000) + "}"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// The same on a cluster: SIGKILL of the primary serving the key's slot; its
// replica takes over, and once the old primary is back (as the new one's
// replica) writes are acknowledged again, Durability having found the new
// primary through a reloaded slot map; every acked write survived.
func TestClusterFailoverKeepsAckedWrites(t *testing.T) {
	t.Parallel()
	tp := redistest.StartCluster(t)
	rdb, prefix := redistest.ClientFor(t, tp.URL)
	d := redisconn.NewDurability(config.Redis{MinReplicasAck: 1, AckTimeout: 500 * time.Millisecond, KeyPrefix: prefix})
	ctx := t.Context()
	key := prefix + "{acked}"
	node, err := rdb.(*redis.ClusterClient).MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	_, portStr, _ := strings.Cut(node.Options().Addr, ":")
	oldPrimary, _ := strconv.Atoi(portStr)

	var acked []string
	write := func(i int) error {
		_, err := d.Pipelined(ctx, rdb, key, func(p redis.Pipeliner) error {
			p.RPush(ctx, key, strconv.Itoa(i))
			return nil
		})
		if err == nil {
			acked = append(acked, strconv.Itoa(i))
		}
		return err
	}
	i := 0
	for ; i < 100; i++ {
		if err := write(i); err != nil {
			t.Fatalf("write %d before the failover: %v", i, err)
		}
	}
	tp.Kill(t, oldPrimary)
	start, restarted, failed := time.Now(), false, 0
	deadline := start.Add(45 * time.Second)
	for n := len(acked); len(acked) < n+100; i++ {
		err := write(i)
		if err == nil {
			continue
		}
		failed++
		if !redisconn.Unavailable(err) {
			t.Errorf("write %d failed with %v, which Unavailable does not recognise (the API would answer 500)", i, err)
		}
		var na *redisconn.NotAckedError
		if errors.As(err, &na) && !restarted {
			// A promoted replica serves the slot, without a replica of its own.
			tp.Up(t)
			restarted = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail 45s after the primary died: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // pace the retries, not a proof of anything
	}
	if !restarted {
		t.Error("no write saw the promoted replica without a replica of its own")
	}
	got, err := rdb.LRange(ctx, key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var lost []string
	for _, a := range acked {
		if !slices.Contains(got, a) {
			lost = append(lost, a)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d acknowledged writes lost in the failover: %v", len(lost), lost)
	}
	t.Logf("SIGKILL of the cluster primary on port %d: acked %d, not acknowledged %d, acked again %.1fs later (old primary restarted as a replica)",
		oldPrimary, len(acked), failed, time.Since(start).Seconds())
}
