package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/invalid"
)

// Observer is told about every webhook call, for metrics. outcome is
// "delivered", "retry" or "failed"; status is the HTTP status, 0 when no
// answer came.
type Observer interface {
	WebhookDelivery(outcome string, status int, elapsed time.Duration)
}

// Options are a Hub's dependencies.
type Options struct {
	Redis  redis.UniversalClient
	Prefix string // the store's key prefix, e.g. "herold:"
	// Client enqueues delivery tasks on Config.Queue.
	Client *asynq.Client
	// Config is the webhooks section; Queue already carries any queue suffix.
	Config   config.Webhooks
	Log      *slog.Logger
	Observer Observer         // optional
	Now      func() time.Time // default time.Now
	// HTTPClient replaces the guarded client; tests only.
	HTTPClient *http.Client
}

// Hub owns the webhook endpoints and their deliveries. It is safe for
// concurrent use; one Hub per process.
type Hub struct {
	rdb    redis.UniversalClient
	prefix string
	client *asynq.Client
	cfg    config.Webhooks
	log    *slog.Logger
	obs    Observer
	now    func() time.Time
	http   *http.Client
	rate   *redis_rate.Limiter

	snap   atomic.Pointer[snapshot]
	loadMu sync.Mutex    // one reload at a time
	wake   chan struct{} // Publish → pump, in this process
}

// snapshot is the endpoint list as one version of it was stored.
type snapshot struct {
	version   int64
	endpoints map[string]*Endpoint
	enabled   []*Endpoint // subscribed to anything and enabled
}

// New returns a Hub. It does not touch Redis: the endpoint list is loaded on
// the first Publish or by Run.
func New(o Options) (*Hub, error) {
	switch {
	case o.Redis == nil:
		return nil, errors.New("webhooks: no Redis client")
	case o.Client == nil:
		return nil, errors.New("webhooks: no asynq client")
	case o.Config.Queue == "":
		return nil, errors.New("webhooks: no queue name")
	}
	h := &Hub{
		rdb: o.Redis, prefix: o.Prefix, client: o.Client, cfg: o.Config, obs: o.Observer,
		log: o.Log, now: o.Now, http: o.HTTPClient, rate: redis_rate.NewLimiter(o.Redis),
		wake: make(chan struct{}, 1),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.http == nil {
		h.http = newHTTPClient(o.Config.Timeout, o.Config.AllowPrivate)
	}
	return h, nil
}

// ---- keys: every key shares the hash tag {wh}, so the scripts that move
// events from an outbox into a delivery run on one Redis Cluster slot.

func (h *Hub) key(parts ...string) string {
	k := h.prefix + "{wh}"
	for _, p := range parts {
		k += ":" + p
	}
	return k
}

func (h *Hub) endpointsKey() string        { return h.key("endpoints") }
func (h *Hub) versionKey() string          { return h.key("version") }
func (h *Hub) dueKey() string              { return h.key("due") }
func (h *Hub) unsentKey() string           { return h.key("unsent") }
func (h *Hub) outboxKey(eid string) string { return h.key("q", eid) }
func (h *Hub) logKey(eid string) string    { return h.key("dl", eid) }
func (h *Hub) deliveryKey(did string) string {
	return h.key("d", did)
}
func (h *Hub) attemptsKey(did string) string { return h.key("da", did) }
func (h *Hub) rateKey(eid string) string     { return h.key("rate", eid) }

// ---- the endpoint cache

// current returns the cached endpoint list, loading it on first use.
func (h *Hub) current(ctx context.Context) (*snapshot, error) {
	if s := h.snap.Load(); s != nil {
		return s, nil
	}
	return h.reload(ctx, true)
}

// reload reads the endpoint list if its version changed (or force).
func (h *Hub) reload(ctx context.Context, force bool) (*snapshot, error) {
	h.loadMu.Lock()
	defer h.loadMu.Unlock()
	old := h.snap.Load()
	if !force && old != nil {
		v, err := h.rdb.Get(ctx, h.versionKey()).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return old, fmt.Errorf("webhooks: read version: %w", err)
		}
		if v == old.version {
			return old, nil
		}
	}
	var (
		ver *redis.StringCmd
		all *redis.MapStringStringCmd
	)
	if _, err := h.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		ver = p.Get(ctx, h.versionKey())
		all = p.HGetAll(ctx, h.endpointsKey())
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return old, fmt.Errorf("webhooks: load endpoints: %w", err)
	}
	s := &snapshot{endpoints: map[string]*Endpoint{}}
	s.version, _ = strconv.ParseInt(ver.Val(), 10, 64)
	for id, j := range all.Val() {
		var e Endpoint
		if err := json.Unmarshal([]byte(j), &e); err != nil {
			h.log.ErrorContext(ctx, "webhooks: unreadable endpoint, skipped", "endpoint_id", id, "err", err)
			continue
		}
		s.endpoints[id] = &e
		if e.Enabled && len(e.EventTypes) > 0 {
			s.enabled = append(s.enabled, &e)
		}
	}
	slices.SortFunc(s.enabled, func(a, b *Endpoint) int { return compareStrings(a.ID, b.ID) })
	h.snap.Store(s)
	return s, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ---- publishing

// Publish queues evs for every enabled endpoint subscribed to their types.
// With no such endpoint it reads only the cached list and returns: no Redis
// call, no allocation. Otherwise it writes every matching event in one
// MULTI/EXEC pipeline and wakes this process's pump. Events are validated
// (events.Event.Validate) only then, and a bad one fails the whole call,
// so nothing is half-queued. Publish assigns missing event ids (to its own
// copy: the caller's events stay as they are).
//
// An endpoint created in another process receives events from this one
// after at most HEROLD_WEBHOOKS_REFRESH.
func (h *Hub) Publish(ctx context.Context, evs ...events.Event) error {
	s := h.snap.Load()
	if s == nil {
		var err error
		if s, err = h.current(ctx); err != nil {
			return err
		}
	}
	if len(s.enabled) == 0 || len(evs) == 0 {
		return nil
	}
	matched := false
	for _, ep := range s.enabled {
		for _, e := range evs {
			if ep.Wants(e.Type) {
				matched = true
				break
			}
		}
	}
	if !matched {
		return nil
	}
	return h.publish(ctx, s, slices.Clone(evs))
}

// publish is Publish's slow road. It works on its own copy of the events,
// so that the caller's variadic slice does not escape and the road without
// a subscriber allocates nothing.
func (h *Hub) publish(ctx context.Context, s *snapshot, evs []events.Event) error {
	encoded := make([]any, len(evs))
	for i := range evs {
		if evs[i].ID == "" {
			evs[i].ID = events.NewID()
		}
		if err := evs[i].Validate(); err != nil {
			return fmt.Errorf("webhooks: publish: %w", err)
		}
		b, err := json.Marshal(evs[i])
		if err != nil {
			return fmt.Errorf("webhooks: encode %s: %w", evs[i].Type, err)
		}
		encoded[i] = b
	}
	now := float64(h.now().UnixMilli())
	if _, err := h.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, ep := range s.enabled {
			var vals []any
			for i, e := range evs {
				if ep.Wants(e.Type) {
					vals = append(vals, encoded[i])
				}
			}
			if len(vals) == 0 {
				continue
			}
			p.RPush(ctx, h.outboxKey(ep.ID), vals...)
			p.ZAddNX(ctx, h.dueKey(), redis.Z{Score: now, Member: ep.ID})
		}
		return nil
	}); err != nil {
		return fmt.Errorf("webhooks: queue %d events: %w", len(evs), err)
	}
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return nil
}

// ---- endpoint management

// Create stores a new endpoint and returns it with its secret, which is
// shown only here and by RotateSecret.
func (h *Hub) Create(ctx context.Context, in EndpointInput) (Endpoint, string, error) {
	now := h.now().UTC()
	e := Endpoint{ID: newID("wh_"), CreatedAt: now, UpdatedAt: now}
	if err := h.apply(&e, in, true); err != nil {
		return Endpoint{}, "", err
	}
	secret := NewSecret()
	if in.Secret != nil {
		secret = *in.Secret
	}
	e.Secrets = []Secret{{Value: secret, CreatedAt: now}}
	err := h.change(ctx, e.ID, func(cur *Endpoint, count int64) (*Endpoint, error) {
		if count >= int64(h.cfg.MaxEndpoints) {
			return nil, fmt.Errorf("%w (HEROLD_WEBHOOKS_MAX_ENDPOINTS is %d)", ErrLimit, h.cfg.MaxEndpoints)
		}
		return &e, nil
	})
	if err != nil {
		return Endpoint{}, "", err
	}
	return e, secret, nil
}

// List returns every endpoint, oldest first, read from Redis.
func (h *Hub) List(ctx context.Context) ([]Endpoint, error) {
	s, err := h.reload(ctx, true)
	if err != nil {
		return nil, err
	}
	out := make([]Endpoint, 0, len(s.endpoints))
	for _, e := range s.endpoints {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Endpoint) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return compareStrings(a.ID, b.ID)
	})
	return out, nil
}

// Get returns endpoint id, read from Redis.
func (h *Hub) Get(ctx context.Context, id string) (Endpoint, error) {
	if !validID("wh_", id) {
		return Endpoint{}, fmt.Errorf("webhook %s: %w", id, ErrNotFound)
	}
	j, err := h.rdb.HGet(ctx, h.endpointsKey(), id).Result()
	if errors.Is(err, redis.Nil) {
		return Endpoint{}, fmt.Errorf("webhook %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("webhook %s: %w", id, err)
	}
	var e Endpoint
	if err := json.Unmarshal([]byte(j), &e); err != nil {
		return Endpoint{}, fmt.Errorf("webhook %s: decode: %w", id, err)
	}
	return e, nil
}

// Update changes the fields in that are set.
func (h *Hub) Update(ctx context.Context, id string, in EndpointInput) (Endpoint, error) {
	var out Endpoint
	err := h.change(ctx, id, func(cur *Endpoint, _ int64) (*Endpoint, error) {
		if cur == nil {
			return nil, fmt.Errorf("webhook %s: %w", id, ErrNotFound)
		}
		e := *cur
		if err := h.apply(&e, in, false); err != nil {
			return nil, err
		}
		e.UpdatedAt = h.now().UTC()
		out = e
		return &e, nil
	})
	return out, err
}

// RotateSecret makes a new current secret. The previous current secret
// keeps signing for overlap (nil: HEROLD_WEBHOOKS_ROTATION_OVERLAP); secrets
// whose overlap is over are dropped.
func (h *Hub) RotateSecret(ctx context.Context, id string, overlap *time.Duration) (Endpoint, string, error) {
	ov := h.cfg.RotationOverlap
	if overlap != nil {
		if *overlap < 0 || *overlap > 30*24*time.Hour {
			var bad invalid.List
			bad.Add("overlap", "want 0s..720h, got %s", *overlap)
			return Endpoint{}, "", bad.Err()
		}
		ov = *overlap
	}
	secret := NewSecret()
	var out Endpoint
	err := h.change(ctx, id, func(cur *Endpoint, _ int64) (*Endpoint, error) {
		if cur == nil {
			return nil, fmt.Errorf("webhook %s: %w", id, ErrNotFound)
		}
		now := h.now().UTC()
		e := *cur
		keep := []Secret{{Value: secret, CreatedAt: now}}
		for _, s := range cur.signing(now) {
			if s.ExpiresAt.IsZero() {
				s.ExpiresAt = now.Add(ov)
			}
			if ov > 0 {
				keep = append(keep, s)
			}
		}
		e.Secrets, e.UpdatedAt = keep, now
		out = e
		return &e, nil
	})
	if err != nil {
		return Endpoint{}, "", err
	}
	return out, secret, nil
}

// Delete removes endpoint id and the events waiting for it. Deliveries
// already being tried fail with "endpoint deleted".
func (h *Hub) Delete(ctx context.Context, id string) error {
	return h.change(ctx, id, func(cur *Endpoint, _ int64) (*Endpoint, error) {
		if cur == nil {
			return nil, fmt.Errorf("webhook %s: %w", id, ErrNotFound)
		}
		return nil, nil
	})
}

// change runs fn over the stored endpoint id (nil if there is none) under
// WATCH, then stores what it returns (nil: delete) and bumps the version,
// so concurrent changes never overwrite each other and every process sees
// the change at its next refresh. This process sees it at once.
func (h *Hub) change(ctx context.Context, id string, fn func(cur *Endpoint, count int64) (*Endpoint, error)) error {
	if !validID("wh_", id) {
		return fmt.Errorf("webhook %s: %w", id, ErrNotFound)
	}
	for range 5 {
		err := h.rdb.Watch(ctx, func(tx *redis.Tx) error {
			j, err := tx.HGet(ctx, h.endpointsKey(), id).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			var cur *Endpoint
			if err == nil {
				cur = &Endpoint{}
				if err := json.Unmarshal([]byte(j), cur); err != nil {
					return fmt.Errorf("decode: %w", err)
				}
			}
			count, err := tx.HLen(ctx, h.endpointsKey()).Result()
			if err != nil {
				return err
			}
			next, err := fn(cur, count)
			if err != nil {
				return err
			}
			var b []byte
			if next != nil {
				if b, err = json.Marshal(next); err != nil {
					return err
				}
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				if next == nil {
					p.HDel(ctx, h.endpointsKey(), id)
					p.Del(ctx, h.outboxKey(id))
					p.ZRem(ctx, h.dueKey(), id)
				} else {
					p.HSet(ctx, h.endpointsKey(), id, b)
				}
				p.Incr(ctx, h.versionKey())
				return nil
			})
			return err
		}, h.endpointsKey())
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			if _, bad := invalid.As(err); bad || errors.Is(err, ErrNotFound) || errors.Is(err, ErrLimit) {
				return err
			}
			return fmt.Errorf("webhook %s: %w", id, err)
		}
		if _, err := h.reload(ctx, true); err != nil {
			h.log.WarnContext(ctx, "webhooks: reload after change", "err", err)
		}
		return nil
	}
	return fmt.Errorf("webhook %s: changed concurrently too often, try again", id)
}
