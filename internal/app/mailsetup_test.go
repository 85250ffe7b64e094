package app_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/redistest"
)

// newWorker builds (and closes) a worker with env on top of the minimum; it
// returns app.New's error.
func newWorker(t *testing.T, env map[string]string) error {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	all := map[string]string{"HEROLD_REDIS_PREFIX": prefix, "HEROLD_OUTBOX_DIR": t.TempDir(),
		"HEROLD_QUEUE_SUFFIX": "-" + redistest.Queue(t, "mailsetup")}
	for k, v := range env {
		all[k] = v
	}
	var cfg config.Config
	if err := config.Load(&cfg, func(k string) string { return all[k] }, nil); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), cfg, app.Options{Role: app.Role{Name: "worker", Worker: true},
		Log: slog.New(slog.DiscardHandler), Redis: rdb})
	if err == nil {
		a.Close()
	}
	return err
}

// A worker refuses an http public URL on a real host, since one-click
// unsubscribe then fails at the big mailbox providers, unless told to
// allow it; loopback is a trial and only warned about. A sender set for a
// type the catalog lacks is a typo that would send from the wrong address.
func TestMailSetupChecks(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		env  map[string]string
		want string // in the error; "" = starts
	}{
		{"https", map[string]string{"HEROLD_PUBLIC_URL": "https://herold.example.com"}, ""},
		{"http on a real host", map[string]string{"HEROLD_PUBLIC_URL": "http://herold.example.com"}, "HEROLD_PUBLIC_URL_ALLOW_HTTP"},
		{"http allowed", map[string]string{"HEROLD_PUBLIC_URL": "http://herold.example.com", "HEROLD_PUBLIC_URL_ALLOW_HTTP": "true"}, ""},
		{"http on loopback", map[string]string{"HEROLD_PUBLIC_URL": "http://127.0.0.1:8080"}, ""},
		{"sender of an unknown type", map[string]string{"HEROLD_PUBLIC_URL": "https://herold.example.com",
			"HEROLD_SMTP_FROM_TYPES": "invocie=rechnung@example.com"}, `"invocie" is not a message type`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := newWorker(t, c.env)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one naming %s", err, c.want)
			}
		})
	}
}

// syncLog is a log that tests read while Herold writes it.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// With HEROLD_SMTP_TLS=mandatory against a server that offers no STARTTLS,
// the worker says so at start-up, and the message record names the reason.
func TestSMTPCheckAtStartUp(t *testing.T) {
	t.Parallel()
	logs := &syncLog{}
	apptest.New(t, apptest.Options{Env: map[string]string{"HEROLD_SMTP_TLS": "mandatory", "HEROLD_SMTP_TIMEOUT": "2s"},
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	waitFor(t, "the SMTP check's warning", func() bool { return strings.Contains(logs.String(), "SMTP server check failed") })
	if l := logs.String(); !strings.Contains(l, "STARTTLS") {
		t.Errorf("the warning does not say that STARTTLS is missing:\n%s", l)
	}
}
