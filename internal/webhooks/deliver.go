package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heroldhq/herold/internal/events"
)

// TypeDeliver is the asynq task type of one webhook call (with its retries).
const TypeDeliver = "webhook:deliver"

// Delivery states.
const (
	StatePending   = "pending"   // cut from the outbox, first attempt not made yet
	StateRetrying  = "retrying"  // an attempt failed; asynq tries again after a back-off
	StateDelivered = "delivered" // the endpoint answered 2xx
	StateFailed    = "failed"    // not accepted within HEROLD_WEBHOOKS_MAX_AGE, or the endpoint is gone
)

// keptAttempts is how many attempts of one delivery are kept.
const keptAttempts = 20

// Delivery is one call's worth of events to one endpoint, with its attempts.
type Delivery struct {
	ID         string     `json:"id"` // the webhook-id header: the same on every retry and replay
	EndpointID string     `json:"endpoint_id"`
	State      string     `json:"state"`
	CreatedAt  time.Time  `json:"created_at"`
	Events     []EventRef `json:"events"`
	Attempts   []Attempt  `json:"attempts"` // newest first
	Replays    int        `json:"replays,omitempty"`
}

// EventRef names one event of a delivery.
type EventRef struct {
	ID   string      `json:"id"`
	Type events.Type `json:"type"`
}

// Attempt is one HTTP call. Error is a short class, never the answer's body.
type Attempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	LatencyMS  int64     `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
	Replay     bool      `json:"replay,omitempty"`
}

// taskPayload is the payload of a TypeDeliver task.
type taskPayload struct {
	Endpoint string `json:"e"`
	Delivery string `json:"d"`
	Replay   bool   `json:"r,omitempty"`
}

// ServerConfig returns the asynq configuration of the webhook worker: its
// own queue and concurrency, so slow receivers never hold the slots that
// invoices need, and exponential back-off from HEROLD_WEBHOOKS_RETRY_BASE
// up to HEROLD_WEBHOOKS_RETRY_MAX (or the receiver's Retry-After).
func (h *Hub) ServerConfig(logger asynq.Logger) asynq.Config {
	return asynq.Config{
		Queues:                   map[string]int{h.cfg.Queue: 1},
		Concurrency:              h.cfg.Concurrency,
		TaskCheckInterval:        100 * time.Millisecond,
		DelayedTaskCheckInterval: time.Second,
		RetryDelayFunc:           h.retryDelay,
		ShutdownTimeout:          h.cfg.Timeout + time.Second,
		Logger:                   logger,
	}
}

// retryAfterError carries a receiver's Retry-After.
type retryAfterError struct {
	after time.Duration
	err   error
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

func (h *Hub) retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var ra *retryAfterError
	if errors.As(err, &ra) && ra.after > 0 {
		return min(ra.after, h.cfg.RetryMax)
	}
	d := h.cfg.RetryMax
	if n < 40 {
		d = min(h.cfg.RetryBase<<n, h.cfg.RetryMax)
	}
	// ±10% jitter, so endpoints that failed together do not retry together.
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

// Register adds the delivery handler to mux.
func (h *Hub) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeDeliver, h.processTask)
}

// ---- the pump: outboxes → deliveries → tasks

// cutScript moves up to ARGV[3] events from an endpoint's outbox into a new
// delivery, atomically with the due set, so a Publish racing with it either
// lands in this delivery or keeps the endpoint due.
//
// KEYS: endpoints, due, outbox, delivery, log, unsent
// ARGV: endpoint id, delivery id, batch size (0: only drop a deleted endpoint's
// outbox), now (ms), ttl (s), log size, as array (0/1)
var cutScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
	redis.call('DEL', KEYS[3])
	redis.call('ZREM', KEYS[2], ARGV[1])
	return -1
end
if tonumber(ARGV[3]) == 0 then return 0 end
local evs = redis.call('LRANGE', KEYS[3], 0, tonumber(ARGV[3]) - 1)
if #evs == 0 then
	redis.call('ZREM', KEYS[2], ARGV[1])
	return 0
end
redis.call('LTRIM', KEYS[3], #evs, -1)
local body = evs[1]
if ARGV[7] == '1' then body = '[' .. table.concat(evs, ',') .. ']' end
redis.call('HSET', KEYS[4], 'e', ARGV[1], 's', 'pending', 'c', ARGV[4], 'b', body)
redis.call('EXPIRE', KEYS[4], ARGV[5])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -(tonumber(ARGV[6]) + 1))
redis.call('EXPIRE', KEYS[5], ARGV[5])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[2])
if redis.call('LLEN', KEYS[3]) == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
return #evs`)

// Run keeps the endpoint cache fresh and moves waiting events into
// deliveries, within each endpoint's rate, until ctx is done. Run it in
// every worker process (the moves are atomic, so several pumps share the
// work). It returns nil when ctx is done.
func (h *Hub) Run(ctx context.Context) error {
	refresh := time.NewTicker(h.cfg.Refresh)
	defer refresh.Stop()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	wait := time.Duration(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-refresh.C:
			if _, err := h.reload(ctx, false); err != nil && ctx.Err() == nil {
				h.log.WarnContext(ctx, "webhooks: refresh endpoints", "err", err)
			}
			continue
		case <-sweep.C:
			if err := h.sweepUnsent(ctx, h.now().Add(-time.Minute)); err != nil && ctx.Err() == nil {
				h.log.WarnContext(ctx, "webhooks: sweep unsent deliveries", "err", err)
			}
			continue
		case <-h.wake:
		case <-timer.C:
		}
		var err error
		wait, err = h.pumpOnce(ctx)
		if err != nil && ctx.Err() == nil {
			h.log.WarnContext(ctx, "webhooks: pump", "err", err)
			wait = h.cfg.Poll
		}
		timer.Reset(wait)
	}
}

// pumpOnce cuts at most one delivery per due endpoint and returns how long
// to wait before the next round: 0 when an endpoint is due again at once.
func (h *Hub) pumpOnce(ctx context.Context) (time.Duration, error) {
	s, err := h.current(ctx)
	if err != nil {
		return h.cfg.Poll, err
	}
	if len(s.endpoints) == 0 {
		return h.cfg.Refresh, nil
	}
	now := h.now()
	due, err := h.rdb.ZRangeByScore(ctx, h.dueKey(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: 64,
	}).Result()
	if err != nil {
		return h.cfg.Poll, fmt.Errorf("read due endpoints: %w", err)
	}
	for _, eid := range due {
		ep := s.endpoints[eid]
		if ep == nil {
			// Created in another process since our last refresh, or deleted.
			if s, err = h.reload(ctx, true); err != nil {
				return h.cfg.Poll, err
			}
			ep = s.endpoints[eid]
		}
		if ep != nil && !ep.Enabled {
			continue // paused: its outbox waits until it is enabled again
		}
		if ep != nil {
			res, err := h.rate.Allow(ctx, h.rateKey(eid), limitOf(h.rateOf(ep)))
			if err != nil {
				return h.cfg.Poll, fmt.Errorf("rate limit of %s: %w", eid, err)
			}
			if res.Allowed == 0 {
				next := now.Add(res.RetryAfter).UnixMilli()
				h.rdb.ZAddXX(ctx, h.dueKey(), redis.Z{Score: float64(next), Member: eid})
				continue
			}
		}
		if err := h.cut(ctx, eid, ep); err != nil {
			return h.cfg.Poll, err
		}
	}
	next, err := h.rdb.ZRangeWithScores(ctx, h.dueKey(), 0, 0).Result()
	if err != nil {
		return h.cfg.Poll, fmt.Errorf("read due endpoints: %w", err)
	}
	if len(next) == 0 {
		return h.cfg.Poll, nil
	}
	return min(max(time.Duration(int64(next[0].Score)-h.now().UnixMilli())*time.Millisecond, 0), h.cfg.Poll), nil
}

func (h *Hub) rateOf(ep *Endpoint) float64 {
	if ep.RatePerSecond > 0 {
		return ep.RatePerSecond
	}
	return h.cfg.DefaultRate
}

// limitOf turns calls per second into a GCRA limit; below one per second
// the period stretches instead.
func limitOf(perSecond float64) redis_rate.Limit {
	if perSecond >= 1 {
		n := int(perSecond)
		return redis_rate.Limit{Rate: n, Burst: n, Period: time.Second}
	}
	return redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Duration(float64(time.Second) / perSecond)}
}

// cut moves one batch of eid's outbox into a delivery and enqueues its task.
// ep is nil when the endpoint was not found: the script then drops its
// outbox if it is really gone, and cuts nothing.
func (h *Hub) cut(ctx context.Context, eid string, ep *Endpoint) error {
	batch, array := 0, "0"
	switch {
	case ep != nil && ep.BatchSize > 1:
		batch, array = ep.BatchSize, "1"
	case ep != nil:
		batch = 1
	}
	did := newID("whd_")
	n, err := cutScript.Run(ctx, h.rdb,
		[]string{h.endpointsKey(), h.dueKey(), h.outboxKey(eid), h.deliveryKey(did), h.logKey(eid), h.unsentKey()},
		eid, did, batch, h.now().UnixMilli(), int64(h.cfg.LogTTL/time.Second), h.cfg.LogSize, array).Int()
	if err != nil {
		return fmt.Errorf("cut delivery for %s: %w", eid, err)
	}
	if n <= 0 {
		return nil
	}
	return h.enqueue(ctx, taskPayload{Endpoint: eid, Delivery: did}, did)
}

// enqueue puts the task of a delivery on the queue and takes the delivery
// off the unsent set. A crash between the cut and this leaves the delivery
// unsent; sweepUnsent enqueues it later, and the task id makes that safe.
func (h *Hub) enqueue(ctx context.Context, p taskPayload, taskID string) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = h.client.EnqueueContext(ctx, asynq.NewTask(TypeDeliver, b),
		asynq.Queue(h.cfg.Queue), asynq.TaskID(taskID), asynq.MaxRetry(10000),
		asynq.Timeout(h.cfg.Timeout+5*time.Second))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue delivery %s: %w", p.Delivery, err)
	}
	if !p.Replay {
		if err := h.rdb.ZRem(ctx, h.unsentKey(), p.Delivery).Err(); err != nil {
			return fmt.Errorf("delivery %s enqueued, unsent mark stays: %w", p.Delivery, err)
		}
	}
	return nil
}

// sweepUnsent enqueues the deliveries cut before olderThan whose task was
// never enqueued (a crash between cut and enqueue).
func (h *Hub) sweepUnsent(ctx context.Context, olderThan time.Time) error {
	ids, err := h.rdb.ZRangeByScore(ctx, h.unsentKey(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(olderThan.UnixMilli(), 10), Count: 1000,
	}).Result()
	if err != nil {
		return err
	}
	for _, did := range ids {
		eid, err := h.rdb.HGet(ctx, h.deliveryKey(did), "e").Result()
		if errors.Is(err, redis.Nil) {
			h.rdb.ZRem(ctx, h.unsentKey(), did)
			continue
		}
		if err != nil {
			return err
		}
		if err := h.enqueue(ctx, taskPayload{Endpoint: eid, Delivery: did}, did); err != nil {
			return err
		}
	}
	return nil
}

// ---- one call

func (h *Hub) processTask(ctx context.Context, t *asynq.Task) error {
	var p taskPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Delivery == "" || p.Endpoint == "" {
		return fmt.Errorf("decode %s: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	vals, err := h.rdb.HMGet(ctx, h.deliveryKey(p.Delivery), "s", "f", "b").Result()
	if err != nil {
		return fmt.Errorf("load delivery %s: %w", p.Delivery, err)
	}
	state, _ := vals[0].(string)
	first, _ := vals[1].(string)
	body, _ := vals[2].(string)
	switch {
	case state == "":
		return fmt.Errorf("delivery %s: expired or gone: %w", p.Delivery, asynq.SkipRetry)
	case state == StateDelivered || state == StateFailed:
		return nil // a copy of a task that already finished
	}
	now := h.now()
	firstAt := now
	if ms, err := strconv.ParseInt(first, 10, 64); err == nil {
		firstAt = time.UnixMilli(ms)
	}
	ep, err := h.endpoint(ctx, p.Endpoint)
	if err != nil {
		return err
	}
	if ep == nil || !ep.Enabled {
		reason := "endpoint_deleted"
		if ep != nil {
			reason = "endpoint_disabled"
		}
		if err := h.record(ctx, p, now, StateFailed, Attempt{At: now.UTC(), Error: reason, Replay: p.Replay}); err != nil {
			return err
		}
		h.observe(StateFailed, 0, 0)
		return fmt.Errorf("delivery %s: %s: %w", p.Delivery, reason, asynq.SkipRetry)
	}
	status, elapsed, callErr := h.call(ctx, ep, p.Delivery, now, []byte(body))
	att := Attempt{At: now.UTC(), StatusCode: status, LatencyMS: elapsed.Milliseconds(), Replay: p.Replay}
	if callErr == nil {
		if err := h.record(ctx, p, firstAt, StateDelivered, att); err != nil {
			return err
		}
		h.observe(StateDelivered, status, elapsed)
		return nil
	}
	att.Error = errorClass(callErr)
	if h.now().Sub(firstAt) >= h.cfg.MaxAge {
		if err := h.record(ctx, p, firstAt, StateFailed, att); err != nil {
			return err
		}
		h.observe(StateFailed, status, elapsed)
		return fmt.Errorf("delivery %s to %s: gave up after %s: %w: %w", p.Delivery, ep.ID, h.cfg.MaxAge, callErr, asynq.SkipRetry)
	}
	if err := h.record(ctx, p, firstAt, StateRetrying, att); err != nil {
		return err
	}
	h.observe("retry", status, elapsed)
	return fmt.Errorf("delivery %s to %s: %w", p.Delivery, ep.ID, callErr)
}

func (h *Hub) observe(outcome string, status int, elapsed time.Duration) {
	if h.obs != nil {
		h.obs.WebhookDelivery(outcome, status, elapsed)
	}
}

// endpoint returns the endpoint from the cache, or from Redis when this
// process does not know it yet; nil when it does not exist.
func (h *Hub) endpoint(ctx context.Context, id string) (*Endpoint, error) {
	if s, err := h.current(ctx); err == nil {
		if ep := s.endpoints[id]; ep != nil {
			return ep, nil
		}
	}
	ep, err := h.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &ep, nil
}

// record stores an attempt and the delivery's new state in one transaction.
func (h *Hub) record(ctx context.Context, p taskPayload, firstAt time.Time, state string, att Attempt) error {
	b, err := json.Marshal(att)
	if err != nil {
		return err
	}
	ttl := h.cfg.LogTTL
	_, err = h.rdb.TxPipelined(ctx, func(pp redis.Pipeliner) error {
		pp.HSet(ctx, h.deliveryKey(p.Delivery), "s", state, "f", firstAt.UnixMilli())
		pp.LPush(ctx, h.attemptsKey(p.Delivery), b)
		pp.LTrim(ctx, h.attemptsKey(p.Delivery), 0, keptAttempts-1)
		pp.Expire(ctx, h.attemptsKey(p.Delivery), ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record attempt of %s: %w", p.Delivery, err)
	}
	return nil
}

// call signs and posts body. A nil error means a 2xx answer.
func (h *Hub) call(ctx context.Context, ep *Endpoint, id string, at time.Time, body []byte) (int, time.Duration, error) {
	sig, err := sign(ep.signing(at), id, at, body)
	if err != nil {
		return 0, 0, fmt.Errorf("sign: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herold-Webhooks/1")
	req.Header.Set(standardwebhooks.HeaderWebhookID, id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	start := time.Now()
	resp, err := h.http.Do(req)
	elapsed := time.Since(start)
	if err != nil {
		return 0, elapsed, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, elapsed, nil
	}
	err = &statusError{code: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
			err = &retryAfterError{after: time.Duration(s) * time.Second, err: err}
		}
	}
	return resp.StatusCode, elapsed, err
}

// sign returns the webhook-signature header: one "v1,<base64>" per secret,
// space-separated (Standard Webhooks), so both secrets of a rotation verify.
func sign(secrets []Secret, id string, at time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("endpoint has no secret in force")
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s.Value)
		if err != nil {
			return "", err
		}
		sig, err := wh.Sign(id, at, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("answered %d", e.code) }

// errorClass names what went wrong without the receiver's text.
func errorClass(err error) string {
	var (
		se *statusError
		ne net.Error
		de *net.DNSError
	)
	switch {
	case errors.As(err, &se):
		return "status_" + strconv.Itoa(se.code)
	case errors.Is(err, ErrPrivateAddress):
		return "refused_private_address"
	case errors.As(err, &de):
		return "dns"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection_refused"
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return "tls"
	}
	return "network"
}

// ---- the log and replays

// Deliveries returns the newest deliveries of endpoint id (at most limit,
// at most HEROLD_WEBHOOKS_LOG_SIZE), newest first, with their attempts.
func (h *Hub) Deliveries(ctx context.Context, id string, limit int) ([]Delivery, error) {
	if _, err := h.Get(ctx, id); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > h.cfg.LogSize {
		limit = h.cfg.LogSize
	}
	ids, err := h.rdb.ZRevRange(ctx, h.logKey(id), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("webhook %s deliveries: %w", id, err)
	}
	out := make([]Delivery, 0, len(ids))
	for _, did := range ids {
		d, err := h.delivery(ctx, id, did)
		if errors.Is(err, ErrNotFound) {
			continue // expired
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Delivery returns one delivery of endpoint eid.
func (h *Hub) Delivery(ctx context.Context, eid, did string) (Delivery, error) {
	if !validID("wh_", eid) || !validID("whd_", did) {
		return Delivery{}, fmt.Errorf("delivery %s: %w", did, ErrNotFound)
	}
	return h.delivery(ctx, eid, did)
}

func (h *Hub) delivery(ctx context.Context, eid, did string) (Delivery, error) {
	var (
		fields *redis.SliceCmd
		atts   *redis.StringSliceCmd
	)
	if _, err := h.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		fields = p.HMGet(ctx, h.deliveryKey(did), "e", "s", "c", "b", "r")
		atts = p.LRange(ctx, h.attemptsKey(did), 0, -1)
		return nil
	}); err != nil {
		return Delivery{}, fmt.Errorf("delivery %s: %w", did, err)
	}
	v := fields.Val()
	e, _ := v[0].(string)
	if e == "" || e != eid {
		return Delivery{}, fmt.Errorf("delivery %s: %w", did, ErrNotFound)
	}
	d := Delivery{ID: did, EndpointID: e, Attempts: []Attempt{}}
	d.State, _ = v[1].(string)
	if c, ok := v[2].(string); ok {
		ms, _ := strconv.ParseInt(c, 10, 64)
		d.CreatedAt = time.UnixMilli(ms).UTC()
	}
	if r, ok := v[4].(string); ok {
		d.Replays, _ = strconv.Atoi(r)
	}
	body, _ := v[3].(string)
	d.Events = eventRefs([]byte(body))
	for _, a := range atts.Val() {
		var at Attempt
		if json.Unmarshal([]byte(a), &at) == nil {
			d.Attempts = append(d.Attempts, at)
		}
	}
	return d, nil
}

func eventRefs(body []byte) []EventRef {
	var many []EventRef
	if len(body) > 0 && body[0] == '[' {
		_ = json.Unmarshal(body, &many)
		return many
	}
	var one EventRef
	if json.Unmarshal(body, &one) == nil {
		return []EventRef{one}
	}
	return nil
}

// replayScript resets a finished delivery to pending and counts the replay;
// 0 when it is not finished (a concurrent replay won).
var replayScript = redis.NewScript(`
local s = redis.call('HGET', KEYS[1], 's')
if s ~= 'delivered' and s ~= 'failed' then return 0 end
redis.call('HSET', KEYS[1], 's', 'pending', 'f', '')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'r', 1)`)

// Replay sends a finished delivery (delivered or failed) again, with the
// same webhook-id, so a receiver that kept it can drop the copy. It starts
// a fresh back-off and a fresh HEROLD_WEBHOOKS_MAX_AGE.
func (h *Hub) Replay(ctx context.Context, eid, did string) (Delivery, error) {
	d, err := h.Delivery(ctx, eid, did)
	if err != nil {
		return Delivery{}, err
	}
	if d.State != StateDelivered && d.State != StateFailed {
		return Delivery{}, fmt.Errorf("delivery %s is %s: %w", did, d.State, ErrBusy)
	}
	n, err := replayScript.Run(ctx, h.rdb, []string{h.deliveryKey(did)}, int64(h.cfg.LogTTL/time.Second)).Int64()
	if err != nil {
		return Delivery{}, fmt.Errorf("replay %s: %w", did, err)
	}
	if n == 0 {
		return Delivery{}, fmt.Errorf("delivery %s: %w", did, ErrBusy)
	}
	if err := h.enqueue(ctx, taskPayload{Endpoint: eid, Delivery: did, Replay: true}, did+"-r"+strconv.FormatInt(n, 10)); err != nil {
		return Delivery{}, err
	}
	d.State, d.Replays = StatePending, int(n)
	return d, nil
}
