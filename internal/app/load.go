package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/redisconn"
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
// every type of the catalog has its templates (and, on a WhatsApp that
// delivers through Twilio, its approved Content SIDs); warnings (long SMS,
// a missing Content SID where messages go to the outbox) go to warn.
func NewRenderer(cfg config.Config, cat *policy.Catalog, sealer *token.Sealer, warn func(string)) (*render.Renderer, error) {
	opts := render.OptionsFromConfig(cfg.Templates, cfg.Brand)
	opts.Catalog, opts.Sealer, opts.PublicURL = cat, sealer, cfg.HTTP.PublicURL
	opts.Live, opts.FreeForm = LiveChannels(cfg), FreeForm(cfg)
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

// FreeForm lists the channels on which a message without an approved
// template may go as free text inside the person's session window
// (HEROLD_WHATSAPP_FREE_FORM).
func FreeForm(cfg config.Config) []message.Channel {
	if cfg.Twilio.WhatsAppFreeForm {
		return []message.Channel{message.WhatsApp}
	}
	return nil
}

// Connect opens the one go-redis client that Herold and asynq share — a
// single Redis, Sentinel or Cluster, as HEROLD_REDIS_URL says — and checks
// that it answers. The error names the address, never the password.
func Connect(ctx context.Context, cfg config.Config) (redis.UniversalClient, error) {
	return redisconn.Open(ctx, cfg.Redis, cfg.Worker.Concurrency)
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
