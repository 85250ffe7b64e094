package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is Herold's whole configuration. Each section lives in a file of its
// own so that each area owns its settings.
type Config struct {
	HTTP      HTTP
	Redis     Redis
	Core      Core
	Worker    Worker
	SMTP      SMTP
	Twilio    Twilio
	Brand     Brand
	Templates Templates
	Pages     Pages
	Campaigns Campaigns
	Dispatch  Dispatch
	Events    Events
	Console   Console
	Debug     Debug
}

// SMTPPoolSize is how many SMTP connections one worker process keeps:
// HEROLD_SMTP_POOL_SIZE, or when that is 0, one for each message the
// campaign worker sends at once and 4 for the message worker's e-mail
// (invoices), so that no send waits for a connection. With pipelining a
// connection to a nearby relay carries a few thousand messages a second;
// a relay farther away needs a connection per send in flight.
func (c *Config) SMTPPoolSize() int {
	if c.SMTP.PoolSize > 0 {
		return c.SMTP.PoolSize
	}
	return c.Campaigns.Workers*c.Campaigns.Senders + 4
}

// HTTP configures the listener shared by the API, webhooks and web pages.
type HTTP struct {
	Addr          string        `env:"HEROLD_HTTP_ADDR" default:"127.0.0.1:8080" help:"address the HTTP server listens on"`
	PublicURL     string        `env:"HEROLD_PUBLIC_URL" default:"http://127.0.0.1:8080" help:"URL under which people and providers reach Herold (links in messages, webhook signatures)"`
	MaxBody       int64         `env:"HEROLD_HTTP_MAX_BODY" default:"262144" help:"largest accepted API request body, in bytes"`
	MaxBatchBody  int64         `env:"HEROLD_HTTP_MAX_BATCH_BODY" default:"4194304" help:"largest accepted body of POST /v1/messages/batch (up to 1,000 messages), in bytes"`
	ShutdownGrace time.Duration `env:"HEROLD_SHUTDOWN_GRACE" default:"30s" help:"how long shutdown waits for in-flight requests and tasks"`
	AllowHTTP     bool          `env:"HEROLD_PUBLIC_URL_ALLOW_HTTP" default:"false" help:"let serve and worker start with an http:// HEROLD_PUBLIC_URL on a host other than loopback (unsubscribe links then break one-click at Gmail and Yahoo, which require https)"`
}

// Validate checks the listener address and public URL.
func (h *HTTP) Validate() error {
	if _, _, err := net.SplitHostPort(h.Addr); err != nil {
		return fmt.Errorf("HEROLD_HTTP_ADDR: %q is not host:port: %v", h.Addr, err)
	}
	u, err := url.Parse(h.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("HEROLD_PUBLIC_URL: %q is not an absolute http(s) URL", h.PublicURL)
	}
	h.PublicURL = strings.TrimRight(h.PublicURL, "/")
	if h.MaxBatchBody < h.MaxBody {
		return fmt.Errorf("HEROLD_HTTP_MAX_BATCH_BODY: %d is less than HEROLD_HTTP_MAX_BODY %d: a batch of one message would not fit", h.MaxBatchBody, h.MaxBody)
	}
	if h.MaxBody <= 0 {
		return fmt.Errorf("HEROLD_HTTP_MAX_BODY: must be positive, got %d", h.MaxBody)
	}
	return nil
}

// Core holds the catalog, the API keys, secrets for tokens and general behaviour.
type Core struct {
	Catalog       string        `env:"HEROLD_CATALOG" help:"message catalog YAML file (default: the embedded catalog)"`
	APIKeys       string        `env:"HEROLD_API_KEYS" secret:"true" help:"API keys as name:secret:scope+scope,… (see README: API keys)"`
	APIKeysFile   string        `env:"HEROLD_API_KEYS_CONFIG" help:"YAML file of API keys with hashed secrets (see README: API keys)"`
	TokenSecret   string        `env:"HEROLD_TOKEN_SECRET" secret:"true" help:"HMAC secret (32+ chars) signing unsubscribe, preference and confirmation links"`
	HashSalt      string        `env:"HEROLD_HASH_SALT" secret:"true" help:"salt of the suppression hashes kept after erasure (16+ chars)"`
	DefaultRegion string        `env:"HEROLD_DEFAULT_REGION" default:"DE" help:"region for phone numbers given without a country code"`
	OutboxDir     string        `env:"HEROLD_OUTBOX_DIR" default:"outbox" help:"folder where channels without a provider write messages"`
	LogLevel      string        `env:"HEROLD_LOG_LEVEL" default:"info" help:"debug, info, warn or error"`
	LogFormat     string        `env:"HEROLD_LOG_FORMAT" default:"json" help:"json or text"`
	RecordTTL     time.Duration `env:"HEROLD_RECORD_TTL" default:"9600h" help:"how long message records and decisions are kept (default 400 days)"`
	DefaultZone   string        `env:"HEROLD_DEFAULT_TIME_ZONE" default:"Europe/Berlin" help:"IANA time zone of recipients without one, for quiet hours and local send times"`
}

// Validate checks log settings and the strength of configured secrets.
func (c *Core) Validate() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("HEROLD_LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return fmt.Errorf("HEROLD_LOG_FORMAT: %q is not json or text", c.LogFormat)
	}
	if c.TokenSecret != "" && len(c.TokenSecret) < 32 {
		return fmt.Errorf("HEROLD_TOKEN_SECRET: too short (%d chars), use at least 32", len(c.TokenSecret))
	}
	if c.HashSalt != "" && len(c.HashSalt) < 16 {
		return fmt.Errorf("HEROLD_HASH_SALT: too short (%d chars), use at least 16", len(c.HashSalt))
	}
	if c.RecordTTL < time.Hour {
		return fmt.Errorf("HEROLD_RECORD_TTL: %s is shorter than an hour", c.RecordTTL)
	}
	if _, err := time.LoadLocation(c.DefaultZone); err != nil || c.DefaultZone == "" || c.DefaultZone == "Local" {
		return fmt.Errorf("HEROLD_DEFAULT_TIME_ZONE: %q is not an IANA time zone such as Europe/Berlin", c.DefaultZone)
	}
	if len(c.DefaultRegion) != 2 {
		return fmt.Errorf("HEROLD_DEFAULT_REGION: %q is not a two-letter region code", c.DefaultRegion)
	}
	return nil
}

// Worker configures the asynq worker.
type Worker struct {
	Concurrency       int           `env:"HEROLD_WORKER_CONCURRENCY" default:"20" help:"messages delivered in parallel by one worker process"`
	TaskCheckInterval time.Duration `env:"HEROLD_TASK_CHECK_INTERVAL" default:"50ms" help:"how often an idle worker looks for new tasks (asynq; the 1s default adds ~1s latency)"`
	MaxRetry          int           `env:"HEROLD_MAX_RETRY" default:"12" help:"delivery attempts after the first before a message fails"`
	Scheduler         bool          `env:"HEROLD_SCHEDULER" default:"true" help:"run the scheduler of periodic tasks in serve, worker and dev (keep it on in at least one process)"`
	RecoverEvery      time.Duration `env:"HEROLD_WORKER_RECOVER_EVERY" default:"5s" help:"how often a worker hands the tasks of a crashed worker back to their queues; they run again at most 35s plus this after the crash"`
}

// Validate checks the worker's numbers.
func (w *Worker) Validate() error {
	if w.Concurrency < 1 {
		return fmt.Errorf("HEROLD_WORKER_CONCURRENCY: must be at least 1, got %d", w.Concurrency)
	}
	if w.TaskCheckInterval < time.Millisecond {
		return fmt.Errorf("HEROLD_TASK_CHECK_INTERVAL: must be at least 1ms, got %s", w.TaskCheckInterval)
	}
	if w.MaxRetry < 0 {
		return fmt.Errorf("HEROLD_MAX_RETRY: must not be negative, got %d", w.MaxRetry)
	}
	if w.RecoverEvery < 100*time.Millisecond || w.RecoverEvery > time.Minute {
		return fmt.Errorf("HEROLD_WORKER_RECOVER_EVERY: want 100ms to 1m, got %s", w.RecoverEvery)
	}
	return nil
}
