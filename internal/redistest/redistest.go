// Package redistest gives every test a real Redis over a real connection and
// a key prefix of its own, so packages and tests run in parallel without
// seeing each other's keys. It fails, never skips, when Redis is unreachable:
// a test that silently did not run proves nothing.
//
// The address comes from HEROLD_TEST_REDIS_URL (default redis://127.0.0.1:6379/0).
// asynq writes its own keys (asynq:{queue}:…), so asynq tests use Queue for a
// queue name no other test shares.
package redistest

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/store"
)

// URL returns the Redis URL tests use.
func URL() string {
	return cmp.Or(os.Getenv("HEROLD_TEST_REDIS_URL"), "redis://127.0.0.1:6379/0")
}

// Client returns a real Redis client and a key prefix owned by this test. Keys
// under the prefix are deleted when the test ends.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatalf("redistest: HEROLD_TEST_REDIS_URL %q: %v", URL(), err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		t.Fatalf("redistest: no Redis at %s: %v\n"+
			"start one with `redis-server --port 6379 --save '' --appendonly no` "+
			"(Debian/Ubuntu: apt-get install -y redis-server), `docker compose up -d redis`, "+
			"or run `make test`, which starts one; or point HEROLD_TEST_REDIS_URL at another", opt.Addr, err)
	}
	prefix := fmt.Sprintf("test:%s:%x:", strings.ReplaceAll(t.Name(), "/", "."), rand.Uint64())
	t.Cleanup(func() {
		// t.Context is done by now.
		if err := DeleteKeys(context.Background(), rdb, prefix+"*"); err != nil {
			t.Logf("redistest: cleanup of %s: %v", prefix, err)
		}
		rdb.Close()
	})
	return rdb, prefix
}

// Queue returns a queue-name suffix unique to this test, for asynq.
func Queue(t testing.TB, name string) string {
	return fmt.Sprintf("%s-%x", name, rand.Uint64())
}

// DeleteKeys deletes every key matching pattern, batch by batch; see
// store.DeleteKeys, which the commands share.
func DeleteKeys(ctx context.Context, rdb *redis.Client, pattern string) error {
	return store.DeleteKeys(ctx, rdb, pattern)
}
