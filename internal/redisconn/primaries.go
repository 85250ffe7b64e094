package redisconn

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// ForEachPrimary calls fn once per primary that holds part of the keyspace:
// once with rdb's own *redis.Client for one server or Sentinel, once per
// primary (concurrently) on a cluster. SCAN and KEYS see only the node they
// run on, so a scan over the whole keyspace (segment evaluation, pruning,
// export, cleanup) runs through this. It returns the first error.
func ForEachPrimary(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, node *redis.Client) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, fn)
	}
	node, err := primaryFor(ctx, rdb, "")
	if err != nil {
		return err
	}
	return fn(ctx, node)
}

// deleteBatch is how many keys one SCAN asks for and one round trip deletes.
const deleteBatch = 1000

// DeleteKeys deletes every key matching pattern on every primary, batch by
// batch. On a cluster each key is unlinked by a command of its own (in one
// pipeline per batch): the keys of one batch lie in different hash slots,
// which one multi-key UNLINK refuses with CROSSSLOT.
func DeleteKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) error {
	_, cluster := rdb.(*redis.ClusterClient)
	return ForEachPrimary(ctx, rdb, func(ctx context.Context, node *redis.Client) error {
		unlink := func(keys []string) error {
			if !cluster {
				return node.Unlink(ctx, keys...).Err()
			}
			_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.Unlink(ctx, k)
				}
				return nil
			})
			return err
		}
		iter := node.Scan(ctx, 0, pattern, deleteBatch).Iterator()
		batch := make([]string, 0, deleteBatch)
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == deleteBatch {
				if err := unlink(batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			return unlink(batch)
		}
		return nil
	})
}
