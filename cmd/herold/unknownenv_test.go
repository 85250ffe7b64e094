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
		"HEROLD_HTTP_ADDR":      "127.0.0.1:0",
		"HEROLD_OUTBOX_DIR":     t.TempDir(),
		"HEROLD_SMTP_HOTS":      "mail.example.com",
		"HEROLD_TEST_REDIS_URL": "redis://127.0.0.1:1/0",      // the tests' own: no warning
		"HEROLD_API_KEY":        "for-herold-campaign-status", // a client command's: no warning
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
	if len(warnings) != 1 {
		t.Fatalf("want one warning, about HEROLD_SMTP_HOTS; got %v\n%s", warnings, stderr)
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
