package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugHandler serves Go's profiles (net/http/pprof) under /debug/pprof/ on
// a mux of its own: the package also registers them on http.DefaultServeMux,
// which Herold never serves.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // heap, goroutine, allocs, block, mutex, … by name
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// serveDebug listens on HEROLD_DEBUG_ADDR (config.Debug checked that it is
// loopback unless allowed otherwise) and serves the profiles there. The
// returned stop closes it at once: a CPU profile being taken must not hold
// up shutdown. No write timeout, since a profile streams for ?seconds=.
func (a *App) serveDebug(addr string) (stop func(context.Context), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HEROLD_DEBUG_ADDR: %w", err)
	}
	srv := &http.Server{Handler: debugHandler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }() // returns once closed
	a.debugAddr.Store(ln.Addr().String())
	a.Log.Info("debug endpoint ready (pprof)", "addr", ln.Addr().String())
	return func(context.Context) { _ = srv.Close(); <-done }, nil
}

// DebugAddr is the address the pprof endpoint listens on once Run has
// started it, else "".
func (a *App) DebugAddr() string {
	s, _ := a.debugAddr.Load().(string)
	return s
}
