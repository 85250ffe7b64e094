// Package ratelimit keeps all of Herold's worker processes together under a
// provider's sending rate, per channel and per sender, with a GCRA limiter
// in the shared Redis (github.com/go-redis/redis_rate).
//
// Keys are "rate:" + prefix + "ratelimit:<channel>:<sender>" (redis_rate adds
// the "rate:" in front). They expire on their own once the bucket is full again.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/channels"
)

// ErrLimited is wrapped by the RetryAfterError of a send that would exceed
// the rate and could not wait.
var ErrLimited = errors.New("rate limit reached")

// Keyer is implemented by senders whose rate is per provider sender (a
// number or Messaging Service): RateKey names the sender m goes out from.
type Keyer interface {
	RateKey(m channels.Outbound) string
}

// Options configures one limited sender.
type Options struct {
	// Channel names the bucket, e.g. "sms".
	Channel string
	// Limit is the rate, e.g. redis_rate.PerSecond(10).
	Limit redis_rate.Limit
	// MaxWait is the longest a send waits for its turn (never past the
	// context's deadline); longer waits return a RetryAfterError so the
	// queue retries later instead of holding a worker. Default 5s.
	MaxWait time.Duration
}

// Limiter hands out sending turns from Redis.
type Limiter struct {
	rl     *redis_rate.Limiter
	prefix string
	log    *slog.Logger
}

// New returns a Limiter over rdb; every key starts with prefix.
func New(rdb redis.UniversalClient, prefix string, log *slog.Logger) *Limiter {
	return &Limiter{rl: redis_rate.NewLimiter(rdb), prefix: prefix, log: log}
}

// Wrap returns a Sender that takes a turn before each send of next. A
// zero Limit returns next unchanged.
func (l *Limiter) Wrap(next channels.Sender, o Options) channels.Sender {
	if o.Limit.IsZero() || o.Limit.Rate <= 0 {
		return next
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 5 * time.Second
	}
	keyer, _ := next.(Keyer)
	return &sender{l: l, next: next, o: o, keyer: keyer}
}

type sender struct {
	l     *Limiter
	next  channels.Sender
	o     Options
	keyer Keyer
}

// Send waits for a turn (up to MaxWait and ctx's deadline), then sends. When
// the turn is too far off it returns a retryable RetryAfterError wrapping
// ErrLimited; when Redis fails, a retryable error.
func (s *sender) Send(ctx context.Context, m channels.Outbound) (channels.Receipt, error) {
	key := s.l.prefix + "ratelimit:" + s.o.Channel
	if s.keyer != nil {
		if k := s.keyer.RateKey(m); k != "" {
			key += ":" + k
		}
	}
	for {
		res, err := s.l.rl.Allow(ctx, key, s.o.Limit)
		if err != nil {
			if ctx.Err() != nil {
				return channels.Receipt{}, ctx.Err()
			}
			return channels.Receipt{}, fmt.Errorf("rate limit %s: %w", s.o.Channel, err)
		}
		if res.Allowed > 0 {
			return s.next.Send(ctx, m)
		}
		wait := res.RetryAfter
		if wait > s.o.MaxWait {
			return channels.Receipt{}, &channels.RetryAfterError{After: wait, Err: fmt.Errorf("%s: %w", s.o.Channel, ErrLimited)}
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return channels.Receipt{}, &channels.RetryAfterError{After: wait, Err: fmt.Errorf("%s: %w", s.o.Channel, ErrLimited)}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return channels.Receipt{}, ctx.Err()
		}
	}
}
