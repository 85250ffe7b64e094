package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/apptest"
)

// Every answer Herold gives outside its routes is JSON a client can read:
// 404 for an unknown path, 405 naming the allowed methods, on the public
// side and behind the API key alike; a worker answers the same way on its
// health port.
func TestUnknownRoutesAnswerJSON(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Env: map[string]string{"HEROLD_API_KEYS": "admin:" + adminKey + ":*"}})
	w := h.Again(t, apptest.Options{Role: app.Role{Name: "worker", Worker: true}})
	for _, c := range []struct {
		name, base, method, path string
		auth                     bool
		status                   int
		code, allow              string
	}{
		{"unknown public path", h.URL, "GET", "/no/such/page", false, 404, "not_found", ""},
		{"unknown api path", h.URL, "GET", "/v1/nothing-here", true, 404, "not_found", ""},
		{"api path without a key", h.URL, "GET", "/v1/nothing-here", false, 401, "", ""},
		{"wrong method on health", h.URL, "POST", "/healthz", false, 405, "method_not_allowed", "GET, HEAD"},
		{"wrong method on an api route", h.URL, "PUT", "/v1/messages", true, 405, "method_not_allowed", "POST"},
		{"worker: unknown path", w.URL, "GET", "/v1/messages", false, 404, "not_found", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), c.method, c.base+c.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			if c.auth {
				req.Header.Set("Authorization", "Bearer "+adminKey)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, c.status, b)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type %q, want JSON: %s", ct, b)
			}
			var e struct {
				Status  int    `json:"status"`
				Code    string `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("not JSON: %v: %s", err, b)
			}
			if c.code != "" && e.Code != c.code {
				t.Fatalf("code %q, want %q: %s", e.Code, c.code, b)
			}
			if e.Message == "" {
				t.Fatalf("no message: %s", b)
			}
			if got := res.Header.Get("Allow"); c.allow != "" && !strings.Contains(got, c.allow) {
				t.Fatalf("Allow %q, want it to name %q", got, c.allow)
			}
		})
	}
}
