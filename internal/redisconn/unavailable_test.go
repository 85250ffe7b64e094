package redisconn_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/redisconn"
	"github.com/heroldhq/herold/internal/redistest"
)

// Errors of a Redis that is away are told apart from answers and faults.
// (Unconfirmed writes, READONLY and the errors of a real failover are checked
// in checkDurabilityCountsReplicas and the failover tests.)
func TestUnavailable(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: the dial is refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	gone := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer gone.Close()
	refused := gone.Set(t.Context(), "k", "v", 0).Err()

	rdb, prefix := redistest.Client(t)
	missing := rdb.Get(t.Context(), prefix+"missing").Err()
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	closed := redis.NewClient(&redis.Options{Addr: addr})
	closed.Close()

	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"refused connection", refused, true},
		{"closed client", closed.Ping(t.Context()).Err(), true},
		{"wrapped not-acked write", errors.Join(errors.New("submit"), &redisconn.NotAckedError{Addr: "a", Want: 1}), true},
		{"no such key", missing, false},
		{"caller canceled", rdb.Ping(canceled).Err(), false},
		{"nil", nil, false},
		{"other error", errors.New("decode record: bad JSON"), false},
	} {
		if c.err == nil && c.want {
			t.Fatalf("%s: no error", c.name)
		}
		if got := redisconn.Unavailable(c.err); got != c.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
