package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/queue"
)

// deliverer records what the handler asked of it.
type deliverer struct {
	err    error
	gaveUp []string
	calls  int
}

func (d *deliverer) Deliver(context.Context, string) error { d.calls++; return d.err }
func (d *deliverer) GiveUp(_ context.Context, id string, _ error) error {
	d.gaveUp = append(d.gaveUp, id)
	return nil
}

func TestDeliverHandlerErrorMapping(t *testing.T) {
	t.Parallel()
	retryable := &channels.ProviderError{Provider: "twilio", Status: 500}
	tests := []struct {
		name      string
		payload   []byte
		err       error
		skipRetry bool
		wantErr   bool
	}{
		{"delivered or suppressed", nil, nil, false, false},
		{"retryable", nil, retryable, false, true},
		{"permanent", nil, channels.Permanent(retryable), true, true},
		{"undecodable payload", []byte("{"), nil, true, true},
		{"payload without id", []byte("{}"), nil, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			task, err := queue.NewDeliverTask(queue.Queues{}, "msg_x", message.Transactional, 5)
			if err != nil {
				t.Fatal(err)
			}
			if tc.payload != nil {
				task = asynq.NewTask(queue.TypeDeliver, tc.payload)
			}
			d := &deliverer{err: tc.err}
			got := queue.NewDeliverHandler(d, slog.New(slog.DiscardHandler)).ProcessTask(t.Context(), task)
			if (got != nil) != tc.wantErr || errors.Is(got, asynq.SkipRetry) != tc.skipRetry {
				t.Errorf("got %v, want error %v with SkipRetry %v", got, tc.wantErr, tc.skipRetry)
			}
			if tc.err != nil && !errors.Is(got, tc.err) {
				t.Errorf("got %v, which does not wrap %v", got, tc.err)
			}
		})
	}
}

func TestRetryDelayHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	fallback := func(n int, _ error, _ *asynq.Task) time.Duration { return time.Duration(n) * time.Hour }
	f := queue.RetryDelay(fallback)
	perr := &channels.ProviderError{Provider: "twilio", Status: 429}
	if got := f(1, &channels.RetryAfterError{After: 7 * time.Second, Err: perr}, nil); got != 7*time.Second {
		t.Errorf("with Retry-After: %s, want 7s", got)
	}
	if got := f(2, perr, nil); got != 2*time.Hour {
		t.Errorf("without Retry-After: %s, want the fallback's 2h", got)
	}
	if got := f(2, asynq.ErrLeaseExpired, nil); got != 0 {
		t.Errorf("task of a dead worker: %s, want 0 (at once)", got)
	}
	def := queue.RetryDelay(nil)
	for n := range 5 {
		d := def(n, perr, nil)
		lo := time.Duration(n*n*n*n+15) * time.Second
		if d < lo || d > lo+time.Duration(30*(n+1))*time.Second {
			t.Errorf("default delay for retry %d: %s, outside asynq's n⁴+15s+jitter", n, d)
		}
	}
}

func TestQueuesByClass(t *testing.T) {
	t.Parallel()
	q := queue.Queues{Suffix: "-t"}
	if q.Name(message.Transactional) != "transactional-t" || q.Name("bogus") != "marketing-t" {
		t.Errorf("names: %s %s", q.Name(message.Transactional), q.Name("bogus"))
	}
	p := q.Priorities()
	if !(p["transactional-t"] > p["service-t"] && p["service-t"] > p["marketing-t"]) || len(p) != 3 {
		t.Errorf("priorities %v", p)
	}
	cfg := queue.ServerConfig(q, 4, 50*time.Millisecond, nil, slog.New(slog.DiscardHandler))
	if !cfg.StrictPriority || cfg.RetryDelayFunc == nil || cfg.Logger == nil {
		t.Errorf("server config %+v", cfg)
	}
}
