package config

import (
	"fmt"
	"net"
	"net/netip"
)

// Debug configures the operator's profiling endpoint (Go's net/http/pprof)
// on an address of its own. It is off by default and, since a profile shows
// the process's memory and a CPU profile costs CPU while it runs, only on
// loopback unless allowed otherwise: reach it through an SSH tunnel or
// `kubectl port-forward`.
type Debug struct {
	Addr        string `env:"HEROLD_DEBUG_ADDR" help:"address (host:port) of the pprof endpoint GET /debug/pprof/ (profiles of CPU, heap, goroutines); empty: off; loopback only unless HEROLD_DEBUG_ALLOW_REMOTE"`
	AllowRemote bool   `env:"HEROLD_DEBUG_ALLOW_REMOTE" default:"false" help:"let HEROLD_DEBUG_ADDR listen on an address other than loopback (the endpoint has no authentication: only behind a firewall)"`
}

// Validate refuses an address that is not host:port, and one that is not
// loopback unless AllowRemote: an empty host or 0.0.0.0 listens everywhere.
func (d *Debug) Validate() error {
	if d.Addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(d.Addr)
	if err != nil {
		return fmt.Errorf("HEROLD_DEBUG_ADDR: %q is not host:port: %v", d.Addr, err)
	}
	if d.AllowRemote || host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("HEROLD_DEBUG_ADDR: %q is not a loopback address (127.0.0.1:6060, [::1]:6060, localhost:6060): the profiling endpoint has no authentication; set HEROLD_DEBUG_ALLOW_REMOTE=true to listen there anyway", d.Addr)
}
