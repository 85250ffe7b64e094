package store

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// deleteBatch is how many keys one SCAN asks for and one UNLINK removes: large
// enough to clear a load run's keys in few round trips, small enough not to
// block Redis.
const deleteBatch = 1000

// DeleteKeys deletes every key matching pattern, batch by batch. It lives here,
// outside the test helpers, because `herold load` and `herold bench` clean up
// their run's keys with it as well as the tests do.
func DeleteKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) error {
	iter := rdb.Scan(ctx, 0, pattern, deleteBatch).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == deleteBatch {
			if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return rdb.Unlink(ctx, batch...).Err()
	}
	return nil
}
