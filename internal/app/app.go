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
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/api"
	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/bounce"
	"github.com/heroldhq/herold/internal/campaign"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/console"
	"github.com/heroldhq/herold/internal/delivery"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/feedback"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/metrics"
	"github.com/heroldhq/herold/internal/pages"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/privacy"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redisconn"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/stats"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/token"
	"github.com/heroldhq/herold/internal/webhooks"
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
	// WrapHTTP, if set, wraps everything served on HEROLD_HTTP_ADDR (the
	// end-to-end tests check each /v1 exchange against the API description).
	WrapHTTP func(http.Handler) http.Handler
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
	Rights     *privacy.Rights // export and erasure, for the API and the console
	// Events hears everything that happens (the webhook hub and Stats);
	// Metrics counts it; Bounces takes bounce and complaint reports (nil when
	// HEROLD_BOUNCE_DOMAIN is not set).
	Events  events.Publisher
	Hub     *webhooks.Hub
	Stats   *stats.Stats // the console's charts over time
	Metrics *metrics.Metrics
	Bounces *bounce.Processor
	verp    *bounce.VERP

	// Tasks routes the message worker's tasks; tests may add handlers to it
	// before Run.
	Tasks *asynq.ServeMux

	opts   Options
	mux    *http.ServeMux // everything on HEROLD_HTTP_ADDR
	apiMux *http.ServeMux // the /v1 routes, reached only through api.Authenticate
	// routes and apiRoutes register on mux and apiMux and remember the
	// patterns, for APIRoutes.
	routes, apiRoutes *api.RouteTable
	scheduler         *asynq.Scheduler
	ownRedis          bool
	closers           []func() error
	debugAddr         atomic.Value // string: where the pprof endpoint listens (Run)
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
	// ---- Queue
	a.Queues = queue.Queues{Suffix: cfg.Dispatch.QueueSuffix}
	a.Client = asynq.NewClientFromRedisClient(a.Redis)

	// ---- Events: metrics, and the webhook hub that everything tells what
	// happened (it costs nothing while no endpoint listens).
	types := make([]message.Type, 0, len(a.Catalog.Types()))
	for _, t := range a.Catalog.Types() {
		types = append(types, t.Key)
	}
	a.Metrics = metrics.New(metrics.Options{Types: types, Providers: []string{"smtp", "twilio", "outbox"}})
	hcfg := cfg.Events.Webhooks
	hcfg.Queue += a.Queues.Suffix
	if a.Hub, err = webhooks.New(webhooks.Options{Redis: a.Redis, Prefix: cfg.Redis.KeyPrefix, Client: a.Client,
		Config: hcfg, Log: log.With("component", "webhooks"), Observer: a.Metrics, Now: o.Now}); err != nil {
		return nil, err
	}
	// Stats counts the same events per hour for the console's charts.
	a.Stats = stats.New(stats.Options{Redis: a.Redis, Prefix: cfg.Redis.KeyPrefix, Now: o.Now,
		ClassOf: func(t message.Type) (message.Class, bool) {
			spec, ok := a.Catalog.Type(t)
			return spec.Class, ok
		}})
	a.Events = events.Multi(a.Hub, a.Stats)

	// The store keys suppression entries and the e-mail/phone indexes by
	// HMAC(salt, address), so it is made once the salt is known.
	// With HEROLD_REDIS_MIN_REPLICAS_ACK, accepted messages and campaigns and
	// recorded consents wait for replicas (Redis WAIT).
	dur := redisconn.NewDurability(cfg.Redis)
	if err := dur.Check(ctx, a.Redis); err != nil {
		log.Warn("HEROLD_REDIS_MIN_REPLICAS_ACK cannot be met now: accepting messages and recording consent will answer 503 until enough replicas are connected", "err", err)
	} else if dur.Replicas() > 0 {
		log.Info("writes that must survive a failover wait for replicas", "replicas", dur.Replicas(), "timeout", cfg.Redis.AckTimeout.String())
	}
	a.Store = store.New(a.Redis, cfg.Redis.KeyPrefix, store.WithSalt(salt), store.WithEvents(a.Events), store.WithDurability(dur))

	a.Inspector = asynq.NewInspectorFromRedisClient(a.Redis)
	a.Tasks = asynq.NewServeMux()
	a.scheduler = asynq.NewSchedulerFromRedisClient(a.Redis, &asynq.SchedulerOpts{
		Logger: queue.NewLogger(log), LogLevel: queue.LogLevel(cfg.Core.LogLevel), Location: time.UTC,
	})

	// ---- Bounces come back to a signed VERP address per message (with
	// HEROLD_BOUNCE_DOMAIN), which the e-mail sender puts in MAIL FROM.
	if a.verp, err = newVERP(cfg.Events.Bounce, tokenSecret); err != nil {
		return nil, err
	}
	var returnPath func(string) (string, error)
	if a.verp != nil {
		returnPath = a.verp.ReturnPath
	}

	// ---- Channels: one sender per channel, rate-limited through the shared Redis.
	if a.Senders, err = BuildSenders(cfg, a.Redis, log.With("component", "channels"),
		senderOptions{returnPath: returnPath, smtpRootCAs: o.SMTPRootCAs, twilioTransport: o.TwilioTransport}); err != nil {
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

	if err := a.checkMailSetup(log); err != nil {
		return nil, err
	}

	// ---- The delivery core: one attempt for single messages and campaigns.
	zone, err := time.LoadLocation(cfg.Core.DefaultZone)
	if err != nil {
		return nil, fmt.Errorf("HEROLD_DEFAULT_TIME_ZONE: %w", err)
	}
	zones := recipient.NewZones(zone)
	a.Feedback = feedback.New(a.Store, log.With("component", "feedback")).WithEvents(a.Events).WithBounces(a.Events,
		feedback.SoftBounces{Limit: cfg.Events.Bounce.SoftLimit, Window: cfg.Events.Bounce.SoftWindow}, cfg.Core.RecordTTL)
	if a.Delivery, err = delivery.New(delivery.Options{
		Catalog: a.Catalog, Renderer: a.Renderer, Senders: senders, Feedback: a.Feedback, Zones: zones,
		Events: a.Events, Metrics: a.Metrics, Sessions: a.Store, FreeForm: FreeForm(cfg),
		SendTimeout: cfg.Dispatch.SendTimeout, Log: log.With("component", "delivery"), Now: o.Now,
	}); err != nil {
		return nil, err
	}

	// ---- Dispatch: accepting (every role) and delivering (the worker).
	// What the templates read is worked out once, so intake refuses a
	// message or campaign lacking it.
	needs, err := a.Renderer.Needs()
	if err != nil {
		return nil, err
	}
	dlog := log.With("component", "dispatch")
	if a.Messages, err = dispatch.NewService(dispatch.ServiceOptions{
		Store: a.Store, Catalog: a.Catalog, Client: a.Client, Inspector: a.Inspector,
		Queues: a.Queues, Settings: cfg.Dispatch, MaxRetry: cfg.Worker.MaxRetry,
		RecordTTL: cfg.Core.RecordTTL, Region: cfg.Core.DefaultRegion, Locales: a.Renderer.Locales(), Templates: needs,
		Log: dlog, Now: o.Now, Events: a.Events,
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
		Config: ccfg, Priority: prio, Events: a.Events, Metrics: a.Metrics,
	}); err != nil {
		return nil, err
	}

	// ---- Worker tasks
	a.Tasks.Use(queue.LogOutcome(log.With("component", "worker")))
	a.Tasks.Use(prio.Middleware)
	a.Tasks.Handle(queue.TypeDeliver, queue.NewDeliverHandler(a.Dispatcher, dlog))
	batches, err := queue.NewBatchHandler(queue.BatchOptions{Deliverer: a.Dispatcher, Client: a.Client, Queues: a.Queues,
		MaxRetry: cfg.Worker.MaxRetry, RetryDelay: queue.RetryDelay(o.RetryDelay), Parallel: cfg.SMTP.PoolSize, Log: dlog})
	if err != nil {
		return nil, err
	}
	a.Tasks.Handle(queue.TypeDeliverBatch, batches)

	// ---- HTTP: health, provider webhooks and people's pages without an API
	// key; the /v1 API only through api.Authenticate, each handler checking
	// its scopes.
	a.mux = http.NewServeMux()
	a.apiMux = http.NewServeMux()
	a.routes, a.apiRoutes = api.NewRouteTable(a.mux), api.NewRouteTable(a.apiMux)
	a.routes.HandleFunc("GET /healthz", a.healthz)
	a.routes.HandleFunc("GET /readyz", a.readyz)
	// The API description needs no key: it is the more specific pattern, so
	// "/v1/" never sees it.
	a.routes.HandleFunc("GET "+api.OpenAPIPath, api.ServeOpenAPI)
	a.routes.Handle("/v1/", api.Authenticate(a.Keys, api.Fallback(a.apiMux)))
	a.Rights = privacy.New(a.Store, a.Events, privacy.WithLog(log.With("component", "privacy")))
	(&api.Recipients{Store: a.Store, Rights: a.Rights, Catalog: a.Catalog, Log: log.With("component", "recipients"),
		Region: cfg.Core.DefaultRegion, MaxBody: cfg.HTTP.MaxBody}).Routes(a.apiRoutes)
	(&api.Decisions{Store: a.Store, Catalog: a.Catalog, Zones: zones, Log: log.With("component", "decisions"),
		MaxBody: cfg.HTTP.MaxBody, Now: o.Now}).Routes(a.apiRoutes)
	(&api.Messages{Service: a.Messages, MaxBody: cfg.HTTP.MaxBody, MaxBatchBody: cfg.HTTP.MaxBatchBody, Log: dlog}).Routes(a.apiRoutes)
	(&api.Campaigns{Engine: a.Campaigns, Catalog: a.Catalog, Config: ccfg, Locales: a.Renderer.Locales(),
		Templates: needs, MaxBody: cfg.HTTP.MaxBody, Log: clog, Now: o.Now}).Routes(a.apiRoutes)
	(&api.Preview{Renderer: a.Renderer, Catalog: a.Catalog, MaxBody: cfg.HTTP.MaxBody}).Routes(a.apiRoutes)
	audience := &api.Audience{Store: a.Store, Campaigns: a.Campaigns, Catalog: a.Catalog, Region: cfg.Core.DefaultRegion,
		MaxBody: cfg.HTTP.MaxBody, Log: log.With("component", "audience"), Now: o.Now}
	audience.Routes(a.apiRoutes)
	(&api.Webhooks{AuthToken: cfg.Twilio.AuthToken, PublicURL: cfg.HTTP.PublicURL,
		Statuses: a.Store, Inbound: a.Feedback, Events: a.Events, Log: log.With("component", "twilio"), Now: o.Now}).Routes(a.routes)
	(&api.Hooks{Hub: a.Hub, MaxBody: cfg.HTTP.MaxBody, Log: log.With("component", "webhooks")}).Routes(a.apiRoutes)
	if err := a.wireBounces(log.With("component", "bounces")); err != nil {
		return nil, err
	}
	if err := a.wireMetrics(log.With("component", "metrics")); err != nil {
		return nil, err
	}
	if err := a.wirePages(tokenSecret, log.With("component", "pages")); err != nil {
		return nil, err
	}
	// ---- Operator console at /console/ (off without HEROLD_CONSOLE_USERS_FILE),
	// on the services above (console.go); its campaign form is validated
	// with the API's rules, templates' needs included.
	if err := console.Mount(a.mux, console.Options{Config: cfg.Console, PublicURL: cfg.HTTP.PublicURL, Secret: tokenSecret,
		Redis: a.Redis, Prefix: cfg.Redis.KeyPrefix, Log: log.With("component", "console"), Now: o.Now, Store: a.Store,
		Campaigns: a.Campaigns, CampaignForm: &api.Campaigns{Catalog: a.Catalog, Config: ccfg, Locales: a.Renderer.Locales(), Templates: needs},
		Delivery: a.Delivery, Rights: a.Rights, Inspector: a.Inspector, Region: cfg.Core.DefaultRegion,
		Queues: a.Queues, CampaignQueue: ccfg.Queue, Plugins: a.consolePlugins(audience)}); err != nil {
		return nil, err
	}
	return a, nil
}

// wireBounces makes the bounce processor when a bounce domain is set: the
// VERP Return-Path (signed with HEROLD_BOUNCE_SECRET, else a key derived from
// the token secret), POST /v1/bounces for an MTA that forwards reports, and
// (Run, with HEROLD_BOUNCE_SMTP_ADDR) the SMTP listener. Its effects are the
// feedback rules every other road uses.
func (a *App) wireBounces(log *slog.Logger) error {
	b := a.Config.Events.Bounce
	if a.verp == nil {
		return nil
	}
	var err error
	if a.Bounces, err = bounce.NewProcessor(bounce.Options{Redis: a.Redis, Prefix: a.Config.Redis.KeyPrefix, VERP: a.verp,
		Effects: a.Feedback, Observer: a.Metrics, ReportTTL: b.ReportTTL, MaxSize: b.MaxSize, Log: log, Now: a.opts.Now}); err != nil {
		return err
	}
	(&api.Bounces{Processor: a.Bounces, Log: log}).Routes(a.apiRoutes)
	return nil
}

// checkMailSetup refuses what would make mail fail at the mailbox provider
// and says what only weakens it: a sender set for a type the catalog does
// not have (a typo sends invoices from the default address), one-click
// unsubscribe links over http (Gmail and Yahoo require https), no List-Id.
// Dev mode and loopback public URLs are for trying Herold out, so http
// there is only a warning.
func (a *App) checkMailSetup(log *slog.Logger) error {
	for _, typ := range a.Config.SMTP.SenderTypes() {
		if _, ok := a.Catalog.Type(message.Type(typ)); !ok {
			return fmt.Errorf("HEROLD_SMTP_FROM_TYPES / HEROLD_SMTP_REPLY_TO_TYPES: %q is not a message type of the catalog", typ)
		}
	}
	if !a.Role.Worker {
		return nil // only workers build mail
	}
	if !a.Renderer.UnsubscribeHTTPS() {
		pub := a.Config.HTTP.PublicURL
		u, _ := url.Parse(pub) // config.HTTP.Validate checked it
		loopback := u.Hostname() == "localhost"
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
			loopback = ip.IsLoopback()
		}
		switch {
		case a.Role.Dev || loopback || a.Config.HTTP.AllowHTTP:
			log.Warn("HEROLD_PUBLIC_URL is not https: unsubscribe links in advertising are http, and Gmail and Yahoo ignore one-click unsubscribe without https; fine for trying Herold out, not for production",
				"public_url", pub)
		default:
			return fmt.Errorf("HEROLD_PUBLIC_URL: %q is not https: one-click unsubscribe links (RFC 8058) must be https for Gmail and Yahoo; use an https URL, or set HEROLD_PUBLIC_URL_ALLOW_HTTP=true to send them anyway", pub)
		}
	}
	if a.Renderer.ListIDDomain() == "" && !a.Role.Dev {
		log.Warn("advertising e-mail carries no List-Id header: set HEROLD_LIST_ID_DOMAIN (e.g. lists.example.com); HEROLD_PUBLIC_URL's host is an IP address or has no dot")
	}
	return nil
}

// checkSMTP connects to the SMTP server once (EHLO, STARTTLS when required,
// AUTH) and warns when that fails, so a TLS or password problem shows at
// start-up rather than as queued messages. Messages are not held back: the
// server may come up later, and each attempt names the problem again.
func (a *App) checkSMTP(ctx context.Context) {
	if a.Senders.Email == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, a.Config.SMTP.Timeout)
	defer cancel()
	if err := a.Senders.Email.Check(ctx); err != nil && ctx.Err() == nil {
		a.Log.Warn("SMTP server check failed: e-mail stays queued until this is fixed", "component", "channels", "error", err.Error())
		return
	} else if err == nil {
		a.Log.Info("SMTP server check passed", "component", "channels", "host", a.Config.SMTP.Host)
	}
}

// newVERP makes the signed return paths of bounce processing, or nil when
// HEROLD_BOUNCE_DOMAIN is not set. The key is HEROLD_BOUNCE_SECRET, else
// one derived from the token secret.
func newVERP(b config.Bounce, tokenSecret string) (*bounce.VERP, error) {
	if b.Domain == "" {
		return nil, nil
	}
	key := bounce.DeriveKey(tokenSecret)
	if b.Secret != "" {
		key = []byte(b.Secret)
	}
	verp, err := bounce.NewVERP(key, b.Local, b.Domain)
	if err != nil {
		return nil, fmt.Errorf("HEROLD_BOUNCE_DOMAIN: %w", err)
	}
	return verp, nil
}

// wireMetrics serves GET /metrics (Prometheus) on the HTTP listener, or on
// HEROLD_METRICS_ADDR when set (Run), behind HEROLD_METRICS_TOKEN if set, and
// adds the asynq queues' sizes and latency to it.
func (a *App) wireMetrics(log *slog.Logger) error {
	m := a.Config.Events.Metrics
	if !m.Enabled {
		return nil
	}
	qs := []string{a.Config.Campaigns.Queue + a.Queues.Suffix, a.Config.Events.Webhooks.Queue + a.Queues.Suffix}
	for _, c := range message.Classes() {
		qs = append(qs, a.Queues.Name(c))
	}
	if err := a.Metrics.RegisterQueues(a.Inspector, qs, log); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if m.Addr == "" {
		a.mux.Handle("GET /metrics", a.Metrics.Handler(m.Token, log))
	}
	return nil
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
		Config: a.Config.Pages, Brand: a.Config.Brand, PublicURL: a.Config.HTTP.PublicURL, Secret: secret, Sealer: a.Tokens,
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
	var h http.Handler
	if a.Role.HTTP {
		h = api.Fallback(a.mux)
	} else {
		health := http.NewServeMux()
		health.HandleFunc("GET /healthz", a.healthz)
		health.HandleFunc("GET /readyz", a.readyz)
		h = api.Fallback(health)
	}
	if a.opts.WrapHTTP != nil {
		h = a.opts.WrapHTTP(h)
	}
	return h
}

// APIRoutes returns the patterns of the /v1 API this App serves, such as
// "POST /v1/messages" (the authenticated subtree "/v1/" itself aside), for
// the test that holds them against the API description.
func (a *App) APIRoutes() []string {
	var out []string
	for _, p := range append(a.routes.Patterns(), a.apiRoutes.Patterns()...) {
		if _, path, _ := strings.Cut(p, " "); strings.HasPrefix(path, "/v1/") {
			out = append(out, p)
		}
	}
	return out
}

// workers makes the asynq servers of a worker role: the message worker
// (queues by class with strict priority, so an invoice never waits behind a
// campaign) and the campaign worker on its own queue with
// HEROLD_CAMPAIGN_WORKERS slots, so chunk tasks (seconds each) never occupy
// the slots that invoices need.
func (a *App) workers() (msg, camp, hooks *asynq.Server) {
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
	hcfg := a.Hub.ServerConfig(queue.NewLogger(a.Log))
	hcfg.LogLevel = queue.LogLevel(a.Config.Core.LogLevel)
	return asynq.NewServerFromRedisClient(a.Redis, cfg), asynq.NewServerFromRedisClient(a.Redis, ccfg),
		asynq.NewServerFromRedisClient(a.Redis, hcfg)
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

	// The webhook hub's pump and endpoint refresh run in every role: every
	// process publishes.
	hubCtx, stopHub := context.WithCancel(context.WithoutCancel(ctx))
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); _ = a.Hub.Run(hubCtx) }()
	// So does Stats' flush, which runs once more after the workers stopped.
	statsCtx, stopStats := context.WithCancel(context.WithoutCancel(ctx))
	statsDone := make(chan struct{})
	go func() {
		defer close(statsDone)
		a.Stats.Run(statsCtx, func(err error) { a.Log.Warn("console statistics not written; kept for the next try", "err", err) })
	}()
	var started []*asynq.Server
	var closers []func(context.Context)
	stopWorkers := func() {
		var wg sync.WaitGroup
		for _, s := range started {
			wg.Go(s.Shutdown) // waits for running tasks up to ShutdownTimeout
		}
		wg.Wait()
		stopHub()
		<-hubDone
		stopStats()
		<-statsDone
	}
	fail := func(err error) error {
		srv.Close()
		stopWorkers()
		for _, c := range closers {
			c(context.Background())
		}
		return err
	}
	if a.Role.Worker {
		go a.checkSMTP(ctx)
		msg, camp, hooks := a.workers()
		for _, w := range []struct {
			name string
			srv  *asynq.Server
			mux  func(*asynq.ServeMux)
		}{
			{"worker", msg, nil},
			{"campaign worker", camp, a.Campaigns.Register},
			{"webhook worker", hooks, a.Hub.Register},
		} {
			mux := a.Tasks
			if w.mux != nil {
				mux = asynq.NewServeMux()
				w.mux(mux)
			}
			if err := w.srv.Start(mux); err != nil {
				return fail(fmt.Errorf("start %s: %w", w.name, err))
			}
			started = append(started, w.srv)
		}
		if addr := a.Config.Events.Bounce.SMTPAddr; addr != "" && a.Bounces != nil {
			bs := bounce.NewSMTPServer(addr, a.Bounces, a.Log.With("component", "bounces"))
			bln, err := net.Listen("tcp", addr)
			if err != nil {
				return fail(fmt.Errorf("HEROLD_BOUNCE_SMTP_ADDR: %w", err))
			}
			go func() { _ = bs.Serve(bln) }()
			closers = append(closers, func(ctx context.Context) { _ = bs.Shutdown(ctx) })
			a.Log.Info("bounce listener ready", "addr", bln.Addr().String())
		}
	}
	if m := a.Config.Events.Metrics; m.Enabled && m.Addr != "" {
		mln, err := net.Listen("tcp", m.Addr)
		if err != nil {
			return fail(fmt.Errorf("HEROLD_METRICS_ADDR: %w", err))
		}
		mctx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
		mdone := make(chan struct{})
		go func() {
			defer close(mdone)
			_ = a.Metrics.Serve(mctx, mln, m.Token, a.Log.With("component", "metrics"))
		}()
		closers = append(closers, func(context.Context) { stopMetrics(); <-mdone })
	}
	recovered := make(chan struct{})
	rctx, stopRecovering := context.WithCancel(context.WithoutCancel(ctx))
	if a.Role.Worker {
		// Tasks of a worker that died come back within seconds of their
		// lease running out, not after asynq's minute (queue.Recoverer).
		queues := slices.Sorted(maps.Keys(a.Queues.Priorities()))
		rec := queue.NewRecoverer(a.Redis, append(queues, a.Config.Campaigns.Queue+a.Queues.Suffix),
			a.Config.Worker.RecoverEvery, a.Log.With("component", "worker"))
		go func() { defer close(recovered); rec.Run(rctx) }()
	} else {
		close(recovered)
	}
	defer func() { stopRecovering(); <-recovered }()
	if addr := a.Config.Debug.Addr; addr != "" {
		stop, err := a.serveDebug(addr)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, stop)
	}
	if a.Role.Scheduler {
		if err := a.scheduler.Start(); err != nil {
			return fail(fmt.Errorf("start scheduler: %w", err))
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
	for _, c := range closers {
		wg.Go(func() { c(sctx) })
	}
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
