// Package redisconn turns the Redis configuration into the one go-redis client
// that Herold's stores and asynq share, whatever the topology behind
// HEROLD_REDIS_URL: one server (*redis.Client), a primary found through
// Sentinel (the *redis.Client of redis.NewFailoverClient) or a Redis Cluster
// (*redis.ClusterClient).
//
// # Sharing the client with asynq
//
// asynq v0.26's NewClientFromRedisClient, NewServerFromRedisClient,
// NewInspectorFromRedisClient and NewSchedulerFromRedisClient take a
// redis.UniversalClient and use nothing but its commands; asynq's own
// RedisClusterClientOpt and RedisFailoverClientOpt only build the same go-redis
// clients with fewer settings. So the client from Open serves asynq on all three
// topologies, with one connection pool, and no asynq.RedisConnOpt is needed.
// asynq keeps every key of a queue under the hash tag {queue}, and touches its
// few global keys (asynq:queues, asynq:servers, asynq:workers,
// asynq:schedulers) with single-key commands only, so it runs on a cluster,
// inspector included (the Asynq check of TestOnCluster and TestOnSentinel).
//
// # Durability
//
// Redis replicates asynchronously: a write the primary confirmed can be lost
// when the primary dies before a replica has it. Durability makes chosen
// writes wait for replicas with WAIT; see its doc.
//
// # Logging
//
// RouteLogs sends go-redis' own log lines (failed dials, failovers, cluster
// reloads) to slog, once per process.
package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/config"
)

// pingTimeout bounds the start-up check, so an unreachable Redis stops
// start-up within seconds instead of hanging.
const pingTimeout = 3 * time.Second

// Open builds the client of the kind cfg names (see New) and checks that it
// works: the server answers PING; on Sentinel, the sentinels name a primary
// that answers; on a cluster, every primary answers and the cluster state is
// ok. The error names the address (or the sentinels and master, or the seeds
// and the failing node), never the password.
func Open(ctx context.Context, cfg config.Redis, workers int) (redis.UniversalClient, error) {
	rdb, err := New(cfg, workers)
	if err != nil {
		return nil, err
	}
	t, _ := cfg.Target() // New has parsed it
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := Ping(pctx, rdb); err != nil {
		rdb.Close()
		if t.Mode == config.RedisSentinel {
			// The failover client retries until the deadline and then says
			// only that; ask the sentinels what is wrong.
			dctx, cancel := context.WithTimeout(ctx, pingTimeout)
			defer cancel()
			err = fmt.Errorf("%w (%w)", err, diagnoseSentinels(dctx, cfg, t))
		}
		return nil, fmt.Errorf("redis at %s (HEROLD_REDIS_URL) is not usable: %w", t, err)
	}
	return rdb, nil
}

// diagnoseSentinels asks each sentinel for the primary of t.MasterName and
// pings the primary named, and reports what failed where.
func diagnoseSentinels(ctx context.Context, cfg config.Redis, t config.RedisTarget) error {
	var tlsConf *tls.Config
	if t.TLS {
		tlsConf, _ = tlsConfig(cfg.TLSCAFile) // New has read it
	}
	var errs []string // joined on one line, for a one-line log entry
	for _, addr := range t.Addrs {
		s := redis.NewSentinelClient(&redis.Options{
			Addr: addr, Password: cfg.SentinelPassword, TLSConfig: tlsConf,
			DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, MaxRetries: -1,
		})
		hp, err := s.GetMasterAddrByName(ctx, t.MasterName).Result()
		s.Close()
		if errors.Is(err, redis.Nil) {
			errs = append(errs, fmt.Sprintf("sentinel %s knows no master %q", addr, t.MasterName))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("sentinel %s: %v", addr, err))
			continue
		}
		primary := net.JoinHostPort(hp[0], hp[1])
		c := redis.NewClient(&redis.Options{
			Addr: primary, Username: t.Username, Password: t.Password, DB: t.DB, TLSConfig: tlsConf,
			DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, MaxRetries: -1,
		})
		err = c.Ping(ctx).Err()
		c.Close()
		if err != nil {
			return fmt.Errorf("sentinel %s names primary %s: %w", addr, primary, err)
		}
		return fmt.Errorf("sentinel %s names primary %s, which answers now", addr, primary)
	}
	return errors.New(strings.Join(errs, "; "))
}

// New builds the client of the kind cfg.URL names, without connecting:
// a *redis.Client for redis:// and rediss://, the *redis.Client of
// redis.NewFailoverClient for redis+sentinel://, a *redis.ClusterClient for
// redis+cluster://. workers is the number of deliveries a process runs at once;
// with HEROLD_REDIS_POOL_SIZE 0 each server's pool gets 10 connections per CPU
// plus workers, so that every busy worker and API request can hold one.
func New(cfg config.Redis, workers int) (redis.UniversalClient, error) {
	t, err := cfg.Target()
	if err != nil {
		return nil, err
	}
	var tlsConf *tls.Config
	if t.TLS {
		if tlsConf, err = tlsConfig(cfg.TLSCAFile); err != nil {
			return nil, err
		}
	}
	pool := cfg.PoolSize
	if pool == 0 {
		pool = 10*runtime.GOMAXPROCS(0) + max(workers, 0)
	}
	switch t.Mode {
	case config.RedisCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:        t.Addrs,
			Username:     t.Username,
			Password:     t.Password,
			TLSConfig:    tlsConf,
			PoolSize:     pool, // per node
			DialTimeout:  cfg.DialTimeout,
			ReadTimeout:  cfg.ReadTimeout,
			WriteTimeout: cfg.WriteTimeout,
		}), nil
	case config.RedisSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:       t.MasterName,
			SentinelAddrs:    t.Addrs,
			SentinelPassword: cfg.SentinelPassword,
			Username:         t.Username,
			Password:         t.Password,
			DB:               t.DB,
			TLSConfig:        tlsConf, // to the sentinels and to the servers
			PoolSize:         pool,
			DialTimeout:      cfg.DialTimeout,
			ReadTimeout:      cfg.ReadTimeout,
			WriteTimeout:     cfg.WriteTimeout,
		}), nil
	default:
		return redis.NewClient(&redis.Options{
			Addr:         t.Addrs[0],
			Username:     t.Username,
			Password:     t.Password,
			DB:           t.DB,
			TLSConfig:    tlsConf,
			PoolSize:     pool,
			DialTimeout:  cfg.DialTimeout,
			ReadTimeout:  cfg.ReadTimeout,
			WriteTimeout: cfg.WriteTimeout,
		}), nil
	}
}

// tlsConfig verifies servers against caFile, or the system's CAs when it is
// empty. ServerName stays empty: crypto/tls then takes it from the address
// dialled, which on a cluster or with Sentinel differs from node to node.
func tlsConfig(caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("HEROLD_REDIS_TLS_CA_FILE: %w", err)
	}
	c.RootCAs = x509.NewCertPool()
	if !c.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("HEROLD_REDIS_TLS_CA_FILE: %s holds no PEM certificate", caFile)
	}
	return c, nil
}

// Ping checks that rdb can serve commands: PING on one server or the primary
// Sentinel names; on a cluster PING on every primary (the error names the one
// that fails) and CLUSTER INFO reporting cluster_state:ok.
func Ping(ctx context.Context, rdb redis.UniversalClient) error {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.Ping(ctx).Err()
	}
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		if err := node.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("primary %s: %w", node.Options().Addr, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	info, err := cc.ClusterInfo(ctx).Result()
	if err != nil {
		return fmt.Errorf("cluster info: %w", err)
	}
	for line := range strings.Lines(info) {
		if state, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster_state:"); ok {
			if state != "ok" {
				return fmt.Errorf("cluster_state is %s, not ok", state)
			}
			return nil
		}
	}
	return errors.New("cluster info has no cluster_state")
}
