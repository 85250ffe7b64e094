package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/twilio/twiliotest"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/redistest"
)

func load(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	var cfg config.Config
	if err := config.Load(&cfg, func(k string) string { return env[k] }, nil); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestNoProvidersMeansOutbox(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := load(t, map[string]string{"HEROLD_OUTBOX_DIR": dir, "HEROLD_SMTP_FROM": "news@herold.example"})
	c, err := BuildSenders(cfg, nil, slog.New(slog.DiscardHandler), senderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !slices.Equal(c.Outbox, message.Channels()) {
		t.Errorf("outbox channels = %v, want all", c.Outbox)
	}
	r, err := c.ByChannel[message.Email].Send(t.Context(), channels.Outbound{MessageID: "m1", To: "anna@example.org", Subject: "Hallo", Text: "Grüße"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "email", r.ProviderID))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(splitLines(b), "Message-ID: <m1@herold.example>") {
		t.Errorf(".eml lacks the configured sender's Message-ID:\n%s", b)
	}
}

func TestProviders(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	ts := twiliotest.New(t)
	cfg := load(t, map[string]string{
		"HEROLD_OUTBOX_DIR":             t.TempDir(),
		"HEROLD_REDIS_PREFIX":           prefix,
		"HEROLD_PUBLIC_URL":             "https://herold.example",
		"HEROLD_SMTP_HOST":              "127.0.0.1",
		"HEROLD_SMTP_FROM":              "news@herold.example",
		"HEROLD_TWILIO_ACCOUNT_SID":     twiliotest.AccountSID,
		"HEROLD_TWILIO_AUTH_TOKEN":      twiliotest.AuthToken,
		"HEROLD_SMS_FROM_TRANSACTIONAL": "+4930123456",
		"HEROLD_SMS_FROM_MARKETING":     "Herold",
		"HEROLD_SMS_RATE":               "100",
		"HEROLD_RCS_FROM_MARKETING":     "rcs:herold_agent",
	})
	t.Cleanup(func() { redistest.DeleteKeys(context.Background(), rdb, "rate:"+prefix+"*") })
	c, err := BuildSenders(cfg, rdb, slog.New(slog.DiscardHandler), senderOptions{twilioTransport: ts.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !slices.Equal(c.Outbox, []message.Channel{message.WhatsApp}) {
		t.Errorf("outbox channels = %v, want only whatsapp (no sender)", c.Outbox)
	}
	if c.Email == nil {
		t.Error("no SMTP sender although HEROLD_SMTP_HOST is set")
	}
	r, err := c.ByChannel[message.SMS].Send(t.Context(), channels.Outbound{MessageID: "s1", Class: "marketing", To: twiliotest.OKNumber, Text: "Angebot"})
	if err != nil || r.Provider != "twilio" {
		t.Fatalf("sms: %+v, %v", r, err)
	}
	reqs := ts.Requests()
	if len(reqs) != 1 || reqs[0].Form.Get("From") != "Herold" || reqs[0].Form.Get("StatusCallback") != "https://herold.example/webhooks/twilio/status" {
		t.Errorf("requests = %+v", reqs)
	}
	if n := redistest.Keys(t, rdb, "rate:"+prefix+"ratelimit:sms:Herold"); len(n) != 1 {
		t.Errorf("rate limit key: %v; want the sms bucket of sender Herold in Redis", n)
	}
}

func splitLines(b []byte) []string {
	return strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
}
