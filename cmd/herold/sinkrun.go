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
	"strconv"
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
// composition root exactly as `herold serve` builds it, from the settings
// serve would read, except those in Overrides: a key prefix and queue names
// of this run only, e-mail to an SMTP sink that counts without keeping,
// phone channels to an outbox, secrets of its own, no listeners of its own
// beyond a loopback HTTP port.
type toolRun struct {
	app    *app.App
	sink   *smtpsink.Sink // the in-process sink, unless the run was given one
	rdb    redis.UniversalClient
	prefix string
	outbox string
	base   string // the HTTP side's URL, when the role has one
	// Overrides are the settings the run sets, in the order applied.
	Overrides []override

	cancel context.CancelFunc
	done   chan error
}

// override is a setting a tool run sets instead of the configured one.
type override struct {
	env, value string
	secret     bool // shown masked
}

func (o override) String() string {
	if o.secret {
		return o.env + "=(this run's own)"
	}
	return o.env + "=" + o.value
}

type toolRunOptions struct {
	name     string   // "load" or "bench": names the prefix and queues
	role     app.Role // which servers run
	apiKeys  string   // HEROLD_API_KEYS of the run
	smtpPool int      // HEROLD_SMTP_POOL_SIZE of the run; 0: as configured
	from     string
	// sinkHost and sinkPort name an SMTP sink running elsewhere (the bench's
	// sink process); empty: an in-process sink.
	sinkHost string
	sinkPort int
	wrap     func(message.Channel, channels.Sender) channels.Sender
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
	if o.sinkHost == "" {
		if r.sink, err = smtpsink.New(false); err != nil {
			return nil, err
		}
		o.sinkHost, o.sinkPort = r.sink.Host, r.sink.Port
	}
	if r.outbox, err = os.MkdirTemp("", "herold-"+o.name+"-outbox-"); err != nil {
		return nil, err
	}
	r.Overrides = []override{
		{env: "HEROLD_REDIS_PREFIX", value: r.prefix},
		{env: "HEROLD_QUEUE_SUFFIX", value: "-" + o.name + "-" + tag},
		{env: "HEROLD_SMTP_HOST", value: o.sinkHost},
		{env: "HEROLD_SMTP_PORT", value: strconv.Itoa(o.sinkPort)},
		{env: "HEROLD_SMTP_TLS", value: "off"},
		{env: "HEROLD_SMTP_USERNAME", value: ""},
		{env: "HEROLD_SMTP_FROM", value: o.from},
		{env: "HEROLD_SMTP_RATE", value: "0"},
		{env: "HEROLD_TWILIO_ACCOUNT_SID", value: ""}, // phone channels write to the run's outbox
		{env: "HEROLD_OUTBOX_DIR", value: r.outbox},
		{env: "HEROLD_API_KEYS", value: o.apiKeys, secret: o.apiKeys != ""},
		{env: "HEROLD_API_KEYS_CONFIG", value: ""},
		{env: "HEROLD_TOKEN_SECRET", value: tag + tag + tag, secret: true}, // never a real one
		{env: "HEROLD_HASH_SALT", value: tag + tag, secret: true},
		{env: "HEROLD_RECORD_TTL", value: "1h"},
		{env: "HEROLD_CAMPAIGN_RECORD_TTL", value: "1h"},
		{env: "HEROLD_SCHEDULER", value: "false"},
		{env: "HEROLD_HTTP_ADDR", value: "127.0.0.1:0"},
		{env: "HEROLD_PUBLIC_URL", value: "http://127.0.0.1:8080"},
		{env: "HEROLD_METRICS_ADDR", value: ""}, // no listeners a running Herold may hold
		{env: "HEROLD_DEBUG_ADDR", value: ""},
		{env: "HEROLD_BOUNCE_SMTP_ADDR", value: ""},
	}
	if o.smtpPool > 0 {
		r.Overrides = append(r.Overrides, override{env: "HEROLD_SMTP_POOL_SIZE", value: strconv.Itoa(o.smtpPool)})
	}
	cfg := base
	for _, ov := range r.Overrides {
		if err := config.Set(&cfg, ov.env, ov.value); err != nil {
			return nil, err
		}
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
