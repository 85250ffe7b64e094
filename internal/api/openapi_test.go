package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/api"
)

// GET /v1/openapi.json serves the description as JSON, keys in the order of
// openapi.yaml, with an ETag that If-None-Match turns into a 304; HEAD
// answers the headers alone.
func TestServeOpenAPI(t *testing.T) {
	t.Parallel()
	get := func(method, etag string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, api.OpenAPIPath, nil)
		if etag != "" {
			r.Header.Set("If-None-Match", etag)
		}
		w := httptest.NewRecorder()
		api.ServeOpenAPI(w, r)
		return w
	}
	w := get("GET", "")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	body := w.Body.String()
	if !strings.HasPrefix(body, "{\n  \"openapi\": \"3.1.0\",\n  \"info\"") {
		t.Fatalf("not in the YAML's order: %.80s", body)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	etag := w.Header().Get("ETag")
	if w := get("GET", etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Fatalf("If-None-Match %s: %d", etag, w.Code)
	}
	if w := get("GET", `"other", W/`+etag); w.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match list: %d", w.Code)
	}
	if w := get("GET", `"other"`); w.Code != 200 {
		t.Fatalf("another ETag: %d", w.Code)
	}
	if w := get("HEAD", ""); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Fatalf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
}
