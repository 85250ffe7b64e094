package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"runtime"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/config"
)

// redisPingTimeout bounds the start-up check, so an unreachable Redis stops
// start-up within seconds instead of hanging.
const redisPingTimeout = 3 * time.Second

// connectRedis opens the one go-redis client that Herold and asynq share and
// checks that Redis answers. The error names the address (never the password).
func connectRedis(ctx context.Context, cfg config.Config) (*redis.Client, error) {
	opt, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		return nil, fmt.Errorf("HEROLD_REDIS_URL: %w", err)
	}
	if opt.Password == "" && cfg.Redis.Password != "" {
		opt.Password = cfg.Redis.Password
	}
	opt.DialTimeout = 2 * time.Second
	// Every busy worker and every API request may hold a connection at once.
	opt.PoolSize = 10*runtime.GOMAXPROCS(0) + cfg.Worker.Concurrency
	rdb := redis.NewClient(opt)

	pctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis at %s (HEROLD_REDIS_URL) is not reachable: %w", opt.Addr, err)
	}
	return rdb, nil
}

// sharedSecret returns configured when it is set. Otherwise it returns a
// random secret kept in Redis under key, created by the first process that
// asks: every api and worker process sharing the Redis then uses the same one,
// and it survives restarts as long as Redis keeps its data.
func sharedSecret(ctx context.Context, rdb redis.UniversalClient, key, configured string) (secret string, generated bool, err error) {
	if configured != "" {
		return configured, false, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", false, fmt.Errorf("generate secret: %w", err)
	}
	if err := rdb.SetNX(ctx, key, base64.RawURLEncoding.EncodeToString(b), 0).Err(); err != nil {
		return "", false, fmt.Errorf("store generated secret in redis (%s): %w", key, err)
	}
	s, err := rdb.Get(ctx, key).Result()
	if err != nil {
		return "", false, fmt.Errorf("read generated secret from redis (%s): %w", key, err)
	}
	return s, true, nil
}
