package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/api"
	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/config"
	msgdispatch "github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/token"
)

// app holds what every role of Herold shares. newApp builds it in order
// (config → logger → catalog → Redis → store → keys → secrets → queue), then
// wire lets each area add its parts in its own section.
type app struct {
	cfg    config.Config
	log    *slog.Logger
	role   role
	stdout io.Writer // for the few lines meant for a person (dev mode's API key)

	// ---- Foundation
	rdb         redis.UniversalClient // the one client; asynq shares it, we close it
	store       *store.Store
	catalog     *policy.Catalog // embedded default or HEROLD_CATALOG, valid
	keys        *apikey.Ring
	tokens      *token.Sealer // seals unsubscribe, preference and confirmation links
	hashSalt    string        // salt of suppression hashes (HEROLD_HASH_SALT or generated)
	devKey      string        // dev mode: the generated API key with scope "*"
	asynqClient *asynq.Client // enqueues onto rdb
	queues      queue.Queues  // asynq queue of each class (tests give theirs a suffix)

	// mux serves everything on HEROLD_HTTP_ADDR without an API key: health,
	// provider webhooks (which check their own signatures) and people's pages.
	mux *http.ServeMux
	// api holds the /v1 routes, registered with their full pattern
	// (e.g. "POST /v1/messages"). Every request reaches it only through
	// api.Authenticate; handlers check scopes with api.RequireScope.
	api *http.ServeMux
	// asynqMux routes tasks to handlers; the worker runs it.
	asynqMux *asynq.ServeMux
	// asynqConfig are applied in order to the one asynq.Config before the
	// worker is made (dispatch adds RetryDelayFunc and ErrorHandler here).
	asynqConfig []func(*asynq.Config)
	// scheduler enqueues periodic tasks (Register before run starts it).
	scheduler *asynq.Scheduler
	// closers run in reverse order at shutdown, after the servers stopped and
	// before Redis is closed: senders holding connections add theirs.
	closers []func() error

	// ---- Area fields: each area adds what others need here, e.g. the senders
	// per channel (channels), the renderer (templates), the dispatcher (dispatch).
	renderer   *render.Renderer                    // templates: content of every type, channel and locale
	senders    map[message.Channel]channels.Sender // channels: one per channel (a provider or the outbox)
	messages   *msgdispatch.Service                // dispatch: accepts messages (messages API, pages' double opt-in mails)
	dispatcher *msgdispatch.Dispatcher             // dispatch: delivers one message (worker roles only; nil in api)
}

// newApp connects to Redis and builds every part. On error it has released
// what it opened.
func newApp(ctx context.Context, log *slog.Logger, cfg config.Config, r role, stdout io.Writer) (_ *app, err error) {
	a := &app{cfg: cfg, log: log, role: r, stdout: stdout}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	log.LogAttrs(ctx, slog.LevelInfo, "starting herold",
		slog.String("role", r.name), slog.String("version", versionString()),
		slog.Attr{Key: "config", Value: slog.GroupValue(config.Attrs(&a.cfg)...)})

	// ---- Catalog: refuse to start on any problem.
	if a.catalog, err = loadCatalog(cfg.Core.Catalog); err != nil {
		return nil, err
	}
	log.Info("catalog loaded", "version", a.catalog.Version(), "types", len(a.catalog.Types()))

	// ---- Redis
	rdb, err := connectRedis(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.rdb = rdb

	// ---- API keys
	var extra []apikey.Key
	if r.dev {
		if a.devKey, err = apikey.Generate(); err != nil {
			return nil, err
		}
		extra = append(extra, apikey.Key{Name: "herold-dev", Hash: apikey.Hash(a.devKey), Scopes: []string{apikey.ScopeAll}})
	}
	if a.keys, err = loadAPIKeys(cfg.Core.APIKeys, cfg.Core.APIKeysFile, extra...); err != nil {
		return nil, err
	}
	if r.http && a.keys.Len() == 0 {
		log.Warn("NO API KEYS CONFIGURED: every /v1 request will be answered 401; set HEROLD_API_KEYS or HEROLD_API_KEYS_CONFIG (see `herold apikey`)")
	}

	// ---- Secrets for links and suppression hashes
	secret, generated, err := sharedSecret(ctx, rdb, cfg.Redis.KeyPrefix+"secret:token", cfg.Core.TokenSecret)
	if err != nil {
		return nil, fmt.Errorf("HEROLD_TOKEN_SECRET: %w", err)
	}
	if generated && !r.dev {
		log.Warn("HEROLD_TOKEN_SECRET is not set: using a secret generated and kept in Redis; set it for production, or links in sent messages break if Redis loses its data")
	}
	if a.tokens, err = token.NewSealer(secret); err != nil {
		return nil, fmt.Errorf("HEROLD_TOKEN_SECRET: %w", err)
	}
	if a.hashSalt, generated, err = sharedSecret(ctx, rdb, cfg.Redis.KeyPrefix+"secret:hash_salt", cfg.Core.HashSalt); err != nil {
		return nil, fmt.Errorf("HEROLD_HASH_SALT: %w", err)
	}
	if generated && !r.dev {
		log.Warn("HEROLD_HASH_SALT is not set: using a salt generated and kept in Redis; set it for production, or erased people's suppression entries stop matching if Redis loses its data")
	}
	// The store keys suppression entries and the e-mail/phone indexes by
	// HMAC(salt, address), so it is made once the salt is known.
	a.store = store.New(rdb, cfg.Redis.KeyPrefix, store.WithSalt(a.hashSalt))

	// ---- Queue
	a.queues = queue.Queues{Suffix: cfg.Dispatch.QueueSuffix}
	a.asynqClient = asynq.NewClientFromRedisClient(rdb)
	a.asynqMux = asynq.NewServeMux()
	a.scheduler = asynq.NewSchedulerFromRedisClient(rdb, &asynq.SchedulerOpts{
		Logger:   asynqLogger{log.With("component", "scheduler")},
		LogLevel: asynqLevel(cfg.Core.LogLevel),
		Location: time.UTC,
	})

	// ---- HTTP
	a.mux = http.NewServeMux()
	a.api = http.NewServeMux()
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.Handle("/v1/", api.Authenticate(a.keys, a.api))

	if err := a.wire(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// wire builds each area's parts on the foundation, in dependency order. Each
// area owns its section: add lines there, and fields to app above.
func (a *app) wire(ctx context.Context) error {
	// ---- D channels: one channels.Sender per channel (email over SMTP, sms,
	// whatsapp and rcs over Twilio); in dev mode (a.role.dev) a channel without
	// a configured provider writes to the outbox folder (a.cfg.Core.OutboxDir).
	// Senders holding connections append their Close to a.closers. Provider
	// webhooks register on a.mux.
	if err := a.wireChannels(); err != nil {
		return err
	}

	// ---- E templates: the renderer (embedded templates, optional override
	// folder, the catalog, a.tokens, a.cfg.HTTP.PublicURL), checked against the
	// catalog; POST /v1/preview on a.api.
	if err := a.wireTemplates(); err != nil {
		return err
	}

	// ---- C recipients: recipients and decisions API on a.api
	// (/v1/recipients…, POST /v1/decisions).
	(&api.Recipients{
		Store: a.store, Log: a.log.With("component", "recipients"),
		Region: a.cfg.Core.DefaultRegion, MaxBody: a.cfg.HTTP.MaxBody,
	}).Routes(a.api)
	(&api.Decisions{
		Store: a.store, Catalog: a.catalog, Log: a.log.With("component", "decisions"),
		MaxBody: a.cfg.HTTP.MaxBody,
	}).Routes(a.api)

	// ---- F dispatch: the dispatch service (store, catalog, renderer, senders),
	// its task handlers on a.asynqMux, RetryDelayFunc and ErrorHandler through
	// a.asynqConfig, and the messages API on a.api.
	if err := a.wireDispatch(); err != nil {
		return err
	}

	// ---- G campaigns: campaign service, its task handlers on a.asynqMux,
	// periodic tasks on a.scheduler, the campaigns API on a.api.
	if err := a.wireCampaigns(); err != nil {
		return err
	}

	// ---- H pages: preference centre, one-click unsubscribe, double opt-in
	// confirmation on a.mux; the clean-up of unconfirmed sign-ups on a.scheduler.
	if err := a.wirePages(ctx); err != nil {
		return err
	}

	return nil
}

// newWorker makes the one asynq server: queues by class with strict
// priority, so an invoice never waits behind a campaign.
func (a *app) newWorker() *asynq.Server {
	cfg := asynq.Config{
		Concurrency:       a.cfg.Worker.Concurrency,
		Queues:            a.queues.Priorities(),
		StrictPriority:    true,
		TaskCheckInterval: a.cfg.Worker.TaskCheckInterval,
		ShutdownTimeout:   a.cfg.HTTP.ShutdownGrace,
		Logger:            asynqLogger{a.log.With("component", "worker")},
		LogLevel:          asynqLevel(a.cfg.Core.LogLevel),
		HealthCheckFunc: func(err error) {
			if err != nil {
				a.log.Error("worker lost redis", "err", err)
			}
		},
	}
	for _, f := range a.asynqConfig {
		f(&cfg)
	}
	return asynq.NewServerFromRedisClient(a.rdb, cfg)
}

// run serves until ctx is done or a server fails, then shuts down gracefully:
// the HTTP server finishes its requests and the worker its tasks, each within
// HEROLD_SHUTDOWN_GRACE. It serves HTTP on ln and closes it; listening, if
// set, is told the HTTP address once everything runs.
func (a *app) run(ctx context.Context, ln net.Listener, listening func(addr string)) error {
	handler := http.Handler(a.mux)
	if !a.role.http {
		health := http.NewServeMux()
		health.HandleFunc("GET /healthz", a.healthz)
		health.HandleFunc("GET /readyz", a.readyz)
		handler = health
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	failed := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("http server: %w", err)
		}
	}()

	var worker *asynq.Server
	if a.role.worker {
		worker = a.newWorker()
		if err := worker.Start(a.asynqMux); err != nil {
			srv.Close()
			return fmt.Errorf("start worker: %w", err)
		}
	}
	if a.role.scheduler {
		if err := a.scheduler.Start(); err != nil {
			srv.Close()
			if worker != nil {
				worker.Shutdown()
			}
			return fmt.Errorf("start scheduler: %w", err)
		}
	}
	addr := ln.Addr().String()
	a.log.Info("herold ready", "role", a.role.name, "http_addr", addr,
		"worker", a.role.worker, "scheduler", a.role.scheduler)
	if a.role.dev {
		a.printDevBanner(addr)
	}
	if listening != nil {
		listening(addr)
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	a.log.Info("shutting down", "grace", a.cfg.HTTP.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.HTTP.ShutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Shutdown(sctx); err != nil {
			a.log.Warn("http requests cut off at shutdown", "err", err)
			srv.Close()
		}
	})
	if worker != nil {
		wg.Go(worker.Shutdown) // waits for running tasks up to ShutdownTimeout
	}
	if a.role.scheduler {
		wg.Go(a.scheduler.Shutdown)
	}
	wg.Wait()
	a.log.Info("herold stopped")
	return err
}

// close releases what newApp opened, last Redis.
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.log.Warn("close", "err", err)
		}
	}
	if a.rdb != nil {
		a.rdb.Close()
	}
}

// healthz answers 200 while the process runs (liveness).
func (a *app) healthz(w http.ResponseWriter, _ *http.Request) {
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when Redis answers, else 503 (readiness).
func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		a.log.WarnContext(ctx, "readiness: redis not reachable", "err", err)
		api.WriteError(w, api.Errorf(http.StatusServiceUnavailable, "not_ready", "redis is not reachable"))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
