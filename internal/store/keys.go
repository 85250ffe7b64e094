package store

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/redisconn"
)

// DeleteKeys deletes every key matching pattern, on every primary of a
// Redis Cluster too (redisconn.DeleteKeys). It lives here, outside the test
// helpers, because `herold load` and `herold bench` clean up their run's keys
// with it as well as the tests do.
func DeleteKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) error {
	return redisconn.DeleteKeys(ctx, rdb, pattern)
}
