// Package main is the herold command: one binary that runs Herold's roles
// (serve, api, worker), the zero-setup dev mode, and tools (catalog check,
// config, version).
//
//	herold serve             API, people's pages, webhooks, worker and scheduler in one process
//	herold api               the HTTP side only (scale out behind a load balancer)
//	herold worker            queue worker and scheduler only (scale out against one Redis)
//	herold dev               everything of serve on an embedded in-memory Redis; nothing survives
//	herold catalog check     validate a message catalog and print it as a table
//	herold config            print every setting as a Markdown table (README)
//	herold version           print the version
//	herold health            ask a running Herold whether it is ready (exit status 0 or 1)
//
// Settings come from HEROLD_* environment variables and are overridden by
// flags of the same name (HEROLD_HTTP_ADDR → --http-addr); see `herold config`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, restore the default behaviour, so a second
		// Ctrl-C ends a shutdown that takes too long.
		<-ctx.Done()
		stop()
	}()
	tuneGC(os.Getenv)
	inv := &invocation{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, args: os.Args[1:], getenv: os.Getenv, environ: os.Environ()}
	if err := invoke(ctx, inv); err != nil {
		fmt.Fprintln(os.Stderr, "herold:", err)
		os.Exit(exitCode(err))
	}
}

// run is the whole command, with its streams, arguments and environment passed
// in so that tests can run it in-process.
func run(ctx context.Context, stdout, stderr io.Writer, args []string, getenv func(string) string) error {
	return invoke(ctx, &invocation{stdout: stdout, stderr: stderr, args: args, getenv: getenv})
}

func invoke(ctx context.Context, inv *invocation) error {
	err := dispatch(ctx, inv)
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

// invocation is one call of the command.
type invocation struct {
	stdin          io.Reader // nil: none (tests that run the command in-process)
	stdout, stderr io.Writer
	args           []string
	getenv         func(string) string
	// environ is every variable as NAME=value, for the warning about unknown
	// HEROLD_* variables; tests that pass only getenv leave it nil.
	environ []string
	// listening, when set, is called with the HTTP listener's address once it
	// accepts connections. Tests use it with --http-addr 127.0.0.1:0.
	listening func(addr string)
}

// command is a subcommand. Areas add theirs to commands.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, inv *invocation, args []string) error
}

// commands lists the subcommands in the order `herold help` shows them.
func commands() []command {
	return []command{
		{"serve", "run API, people's pages, webhooks, worker and scheduler in one process", roleCommand(roleServe())},
		{"api", "run the HTTP side only: API, people's pages and webhooks", roleCommand(roleAPI())},
		{"worker", "run the queue worker and the scheduler only", roleCommand(roleWorker())},
		{"dev", "try Herold: everything of serve on an in-memory Redis; nothing survives a restart", roleCommand(roleDev())},
		{"catalog", "catalog check|notice|record [FILE]: validate a catalog and print its table; print the privacy notice or the record of processing", catalogCommand},
		{"apikey", "apikey NAME SCOPE...: make a new API key and its entry for HEROLD_API_KEYS_CONFIG", apikeyCommand},
		{"console", "console user add NAME ROLE: make an operator console user's entry for HEROLD_CONSOLE_USERS_FILE", consoleCommand},
		{"config", "print every setting (variable, flag, default, meaning) as a Markdown table", configCommand},
		{"version", "print the version", versionCommand},
		{"health", "health [URL|PATH]: ask a running Herold whether it is ready (container health checks)", healthCommand},
		{"load", "push N messages through API, queue, worker and SMTP to a local sink; print messages/s", loadCommand},
		{"template", "template preview --type T --channel C [--locale L] [--data FILE] [--html FILE]: render a message", templateCommand},
		{"campaign", "campaign status ID: a campaign's state and counters with a live progress bar (via the API)", campaignCommand},
		{"bench", "measure a campaign against the bare-send limit, CPU per message and where it goes, invoice latency, Redis memory, RSS", benchCommand},
		{"import", "import FILE: load recipients (NDJSON or CSV, with consent events) through the API, with a progress bar", importCommand},
		{"bench-audience", "measure import rate, segment evaluation and dry run of a million recipients; print the figures", benchAudienceCommand},
		// Areas add their subcommands here, e.g. `template preview` (templates),
		// `campaign` and `bench` (campaigns).
	}
}

// hiddenCommands are for Herold's own use and not listed by `herold help`.
func hiddenCommands() []command {
	return []command{
		{"sink", "the SMTP sink process of herold bench (loopback; counts and discards)", sinkCommand},
	}
}

func dispatch(ctx context.Context, inv *invocation) error {
	if len(inv.args) == 0 {
		printUsage(inv.stderr)
		return usageErrorf("missing command")
	}
	args := helpArgs(inv.args)
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		printUsage(inv.stdout)
		return nil
	case "-v", "-version", "--version":
		name = "version"
	}
	all := append(commands(), hiddenCommands()...)
	i := slices.IndexFunc(all, func(c command) bool { return c.name == name })
	if i < 0 {
		printUsage(inv.stderr)
		return usageErrorf("unknown command %q", name)
	}
	return all[i].run(ctx, inv, args[1:])
}

func printUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("Herold dispatches outbound messages (email, SMS, WhatsApp, RCS) and checks the legal basis of each.\n\n")
	b.WriteString("Usage: herold <command> [flags]\n\nCommands:\n")
	width := 0
	for _, c := range commands() {
		width = max(width, len(c.name))
	}
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-*s %s\n", width, c.name, c.summary)
	}
	b.WriteString("\nRun `herold <command> --help` for its flags. Every setting is a HEROLD_* environment\n")
	b.WriteString("variable; a flag of the same name overrides it (HEROLD_HTTP_ADDR → --http-addr).\n")
	io.WriteString(w, b.String())
}

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports a mistake in the command line (exit status 2).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// exitCode is the process exit status for err.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
