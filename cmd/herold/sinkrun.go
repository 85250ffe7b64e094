package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/smtpsink"
	"github.com/heroldhq/herold/internal/store"
)

// runTag returns a fresh random tag that names one `herold load` or `herold
// bench` run's key prefix and queues, so a run never touches another's keys.
func runTag() string {
	run := make([]byte, 6)
	_, _ = rand.Read(run)
	return hex.EncodeToString(run)
}

// toolRun is one run of `herold load` or `herold bench`: Herold built by the
// composition root exactly as `herold serve` builds it, under a key prefix and
// queue names of this run only, sending e-mail to an SMTP sink that counts
// without keeping.
type toolRun struct {
	app    *app.App
	sink   *smtpsink.Sink
	rdb    redis.UniversalClient
	prefix string
	outbox string
	base   string // the HTTP side's URL, when the role has one

	cancel context.CancelFunc
	done   chan error
}

type toolRunOptions struct {
	name     string   // "load" or "bench": names the prefix and queues
	role     app.Role // which servers run
	apiKeys  string   // HEROLD_API_KEYS of the run
	smtpPool int
	from     string
	// adjust, if set, changes the run's configuration before it is built.
	adjust func(*config.Config)
	wrap   func(message.Channel, channels.Sender) channels.Sender
}

// startToolRun builds and starts Herold for a tool run on base (the
// configuration read from the environment) and rdb.
func startToolRun(ctx context.Context, base config.Config, rdb redis.UniversalClient, o toolRunOptions, log *slog.Logger) (_ *toolRun, err error) {
	tag := runTag()
	r := &toolRun{rdb: rdb, prefix: base.Redis.KeyPrefix + o.name + "-" + tag + ":"}
	defer func() {
		if err != nil {
			r.Close(context.WithoutCancel(ctx))
		}
	}()
	if r.sink, err = smtpsink.New(false); err != nil {
		return nil, err
	}
	if r.outbox, err = os.MkdirTemp("", "herold-"+o.name+"-outbox-"); err != nil {
		return nil, err
	}
	cfg := base
	cfg.Redis.KeyPrefix = r.prefix
	cfg.Dispatch.QueueSuffix = "-" + o.name + "-" + tag
	cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS, cfg.SMTP.Username = r.sink.Host, r.sink.Port, "off", ""
	cfg.SMTP.PoolSize, cfg.SMTP.From, cfg.SMTP.Rate = o.smtpPool, o.from, 0
	cfg.Twilio = config.Twilio{} // phone channels write to the run's outbox
	cfg.Core.OutboxDir, cfg.Core.APIKeys, cfg.Core.APIKeysFile = r.outbox, o.apiKeys, ""
	cfg.Core.TokenSecret, cfg.Core.HashSalt = tag+tag+tag, tag+tag // this run's own, never a real one
	cfg.Core.RecordTTL = time.Hour
	cfg.Campaigns.RecordTTL = time.Hour
	cfg.Worker.Scheduler = false
	cfg.HTTP.Addr, cfg.HTTP.PublicURL = "127.0.0.1:0", "http://127.0.0.1:8080"
	if o.adjust != nil {
		o.adjust(&cfg)
	}
	if r.app, err = app.New(ctx, cfg, app.Options{Role: o.role, Log: log, Redis: rdb, WrapSender: o.wrap}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return nil, err
	}
	r.base = "http://" + ln.Addr().String()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel, r.done = cancel, make(chan error, 1)
	ready := make(chan struct{})
	go func() { r.done <- r.app.Run(runCtx, ln, func(string) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-r.done:
		r.done <- err
		return nil, fmt.Errorf("start herold: %w", err)
	}
	return r, nil
}

// Close stops Herold, then the sink, and deletes every key and queue of the run.
func (r *toolRun) Close(ctx context.Context) error {
	var errs []error
	if r.cancel != nil {
		r.cancel()
		errs = append(errs, <-r.done)
	}
	if r.app != nil {
		qs := r.app.Queues
		campaignQueue := r.app.Config.Campaigns.Queue + qs.Suffix
		r.app.Close()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		errs = append(errs, queue.Purge(cctx, r.rdb, qs, campaignQueue))
	}
	if r.sink != nil {
		errs = append(errs, r.sink.Close())
	}
	if r.outbox != "" {
		errs = append(errs, os.RemoveAll(r.outbox))
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := store.DeleteKeys(cctx, r.rdb, r.prefix+"*"); err != nil {
		errs = append(errs, fmt.Errorf("clean up %s*: %w", r.prefix, err))
	}
	return errors.Join(errs...)
}
