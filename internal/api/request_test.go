package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/api"
	"github.com/heroldhq/herold/internal/apikey"
)

// TestBearerSchemeIsCaseInsensitive is a small one of issue 14 (point 9):
// "Authorization: bearer …" was refused; RFC 7235 §2.1 makes the scheme
// case-insensitive. Other schemes and empty credentials stay refused.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	ring, err := apikey.Load("ops:hrld_case_secret:*", "")
	if err != nil {
		t.Fatal(err)
	}
	h := api.Authenticate(ring, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := api.KeyFrom(r.Context()); !ok {
			t.Error("handler ran without a key")
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	for header, want := range map[string]int{
		"Bearer hrld_case_secret":    http.StatusNoContent,
		"bearer hrld_case_secret":    http.StatusNoContent,
		"BEARER hrld_case_secret":    http.StatusNoContent,
		"Bearer   hrld_case_secret ": http.StatusNoContent,
		"Basic hrld_case_secret":     http.StatusUnauthorized,
		"Bearerhrld_case_secret":     http.StatusUnauthorized,
		"bearer ":                    http.StatusUnauthorized,
		"bearer hrld_wrong":          http.StatusUnauthorized,
		"":                           http.StatusUnauthorized,
	} {
		req := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Authorization %q: %d, want %d", header, rec.Code, want)
		}
	}
}

// TestContentTypeMustBeJSON is a small one of issue 14 (point 9):
// application/jsonfoo passed the JSON check, which looked at a prefix.
func TestContentTypeMustBeJSON(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]int{
		"application/json":                http.StatusOK,
		"application/json; charset=utf-8": http.StatusOK,
		"Application/JSON":                http.StatusOK,
		"":                                http.StatusOK,
		"application/jsonfoo":             http.StatusUnsupportedMediaType,
		"application/json-patch+json":     http.StatusUnsupportedMediaType,
		"application/json;":               http.StatusOK,
		"text/plain":                      http.StatusUnsupportedMediaType,
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/x", strings.NewReader(`{"a":1}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		var v struct{ A int }
		if err := api.DecodeJSON(rec, req, 0, &v); err != nil {
			api.WriteError(rec, err)
		} else {
			rec.WriteHeader(http.StatusOK)
		}
		if rec.Code != want {
			body, _ := io.ReadAll(rec.Result().Body)
			t.Errorf("Content-Type %q: %d, want %d: %s", ct, rec.Code, want, body)
		}
	}
}
