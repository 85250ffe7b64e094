// Package apptest builds Herold for end-to-end tests through the one
// composition root (internal/app), as `herold serve` builds it: on a real
// Redis under a key prefix and queues of the test's own, e-mail over SMTP to a
// real server (internal/smtpsink) that keeps the mails, SMS, WhatsApp and RCS
// to a fake of Twilio's Messages API that checks what twilio-go sends, and the
// HTTP side on a loopback port. Every request to the /v1 API and its answer
// are checked against the API description (internal/openapitest). It is for
// tests only: the shipped binary never links it.
package apptest

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/openapitest"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/smtpsink"
)

// The Twilio account of the fake, and the SMS senders Herold is given.
const (
	AccountSID           = "AC0123456789abcdef0123456789abcdef"
	AuthToken            = "secrettoken42"
	SMSFromTransactional = "+4930123456"
	SMSFromMarketing     = "+4930654321"
)

// DayZone names a fixed-offset time zone in which it is early afternoon now:
// advertising by phone is outside the catalog's quiet hours there for hours.
func DayZone() string {
	offset := 13 - time.Now().UTC().Hour() // -10 … +13: every Etc/GMT zone exists
	switch {
	case offset == 0:
		return "Etc/GMT"
	case offset > 0:
		return "Etc/GMT-" + strconv.Itoa(offset) // POSIX signs: Etc/GMT-3 is UTC+3
	default:
		return "Etc/GMT+" + strconv.Itoa(-offset)
	}
}

// Options adjust New.
type Options struct {
	// Role says which servers run; the zero Role is HTTP and worker (serve
	// without the scheduler).
	Role app.Role
	// Env are HEROLD_* settings on top of the test defaults.
	Env map[string]string
	// Now is the delivery clock (default time.Now).
	Now func() time.Time
	// Log receives Herold's log (default: the test's log at info).
	Log *slog.Logger
	// ShutdownGrace bounds how long Stop lets running tasks finish (default 5s).
	ShutdownGrace time.Duration
	// Redis, if set, is the client Herold uses instead of the test's own,
	// e.g. one through a redistest.Proxy; keys and queues stay the test's.
	Redis redis.UniversalClient
	// WrapSender, if set, decorates each channel's sender (app.Options.WrapSender).
	WrapSender func(message.Channel, channels.Sender) channels.Sender
}

// Herold is one running Herold of a test.
type Herold struct {
	*app.App
	SMTP   *smtpsink.Sink
	Twilio *TwilioFake
	// URL is where the HTTP side answers, e.g. http://127.0.0.1:40123.
	URL string
	// API counts the /v1 exchanges checked against the API description:
	// every one is (internal/openapitest), and a mismatch fails the test.
	API *openapitest.Stats

	t      testing.TB
	rdb    redis.UniversalClient
	env    map[string]string
	cancel context.CancelFunc
	done   chan error
}

// New builds and runs Herold for t; t.Cleanup stops it and removes its keys
// and queues.
func New(t testing.TB, o Options) *Herold {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	sink, err := smtpsink.New(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	tw := NewTwilioFake(AccountSID, AuthToken)
	t.Cleanup(tw.Close)
	env := map[string]string{
		"HEROLD_REDIS_PREFIX":           prefix,
		"HEROLD_QUEUE_SUFFIX":           "-" + redistest.Queue(t, "q"),
		"HEROLD_TOKEN_SECRET":           strings.Repeat("k", 32),
		"HEROLD_HASH_SALT":              "test-salt-0123456789",
		"HEROLD_OUTBOX_DIR":             t.TempDir(),
		"HEROLD_SCHEDULER":              "false",
		"HEROLD_WORKER_CONCURRENCY":     "4",
		"HEROLD_TASK_CHECK_INTERVAL":    "10ms",
		"HEROLD_SMTP_HOST":              sink.Host,
		"HEROLD_SMTP_PORT":              strconv.Itoa(sink.Port),
		"HEROLD_SMTP_TLS":               "off",
		"HEROLD_SMTP_FROM":              "rechnung@example.com",
		"HEROLD_SMTP_FROM_NAME":         "Herold Mobil",
		"HEROLD_SMTP_POOL_SIZE":         "2",
		"HEROLD_SMTP_TIMEOUT":           "5s",
		"HEROLD_TWILIO_ACCOUNT_SID":     AccountSID,
		"HEROLD_TWILIO_AUTH_TOKEN":      AuthToken,
		"HEROLD_SMS_FROM_TRANSACTIONAL": SMSFromTransactional,
		"HEROLD_SMS_FROM_MARKETING":     SMSFromMarketing,
		"HEROLD_SEND_TIMEOUT":           "5s",
		"HEROLD_MAX_RETRY":              "3",
		// Recipients without a zone live where it is early afternoon now, so
		// a test run at any hour meets no quiet hours unless it asks for them.
		"HEROLD_DEFAULT_TIME_ZONE": DayZone(),
	}
	maps.Copy(env, o.Env)
	h := &Herold{SMTP: sink, Twilio: tw, t: t, rdb: rdb, env: env}
	h.start(o)
	return h
}

// Env returns the HEROLD_* settings h runs with (test defaults, the test's
// additions, and the public URL), for a Herold of another process on the
// same Redis, keys, queues and SMTP sink, such as a `herold worker` child.
// The Twilio fake answers only in-process: a child process cannot reach it.
func (h *Herold) Env() map[string]string {
	env := maps.Clone(h.env)
	if _, ok := env["HEROLD_PUBLIC_URL"]; !ok {
		env["HEROLD_PUBLIC_URL"] = h.URL
	}
	return env
}

// Again builds and runs another Herold on the same Redis, keys, queues and
// providers as h, like a second process of the same installation (o.Env adds
// to h's settings).
func (h *Herold) Again(t testing.TB, o Options) *Herold {
	t.Helper()
	env := maps.Clone(h.env)
	maps.Copy(env, o.Env)
	h2 := &Herold{SMTP: h.SMTP, Twilio: h.Twilio, t: t, rdb: h.rdb, env: env}
	h2.start(o)
	return h2
}

func (h *Herold) start(o Options) {
	t := h.t
	t.Helper()
	if o.Role == (app.Role{}) {
		o.Role = app.Role{Name: "test", HTTP: true, Worker: true}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 5 * time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.URL = "http://" + ln.Addr().String()
	env := maps.Clone(h.env)
	env["HEROLD_SHUTDOWN_GRACE"] = o.ShutdownGrace.String()
	if _, ok := env["HEROLD_PUBLIC_URL"]; !ok {
		env["HEROLD_PUBLIC_URL"] = h.URL // links in mails lead back to this Herold
	}
	var cfg config.Config
	if err := config.Load(&cfg, func(k string) string { return env[k] }, nil); err != nil {
		ln.Close()
		t.Fatal(err)
	}
	rdb := h.rdb
	if o.Redis != nil {
		rdb = o.Redis
	}
	h.API = &openapitest.Stats{}
	checker := openapitest.Herold(t)
	a, err := app.New(t.Context(), cfg, app.Options{
		Role: o.Role, Log: o.Log, Redis: rdb, Now: o.Now, TwilioTransport: h.Twilio.Transport(), WrapSender: o.WrapSender,
		WrapHTTP: func(next http.Handler) http.Handler {
			if !o.Role.HTTP {
				return next // no API: a worker answers /healthz and /readyz only
			}
			return checker.Handler(t, h.API, next)
		},
		RetryDelay:       func(int, error, *asynq.Task) time.Duration { return 50 * time.Millisecond },
		DelayedTaskCheck: 100 * time.Millisecond,
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	h.App = a
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	ready := make(chan struct{})
	go func() { h.done <- a.Run(ctx, ln, func(string) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-h.done:
		t.Fatalf("herold did not start: %v", err)
	}
	t.Cleanup(func() {
		h.Stop()
		if err := queue.Purge(context.Background(), h.rdb, a.Queues, a.Config.Campaigns.Queue+a.Queues.Suffix); err != nil {
			t.Logf("purge queues: %v", err)
		}
	})
}

// Stop shuts Herold down as a SIGTERM does (running tasks get the shutdown
// grace) and waits for it. Stopping twice is fine.
func (h *Herold) Stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("herold stopped with %v", err)
	}
	h.cancel = nil
	h.App.Close()
}

// tWriter sends log lines to t.Log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
