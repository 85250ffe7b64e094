package config

import (
	"fmt"
	"net"
	"regexp"
	"time"
)

// Events configures what goes out and comes back besides messages: producer
// webhooks, bounce and complaint reports, and the Prometheus metrics.
type Events struct {
	Webhooks Webhooks
	Bounce   Bounce
	Metrics  Metrics
}

// Webhooks configures outbound webhooks to producers (Standard Webhooks).
type Webhooks struct {
	Queue           string        `env:"HEROLD_WEBHOOKS_QUEUE" default:"webhooks" help:"asynq queue of webhook deliveries, served by its own worker"`
	Concurrency     int           `env:"HEROLD_WEBHOOKS_CONCURRENCY" default:"4" help:"webhook calls one process makes at once"`
	Timeout         time.Duration `env:"HEROLD_WEBHOOKS_TIMEOUT" default:"10s" help:"time limit of one webhook call (connect, send, answer)"`
	MaxAge          time.Duration `env:"HEROLD_WEBHOOKS_MAX_AGE" default:"72h" help:"a delivery not accepted within this time after its first attempt is marked failed"`
	RetryBase       time.Duration `env:"HEROLD_WEBHOOKS_RETRY_BASE" default:"5s" help:"delay before the first retry of a failed webhook call (doubles each time)"`
	RetryMax        time.Duration `env:"HEROLD_WEBHOOKS_RETRY_MAX" default:"6h" help:"longest delay between two attempts of a webhook call"`
	MaxBatch        int           `env:"HEROLD_WEBHOOKS_MAX_BATCH" default:"100" help:"most events an endpoint may ask for in one call (its batch_size)"`
	DefaultRate     float64       `env:"HEROLD_WEBHOOKS_DEFAULT_RATE" default:"10" help:"calls per second to an endpoint that sets no rate_per_second, for all processes together"`
	MaxRate         float64       `env:"HEROLD_WEBHOOKS_MAX_RATE" default:"1000" help:"highest rate_per_second an endpoint may ask for"`
	MaxEndpoints    int           `env:"HEROLD_WEBHOOKS_MAX_ENDPOINTS" default:"50" help:"most webhook endpoints that can be registered"`
	AllowPrivate    bool          `env:"HEROLD_WEBHOOKS_ALLOW_PRIVATE" default:"false" help:"allow webhook URLs that resolve to loopback, private or link-local addresses (off: refused when the URL is set and when dialling)"`
	Refresh         time.Duration `env:"HEROLD_WEBHOOKS_REFRESH" default:"5s" help:"how often a process looks whether another one changed the endpoints"`
	Poll            time.Duration `env:"HEROLD_WEBHOOKS_POLL" default:"250ms" help:"how often the worker looks for events waiting for an endpoint"`
	LogSize         int           `env:"HEROLD_WEBHOOKS_LOG_SIZE" default:"100" help:"deliveries kept per endpoint for GET /v1/webhooks/{id}/deliveries"`
	LogTTL          time.Duration `env:"HEROLD_WEBHOOKS_LOG_TTL" default:"168h" help:"how long a delivery and its attempts are kept (at least HEROLD_WEBHOOKS_MAX_AGE)"`
	RotationOverlap time.Duration `env:"HEROLD_WEBHOOKS_ROTATION_OVERLAP" default:"24h" help:"how long the previous secret still signs after a rotation, when the request names no overlap"`
}

// Validate checks the webhook numbers and their relations.
func (w *Webhooks) Validate() error {
	switch {
	case !queueNamePattern.MatchString(w.Queue):
		return fmt.Errorf("HEROLD_WEBHOOKS_QUEUE: %q must be 1-64 characters A-Z a-z 0-9 . _ -", w.Queue)
	case w.Concurrency < 1:
		return fmt.Errorf("HEROLD_WEBHOOKS_CONCURRENCY: must be at least 1, got %d", w.Concurrency)
	case w.Timeout < time.Second || w.Timeout > 5*time.Minute:
		return fmt.Errorf("HEROLD_WEBHOOKS_TIMEOUT: want 1s..5m, got %s", w.Timeout)
	case w.MaxAge < time.Minute:
		return fmt.Errorf("HEROLD_WEBHOOKS_MAX_AGE: %s is shorter than a minute", w.MaxAge)
	case w.RetryBase <= 0:
		return fmt.Errorf("HEROLD_WEBHOOKS_RETRY_BASE: must be positive, got %s", w.RetryBase)
	case w.RetryMax < w.RetryBase:
		return fmt.Errorf("HEROLD_WEBHOOKS_RETRY_MAX: %s is shorter than HEROLD_WEBHOOKS_RETRY_BASE (%s)", w.RetryMax, w.RetryBase)
	case w.MaxBatch < 1 || w.MaxBatch > 1000:
		return fmt.Errorf("HEROLD_WEBHOOKS_MAX_BATCH: want 1..1000, got %d", w.MaxBatch)
	case w.MaxRate <= 0:
		return fmt.Errorf("HEROLD_WEBHOOKS_MAX_RATE: must be positive, got %g", w.MaxRate)
	case w.DefaultRate <= 0 || w.DefaultRate > w.MaxRate:
		return fmt.Errorf("HEROLD_WEBHOOKS_DEFAULT_RATE: want more than 0 and at most HEROLD_WEBHOOKS_MAX_RATE (%g), got %g", w.MaxRate, w.DefaultRate)
	case w.MaxEndpoints < 1:
		return fmt.Errorf("HEROLD_WEBHOOKS_MAX_ENDPOINTS: must be at least 1, got %d", w.MaxEndpoints)
	case w.Refresh < 100*time.Millisecond:
		return fmt.Errorf("HEROLD_WEBHOOKS_REFRESH: must be at least 100ms, got %s", w.Refresh)
	case w.Poll < 10*time.Millisecond:
		return fmt.Errorf("HEROLD_WEBHOOKS_POLL: must be at least 10ms, got %s", w.Poll)
	case w.LogSize < 1 || w.LogSize > 10000:
		return fmt.Errorf("HEROLD_WEBHOOKS_LOG_SIZE: want 1..10000, got %d", w.LogSize)
	case w.LogTTL < w.MaxAge:
		return fmt.Errorf("HEROLD_WEBHOOKS_LOG_TTL: %s is shorter than HEROLD_WEBHOOKS_MAX_AGE (%s): deliveries still being retried would vanish", w.LogTTL, w.MaxAge)
	case w.RotationOverlap < 0 || w.RotationOverlap > 30*24*time.Hour:
		return fmt.Errorf("HEROLD_WEBHOOKS_ROTATION_OVERLAP: want 0..720h, got %s", w.RotationOverlap)
	}
	return nil
}

var (
	queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	domainPattern    = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$`)
	localPartPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,15}$`)
)

// Bounce configures VERP return paths and the bounce and complaint receiver.
// The effect rules (SoftLimit within SoftWindow) are applied by the delivery
// core; they are configured here with the rest.
type Bounce struct {
	Domain     string        `env:"HEROLD_BOUNCE_DOMAIN" help:"domain of the VERP Return-Path (e.g. bounces.example.com, its MX pointing at the bounce listener); empty: the Return-Path is the From address and no bounce comes back"`
	Local      string        `env:"HEROLD_BOUNCE_LOCAL" default:"bounce" help:"local part before the + of the VERP Return-Path (bounce+<message id>=<signature>@domain)"`
	Secret     string        `env:"HEROLD_BOUNCE_SECRET" secret:"true" help:"HMAC secret (32+ chars) signing VERP addresses; empty: derived from HEROLD_TOKEN_SECRET"`
	SMTPAddr   string        `env:"HEROLD_BOUNCE_SMTP_ADDR" help:"address (host:port) of the SMTP listener that takes DSN and ARF reports for the bounce domain; empty: off"`
	MaxSize    int64         `env:"HEROLD_BOUNCE_MAX_SIZE" default:"1048576" help:"largest report accepted, in bytes, by SMTP and by POST /v1/bounces"`
	ReportTTL  time.Duration `env:"HEROLD_BOUNCE_REPORT_TTL" default:"720h" help:"how long a processed report is kept, raw, for GET /v1/bounces/{id}"`
	SoftLimit  int           `env:"HEROLD_BOUNCE_SOFT_LIMIT" default:"3" help:"soft bounces of one address within HEROLD_BOUNCE_SOFT_WINDOW that suppress it"`
	SoftWindow time.Duration `env:"HEROLD_BOUNCE_SOFT_WINDOW" default:"168h" help:"window in which soft bounces are counted"`
}

// Validate checks the domain, the secret and the numbers.
func (b *Bounce) Validate() error {
	switch {
	case b.Domain != "" && !domainPattern.MatchString(b.Domain):
		return fmt.Errorf("HEROLD_BOUNCE_DOMAIN: %q is not a lowercase domain name such as bounces.example.com", b.Domain)
	case !localPartPattern.MatchString(b.Local):
		return fmt.Errorf("HEROLD_BOUNCE_LOCAL: %q must be 1-16 characters a-z 0-9 _ - (starting with a letter or digit)", b.Local)
	case b.Secret != "" && len(b.Secret) < 32:
		return fmt.Errorf("HEROLD_BOUNCE_SECRET: too short (%d chars), use at least 32", len(b.Secret))
	case b.SMTPAddr != "" && b.Domain == "":
		return fmt.Errorf("HEROLD_BOUNCE_SMTP_ADDR: set, but HEROLD_BOUNCE_DOMAIN is empty: the listener would accept reports for no domain")
	case b.MaxSize < 16<<10 || b.MaxSize > 64<<20:
		return fmt.Errorf("HEROLD_BOUNCE_MAX_SIZE: want 16384..67108864 bytes, got %d", b.MaxSize)
	case b.ReportTTL < time.Hour:
		return fmt.Errorf("HEROLD_BOUNCE_REPORT_TTL: %s is shorter than an hour", b.ReportTTL)
	case b.SoftLimit < 1:
		return fmt.Errorf("HEROLD_BOUNCE_SOFT_LIMIT: must be at least 1, got %d", b.SoftLimit)
	case b.SoftWindow < time.Hour:
		return fmt.Errorf("HEROLD_BOUNCE_SOFT_WINDOW: %s is shorter than an hour", b.SoftWindow)
	}
	if b.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(b.SMTPAddr); err != nil {
			return fmt.Errorf("HEROLD_BOUNCE_SMTP_ADDR: %q is not host:port: %v", b.SMTPAddr, err)
		}
	}
	return nil
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	Enabled bool   `env:"HEROLD_METRICS" default:"true" help:"serve Prometheus metrics at GET /metrics"`
	Addr    string `env:"HEROLD_METRICS_ADDR" help:"separate address (host:port) for GET /metrics; empty: on HEROLD_HTTP_ADDR"`
	Token   string `env:"HEROLD_METRICS_TOKEN" secret:"true" help:"bearer token GET /metrics requires (16+ chars); empty: none"`
}

// Validate checks the address and the token's length.
func (m *Metrics) Validate() error {
	if m.Addr != "" {
		if _, _, err := net.SplitHostPort(m.Addr); err != nil {
			return fmt.Errorf("HEROLD_METRICS_ADDR: %q is not host:port: %v", m.Addr, err)
		}
	}
	if m.Token != "" && len(m.Token) < 16 {
		return fmt.Errorf("HEROLD_METRICS_TOKEN: too short (%d chars), use at least 16", len(m.Token))
	}
	return nil
}
