package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/apptest"
)

// With HEROLD_DEBUG_ADDR the profiles are served there, and only there: the
// public listener knows no /debug/pprof/.
func TestDebugEndpointServesPprof(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Env: map[string]string{"HEROLD_DEBUG_ADDR": "127.0.0.1:0"}})
	addr := h.DebugAddr()
	if addr == "" {
		t.Fatal("DebugAddr is empty although HEROLD_DEBUG_ADDR is set")
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := get("http://" + addr + "/debug/pprof/")
	if status != http.StatusOK || !strings.Contains(body, "goroutine") || !strings.Contains(body, "heap") {
		t.Errorf("GET /debug/pprof/: %d, body without the profile list:\n%.300s", status, body)
	}
	status, body = get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if status != http.StatusOK || !strings.Contains(body, "goroutine profile: total") {
		t.Errorf("GET /debug/pprof/goroutine?debug=1: %d\n%.300s", status, body)
	}
	if status, _ = get(h.URL + "/debug/pprof/"); status != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ on the public listener: %d, want 404", status)
	}
}

// Without it, nothing listens for profiles.
func TestDebugEndpointOffByDefault(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	if addr := h.DebugAddr(); addr != "" {
		t.Errorf("DebugAddr = %q without HEROLD_DEBUG_ADDR", addr)
	}
}
