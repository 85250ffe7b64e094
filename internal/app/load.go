package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/token"
)

// LoadCatalog parses the catalog file at path, or the embedded default when
// path is empty. The error names where the catalog came from and lists every
// problem ParseCatalog found.
func LoadCatalog(path string) (*policy.Catalog, error) {
	src, b := "embedded default catalog", policy.DefaultCatalog()
	if path != "" {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		src = path
	}
	cat, err := policy.ParseCatalog(b)
	if err != nil {
		return nil, &CatalogError{Source: src, Err: err}
	}
	return cat, nil
}

// CatalogError lists a catalog's problems, one per line.
type CatalogError struct {
	Source string
	Err    error
}

func (e *CatalogError) Error() string {
	var problems []string
	for _, line := range strings.Split(e.Err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			problems = append(problems, "  "+line)
		}
	}
	noun := "problems"
	if len(problems) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("catalog %s: %d %s:\n%s", e.Source, len(problems), noun, strings.Join(problems, "\n"))
}

func (e *CatalogError) Unwrap() error { return e.Err }

// NewRenderer builds the renderer from the configuration and checks that
// every type of the catalog has its templates; warnings (long SMS, missing
// ContentSid) go to warn.
func NewRenderer(cfg config.Config, cat *policy.Catalog, sealer *token.Sealer, warn func(string)) (*render.Renderer, error) {
	opts := render.OptionsFromConfig(cfg.Templates)
	opts.Catalog, opts.Sealer, opts.PublicURL = cat, sealer, cfg.HTTP.PublicURL
	r, err := render.New(opts)
	if err != nil {
		return nil, err
	}
	warnings, err := r.Check(cat)
	for _, w := range warnings {
		warn(w)
	}
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return r, nil
}

// redisPingTimeout bounds the start-up check, so an unreachable Redis stops
// start-up within seconds instead of hanging.
const redisPingTimeout = 3 * time.Second

// Connect opens the one go-redis client that Herold and asynq share and
// checks that Redis answers. The error names the address (never the password).
func Connect(ctx context.Context, cfg config.Config) (redis.UniversalClient, error) {
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

// SharedSecret returns configured when it is set. Otherwise it returns a
// random secret kept in Redis under key, created by the first process that
// asks: every api and worker process sharing the Redis then uses the same one,
// and it survives restarts as long as Redis keeps its data.
func SharedSecret(ctx context.Context, rdb redis.UniversalClient, key, configured string) (secret string, generated bool, err error) {
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
