package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	ready := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			if <-ready {
				w.Write([]byte("ok"))
				return
			}
			http.Error(w, "redis: connection refused", http.StatusServiceUnavailable)
		case "/healthz":
			w.Write([]byte("ok"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	// Default: /readyz on HEROLD_HTTP_ADDR, a wildcard host asked on loopback.
	env := map[string]string{"HEROLD_HTTP_ADDR": "0.0.0.0:" + port}
	ready <- true
	if out, _, err := runOnce(t, env, "health"); err != nil || !strings.Contains(out, "/readyz: 200") {
		t.Errorf("health of a ready server = %v, %q", err, out)
	}
	ready <- false
	_, _, err := runOnce(t, env, "health")
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "redis: connection refused") {
		t.Errorf("health of an unready server = %v (exit %d), want exit 1 naming 503 and the reason", err, exitCode(err))
	}
	if _, _, err := runOnce(t, env, "health", "/healthz"); err != nil {
		t.Errorf("health /healthz = %v", err)
	}
	if _, _, err := runOnce(t, nil, "health", srv.URL+"/healthz"); err != nil {
		t.Errorf("health URL = %v", err)
	}
	if _, _, err := runOnce(t, nil, "health", srv.URL+"/nowhere"); exitCode(err) != 1 {
		t.Errorf("health of a 404 = %v, want exit 1", err)
	}
	// Nothing listens: the error names the address.
	_, _, err = runOnce(t, map[string]string{"HEROLD_HTTP_ADDR": "127.0.0.1:1"}, "health", "--timeout", "2s")
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("health with nothing listening = %v", err)
	}
	if _, _, err := runOnce(t, nil, "health", "readyz"); exitCode(err) != 2 {
		t.Errorf("health readyz (no slash) = %v, want a usage error", err)
	}
}

func TestHealthURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ addr, arg, want string }{
		{"127.0.0.1:8080", "", "http://127.0.0.1:8080/readyz"},
		{"0.0.0.0:8080", "", "http://127.0.0.1:8080/readyz"},
		{":9000", "/healthz", "http://127.0.0.1:9000/healthz"},
		{"[::]:8080", "", "http://127.0.0.1:8080/readyz"},
		{"[::1]:8080", "", "http://[::1]:8080/readyz"},
		{"herold.internal:8080", "", "http://herold.internal:8080/readyz"},
		{"127.0.0.1:8080", "https://herold.example.com/readyz", "https://herold.example.com/readyz"},
	} {
		if got, err := healthURL(c.addr, c.arg); err != nil || got != c.want {
			t.Errorf("healthURL(%q, %q) = %q, %v; want %q", c.addr, c.arg, got, err, c.want)
		}
	}
}
