// Package queue is Herold's asynq layer: task types and payloads, the queue
// of each class, the handler that delivers a message, the retry delays, the
// slog adapter for asynq and a middleware that logs every task's outcome once.
//
// Errors are mapped to asynq here and nowhere else: a permanent error (see
// channels.IsPermanent) and a payload that cannot be decoded end the task with
// asynq.SkipRetry; every other error is retried after RetryDelay.
//
// # Priority
//
// Each message class has its own queue, served with strict priority:
// transactional before service before marketing. asynq then always takes the
// next task from the highest non-empty queue, so an invoice waits for at most
// the tasks already running, never behind a campaign backlog (see the README,
// "Queue priority").
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/message"
)

// TypeDeliver is the task type that delivers one message.
const TypeDeliver = "message:deliver"

// Queues names the asynq queue of each class. The zero value uses the class
// names themselves; tests set Suffix so that each test has queues of its own
// (asynq keys are asynq:{<queue>}:…, outside Herold's key prefix).
type Queues struct {
	Suffix string
}

// Name returns the queue of class c. An unknown class gets the marketing
// queue: the lowest priority is the safe default.
func (q Queues) Name(c message.Class) string {
	if _, err := message.ParseClass(string(c)); err != nil {
		c = message.Marketing
	}
	return string(c) + q.Suffix
}

// Priorities returns asynq's Queues setting: with StrictPriority only the
// order matters; the weights 6-3-1 apply if strict priority is turned off.
func (q Queues) Priorities() map[string]int {
	return map[string]int{
		q.Name(message.Transactional): 6,
		q.Name(message.Service):       3,
		q.Name(message.Marketing):     1,
	}
}

// DeliverPayload is the payload of a TypeDeliver task: the message id only.
// The message's data lives in its record, so payloads stay small and erasing a
// person also erases the data of their queued messages.
type DeliverPayload struct {
	MessageID string `json:"id"`
}

// NewDeliverTask returns the task that delivers message id in class c's
// queue. Its asynq task id is the message id, so enqueueing it twice fails
// with asynq.ErrTaskIDConflict instead of sending twice.
func NewDeliverTask(q Queues, id string, c message.Class, maxRetry int) (*asynq.Task, error) {
	b, err := json.Marshal(DeliverPayload{MessageID: id})
	if err != nil {
		return nil, fmt.Errorf("new deliver task: %w", err)
	}
	return asynq.NewTask(TypeDeliver, b,
		asynq.TaskID(id),
		asynq.Queue(q.Name(c)),
		asynq.MaxRetry(maxRetry),
	), nil
}

// Deliverer is what the deliver handler needs from the dispatcher.
type Deliverer interface {
	// Deliver delivers message id once. A nil error means done (delivered,
	// suppressed, canceled or gone); a permanent error means failed for good.
	Deliver(ctx context.Context, id string) error
	// GiveUp marks message id failed after its last retryable attempt.
	GiveUp(ctx context.Context, id string, cause error) error
}

// DeliverHandler processes TypeDeliver tasks.
type DeliverHandler struct {
	d   Deliverer
	log *slog.Logger
}

// NewDeliverHandler returns the handler for TypeDeliver.
func NewDeliverHandler(d Deliverer, log *slog.Logger) *DeliverHandler {
	return &DeliverHandler{d: d, log: log}
}

// HoldError ends a delivery task whose message must wait until Until (the
// end of quiet hours). asynq runs the same task again then, without counting
// it as a failed try (ServerConfig's IsFailure), and the message is decided
// again at that moment.
type HoldError struct {
	Until  time.Time
	Wait   time.Duration // Until less the moment of the decision that held it
	Reason string
}

func (e *HoldError) Error() string {
	return fmt.Sprintf("held until %s (%s)", e.Until.UTC().Format(time.RFC3339), e.Reason)
}

// HeldUntil returns the time a HoldError in err's chain waits for.
func HeldUntil(err error) (time.Time, bool) {
	var h *HoldError
	if errors.As(err, &h) {
		return h.Until, true
	}
	return time.Time{}, false
}

// holdDelay is how long asynq waits before running a held task again: the
// hold's wait, rounded up to a whole second because asynq schedules by
// seconds and could otherwise run it a moment early, find it still held and
// hold it again.
func holdDelay(h *HoldError) time.Duration {
	d := h.Wait
	if d <= 0 {
		return 0
	}
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}

// ProcessTask delivers the message named in the payload. Permanent errors
// and bad payloads return asynq.SkipRetry; a held message returns its
// HoldError; after the last retryable attempt the message is marked failed
// (and the error is returned so asynq archives the task).
func (h *DeliverHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p DeliverPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.MessageID == "" {
		if err == nil {
			err = errors.New("missing message id")
		}
		return fmt.Errorf("decode %s: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	err := h.d.Deliver(ctx, p.MessageID)
	if err == nil {
		return nil
	}
	if _, held := HeldUntil(err); held {
		return err
	}
	if channels.IsPermanent(err) {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	retry, _ := asynq.GetRetryCount(ctx)
	maxRetry, ok := asynq.GetMaxRetry(ctx)
	if ok && retry >= maxRetry {
		if gerr := h.d.GiveUp(ctx, p.MessageID, err); gerr != nil {
			return fmt.Errorf("%w (and marking it failed: %w)", err, gerr)
		}
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}

// RetryDelay returns asynq's RetryDelayFunc: none for a task whose lease
// expired (asynq.ErrLeaseExpired: its worker died or lost Redis, the task
// itself did not fail), a provider's Retry-After when the error carries one
// (channels.RetryAfterError), else fallback (nil: asynq.DefaultRetryDelayFunc,
// exponential back-off with jitter, n⁴+15 s plus up to 30·(n+1) s).
func RetryDelay(fallback asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	if fallback == nil {
		fallback = asynq.DefaultRetryDelayFunc
	}
	return func(n int, err error, t *asynq.Task) time.Duration {
		if leaseExpired(err) {
			return 0
		}
		var h *HoldError
		if errors.As(err, &h) {
			return holdDelay(h)
		}
		if d, ok := channels.RetryAfter(err); ok && d > 0 {
			return d
		}
		return fallback(n, err, t)
	}
}

// LogLevel maps HEROLD_LOG_LEVEL to asynq's level.
func LogLevel(s string) asynq.LogLevel {
	switch s {
	case "debug":
		return asynq.DebugLevel
	case "warn":
		return asynq.WarnLevel
	case "error":
		return asynq.ErrorLevel
	}
	return asynq.InfoLevel
}

// IsFailure is asynq's IsFailure: a held message is not a failed try.
func IsFailure(err error) bool {
	_, held := HeldUntil(err)
	return !held
}

// Logger adapts a *slog.Logger to asynq.Logger.
type Logger struct{ l *slog.Logger }

// NewLogger returns an asynq.Logger writing to l, with component=asynq.
func NewLogger(l *slog.Logger) Logger { return Logger{l: l.With("component", "asynq")} }

func (a Logger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a Logger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a Logger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a Logger) Error(args ...any) {
	msg := fmt.Sprint(args...)
	// The scheduler tries to close the Redis client at shutdown even when it
	// was given a shared one (asynq v0.26 scheduler.go) and logs the refusal
	// as an error. Herold closes that client itself, so this is expected.
	if strings.Contains(msg, "redis connection is shared") {
		a.l.Debug(msg)
		return
	}
	a.l.Error(msg)
}

// Fatal logs and exits, as asynq.Logger requires.
func (a Logger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)); os.Exit(1) }

// LogOutcome is an asynq middleware that logs each task's outcome once, with
// its type, id, queue, retry count and duration. Errors are logged at warn
// when the task will be retried and at error when it will not.
func LogOutcome(log *slog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			start := time.Now()
			err := next.ProcessTask(ctx, t)
			id, _ := asynq.GetTaskID(ctx)
			retry, _ := asynq.GetRetryCount(ctx)
			maxRetry, _ := asynq.GetMaxRetry(ctx)
			q, _ := asynq.GetQueueName(ctx)
			attrs := []any{"task_type", t.Type(), "task_id", id, "queue", q, "retry", retry,
				"duration_ms", time.Since(start).Milliseconds()}
			until, held := HeldUntil(err)
			switch {
			case err == nil:
				log.InfoContext(ctx, "task done", attrs...)
			case held:
				log.InfoContext(ctx, "task held", append(attrs, "until", until.UTC().Format(time.RFC3339))...)
			case errors.Is(err, asynq.SkipRetry) || retry >= maxRetry:
				log.ErrorContext(ctx, "task failed for good", append(attrs, "err", err)...)
			default:
				log.WarnContext(ctx, "task failed, will retry", append(attrs, "err", err)...)
			}
			return err
		})
	}
}

// ServerConfig returns the asynq server configuration for the worker:
// strict priority over the class queues, the retry delays, the slog adapter.
// retryDelay may be nil (RetryDelay's default).
func ServerConfig(q Queues, concurrency int, taskCheck time.Duration, retryDelay asynq.RetryDelayFunc, log *slog.Logger) asynq.Config {
	return asynq.Config{
		Concurrency:              concurrency,
		Queues:                   q.Priorities(),
		StrictPriority:           true,
		TaskCheckInterval:        taskCheck,
		DelayedTaskCheckInterval: time.Second,
		RetryDelayFunc:           RetryDelay(retryDelay),
		IsFailure:                IsFailure,
		Logger:                   NewLogger(log),
		LogLevel:                 asynq.WarnLevel,
	}
}
