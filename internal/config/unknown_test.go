package config_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/config"
)

func TestUnknownEnv(t *testing.T) {
	t.Parallel()
	environ := []string{
		"PATH=/usr/bin",
		"TWILIO_ACCOUNT_SID=AC123",                // not ours
		"HEROLD_SMTP_HOST=mail.example.com",       // a setting
		"HEROLD_SMTP_PASSWORD_FILE=/run/secrets",  // a secret's file
		"HEROLD_SMTP_DKIM_KEY_FILE=/etc/dkim.pem", // a setting that ends in _FILE
		"HEROLD_TEST_REDIS_URL=redis://127.0.0.1:1/0",
		"HEROLD_URL=http://herold:8080", // read by a client command (extra)
		"HEROLD_SMTP_HOTS=secret-looking-value",
		"HEROLD_SMTP_HOTS=again", // reported once
		"HEROLD_WORKER_CONCURENCY=4",
		"HEROLD_REDSI_URL=redis://x",
		"HEROLD_SMTP_HOST_FILE=/run/host",
		"HEROLD_API_KEY=abc", // only HEROLD_API_KEYS is a setting here
		"HEROLD_FOO=1",
		"HEROLD_NO_VALUE",
	}
	got := config.UnknownEnv(environ, config.Settings(&config.Config{}), "HEROLD_URL")
	want := []config.Unknown{
		{Name: "HEROLD_API_KEY", Closest: "HEROLD_API_KEYS"},
		{Name: "HEROLD_FOO"},
		{Name: "HEROLD_NO_VALUE"},
		{Name: "HEROLD_REDSI_URL", Closest: "HEROLD_REDIS_URL"},
		{Name: "HEROLD_SMTP_HOST_FILE", Closest: "HEROLD_SMTP_HOST", NoFile: true},
		{Name: "HEROLD_SMTP_HOTS", Closest: "HEROLD_SMTP_HOST"},
		{Name: "HEROLD_WORKER_CONCURENCY", Closest: "HEROLD_WORKER_CONCURRENCY"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UnknownEnv (-want +got):\n%s", diff)
	}
	for _, u := range got {
		s := u.String()
		if !strings.Contains(s, u.Name) || (u.Closest != "" && !strings.Contains(s, u.Closest)) {
			t.Errorf("%+v: String() = %q does not name the variable and its closest setting", u, s)
		}
		if strings.Contains(s, "secret-looking-value") || strings.Contains(s, "/run/host") {
			t.Errorf("String() = %q shows a value", s)
		}
	}
}

func TestUnknownEnvQuietForKnownOnly(t *testing.T) {
	t.Parallel()
	settings := config.Settings(&config.Config{})
	var environ []string
	for _, s := range settings {
		environ = append(environ, s.Env+"=x")
		if s.Secret {
			environ = append(environ, s.Env+"_FILE=/run/secrets/x")
		}
	}
	if got := config.UnknownEnv(environ, settings); len(got) != 0 {
		t.Errorf("every known setting set: UnknownEnv = %v, want none", got)
	}
	// HEROLD_URL without it among the extras is unknown: the extras matter.
	if got := config.UnknownEnv([]string{"HEROLD_URL=x"}, settings); len(got) != 1 {
		t.Errorf("HEROLD_URL not in extra: UnknownEnv = %v, want it reported", got)
	}
}
