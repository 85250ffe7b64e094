package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/api"
)

// fallbackServer serves a mux like Herold's: health, a console subtree and
// API routes, all behind api.Fallback.
func fallbackServer(t *testing.T, extra func(*http.ServeMux)) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "thing "+r.PathValue("id")) })
	mux.HandleFunc("PUT /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /v1/things", func(w http.ResponseWriter, r *http.Request) {})
	if extra != nil {
		extra(mux)
	}
	srv := httptest.NewServer(api.Fallback(mux))
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, srv *httptest.Server, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// problem decodes a JSON Problem, failing unless the answer is one with status.
func problem(t *testing.T, resp *http.Response, body string, status int, code string) api.Problem {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON: %s", ct, body)
	}
	var p api.Problem
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("not a Problem: %v: %s", err, body)
	}
	if p.Status != status || p.Code != code || p.Message == "" {
		t.Fatalf("problem %+v, want status %d code %s with a message", p, status, code)
	}
	return p
}

func TestFallbackUnknownRouteIsJSON404(t *testing.T) {
	t.Parallel()
	srv := fallbackServer(t, nil)
	for _, path := range []string{"/v1/no-such-endpoint", "/v1/thing", "/nowhere"} {
		resp, body := do(t, srv, http.MethodGet, path)
		p := problem(t, resp, body, http.StatusNotFound, "not_found")
		if !strings.Contains(p.Message, path) {
			t.Errorf("GET %s: message %q does not name the path", path, p.Message)
		}
	}
}

func TestFallbackWrongMethodIsJSON405WithAllow(t *testing.T) {
	t.Parallel()
	srv := fallbackServer(t, nil)
	for path, allow := range map[string]string{
		"/v1/things/t-1": "GET, HEAD, PUT",
		"/healthz":       "GET, HEAD",
		"/":              "GET, HEAD",
	} {
		resp, body := do(t, srv, http.MethodDelete, path)
		p := problem(t, resp, body, http.StatusMethodNotAllowed, "method_not_allowed")
		if got := resp.Header.Get("Allow"); got != allow {
			t.Errorf("DELETE %s: Allow %q, want %q", path, got, allow)
		}
		if !strings.Contains(p.Message, allow) {
			t.Errorf("DELETE %s: message %q does not name the allowed methods", path, p.Message)
		}
	}
}

func TestFallbackPassesRoutesThrough(t *testing.T) {
	t.Parallel()
	srv := fallbackServer(t, nil)
	if resp, body := do(t, srv, http.MethodGet, "/v1/things/t-7"); resp.StatusCode != http.StatusOK || body != "thing t-7" {
		t.Errorf("GET /v1/things/t-7 = %d %q, want 200 with the path value", resp.StatusCode, body)
	}
	// The mux's own redirect to the cleaned path stays.
	if resp, _ := do(t, srv, http.MethodGet, "/v1/../healthz"); resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/healthz" {
		t.Errorf("GET /v1/../healthz = %d to %q, want a redirect to /healthz", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestFallbackHomePage(t *testing.T) {
	t.Parallel()
	srv := fallbackServer(t, func(mux *http.ServeMux) {
		mux.Handle("/console/", http.NotFoundHandler())
		mux.Handle("/v1/", http.NotFoundHandler()) // a subtree is no route for /v1/openapi.json
	})
	resp, body := do(t, srv, http.MethodGet, "/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`href="/console/"`, `href="/healthz"`, `href="` + api.DocsURL + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "openapi.json") {
		t.Errorf("page links the API description, which the mux does not route:\n%s", body)
	}
	if resp, body := do(t, srv, http.MethodHead, "/"); resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD / = %d with %d bytes", resp.StatusCode, len(body))
	}

	// Once the API description has a route, the page links it.
	srv = fallbackServer(t, func(mux *http.ServeMux) {
		mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {})
	})
	if _, body := do(t, srv, http.MethodGet, "/"); !strings.Contains(body, `href="/v1/openapi.json"`) || strings.Contains(body, "/console/") {
		t.Errorf("page with only the API description routed:\n%s", body)
	}

	// A mux that routes "/" itself keeps it.
	srv = fallbackServer(t, func(mux *http.ServeMux) {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "own") })
	})
	if _, body := do(t, srv, http.MethodGet, "/"); body != "own" {
		t.Errorf("GET / with a route of its own = %q", body)
	}
}
