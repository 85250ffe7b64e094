package devredis_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/devredis"
)

// The embedded Redis is what `herold dev` runs on, so this is the one test
// that uses miniredis: it checks that a go-redis client reaches it over TCP
// and that TTLs expire with the clock.
func TestServerSpeaksRedisOverTCP(t *testing.T) {
	t.Parallel()
	srv, err := devredis.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)

	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatalf("URL %q: %v", srv.URL(), err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	ctx := t.Context()

	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := rdb.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}
	if err := rdb.Set(ctx, "short", "v", time.Millisecond).Err(); err != nil {
		t.Fatalf("SET PX: %v", err)
	}
	// Poll instead of asserting on a duration: the key must go away eventually.
	for {
		n, err := rdb.Exists(ctx, "short").Result()
		if err != nil {
			t.Fatalf("EXISTS: %v", err)
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("key with a 1ms TTL never expired")
		case <-time.After(5 * time.Millisecond):
		}
	}
}
