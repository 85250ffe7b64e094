package main

import (
	"context"
	"strings"
	"testing"
)

// A typo in a setting's name is named at start-up with the setting meant.
func TestStartWarnsAboutUnknownSettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"HEROLD_HTTP_ADDR":        "127.0.0.1:0",
		"HEROLD_OUTBOX_DIR":       t.TempDir(),
		"HEROLD_SMTP_HOTS":        "mail.example.com",
		"HEROLD_PAGES_BRAND_NAME": "Nordlicht",                  // a former name: deprecated, still read
		"HEROLD_TEST_REDIS_URL":   "redis://127.0.0.1:1/0",      // the tests' own: no warning
		"HEROLD_API_KEY":          "for-herold-campaign-status", // a client command's: no warning
	}
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	listening := make(chan struct{})
	done := make(chan error, 1)
	inv := &invocation{stdout: stdout, stderr: stderr, args: []string{"dev"}, getenv: getenvFrom(env), environ: environ,
		listening: func(string) { close(listening) }}
	go func() { done <- invoke(ctx, inv) }()
	select {
	case <-listening:
	case err := <-done:
		t.Fatalf("dev ended before listening: %v\n%s", err, stderr)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var warnings []map[string]any
	for _, l := range logLines(t, stderr.String()) {
		if _, ok := l["variable"]; ok {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 2 {
		t.Fatalf("want two warnings, about HEROLD_SMTP_HOTS and then HEROLD_PAGES_BRAND_NAME; got %v\n%s", warnings, stderr)
	}
	if d := warnings[1]; d["level"] != "WARN" || d["variable"] != "HEROLD_PAGES_BRAND_NAME" || d["use"] != "HEROLD_BRAND_NAME" {
		t.Errorf("deprecation warning = %v", d)
	}
	w := warnings[0]
	if w["level"] != "WARN" || w["variable"] != "HEROLD_SMTP_HOTS" || w["closest"] != "HEROLD_SMTP_HOST" ||
		!strings.Contains(w["msg"].(string), "did you mean HEROLD_SMTP_HOST?") {
		t.Errorf("warning = %v", w)
	}
	if strings.Contains(stderr.String(), "mail.example.com") {
		t.Error("the unknown variable's value is logged")
	}
}
