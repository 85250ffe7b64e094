// Package store keeps Herold's state in Redis with go-redis: recipients, the
// consent ledger, suppression hashes, message records and decisions,
// idempotency keys and campaigns.
//
// # Key layout
//
// Every key starts with the configured prefix (default "herold:"). Keys of one
// recipient share the hash tag {r:<id>}, so on Redis Cluster they live in one
// slot and a MULTI, a pipeline or a Lua script over them works; see each
// area's file for its keys.
//
// Methods return ErrNotFound (wrapped with the operation) when a thing does not exist.
package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/redisconn"
)

// ErrNotFound means the recipient, message or campaign does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict means a write lost a race or reused an idempotency key with another body.
var ErrConflict = errors.New("conflict")

// Store is Herold's Redis state. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	salt   []byte           // HMAC key of suppression and index hashes (HEROLD_HASH_SALT)
	now    func() time.Time // clock for created_at, updated_at and suppression times
	events events.Publisher // hears consent.recorded and suppression.added
	dur    redisconn.Durability
	macs   sync.Pool // of HMAC-SHA256 keyed with salt: a bulk import hashes every address several times
}

// Option configures a Store.
type Option func(*Store)

// WithSalt sets the secret salt of the HMAC-SHA256 hashes that the
// suppression list and the e-mail and phone indexes are keyed by
// (HEROLD_HASH_SALT). Changing it later makes existing entries unfindable.
func WithSalt(salt string) Option { return func(s *Store) { s.salt = []byte(salt) } }

// WithDurability makes the writes that must survive the loss of the Redis
// primary wait for replicas (HEROLD_REDIS_MIN_REPLICAS_ACK): AppendConsent,
// and SyncMessage and SyncCampaign after accepting a message or a campaign.
// Without it (or with 0 replicas) they add no command.
func WithDurability(d redisconn.Durability) Option { return func(s *Store) { s.dur = d } }

// WithClock sets the clock the Store stamps records with (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithEvents tells p of every consent event appended (consent.recorded) and
// every contact point put on the suppression list (suppression.added):
// whichever road writes them (API, pages, provider feedback, erasure), the
// event is told once, here.
func WithEvents(p events.Publisher) Option { return func(s *Store) { s.events = p } }

// New returns a Store over rdb with every key under prefix.
func New(rdb redis.UniversalClient, prefix string, opts ...Option) *Store {
	s := &Store{rdb: rdb, prefix: prefix, now: time.Now, events: events.Nop{}}
	for _, o := range opts {
		o(s)
	}
	s.macs.New = func() any { return hmac.New(sha256.New, s.salt) }
	return s
}

// Redis returns the client, for components (asynq, the rate limiter) that share it.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// tell publishes evs; an event is never a reason to fail a write that
// happened, so a failure is only logged by the publisher's caller chain.
func (s *Store) tell(ctx context.Context, evs ...events.Event) error {
	return s.events.Publish(context.WithoutCancel(ctx), evs...)
}

// Prefix returns the key prefix.
func (s *Store) Prefix() string { return s.prefix }

// recipientTag is the hash tag that keeps one recipient's keys in one cluster slot.
func (s *Store) recipientKey(id, part string) string {
	return s.prefix + "{r:" + id + "}:" + part
}
