package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/channels/email"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/dispatch/dispatchtest"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/token"
)

// runTag returns a fresh random tag that names one `herold load` or `herold
// bench` run's key prefix and queues, so a run never touches another's keys.
func runTag() string {
	run := make([]byte, 6)
	_, _ = rand.Read(run)
	return hex.EncodeToString(run)
}

// deleteRunKeys deletes every key under a run's prefix.
func deleteRunKeys(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	if err := store.DeleteKeys(ctx, rdb, prefix+"*"); err != nil {
		return fmt.Errorf("clean up %s*: %w", prefix, err)
	}
	return nil
}

// sinkRun is what `herold load` and `herold bench` both build before their
// own workers: a sealer with a key of this run only, the renderer, an
// in-process SMTP sink that counts without keeping, and the real e-mail
// adapter talking to it.
type sinkRun struct {
	secret []byte // the sealer's random key; load derives its API key from it
	sealer *token.Sealer
	rnd    *render.Renderer
	sink   *dispatchtest.SMTPSink
	mailer *email.Sender
}

type sinkRunOptions struct {
	templates      config.Templates
	smtpPool       int
	from, fromName string
}

func newSinkRun(cat *policy.Catalog, o sinkRunOptions, log *slog.Logger) (*sinkRun, error) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	sealer, err := token.NewSealer(hex.EncodeToString(secret))
	if err != nil {
		return nil, err
	}
	cfg := config.Config{Templates: o.templates}
	cfg.HTTP.PublicURL = "http://127.0.0.1:8080"
	rnd, err := newRenderer(cfg, cat, sealer, func(string) {})
	if err != nil {
		return nil, err
	}
	sink, err := dispatchtest.NewSMTPSink(false)
	if err != nil {
		return nil, err
	}
	mailer, err := email.New(email.Config{Host: sink.Host, Port: sink.Port, TLS: email.TLSOff, PoolSize: o.smtpPool,
		Timeout: 10 * time.Second, ComposeConfig: email.ComposeConfig{From: o.from, FromName: o.fromName}}, log)
	if err != nil {
		sink.Close()
		return nil, err
	}
	return &sinkRun{secret: secret, sealer: sealer, rnd: rnd, sink: sink, mailer: mailer}, nil
}

// Close closes the adapter's connections before the sink they talk to.
func (r *sinkRun) Close() {
	r.mailer.Close()
	r.sink.Close()
}
