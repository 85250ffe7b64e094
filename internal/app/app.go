// Package app is Herold's one composition root: it builds the whole
// application from a config.Config — Redis → store → catalog → renderer →
// senders → delivery → dispatch → campaigns → API and people's pages →
// asynq servers — with Run and Close. Every role of cmd/herold (serve, api,
// worker, dev), `herold bench` and `herold load`, and the end-to-end tests
// build Herold here and nowhere else, so the wiring cannot drift apart.
package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/api"
	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/campaign"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/delivery"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/feedback"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/pages"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/privacy"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/token"
)

// Role says which parts of Herold a process runs.
type Role struct {
	Name      string
	HTTP      bool // API, people's pages and webhooks (every role answers /healthz and /readyz)
	Worker    bool // the asynq servers that deliver messages and campaigns
	Scheduler bool // the asynq scheduler of periodic tasks
	Dev       bool // dev mode: secrets generated without a warning
}

// Options adjust New. A process role sets Role and Log; the rest is for the
// tools and tests that build Herold.
type Options struct {
	Role Role
	Log  *slog.Logger
	// Redis, if set, is used instead of connecting to HEROLD_REDIS_URL; the
	// caller keeps and closes it.
	Redis redis.UniversalClient
	// ExtraKeys are added to the configured API keys (dev mode's generated key).
	ExtraKeys []apikey.Key
	// Now is the delivery clock (default time.Now).
	Now func() time.Time
	// WrapSender, if set, decorates each channel's sender.
	WrapSender func(message.Channel, channels.Sender) channels.Sender
	// TwilioTransport carries Twilio's API calls (default: the network).
	TwilioTransport http.RoundTripper
	// SMTPRootCAs verifies the SMTP server's certificate (default: the system's).
	SMTPRootCAs *x509.CertPool
	// RetryDelay replaces the message worker's retry delays (default: a
	// provider's Retry-After, else asynq's exponential back-off).
	RetryDelay asynq.RetryDelayFunc
	// DelayedTaskCheck is how often the workers look for due scheduled and
	// retried tasks (default 1s; asynq's own default of 5s would delay every
	// send_at by up to that).
	DelayedTaskCheck time.Duration
}

// App is Herold, built. Its parts are exported for the commands and tests
// that drive them directly; a process role only calls Run and Close.
type App struct {
	Config config.Config
	Log    *slog.Logger
	Role   Role

	Redis     redis.UniversalClient
	Store     *store.Store
	Catalog   *policy.Catalog
	Keys      *apikey.Ring
	Tokens    *token.Sealer // seals unsubscribe, preference and confirmation links
	Queues    queue.Queues
	Client    *asynq.Client
	Inspector *asynq.Inspector

	Renderer   *render.Renderer
	Senders    *Senders
	Feedback   *feedback.Feedback
	Delivery   *delivery.Deliverer
	Messages   *dispatch.Service    // accepts messages (API, pages' double opt-in mails)
	Dispatcher *dispatch.Dispatcher // delivers them (worker)
	Campaigns  *campaign.Engine
	Pages      *pages.Pages

	// Tasks routes the message worker's tasks; tests may add handlers to it
	// before Run.
	Tasks *asynq.ServeMux

	opts      Options
	mux       *http.ServeMux // everything on HEROLD_HTTP_ADDR
	apiMux    *http.ServeMux // the /v1 routes, reached only through api.Authenticate
	scheduler *asynq.Scheduler
	ownRedis  bool
	closers   []func() error
}

// New builds Herold. On error it has released what it opened.
func New(ctx context.Context, cfg config.Config, o Options) (_ *App, err error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.DelayedTaskCheck <= 0 {
		o.DelayedTaskCheck = time.Second
	}
	a := &App{Config: cfg, Log: o.Log, Role: o.Role, opts: o}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	log := o.Log

	// ---- Catalog: refuse to start on any problem.
	if a.Catalog, err = LoadCatalog(cfg.Core.Catalog); err != nil {
		return nil, err
	}
	log.Info("catalog loaded", "version", a.Catalog.Version(), "types", len(a.Catalog.Types()))

	// ---- Redis
	if a.Redis = o.Redis; a.Redis == nil {
		if a.Redis, err = Connect(ctx, cfg); err != nil {
			return nil, err
		}
		a.ownRedis = true
	}

	// ---- API keys
	if a.Keys, err = apikey.Load(cfg.Core.APIKeys, cfg.Core.APIKeysFile, o.ExtraKeys...); err != nil {
		return nil, err
	}
	if o.Role.HTTP && a.Keys.Len() == 0 {
		log.Warn("NO API KEYS CONFIGURED: every /v1 request will be answered 401; set HEROLD_API_KEYS or HEROLD_API_KEYS_CONFIG (see `herold apikey`)")
	}

	// ---- Secrets for links, CSRF tokens and suppression hashes
	tokenSecret, generated, err := SharedSecret(ctx, a.Redis, cfg.Redis.KeyPrefix+"secret:token", cfg.Core.TokenSecret)
	if err != nil {
		return nil, fmt.Errorf("HEROLD_TOKEN_SECRET: %w", err)
	}
	if generated && !o.Role.Dev {
		log.Warn("HEROLD_TOKEN_SECRET is not set: using a secret generated and kept in Redis; set it for production, or links in sent messages break if Redis loses its data")
	}
	if a.Tokens, err = token.NewSealer(tokenSecret); err != nil {
		return nil, fmt.Errorf("HEROLD_TOKEN_SECRET: %w", err)
	}
	salt, generated, err := SharedSecret(ctx, a.Redis, cfg.Redis.KeyPrefix+"secret:hash_salt", cfg.Core.HashSalt)
	if err != nil {
		return nil, fmt.Errorf("HEROLD_HASH_SALT: %w", err)
	}
	if generated && !o.Role.Dev {
		log.Warn("HEROLD_HASH_SALT is not set: using a salt generated and kept in Redis; set it for production, or erased people's suppression entries stop matching if Redis loses its data")
	}
	// The store keys suppression entries and the e-mail/phone indexes by
	// HMAC(salt, address), so it is made once the salt is known.
	a.Store = store.New(a.Redis, cfg.Redis.KeyPrefix, store.WithSalt(salt))

	// ---- Queue
	a.Queues = queue.Queues{Suffix: cfg.Dispatch.QueueSuffix}
	a.Client = asynq.NewClientFromRedisClient(a.Redis)
	a.Inspector = asynq.NewInspectorFromRedisClient(a.Redis)
	a.Tasks = asynq.NewServeMux()
	a.scheduler = asynq.NewSchedulerFromRedisClient(a.Redis, &asynq.SchedulerOpts{
		Logger: queue.NewLogger(log), LogLevel: queue.LogLevel(cfg.Core.LogLevel), Location: time.UTC,
	})

	// ---- Channels: one sender per channel, rate-limited through the shared Redis.
	if a.Senders, err = BuildSenders(cfg, a.Redis, log.With("component", "channels"),
		senderOptions{smtpRootCAs: o.SMTPRootCAs, twilioTransport: o.TwilioTransport}); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.Senders.Close)
	senders := a.Senders.ByChannel
	if o.WrapSender != nil {
		senders = make(map[message.Channel]channels.Sender, len(a.Senders.ByChannel))
		for ch, s := range a.Senders.ByChannel {
			senders[ch] = o.WrapSender(ch, s)
		}
	}

	// ---- Templates: a missing template stops start-up, warnings are logged once.
	if a.Renderer, err = NewRenderer(cfg, a.Catalog, a.Tokens, func(w string) {
		log.Warn("template check", "warning", w)
	}); err != nil {
		return nil, err
	}

	// ---- The delivery core: one attempt for single messages and campaigns.
	zone, err := time.LoadLocation(cfg.Core.DefaultZone)
	if err != nil {
		return nil, fmt.Errorf("HEROLD_DEFAULT_TIME_ZONE: %w", err)
	}
	zones := recipient.NewZones(zone)
	a.Feedback = feedback.New(a.Store, log.With("component", "feedback"))
	if a.Delivery, err = delivery.New(delivery.Options{
		Catalog: a.Catalog, Renderer: a.Renderer, Senders: senders, Feedback: a.Feedback, Zones: zones,
		SendTimeout: cfg.Dispatch.SendTimeout, Log: log.With("component", "delivery"), Now: o.Now,
	}); err != nil {
		return nil, err
	}

	// ---- Dispatch: accepting (every role) and delivering (the worker).
	dlog := log.With("component", "dispatch")
	if a.Messages, err = dispatch.NewService(dispatch.ServiceOptions{
		Store: a.Store, Catalog: a.Catalog, Client: a.Client, Inspector: a.Inspector,
		Queues: a.Queues, Settings: cfg.Dispatch, MaxRetry: cfg.Worker.MaxRetry,
		RecordTTL: cfg.Core.RecordTTL, Region: cfg.Core.DefaultRegion, Locales: a.Renderer.Locales(), Log: dlog, Now: o.Now,
	}); err != nil {
		return nil, err
	}
	if a.Dispatcher, err = dispatch.New(dispatch.Options{Store: a.Store, Delivery: a.Delivery,
		RecordTTL: cfg.Core.RecordTTL, Log: dlog}); err != nil {
		return nil, err
	}

	// ---- Campaigns
	ccfg := cfg.Campaigns
	ccfg.Queue += a.Queues.Suffix
	// Invoices handled by this process's message worker go before campaign sends.
	prio := campaign.NewPriority(a.Queues.Name(message.Transactional))
	clog := log.With("component", "campaigns")
	if a.Campaigns, err = campaign.New(campaign.Options{
		Log: clog, Store: a.Store, Delivery: a.Delivery, Client: a.Client, Inspector: a.Inspector,
		Config: ccfg, Priority: prio,
	}); err != nil {
		return nil, err
	}

	// ---- Worker tasks
	a.Tasks.Use(queue.LogOutcome(log.With("component", "worker")))
	a.Tasks.Use(prio.Middleware)
	a.Tasks.Handle(queue.TypeDeliver, queue.NewDeliverHandler(a.Dispatcher, dlog))

	// ---- HTTP: health, provider webhooks and people's pages without an API
	// key; the /v1 API only through api.Authenticate, each handler checking
	// its scopes.
	a.mux = http.NewServeMux()
	a.apiMux = http.NewServeMux()
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.Handle("/v1/", api.Authenticate(a.Keys, a.apiMux))
	(&api.Recipients{Store: a.Store, Rights: privacy.New(a.Store), Catalog: a.Catalog, Log: log.With("component", "recipients"),
		Region: cfg.Core.DefaultRegion, MaxBody: cfg.HTTP.MaxBody}).Routes(a.apiMux)
	(&api.Decisions{Store: a.Store, Catalog: a.Catalog, Zones: zones, Log: log.With("component", "decisions"),
		MaxBody: cfg.HTTP.MaxBody, Now: o.Now}).Routes(a.apiMux)
	(&api.Messages{Service: a.Messages, MaxBody: cfg.HTTP.MaxBody, Log: dlog}).Routes(a.apiMux)
	(&api.Campaigns{Engine: a.Campaigns, Catalog: a.Catalog, Config: ccfg, Locales: a.Renderer.Locales(),
		MaxBody: cfg.HTTP.MaxBody, Log: clog, Now: o.Now}).Routes(a.apiMux)
	(&api.Preview{Renderer: a.Renderer, Catalog: a.Catalog, MaxBody: cfg.HTTP.MaxBody}).Routes(a.apiMux)
	(&api.Audience{Store: a.Store, Campaigns: a.Campaigns, Catalog: a.Catalog, Region: cfg.Core.DefaultRegion, MaxBody: cfg.HTTP.MaxBody, Log: log.With("component", "audience"), Now: o.Now}).Routes(a.apiMux)
	(&api.Webhooks{AuthToken: cfg.Twilio.AuthToken, PublicURL: cfg.HTTP.PublicURL,
		Statuses: a.Store, OptOuts: a.Feedback, Log: log.With("component", "webhooks"), Now: o.Now}).Routes(a.mux)
	if err := a.wirePages(tokenSecret, log.With("component", "pages")); err != nil {
		return nil, err
	}
	return a, nil
}

// wirePages serves the people's pages (sign-up with double opt-in,
// confirmation, preference centre, one-click unsubscribe), handles the
// clean-up of unconfirmed sign-ups and schedules it (in the service queue,
// every HEROLD_PAGES_PRUNE_EVERY). The confirmation mails go through
// a.Messages, the normal pipeline.
func (a *App) wirePages(secret string, log *slog.Logger) error {
	// The pages key their CSRF tokens and address hashes from the token
	// secret; they derive keys of their own from it, so none equals the
	// sealing key.
	pg, err := pages.New(pages.Options{
		Config: a.Config.Pages, PublicURL: a.Config.HTTP.PublicURL, Secret: secret, Sealer: a.Tokens,
		Store: a.Store, Submitter: a.Messages, Redis: a.Redis, Prefix: a.Config.Redis.KeyPrefix, Log: log,
		Catalog: a.Catalog,
	})
	if err != nil {
		return err
	}
	a.Pages = pg
	pg.Routes(a.mux)
	a.Tasks.Handle(pages.PruneTaskType, pg)
	if _, err := a.scheduler.Register(pg.PruneSchedule(), pages.NewPruneTask(a.Queues.Name(message.Service))); err != nil {
		return fmt.Errorf("pages: schedule %s: %w", pages.PruneTaskType, err)
	}
	// A German site must have an imprint and a privacy page (§5 DDG, Art. 13
	// GDPR): say so at start-up when the pages link neither.
	for _, w := range a.Config.Pages.Warnings() {
		log.Warn(w)
	}
	// A list the catalog's newsletter type does not name can be signed up
	// to, but its newsletters would all be denied: say so at start-up.
	if spec, ok := a.Catalog.Type("newsletter"); ok {
		for _, l := range a.Config.Pages.Lists {
			if !slices.Contains(spec.Lists, l.Key) {
				log.Warn("newsletter list offered on the sign-up page is not in the catalog's newsletter lists; its newsletters will be denied",
					"list", l.Key, "catalog_lists", spec.Lists)
			}
		}
	}
	return nil
}

// Handler is everything Herold serves on HEROLD_HTTP_ADDR in its role: the
// whole HTTP side, or only /healthz and /readyz for a worker.
func (a *App) Handler() http.Handler {
	if a.Role.HTTP {
		return a.mux
	}
	health := http.NewServeMux()
	health.HandleFunc("GET /healthz", a.healthz)
	health.HandleFunc("GET /readyz", a.readyz)
	return health
}

// workers makes the asynq servers of a worker role: the message worker
// (queues by class with strict priority, so an invoice never waits behind a
// campaign) and the campaign worker on its own queue with
// HEROLD_CAMPAIGN_WORKERS slots, so chunk tasks (seconds each) never occupy
// the slots that invoices need.
func (a *App) workers() (msg, camp *asynq.Server) {
	cfg := queue.ServerConfig(a.Queues, a.Config.Worker.Concurrency, a.Config.Worker.TaskCheckInterval, a.opts.RetryDelay, a.Log)
	cfg.DelayedTaskCheckInterval = a.opts.DelayedTaskCheck
	cfg.ShutdownTimeout = a.Config.HTTP.ShutdownGrace
	cfg.LogLevel = queue.LogLevel(a.Config.Core.LogLevel)
	cfg.HealthCheckFunc = func(err error) {
		if err != nil {
			a.Log.Error("worker lost redis", "err", err)
		}
	}
	ccfg := a.Campaigns.ServerConfig(queue.NewLogger(a.Log))
	ccfg.LogLevel = queue.LogLevel(a.Config.Core.LogLevel)
	ccfg.DelayedTaskCheckInterval = a.opts.DelayedTaskCheck
	return asynq.NewServerFromRedisClient(a.Redis, cfg), asynq.NewServerFromRedisClient(a.Redis, ccfg)
}

// Run serves until ctx is done or a server fails, then shuts down
// gracefully: the HTTP server finishes its requests and the workers their
// tasks, each within HEROLD_SHUTDOWN_GRACE. It serves HTTP on ln and closes
// it; ready, if set, is told the HTTP address once everything runs.
func (a *App) Run(ctx context.Context, ln net.Listener, ready func(addr string)) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	failed := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("http server: %w", err)
		}
	}()

	var started []*asynq.Server
	stopWorkers := func() {
		var wg sync.WaitGroup
		for _, s := range started {
			wg.Go(s.Shutdown) // waits for running tasks up to ShutdownTimeout
		}
		wg.Wait()
	}
	if a.Role.Worker {
		msg, camp := a.workers()
		if err := msg.Start(a.Tasks); err != nil {
			srv.Close()
			return fmt.Errorf("start worker: %w", err)
		}
		started = append(started, msg)
		cmux := asynq.NewServeMux()
		a.Campaigns.Register(cmux)
		if err := camp.Start(cmux); err != nil {
			srv.Close()
			stopWorkers()
			return fmt.Errorf("start campaign worker: %w", err)
		}
		started = append(started, camp)
	}
	if a.Role.Scheduler {
		if err := a.scheduler.Start(); err != nil {
			srv.Close()
			stopWorkers()
			return fmt.Errorf("start scheduler: %w", err)
		}
	}
	addr := ln.Addr().String()
	a.Log.Info("herold ready", "role", a.Role.Name, "http_addr", addr,
		"worker", a.Role.Worker, "scheduler", a.Role.Scheduler)
	if ready != nil {
		ready(addr)
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	a.Log.Info("shutting down", "grace", a.Config.HTTP.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.Config.HTTP.ShutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Shutdown(sctx); err != nil {
			a.Log.Warn("http requests cut off at shutdown", "err", err)
			srv.Close()
		}
	})
	wg.Go(stopWorkers)
	if a.Role.Scheduler {
		wg.Go(a.scheduler.Shutdown)
	}
	wg.Wait()
	a.Log.Info("herold stopped")
	return err
}

// Close releases what New opened, Redis last (if New connected to it).
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.Log.Warn("close", "err", err)
		}
	}
	a.closers = nil
	if a.ownRedis && a.Redis != nil {
		a.Redis.Close()
		a.Redis = nil
	}
}

// healthz answers 200 while the process runs (liveness).
func (a *App) healthz(w http.ResponseWriter, _ *http.Request) {
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when Redis answers, else 503 (readiness).
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.Redis.Ping(ctx).Err(); err != nil {
		a.Log.WarnContext(ctx, "readiness: redis not reachable", "err", err)
		api.WriteError(w, api.Errorf(http.StatusServiceUnavailable, "not_ready", "redis is not reachable"))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
