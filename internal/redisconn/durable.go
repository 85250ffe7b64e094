package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/config"
)

// Durability makes chosen writes wait until a number of replicas confirm them
// (Redis WAIT), so that an accepted message or a recorded withdrawal survives
// the loss of the primary. The zero value, and a Durability built from
// HEROLD_REDIS_MIN_REPLICAS_ACK 0, waits for nobody and adds no command.
//
// WAIT counts the replicas that have every write made so far on the
// connection that sends it, so it must travel on the connection of the write:
// Pipelined sends the write and WAIT in one pipeline (one round trip). Writes
// made on other connections, such as asynq's enqueue, or spread over several
// cluster nodes, are covered by Sync afterwards: on each primary involved it
// writes a small key and WAITs on that connection; replicas apply the
// primary's stream in order, so confirming that write confirms every earlier
// write to the same primary.
//
// On a cluster, both go to the primary that serves the hash slot of the key
// given; go-redis does not route WAIT by itself (it has no key).
type Durability struct {
	replicas int
	timeout  time.Duration
	prefix   string
	tags     *slotTags // built on first use, only on a cluster
}

// NewDurability reads HEROLD_REDIS_MIN_REPLICAS_ACK and HEROLD_REDIS_ACK_TIMEOUT;
// Sync's keys go under HEROLD_REDIS_PREFIX.
func NewDurability(cfg config.Redis) Durability {
	if cfg.MinReplicasAck <= 0 {
		return Durability{}
	}
	return Durability{replicas: cfg.MinReplicasAck, timeout: cfg.AckTimeout, prefix: cfg.KeyPrefix, tags: &slotTags{}}
}

// Replicas is the number of replicas a write waits for; 0 when it waits for none.
func (d Durability) Replicas() int { return d.replicas }

// Check reports an error naming the first primary that has fewer connected
// replicas than writes wait for, so that start-up can warn before every
// acknowledged write fails with NotAckedError. Without replicas required, it
// reports nothing.
func (d Durability) Check(ctx context.Context, rdb redis.UniversalClient) error {
	if d.replicas == 0 {
		return nil
	}
	return ForEachPrimary(ctx, rdb, func(ctx context.Context, node *redis.Client) error {
		info, err := node.Info(ctx, "replication").Result()
		if err != nil {
			return fmt.Errorf("redis %s: info replication: %w", nodeName(node), err)
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
				if n, _ := strconv.Atoi(v); n < d.replicas {
					return fmt.Errorf("redis %s has %d connected replicas, HEROLD_REDIS_MIN_REPLICAS_ACK wants %d: acknowledged writes will fail", nodeName(node), n, d.replicas)
				}
				return nil
			}
		}
		return fmt.Errorf("redis %s: info replication has no connected_slaves", nodeName(node))
	})
}

// NotAckedError reports that fewer replicas than required confirmed a write
// within HEROLD_REDIS_ACK_TIMEOUT. The write is on the primary, so it may
// still reach the replicas, or be lost if the primary fails now: callers
// answer "try again later" (HTTP 503), and the retried write must be
// idempotent.
type NotAckedError struct {
	Addr      string // the primary: host:port, or "primary (via Sentinel)"
	Want, Got int
}

func (e *NotAckedError) Error() string {
	return fmt.Sprintf("redis %s: %d of %d replicas confirmed the write in time", e.Addr, e.Got, e.Want)
}

// Pipelined runs the commands fn queues in one pipeline, followed by WAIT when
// replicas are required, and returns fn's commands (without WAIT). Every key
// fn touches must lie in the hash slot of key: on a cluster the pipeline goes
// to that slot's primary only (as MULTI and Lua scripts require anyway).
// Scripts must be queued with Script.Eval (or EvalSha of a loaded script): a
// pipeline cannot fall back from EVALSHA on NOSCRIPT. The error is the first
// failed command's, else a *NotAckedError. Without replicas required, this is
// rdb.Pipelined(ctx, fn).
func (d Durability) Pipelined(ctx context.Context, rdb redis.UniversalClient, key string, fn func(redis.Pipeliner) error) ([]redis.Cmder, error) {
	if d.replicas == 0 {
		return rdb.Pipelined(ctx, fn)
	}
	node, err := primaryFor(ctx, rdb, key)
	if err != nil {
		return nil, err
	}
	var wait *redis.IntCmd
	cmds, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		if err := fn(p); err != nil {
			return err
		}
		wait = d.queueWait(ctx, p)
		return nil
	})
	if wait == nil { // fn failed: nothing was sent
		return cmds, err
	}
	if err != nil {
		reloadSlots(ctx, rdb)
	}
	cmds = cmds[:len(cmds)-1]
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return cmds, err // as Exec: the first failed command
		}
	}
	return cmds, d.check(node, wait)
}

// Sync waits until the required replicas have every write that finished
// before it on the primaries serving keys (one primary unless rdb is a cluster
// and the keys lie on several nodes): on each it sets a small key of its own
// in the slot of one of keys (expiring after a minute) and WAITs on that
// connection. One round trip per primary, the primaries in parallel. Without
// replicas required, it does nothing.
func (d Durability) Sync(ctx context.Context, rdb redis.UniversalClient, keys ...string) error {
	if d.replicas == 0 {
		return nil
	}
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		c, err := primaryFor(ctx, rdb, "")
		if err != nil {
			return err
		}
		return d.barrier(ctx, c, d.prefix+"ack")
	}
	if len(keys) == 0 {
		return errors.New("redisconn: Sync on a cluster needs the keys written")
	}
	type target struct {
		node *redis.Client
		key  string
	}
	var targets []target
	seen := map[string]bool{}
	for _, k := range keys {
		node, err := cc.MasterForKey(ctx, k)
		if err != nil {
			return fmt.Errorf("primary for key %q: %w", k, err)
		}
		if addr := node.Options().Addr; !seen[addr] {
			seen[addr] = true
			targets = append(targets, target{node, d.prefix + "ack:{" + d.tags.forSlot(Slot(k)) + "}"})
		}
	}
	errs := make([]error, len(targets))
	if len(targets) == 1 {
		errs[0] = d.barrier(ctx, targets[0].node, targets[0].key)
	} else {
		var wg sync.WaitGroup
		for i, t := range targets {
			wg.Go(func() { errs[i] = d.barrier(ctx, t.node, t.key) })
		}
		wg.Wait()
	}
	err := errors.Join(errs...)
	if err != nil {
		reloadSlots(ctx, cc)
	}
	return err
}

// barrier writes key on node and WAITs on the same connection.
func (d Durability) barrier(ctx context.Context, node *redis.Client, key string) error {
	var wait *redis.IntCmd
	_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key, "1", time.Minute)
		wait = d.queueWait(ctx, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis %s: wait for replicas: %w", nodeName(node), err)
	}
	return d.check(node, wait)
}

// reloadSlots makes a cluster client fetch the slot map again (lazily, in
// the background) after a command sent to one node failed: a node's own
// client does not follow MOVED or notice a failover, so without this the
// next write would go to the same dead or demoted node.
func reloadSlots(ctx context.Context, rdb redis.UniversalClient) {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		cc.ReloadState(ctx)
	}
}

// queueWait adds WAIT to p. Pipeliner has no Wait method; the reply is read
// with the pipeline's read deadline, which config.Redis.Validate keeps above
// HEROLD_REDIS_ACK_TIMEOUT.
func (d Durability) queueWait(ctx context.Context, p redis.Pipeliner) *redis.IntCmd {
	cmd := redis.NewIntCmd(ctx, "wait", d.replicas, d.timeout.Milliseconds())
	_ = p.Process(ctx, cmd) // queues it; the error comes with Exec
	return cmd
}

func (d Durability) check(node *redis.Client, wait *redis.IntCmd) error {
	n, err := wait.Result()
	if err != nil {
		return fmt.Errorf("redis %s: wait for replicas: %w", nodeName(node), err)
	}
	if int(n) < d.replicas {
		return &NotAckedError{Addr: nodeName(node), Want: d.replicas, Got: int(n)}
	}
	return nil
}

// primaryFor returns a client whose pipelines run on one connection to the
// primary that holds key: rdb itself for one server or Sentinel, the node
// serving key's slot on a cluster.
func primaryFor(ctx context.Context, rdb redis.UniversalClient, key string) (*redis.Client, error) {
	switch c := rdb.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		node, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("primary for key %q: %w", key, err)
		}
		return node, nil
	default:
		return nil, fmt.Errorf("redisconn: cannot wait for replicas through a %T", rdb)
	}
}

// nodeName names node in errors: its address, or for a Sentinel-managed
// client (whose Options().Addr is go-redis' placeholder "FailoverClient")
// the role, since the primary's address changes with each failover.
func nodeName(node *redis.Client) string {
	if a := node.Options().Addr; a != "FailoverClient" {
		return a
	}
	return "primary (via Sentinel)"
}

// AsynqQueueKey is a key in the hash slot of asynq's keys for queue (asynq
// writes asynq:{queue}:…), for Sync after an enqueue.
func AsynqQueueKey(queue string) string { return "asynq:{" + queue + "}" }

// Slot is the Redis Cluster hash slot of key: CRC16 of its hash tag (the part
// between the first { and the next }, when not empty), else of the whole key.
func Slot(key string) int {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	return int(crc16(key) % 16384)
}

// crc16 is CRC-16/XMODEM, the checksum Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := range len(s) {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// slotTags holds, for every hash slot, a short tag that hashes to it, so that
// Sync writes at most one key per slot however many keys it is asked about.
type slotTags struct {
	once sync.Once
	tags []string
}

func (t *slotTags) forSlot(slot int) string {
	t.once.Do(func() {
		t.tags = make([]string, 16384)
		for i, found := uint64(0), 0; found < len(t.tags); i++ {
			s := strconv.FormatUint(i, 36)
			if n := Slot(s); t.tags[n] == "" {
				t.tags[n] = s
				found++
			}
		}
	})
	return t.tags[slot]
}
