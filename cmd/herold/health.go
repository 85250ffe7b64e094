package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/config"
)

const healthAbout = "Asks a running Herold whether it is ready: GET URL, by default /readyz on\n" +
	"HEROLD_HTTP_ADDR (a wildcard address such as 0.0.0.0 is asked on 127.0.0.1). A path\n" +
	"such as /healthz asks that path there. Exit status 0 on 200, 1 otherwise.\n\n" +
	"Meant for container health checks: the image has no shell and no curl, e.g.\n" +
	`  healthcheck: {test: ["CMD", "/usr/local/bin/herold", "health"]}`

// healthCommand is `herold health [URL|PATH]`.
func healthCommand(ctx context.Context, inv *invocation, args []string) error {
	fs := flag.NewFlagSet("herold health", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := parseFlags(fs, inv, args, healthAbout, " [URL|PATH]"); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usageErrorf("herold health: want at most one URL or path, got %d", fs.NArg())
	}
	var s struct{ HTTP config.HTTP }
	if err := config.Load(&s, inv.getenv, nil); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	url, err := healthURL(s.HTTP.Addr, fs.Arg(0))
	if err != nil {
		return usageErrorf("herold health: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return usageErrorf("herold health: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512)) // the answer is short; only its gist is shown
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(inv.stdout, "GET %s: %s\n", url, resp.Status)
	return nil
}

// healthURL is the URL to ask: arg when it is one, else arg (default
// /readyz) as a path on addr, with a wildcard or empty host as 127.0.0.1.
func healthURL(addr, arg string) (string, error) {
	if strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://") {
		return arg, nil
	}
	if arg == "" {
		arg = "/readyz"
	}
	if !strings.HasPrefix(arg, "/") {
		return "", fmt.Errorf("%q is neither an http(s) URL nor a path starting with /", arg)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("HEROLD_HTTP_ADDR %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + arg, nil
}
