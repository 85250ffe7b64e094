package config_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/config"
)

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// load loads a Config from env and command-line args.
func load(t *testing.T, env map[string]string, args ...string) (config.Config, error) {
	t.Helper()
	var cfg config.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	config.RegisterFlags(&cfg, fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	err := config.Load(&cfg, getenv(env), fs)
	return cfg, err
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, nil)
	if err != nil {
		t.Fatalf("defaults do not load: %v", err)
	}
	if cfg.HTTP.Addr != "127.0.0.1:8080" || cfg.Redis.URL != "redis://127.0.0.1:6379/0" || cfg.Core.OutboxDir != "outbox" {
		t.Errorf("defaults: addr %q, redis %q, outbox %q", cfg.HTTP.Addr, cfg.Redis.URL, cfg.Core.OutboxDir)
	}
	if cfg.HTTP.ShutdownGrace != 30*time.Second || cfg.Worker.Concurrency != 20 || !cfg.Worker.Scheduler {
		t.Errorf("defaults: grace %s, concurrency %d, scheduler %v", cfg.HTTP.ShutdownGrace, cfg.Worker.Concurrency, cfg.Worker.Scheduler)
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	secretFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(t, map[string]string{
		"HEROLD_HTTP_ADDR":           "127.0.0.1:9000",
		"HEROLD_WORKER_CONCURRENCY":  "7",
		"HEROLD_REDIS_PASSWORD":      "from-env",
		"HEROLD_REDIS_PASSWORD_FILE": secretFile,
		"HEROLD_SHUTDOWN_GRACE":      "5s",
	}, "--http-addr", "127.0.0.1:9100", "--scheduler=false")
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.HTTP.Addr, cfg.Worker.Concurrency, cfg.Redis.Password, cfg.HTTP.ShutdownGrace, cfg.Worker.Scheduler}
	want := []any{
		"127.0.0.1:9100", // flag over env
		7,                // env over default
		"from-file",      // _FILE over env, trailing newline trimmed
		5 * time.Second,
		false,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"bad duration", map[string]string{"HEROLD_SHUTDOWN_GRACE": "soon"}, nil, []string{"HEROLD_SHUTDOWN_GRACE", `"soon"`}},
		{"bad integer", map[string]string{"HEROLD_WORKER_CONCURRENCY": "ten"}, nil, []string{"HEROLD_WORKER_CONCURRENCY", `"ten"`}},
		{"bad boolean", map[string]string{"HEROLD_SCHEDULER": "sometimes"}, nil, []string{"HEROLD_SCHEDULER"}},
		{"bad flag", nil, []string{"--worker-concurrency", "x"}, []string{"--worker-concurrency"}},
		{"missing secret file", map[string]string{"HEROLD_TOKEN_SECRET_FILE": "/nonexistent/secret"}, nil, []string{"HEROLD_TOKEN_SECRET_FILE"}},
		{"every bad value at once", map[string]string{"HEROLD_SHUTDOWN_GRACE": "x", "HEROLD_MAX_RETRY": "y"}, nil, []string{"HEROLD_SHUTDOWN_GRACE", "HEROLD_MAX_RETRY"}},
		{"address", map[string]string{"HEROLD_HTTP_ADDR": "8080"}, nil, []string{"HEROLD_HTTP_ADDR"}},
		{"public url", map[string]string{"HEROLD_PUBLIC_URL": "example.com"}, nil, []string{"HEROLD_PUBLIC_URL"}},
		{"redis scheme", map[string]string{"HEROLD_REDIS_URL": "tcp://127.0.0.1:6379"}, nil, []string{"HEROLD_REDIS_URL"}},
		{"concurrency", map[string]string{"HEROLD_WORKER_CONCURRENCY": "0"}, nil, []string{"HEROLD_WORKER_CONCURRENCY", "at least 1"}},
		{"log level", map[string]string{"HEROLD_LOG_LEVEL": "verbose"}, nil, []string{"HEROLD_LOG_LEVEL"}},
		{"log format", map[string]string{"HEROLD_LOG_FORMAT": "xml"}, nil, []string{"HEROLD_LOG_FORMAT"}},
		{"short token secret", map[string]string{"HEROLD_TOKEN_SECRET": "short"}, nil, []string{"HEROLD_TOKEN_SECRET", "at least 32"}},
		{"short salt", map[string]string{"HEROLD_HASH_SALT": "salt"}, nil, []string{"HEROLD_HASH_SALT"}},
		{"region", map[string]string{"HEROLD_DEFAULT_REGION": "DEU"}, nil, []string{"HEROLD_DEFAULT_REGION"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, c.env, c.args...)
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %s:\n%v", w, err)
				}
			}
		})
	}
}

func TestAttrsMaskSecrets(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, map[string]string{
		"HEROLD_REDIS_URL":    "redis://user:hunter2pw@127.0.0.1:6379/0",
		"HEROLD_TOKEN_SECRET": "0123456789abcdef0123456789abcdef-secret",
		"HEROLD_API_KEYS":     "billing:billing-secret-value:send:invoice",
	})
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	seen := map[string]string{}
	for _, a := range config.Attrs(&cfg) {
		all.WriteString(a.String() + "\n")
		seen[a.Key] = a.Value.String()
	}
	for _, secret := range []string{"hunter2pw", "0123456789abcdef0123456789abcdef-secret", "billing-secret-value"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("logged configuration reveals %q:\n%s", secret, all.String())
		}
	}
	if got := seen["redis-url"]; got != "redis://user:***@127.0.0.1:6379/0" {
		t.Errorf("redis-url logged as %q", got)
	}
	if got := seen["token-secret"]; got != "***" {
		t.Errorf("token-secret logged as %q", got)
	}
	if got := seen["http-addr"]; got != "127.0.0.1:8080" {
		t.Errorf("http-addr logged as %q; non-secrets are shown", got)
	}
}

func TestTableListsEverySetting(t *testing.T) {
	t.Parallel()
	var cfg config.Config
	table := config.Table(&cfg)
	for _, s := range config.Settings(&cfg) {
		row := "| `" + s.Env + "`"
		if !strings.Contains(table, row) {
			t.Errorf("table has no row for %s", s.Env)
		}
		if s.Help == "" {
			t.Errorf("%s has no help text", s.Env)
		}
		if s.Secret && !strings.Contains(table, "`"+s.Env+"_FILE`") {
			t.Errorf("secret %s: table does not mention %s_FILE", s.Env, s.Env)
		}
	}
}

func TestFlagsAndEnvNamesAreUnique(t *testing.T) {
	t.Parallel()
	var cfg config.Config
	envs, flags := map[string]bool{}, map[string]bool{}
	for _, s := range config.Settings(&cfg) {
		if envs[s.Env] || flags[s.Flag] {
			t.Errorf("setting %s (--%s) is defined twice", s.Env, s.Flag)
		}
		if !strings.HasPrefix(s.Env, "HEROLD_") {
			t.Errorf("setting %s lacks the HEROLD_ prefix", s.Env)
		}
		envs[s.Env], flags[s.Flag] = true, true
	}
}
