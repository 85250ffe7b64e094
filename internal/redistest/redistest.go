// Package redistest gives every test a real Redis over a real connection and
// a key prefix of its own, so packages and tests run in parallel without
// seeing each other's keys. It fails, never skips, when Redis is unreachable:
// a test that silently did not run proves nothing.
//
// The Redis comes from HEROLD_TEST_REDIS_URL (default redis://127.0.0.1:6379/0),
// in any form HEROLD_REDIS_URL takes: redis://host:port/db for one server,
// redis+sentinel://s1:port,s2:port/master/db for Sentinel, redis+cluster://n1:port,n2:port/
// for a Redis Cluster (scripts/redis-sentinel and scripts/redis-cluster start
// one and print the URL). HEROLD_TEST_REDIS_SENTINEL_PASSWORD is the
// sentinels' password, if they need one. So the same tests run on every
// topology.
//
// asynq writes its own keys (asynq:{queue}:…), so asynq tests use Queue for a
// queue name no other test shares.
//
// StartCluster and StartSentinel start a throw-away topology of the test's own
// (through the scripts), for tests that need one whatever
// HEROLD_TEST_REDIS_URL says, such as failover tests.
package redistest

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/redisconn"
)

// URL returns the Redis URL tests use.
func URL() string {
	return cmp.Or(os.Getenv("HEROLD_TEST_REDIS_URL"), "redis://127.0.0.1:6379/0")
}

// Config returns the Redis configuration Herold would load for url, with
// every other Redis setting at its default and, for a redis+sentinel:// URL,
// HEROLD_TEST_REDIS_SENTINEL_PASSWORD as the sentinels' password.
func Config(url string) (config.Redis, error) {
	env := map[string]string{"HEROLD_REDIS_URL": url}
	if t, err := config.ParseRedisURL(url); err == nil && t.Mode == config.RedisSentinel {
		env["HEROLD_REDIS_SENTINEL_PASSWORD"] = os.Getenv("HEROLD_TEST_REDIS_SENTINEL_PASSWORD")
	}
	var c config.Redis
	err := config.Load(&c, func(k string) string { return env[k] }, nil)
	return c, err
}

// Client returns a real Redis client of the topology HEROLD_TEST_REDIS_URL
// names (a *redis.Client for one server or Sentinel, a *redis.ClusterClient
// for a cluster) and a key prefix owned by this test. Keys under the prefix
// are deleted, on every primary, when the test ends.
func Client(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	return ClientFor(t, URL())
}

// ClientFor is Client for the Redis at url, such as a topology from
// StartCluster or StartSentinel.
func ClientFor(t testing.TB, url string) (redis.UniversalClient, string) {
	t.Helper()
	cfg, err := Config(url)
	if err != nil {
		t.Fatalf("redistest: HEROLD_TEST_REDIS_URL: %v", err)
	}
	target, _ := cfg.Target()
	rdb, err := redisconn.New(cfg, 4)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := redisconn.Ping(ctx, rdb); err != nil {
		rdb.Close()
		t.Fatalf("redistest: no usable Redis at %s: %v\n"+
			"start one with `redis-server --port 6379 --save '' --appendonly no` "+
			"(Debian/Ubuntu: apt-get install -y redis-server), `docker compose up -d redis`, "+
			"`scripts/redis-cluster up` or `scripts/redis-sentinel up` (then set HEROLD_TEST_REDIS_URL to the URL they print), "+
			"or run `make test`, which starts one", target, err)
	}
	prefix := Prefix(t)
	t.Cleanup(func() {
		// t.Context is done by now.
		if err := DeleteKeys(context.Background(), rdb, prefix+"*"); err != nil {
			t.Logf("redistest: cleanup of %s: %v", prefix, err)
		}
		rdb.Close()
	})
	return rdb, prefix
}

// Prefix returns a key prefix unique to this test. It holds no { or }, which
// would change the hash slot of the store's keys on a cluster, nor glob
// characters, which would widen the cleanup's SCAN pattern.
func Prefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		switch r {
		case '/', '{', '}', '*', '?', '[', ']', '\\', ' ':
			return '.'
		}
		return r
	}, t.Name())
	return fmt.Sprintf("test:%s:%x:", name, rand.Uint64())
}

// Queue returns a queue-name suffix unique to this test, for asynq.
func Queue(t testing.TB, name string) string {
	return fmt.Sprintf("%s-%x", name, rand.Uint64())
}

// DeleteKeys deletes every key matching pattern on every primary; see
// redisconn.DeleteKeys.
func DeleteKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) error {
	return redisconn.DeleteKeys(ctx, rdb, pattern)
}

// Keys returns every key matching pattern on every primary, sorted. Tests
// use it instead of rdb.Keys: through a cluster client KEYS and SCAN reach
// one node only, so they miss the keys on the others.
func Keys(t testing.TB, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	var mu sync.Mutex // ForEachPrimary calls fn concurrently on a cluster
	var keys []string
	err := redisconn.ForEachPrimary(context.Background(), rdb, func(ctx context.Context, node *redis.Client) error {
		iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil {
		t.Fatalf("redistest: keys %s: %v", pattern, err)
	}
	slices.Sort(keys)
	return keys
}
