package ratelimit_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/ratelimit"
	"github.com/heroldhq/herold/internal/redistest"
)

// counter is a real (if trivial) Sender that counts what reaches it and
// names its sender by class, as the Twilio senders do.
type counter struct{ n atomic.Int64 }

func (c *counter) Send(context.Context, channels.Outbound) (channels.Receipt, error) {
	c.n.Add(1)
	return channels.Receipt{Provider: "count"}, nil
}

func (c *counter) RateKey(m channels.Outbound) string { return "sender-" + m.Class }

func setup(t *testing.T) (*ratelimit.Limiter, *ratelimit.Limiter) {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	t.Cleanup(func() {
		// redis_rate puts "rate:" in front of our prefix.
		if err := redistest.DeleteKeys(context.Background(), rdb, "rate:"+prefix+"*"); err != nil {
			t.Log(err)
		}
	})
	log := slog.New(slog.DiscardHandler)
	// Two limiters over the same Redis: two worker processes.
	return ratelimit.New(rdb, prefix, log), ratelimit.New(rdb, prefix, log)
}

// perHour is a limit that does not refill during a test, so counts are exact.
func perHour(n int) redis_rate.Limit { return redis_rate.Limit{Rate: n, Burst: n, Period: time.Hour} }

func TestSharedAcrossWorkers(t *testing.T) {
	t.Parallel()
	l1, l2 := setup(t)
	var c counter
	opts := ratelimit.Options{Channel: "sms", Limit: perHour(5)}
	workers := []channels.Sender{l1.Wrap(&c, opts), l2.Wrap(&c, opts)}
	var wg sync.WaitGroup
	var limited atomic.Int64
	for i := range 20 {
		wg.Go(func() {
			_, err := workers[i%2].Send(t.Context(), channels.Outbound{MessageID: "m", Class: "transactional"})
			switch {
			case err == nil:
			case errors.Is(err, ratelimit.ErrLimited):
				if after, ok := channels.RetryAfter(err); !ok || after <= 0 || channels.IsPermanent(err) {
					t.Errorf("limited send: %v, want a retryable RetryAfterError", err)
				}
				limited.Add(1)
			default:
				t.Errorf("Send: %v", err)
			}
		})
	}
	wg.Wait()
	if got := c.n.Load(); got != 5 {
		t.Errorf("%d sends went through, want 5", got)
	}
	if got := limited.Load(); got != 15 {
		t.Errorf("%d sends were limited, want 15", got)
	}
}

func TestPerSender(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	var c counter
	s := l.Wrap(&c, ratelimit.Options{Channel: "sms", Limit: perHour(2)})
	for _, class := range []string{"transactional", "transactional", "transactional", "marketing", "marketing", "marketing"} {
		s.Send(t.Context(), channels.Outbound{Class: class})
	}
	if got := c.n.Load(); got != 4 {
		t.Errorf("%d sends went through, want 2 per sender = 4", got)
	}
}

// TestWaitsForTurn: a fast rate with burst 1 makes sends wait instead of fail.
func TestWaitsForTurn(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	var c counter
	s := l.Wrap(&c, ratelimit.Options{Channel: "email", Limit: redis_rate.Limit{Rate: 50, Burst: 1, Period: time.Second}})
	for range 5 {
		if _, err := s.Send(t.Context(), channels.Outbound{}); err != nil {
			t.Fatalf("Send: %v (should have waited for its turn)", err)
		}
	}
	if got := c.n.Load(); got != 5 {
		t.Errorf("%d sends went through, want 5", got)
	}
}

func TestDeadlineShorterThanWait(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	var c counter
	s := l.Wrap(&c, ratelimit.Options{Channel: "sms", Limit: redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Minute}, MaxWait: time.Hour})
	if _, err := s.Send(t.Context(), channels.Outbound{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err := s.Send(ctx, channels.Outbound{})
	if !errors.Is(err, ratelimit.ErrLimited) {
		t.Fatalf("err = %v, want ErrLimited without waiting past the deadline", err)
	}
	if c.n.Load() != 1 {
		t.Errorf("%d sends went through, want 1", c.n.Load())
	}
}

func TestZeroLimitIsNoLimit(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	var c counter
	if s := l.Wrap(&c, ratelimit.Options{Channel: "sms"}); s != channels.Sender(&c) {
		t.Error("a zero limit should return the sender unchanged")
	}
}
