package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/config"
)

func loadEvents(env map[string]string) (config.Events, error) {
	var e config.Events
	err := config.Load(&e, func(k string) string { return env[k] }, nil)
	return e, err
}

func TestEventsDefaults(t *testing.T) {
	t.Parallel()
	e, err := loadEvents(nil)
	if err != nil {
		t.Fatal(err)
	}
	w, b, m := e.Webhooks, e.Bounce, e.Metrics
	if w.Queue != "webhooks" || w.MaxAge != 72*time.Hour || w.AllowPrivate || w.DefaultRate != 10 || w.MaxBatch != 100 {
		t.Errorf("webhook defaults = %+v", w)
	}
	if b.Domain != "" || b.SMTPAddr != "" || b.Local != "bounce" || b.SoftLimit != 3 {
		t.Errorf("bounce defaults = %+v (the listener must be off by default)", b)
	}
	if !m.Enabled || m.Addr != "" || m.Token != "" {
		t.Errorf("metrics defaults = %+v", m)
	}
}

func TestEventsValidateNamesTheSetting(t *testing.T) {
	t.Parallel()
	cases := map[string]map[string]string{
		"HEROLD_WEBHOOKS_QUEUE":         {"HEROLD_WEBHOOKS_QUEUE": "a b"},
		"HEROLD_WEBHOOKS_LOG_TTL":       {"HEROLD_WEBHOOKS_LOG_TTL": "24h"},
		"HEROLD_WEBHOOKS_RETRY_MAX":     {"HEROLD_WEBHOOKS_RETRY_BASE": "1m", "HEROLD_WEBHOOKS_RETRY_MAX": "30s"},
		"HEROLD_WEBHOOKS_DEFAULT_RATE":  {"HEROLD_WEBHOOKS_DEFAULT_RATE": "5000"},
		"HEROLD_WEBHOOKS_MAX_BATCH":     {"HEROLD_WEBHOOKS_MAX_BATCH": "0"},
		"HEROLD_WEBHOOKS_ALLOW_PRIVATE": {"HEROLD_WEBHOOKS_ALLOW_PRIVATE": "sometimes"},
		"HEROLD_BOUNCE_DOMAIN":          {"HEROLD_BOUNCE_DOMAIN": "Bounces Example"},
		"HEROLD_BOUNCE_SMTP_ADDR":       {"HEROLD_BOUNCE_SMTP_ADDR": "127.0.0.1:2525"},
		"HEROLD_BOUNCE_SECRET":          {"HEROLD_BOUNCE_SECRET": "short"},
		"HEROLD_BOUNCE_LOCAL":           {"HEROLD_BOUNCE_LOCAL": "Bounce+x"},
		"HEROLD_METRICS_TOKEN":          {"HEROLD_METRICS_TOKEN": "abc"},
		"HEROLD_METRICS_ADDR":           {"HEROLD_METRICS_ADDR": "9090"},
	}
	for name, env := range cases {
		_, err := loadEvents(env)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: err = %v, want one naming %s", env, err, name)
		}
	}
	if _, err := loadEvents(map[string]string{"HEROLD_BOUNCE_DOMAIN": "bounces.example.com", "HEROLD_BOUNCE_SMTP_ADDR": "127.0.0.1:2525"}); err != nil {
		t.Errorf("valid bounce listener refused: %v", err)
	}
}
