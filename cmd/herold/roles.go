package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/devredis"
	"github.com/heroldhq/herold/internal/redisconn"
)

// role is a process role of Herold (which parts it runs, app.Role) and its help text.
type role struct {
	app.Role
	about string
}

// The roles.
func roleServe() role {
	return role{Role: app.Role{Name: "serve", HTTP: true, Worker: true, Scheduler: true},
		about: "Runs the API, the people's pages, the provider webhooks, the queue worker and the\n" +
			"scheduler in one process, against the Redis of HEROLD_REDIS_URL."}
}

func roleAPI() role {
	return role{Role: app.Role{Name: "api", HTTP: true},
		about: "Runs the HTTP side only (API, people's pages, webhooks); run `herold worker` beside it."}
}

func roleWorker() role {
	return role{Role: app.Role{Name: "worker", Worker: true, Scheduler: true},
		about: "Runs the queue worker and the scheduler only; many workers may share one Redis.\n" +
			"It also answers /healthz and /readyz on HEROLD_HTTP_ADDR."}
}

func roleDev() role {
	return role{Role: app.Role{Name: "dev", HTTP: true, Worker: true, Scheduler: true, Dev: true},
		about: "Runs everything of `herold serve` on an embedded in-memory Redis, with a generated\n" +
			"API key and channels writing to the outbox folder. Nothing survives a restart."}
}

// roleCommand runs Herold in role r.
func roleCommand(r role) func(ctx context.Context, inv *invocation, args []string) error {
	return func(ctx context.Context, inv *invocation, args []string) error {
		var cfg config.Config
		fs := flag.NewFlagSet("herold "+r.Name, flag.ContinueOnError)
		config.RegisterFlags(&cfg, fs)
		if err := parseFlags(fs, inv, args, r.about, ""); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return usageErrorf("herold %s: unexpected argument %q", r.Name, fs.Arg(0))
		}
		if err := config.Load(&cfg, inv.getenv, fs); err != nil {
			return fmt.Errorf("invalid configuration:\n%w", err)
		}
		r.Scheduler = r.Scheduler && cfg.Worker.Scheduler
		log := newLogger(inv.stderr, cfg.Core)
		// go-redis logs through a logger of its own (a global of the
		// library): route it into this process's JSON log.
		redisconn.RouteLogs(log)
		warnUnknownEnv(log, inv.environ, &cfg)

		var dev *devredis.Server
		if r.Dev {
			var err error
			if dev, err = devredis.Start(); err != nil {
				return err
			}
			defer dev.Close()
			if inv.getenv("HEROLD_REDIS_URL") != "" || isFlagSet(fs, "redis-url") {
				log.Warn("herold dev ignores HEROLD_REDIS_URL and always uses its embedded in-memory Redis; use `herold serve` for a real one")
			}
			cfg.Redis.URL, cfg.Redis.Password = dev.URL(), ""
			cfg.Redis.MinReplicasAck = 0 // the embedded Redis has no replicas
			if inv.getenv("HEROLD_WEBHOOKS_ALLOW_PRIVATE") == "" && !isFlagSet(fs, "webhooks-allow-private") {
				// A trial's webhook receiver runs on the same machine.
				cfg.Events.Webhooks.AllowPrivate = true
			}
		}

		// Listen before anything else connects, so a taken port fails fast.
		ln, err := net.Listen("tcp", cfg.HTTP.Addr)
		if err != nil {
			return fmt.Errorf("HEROLD_HTTP_ADDR: %w", err)
		}
		defer ln.Close()
		if r.Dev && inv.getenv("HEROLD_PUBLIC_URL") == "" && !isFlagSet(fs, "public-url") {
			// Links in dev messages must point at the port actually bound.
			cfg.HTTP.PublicURL = "http://" + loopbackURLHost(ln.Addr())
		}

		log.LogAttrs(ctx, slog.LevelInfo, "starting herold",
			slog.String("role", r.Name), slog.String("version", versionString()),
			slog.Attr{Key: "config", Value: slog.GroupValue(config.Attrs(&cfg)...)})
		opts := app.Options{Role: r.Role, Log: log}
		var devKey string
		if r.Dev {
			var err error
			if devKey, err = apikey.Generate(); err != nil {
				return err
			}
			opts.ExtraKeys = []apikey.Key{{Name: "herold-dev", Hash: apikey.Hash(devKey), Scopes: []string{apikey.ScopeAll}}}
		}
		a, err := app.New(ctx, cfg, opts)
		if err != nil {
			return err
		}
		defer a.Close()
		return a.Run(ctx, ln, func(addr string) {
			if r.Dev {
				printDevBanner(inv.stdout, cfg, addr, devKey)
			}
			if inv.listening != nil {
				inv.listening(addr)
			}
		})
	}
}

// parseFlags parses args into fs. --help prints the usage to stdout and ends
// the command successfully; a bad flag is a usage error.
func parseFlags(fs *flag.FlagSet, inv *invocation, args []string, about, argsUsage string) error {
	fs.SetOutput(io.Discard)
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: %s [flags]%s\n\n%s\n\n", fs.Name(), argsUsage, about)
		printFlags(w, fs)
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage(inv.stdout)
		return errHelp
	case err != nil:
		return usageErrorf("%s: %v (see --help)", fs.Name(), err)
	}
	return nil
}

// errHelp ends a command after it printed its help; run reports no error.
var errHelp = errors.New("help shown")

// loopbackURLHost returns host:port of addr for a URL, with a wildcard
// address (0.0.0.0, ::) replaced by 127.0.0.1.
func loopbackURLHost(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	return tcp.String()
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
