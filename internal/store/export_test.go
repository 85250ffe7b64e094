package store

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/message"
)

// PutRawMessage stores raw as the JSON of message id of recipient rid, as
// an older or a broken version of Herold may have written it, so tests can
// check that nothing stored can block export and erasure.
func (s *Store) PutRawMessage(ctx context.Context, id string, rid message.RecipientID, raw string, ttl time.Duration) error {
	pipe := s.rdb.Pipeline()
	pipe.HSet(ctx, s.messageKey(id), "r", "1", "j", raw)
	pipe.PExpire(ctx, s.messageKey(id), ttl)
	pipe.ZAdd(ctx, s.messageIndexKey(rid), redis.Z{Score: float64(time.Now().UnixMilli()), Member: id})
	pipe.PExpire(ctx, s.messageIndexKey(rid), ttl)
	_, err := pipe.Exec(ctx)
	return err
}
