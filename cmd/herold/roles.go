package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/devredis"
)

// role says which parts of Herold a process runs.
type role struct {
	name      string
	http      bool // API, people's pages and webhooks (every role serves /healthz and /readyz)
	worker    bool // the asynq server that delivers messages
	scheduler bool // the asynq scheduler for periodic tasks (unless HEROLD_SCHEDULER=false)
	dev       bool // embedded Redis, generated API key, outbox channels
	about     string
}

// The roles.
func roleServe() role {
	return role{name: "serve", http: true, worker: true, scheduler: true,
		about: "Runs the API, the people's pages, the provider webhooks, the queue worker and the\n" +
			"scheduler in one process, against the Redis of HEROLD_REDIS_URL."}
}

func roleAPI() role {
	return role{name: "api", http: true,
		about: "Runs the HTTP side only (API, people's pages, webhooks); run `herold worker` beside it."}
}

func roleWorker() role {
	return role{name: "worker", worker: true, scheduler: true,
		about: "Runs the queue worker and the scheduler only; many workers may share one Redis.\n" +
			"It also answers /healthz and /readyz on HEROLD_HTTP_ADDR."}
}

func roleDev() role {
	return role{name: "dev", http: true, worker: true, scheduler: true, dev: true,
		about: "Runs everything of `herold serve` on an embedded in-memory Redis, with a generated\n" +
			"API key and channels writing to the outbox folder. Nothing survives a restart."}
}

// roleCommand runs Herold in role r.
func roleCommand(r role) func(ctx context.Context, inv *invocation, args []string) error {
	return func(ctx context.Context, inv *invocation, args []string) error {
		var cfg config.Config
		fs := flag.NewFlagSet("herold "+r.name, flag.ContinueOnError)
		config.RegisterFlags(&cfg, fs)
		if err := parseFlags(fs, inv, args, r.about, ""); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return usageErrorf("herold %s: unexpected argument %q", r.name, fs.Arg(0))
		}
		if err := config.Load(&cfg, inv.getenv, fs); err != nil {
			return fmt.Errorf("invalid configuration:\n%w", err)
		}
		r.scheduler = r.scheduler && cfg.Worker.Scheduler
		log := newLogger(inv.stderr, cfg.Core)
		warnUnknownEnv(log, inv.environ, &cfg)

		var dev *devredis.Server
		if r.dev {
			var err error
			if dev, err = devredis.Start(); err != nil {
				return err
			}
			defer dev.Close()
			if inv.getenv("HEROLD_REDIS_URL") != "" || isFlagSet(fs, "redis-url") {
				log.Warn("herold dev ignores HEROLD_REDIS_URL and always uses its embedded in-memory Redis; use `herold serve` for a real one")
			}
			cfg.Redis.URL, cfg.Redis.Password = dev.URL(), ""
		}

		// Listen before anything else connects, so a taken port fails fast.
		ln, err := net.Listen("tcp", cfg.HTTP.Addr)
		if err != nil {
			return fmt.Errorf("HEROLD_HTTP_ADDR: %w", err)
		}
		defer ln.Close()
		if r.dev && inv.getenv("HEROLD_PUBLIC_URL") == "" && !isFlagSet(fs, "public-url") {
			// Links in dev messages must point at the port actually bound.
			cfg.HTTP.PublicURL = "http://" + loopbackURLHost(ln.Addr())
		}

		a, err := newApp(ctx, log, cfg, r, inv.stdout)
		if err != nil {
			return err
		}
		defer a.close()
		return a.run(ctx, ln, inv.listening)
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
