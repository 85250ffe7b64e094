package store

// Idempotency keys.
//
// # Keys
//
//	<prefix>idem:<sha256(api key name, idempotency key)>   JSON Idempotency; TTL 24 h (configurable)
//
// The key is claimed with SET NX, so of two concurrent requests with the same
// key exactly one goes on to enqueue; the other sees the first one's record.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Idempotency is what Herold remembers about a request sent with an
// idempotency key: a hash of its body and the message it created.
type Idempotency struct {
	BodyHash  string    `json:"body_hash"`
	MessageID string    `json:"message_id"`
	At        time.Time `json:"at"`
}

func (s *Store) idempotencyKey(apiKey, key string) string {
	h := sha256.Sum256([]byte(apiKey + "\x00" + key))
	return s.prefix + "idem:" + hex.EncodeToString(h[:])
}

// ClaimIdempotency records rec under (apiKey, key) for ttl unless the pair was
// used before. It returns claimed=true when this call took the key; otherwise
// it returns the earlier record and claimed=false, or ErrConflict (wrapped)
// when the earlier request had another body.
func (s *Store) ClaimIdempotency(ctx context.Context, apiKey, key string, rec Idempotency, ttl time.Duration) (Idempotency, bool, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return Idempotency{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	// SET NX GET (Redis 7): sets and answers nil, or answers the old value.
	old, err := s.rdb.SetArgs(ctx, s.idempotencyKey(apiKey, key), b, redis.SetArgs{Mode: "NX", Get: true, TTL: ttl}).Result()
	if errors.Is(err, redis.Nil) {
		return rec, true, nil
	}
	if err != nil {
		return Idempotency{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	var prev Idempotency
	if err := json.Unmarshal([]byte(old), &prev); err != nil {
		return Idempotency{}, false, fmt.Errorf("claim idempotency key: decode: %w", err)
	}
	if prev.BodyHash != rec.BodyHash {
		return prev, false, fmt.Errorf("idempotency key reused with another request body: %w", ErrConflict)
	}
	return prev, false, nil
}

// releaseScript deletes KEYS[1] only if it still holds ARGV[1].
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// ReleaseIdempotency frees a key claimed for rec, when the request failed
// before anything was queued, so that the producer can retry it.
func (s *Store) ReleaseIdempotency(ctx context.Context, apiKey, key string, rec Idempotency) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	if err := releaseScript.Run(ctx, s.rdb, []string{s.idempotencyKey(apiKey, key)}, b).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
