package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/smtpsink"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a running command.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testBundle is one herold command running in-process.
type testBundle struct {
	stdout, stderr *syncBuffer
	addr           string // HTTP address once listening
	cancel         context.CancelFunc
	done           chan error // receives run's result
}

// getenvFrom returns a getenv over env only, so the test's own environment
// (say, a developer's HEROLD_REDIS_URL) does not leak in.
func getenvFrom(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// commandEnv is the environment of a command under test: Redis under a key
// prefix of this test (deleted after it), queues of their own named after
// queue (asynq's keys are outside the prefix) and HTTP on a free port; extra
// adds to it or overrides it.
func commandEnv(t *testing.T, queue string, extra map[string]string) map[string]string {
	t.Helper()
	_, prefix := redistest.Client(t)
	env := map[string]string{
		"HEROLD_REDIS_URL":    redistest.URL(),
		"HEROLD_REDIS_PREFIX": prefix,
		"HEROLD_QUEUE_SUFFIX": "-" + redistest.Queue(t, queue),
		"HEROLD_HTTP_ADDR":    "127.0.0.1:0",
	}
	maps.Copy(env, extra)
	return env
}

// smtpSinkEnv starts an SMTP sink that keeps the mails, for this test, and
// returns it with the settings that point the e-mail adapter at it.
func smtpSinkEnv(t *testing.T, from string) (*smtpsink.Sink, map[string]string) {
	t.Helper()
	sink, err := smtpsink.New(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	return sink, map[string]string{
		"HEROLD_SMTP_HOST":  sink.Host,
		"HEROLD_SMTP_PORT":  strconv.Itoa(sink.Port),
		"HEROLD_SMTP_TLS":   "off",
		"HEROLD_SMTP_FROM":  from,
		"HEROLD_OUTBOX_DIR": t.TempDir(),
	}
}

// runCommand runs herold with args and env without waiting for it.
func runCommand(t *testing.T, env map[string]string, args ...string) *testBundle {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	tb := &testBundle{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	listening := make(chan string, 1)
	inv := &invocation{stdout: tb.stdout, stderr: tb.stderr, args: args, getenv: getenvFrom(env),
		listening: func(addr string) { listening <- addr }}
	go func() { tb.done <- invoke(ctx, inv) }()
	t.Cleanup(func() {
		cancel()
		<-tb.done
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", tb.stdout, tb.stderr)
		}
	})
	select {
	case tb.addr = <-listening:
	case err := <-tb.done:
		tb.done <- err // for Cleanup
		t.Fatalf("herold %s ended before listening: %v\nstderr:\n%s", strings.Join(args, " "), err, tb.stderr)
	}
	return tb
}

// stop cancels the command, as SIGTERM does, and returns its result.
func (tb *testBundle) stop() error {
	tb.cancel()
	err := <-tb.done
	tb.done <- err // for Cleanup
	return err
}

func (tb *testBundle) get(t *testing.T, path, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+tb.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// runOnce runs a command that ends by itself.
func runOnce(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut syncBuffer
	err = run(t.Context(), &out, &errOut, args, getenvFrom(env))
	return out.String(), errOut.String(), err
}

func TestServeFailsFastWithoutRedis(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback: nothing listens, the connection is refused.
	_, _, err := runOnce(t, map[string]string{
		"HEROLD_REDIS_URL": "redis://127.0.0.1:1/0",
		"HEROLD_HTTP_ADDR": "127.0.0.1:0",
	}, "serve")
	if err == nil {
		t.Fatal("serve without Redis returned nil")
	}
	for _, want := range []string{"127.0.0.1:1", "HEROLD_REDIS_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if exitCode(err) == 0 {
		t.Errorf("exit status 0 for %v", err)
	}
}

func TestServeAnswersHealthAndStopsCleanly(t *testing.T) {
	t.Parallel()
	key := "test-key-0123456789abcdef"
	tb := runCommand(t, commandEnv(t, "cmd", map[string]string{
		"HEROLD_API_KEYS":  "ci:" + key + ":recipients",
		"HEROLD_LOG_LEVEL": "debug",
	}), "serve")

	if code, body := tb.get(t, "/healthz", ""); code != http.StatusOK {
		t.Errorf("GET /healthz = %d %s, want 200", code, body)
	}
	if code, body := tb.get(t, "/readyz", ""); code != http.StatusOK {
		t.Errorf("GET /readyz = %d %s, want 200", code, body)
	}
	if code, _ := tb.get(t, "/v1/no-such-endpoint", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/… without a key = %d, want 401", code)
	}
	if code, _ := tb.get(t, "/v1/no-such-endpoint", key); code != http.StatusNotFound {
		t.Errorf("GET /v1/no-such-endpoint with a key = %d, want 404", code)
	}

	if err := tb.stop(); err != nil {
		t.Fatalf("serve after cancel (SIGTERM) = %v, want nil", err)
	}
	logs := tb.stderr.String()
	if strings.Contains(logs, key) {
		t.Error("the API key secret appears in the logs")
	}
	if !strings.Contains(logs, `"herold stopped"`) {
		t.Error("no \"herold stopped\" log line after a clean stop")
	}
}

func TestServeWarnsWithoutAPIKeys(t *testing.T) {
	t.Parallel()
	tb := runCommand(t, commandEnv(t, "cmd", nil), "api")
	if !strings.Contains(tb.stderr.String(), "NO API KEYS CONFIGURED") {
		t.Errorf("no warning about missing API keys in:\n%s", tb.stderr)
	}
	if code, _ := tb.get(t, "/v1/anything", "whatever"); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/anything = %d, want 401", code)
	}
	if err := tb.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestWorkerServesHealthOnly(t *testing.T) {
	t.Parallel()
	tb := runCommand(t, commandEnv(t, "cmd", map[string]string{"HEROLD_SCHEDULER": "false"}), "worker")
	if code, _ := tb.get(t, "/healthz", ""); code != http.StatusOK {
		t.Errorf("worker GET /healthz = %d, want 200", code)
	}
	if code, _ := tb.get(t, "/v1/messages", "x"); code != http.StatusNotFound {
		t.Errorf("worker GET /v1/messages = %d, want 404 (the worker serves no API)", code)
	}
	if err := tb.stop(); err != nil {
		t.Fatal(err)
	}
}

var apiKeyLine = regexp.MustCompile(`(?m)^API key: (\S+)$`)

func TestDevPrintsKeyAndServes(t *testing.T) {
	t.Parallel()
	// The only test that runs on the embedded miniredis: it is what dev is.
	tb := runCommand(t, map[string]string{
		"HEROLD_HTTP_ADDR":  "127.0.0.1:0",
		"HEROLD_OUTBOX_DIR": t.TempDir(),
		// dev must ignore this and use its embedded Redis.
		"HEROLD_REDIS_URL": "redis://127.0.0.1:1/0",
	}, "dev")

	m := apiKeyLine.FindStringSubmatch(tb.stdout.String())
	if m == nil {
		t.Fatalf("no line `API key: <key>` on stdout:\n%s", tb.stdout)
	}
	key := m[1]
	if !strings.Contains(tb.stdout.String(), "NOTHING SURVIVES A RESTART") {
		t.Errorf("no loud notice that nothing survives a restart:\n%s", tb.stdout)
	}
	if code, body := tb.get(t, "/healthz", ""); code != http.StatusOK {
		t.Errorf("GET /healthz = %d %s", code, body)
	}
	if code, _ := tb.get(t, "/v1/no-such-endpoint", key); code == http.StatusUnauthorized {
		t.Errorf("the printed API key is rejected")
	}
	if code, _ := tb.get(t, "/v1/no-such-endpoint", key+"x"); code != http.StatusUnauthorized {
		t.Errorf("a wrong key = %d, want 401", code)
	}
	if strings.Contains(tb.stderr.String(), key) {
		t.Error("the API key appears in the logs")
	}
	if err := tb.stop(); err != nil {
		t.Fatalf("dev after cancel = %v, want nil", err)
	}
}

func TestInvalidConfigNamesTheSetting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad integer", map[string]string{"HEROLD_WORKER_CONCURRENCY": "many"}, nil, "HEROLD_WORKER_CONCURRENCY"},
		{"bad flag value", nil, []string{"--http-addr", "nowhere"}, "HEROLD_HTTP_ADDR"},
		{"flag wins over env", map[string]string{"HEROLD_LOG_LEVEL": "debug"}, []string{"--log-level", "loud"}, "HEROLD_LOG_LEVEL"},
		{"bad redis url", map[string]string{"HEROLD_REDIS_URL": "http://x"}, nil, "HEROLD_REDIS_URL"},
		{"short api key", map[string]string{"HEROLD_API_KEYS": "billing:short:send:invoice"}, nil, "HEROLD_API_KEYS"},
		{"api key without scopes", map[string]string{"HEROLD_API_KEYS": "billing:0123456789abcdefgh"}, nil, "HEROLD_API_KEYS"},
		{"unknown scope", map[string]string{"HEROLD_API_KEYS": "billing:0123456789abcdefgh:sendd:invoice"}, nil, "sendd:invoice"},
		{"missing key file", map[string]string{"HEROLD_API_KEYS_CONFIG": "/nonexistent/keys.yaml"}, nil, "HEROLD_API_KEYS_CONFIG"},
		{"missing catalog", map[string]string{"HEROLD_CATALOG": "/nonexistent/catalog.yaml"}, nil, "catalog"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, prefix := redistest.Client(t)
			env := map[string]string{
				"HEROLD_REDIS_URL":    redistest.URL(),
				"HEROLD_REDIS_PREFIX": prefix,
				"HEROLD_HTTP_ADDR":    "127.0.0.1:0",
			}
			for k, v := range c.env {
				env[k] = v
			}
			_, _, err := runOnce(t, env, append([]string{"serve"}, c.args...)...)
			if err == nil {
				t.Fatal("serve started with an invalid configuration")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not name %s:\n%v", c.want, err)
			}
		})
	}
}

func TestCatalogCheck(t *testing.T) {
	t.Parallel()
	t.Run("default catalog", func(t *testing.T) {
		t.Parallel()
		out, _, err := runOnce(t, nil, "catalog", "check")
		if err != nil {
			t.Fatalf("catalog check of the default catalog: %v", err)
		}
		// Every type of DESIGN.md, with its channels.
		for _, row := range [][]string{
			{"service_reply", "email", "sms"}, {"invoice", "email", "sms"}, {"contract_info", "email", "sms"},
			{"customer_tip", "email", "sms"}, {"promo_offer", "email", "sms"}, {"newsletter", "email"},
			{"survey", "email", "sms"}, {"messenger_offer", "whatsapp", "rcs"},
		} {
			for _, ch := range row[1:] {
				if !regexp.MustCompile(`(?m)^` + row[0] + `\s+\S+\s+` + ch + `\s+(contract|legitimate_interest|consent)\s`).MatchString(out) {
					t.Errorf("table has no row for %s on %s with a legal basis", row[0], ch)
				}
			}
		}
	})
	t.Run("bad catalog", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "catalog.yaml")
		if err := os.WriteFile(path, []byte(badCatalog), 0o600); err != nil {
			t.Fatal(err)
		}
		_, errOut, err := runOnce(t, nil, "catalog", "check", path)
		if code := exitCode(err); err == nil || code != 1 {
			t.Fatalf("catalog check of a bad catalog: err %v, exit %d; want exit 1", err, code)
		}
		for _, want := range []string{
			"type invoice: channel fax",        // unknown channel
			"type promo_offer: channel sms",    // no legal basis
			"type promo_offer: opt_out_notice", // marketing without opt-out notice
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("problems do not include %q:\n%s", want, errOut)
			}
		}
	})
	t.Run("HEROLD_CATALOG", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "catalog.yaml")
		if err := os.WriteFile(path, []byte(badCatalog), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := runOnce(t, map[string]string{"HEROLD_CATALOG": path}, "catalog", "check"); exitCode(err) != 1 {
			t.Fatalf("catalog check with a bad HEROLD_CATALOG: %v", err)
		}
	})
	t.Run("serve refuses a bad catalog", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "catalog.yaml")
		if err := os.WriteFile(path, []byte(badCatalog), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := runOnce(t, map[string]string{"HEROLD_CATALOG": path, "HEROLD_HTTP_ADDR": "127.0.0.1:0"}, "serve")
		if err == nil || !strings.Contains(err.Error(), "type invoice: channel fax") {
			t.Fatalf("serve with a bad catalog: %v", err)
		}
	})
}

// badCatalog has an unknown channel, a channel without legal basis and a
// marketing type without opt-out notice.
const badCatalog = `version: "test"
types:
  - key: invoice
    purpose: Invoices
    class: transactional
    channels: [email, fax]
    basis:
      email:
        - rule: contract
          law: Art. 6(1)(b) GDPR
    data_categories: [contact, invoice]
    opt_out_notice: false
    advertising: false
    retention: 10 years
  - key: promo_offer
    purpose: Offers
    class: marketing
    channels: [email, sms]
    basis:
      email:
        - rule: consent
          purpose: advertising
          law: Art. 6(1)(a) GDPR
    data_categories: [contact, offer]
    opt_out_notice: false
    advertising: true
    retention: 3 months
`

func TestUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args     []string
		code     int    // exit status; 0 is success
		stdout   string // must appear on stdout
		stderrIn string // must appear on stderr
	}{
		{args: nil, code: 2, stderrIn: "Usage: herold"},
		{args: []string{"frobnicate"}, code: 2, stderrIn: "Usage: herold"},
		{args: []string{"--help"}, stdout: "Usage: herold"},
		{args: []string{"serve", "--help"}, stdout: "-http-addr"},
		{args: []string{"dev", "--help"}, stdout: "Nothing survives a restart"},
		{args: []string{"catalog", "check", "--help"}, stdout: "[FILE]"},
		{args: []string{"serve", "--no-such-flag"}, code: 2},
		{args: []string{"serve", "extra"}, code: 2},
		{args: []string{"version"}, stdout: "herold "},
		{args: []string{"config"}, stdout: "| `HEROLD_REDIS_URL` | `--redis-url` |"},
		{args: []string{"apikey", "billing", "send:invoice"}, stdout: "sha256: "},
		{args: []string{"apikey", "billing", "sendd"}, code: 2},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Parallel()
			out, errOut, err := runOnce(t, nil, c.args...)
			code := 0
			if err != nil {
				code = exitCode(err)
			}
			if code != c.code {
				t.Errorf("exit status %d (%v), want %d", code, err, c.code)
			}
			if !strings.Contains(out, c.stdout) {
				t.Errorf("stdout lacks %q:\n%s", c.stdout, out)
			}
			if !strings.Contains(errOut, c.stderrIn) {
				t.Errorf("stderr lacks %q:\n%s", c.stderrIn, errOut)
			}
		})
	}
}

func TestAPIKeyRoundTrip(t *testing.T) {
	t.Parallel()
	out, _, err := runOnce(t, nil, "apikey", "billing", "send:class:transactional", "*")
	if err != nil {
		t.Fatal(err)
	}
	secret, entry := "", strings.Builder{}
	sc := bufio.NewScanner(strings.NewReader(out))
	inEntry := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "secret: "):
			secret = strings.TrimPrefix(line, "secret: ")
		case strings.HasPrefix(line, "- name: "):
			inEntry = true
		case line == "":
			inEntry = false
		}
		if inEntry {
			entry.WriteString(line + "\n")
		}
	}
	path := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(path, []byte(entry.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ring, err := apikey.Load("", path)
	if err != nil {
		t.Fatalf("the printed entry does not load:\n%s\n%v", entry.String(), err)
	}
	k, ok := ring.Authenticate(secret)
	if !ok || k.Name != "billing" || !k.Allows(apikey.ScopeCampaigns) {
		t.Fatalf("printed secret authenticates as %+v, %v", k, ok)
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	if got := exitCode(errors.New("x")); got != 1 {
		t.Errorf("plain error: %d, want 1", got)
	}
	if got := exitCode(usageErrorf("x")); got != 2 {
		t.Errorf("usage error: %d, want 2", got)
	}
}
