package openapitest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/openapitest"
)

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json; charset=utf-8"}}
}

func authed() http.Header {
	return http.Header{"Authorization": {"Bearer k"}, "Content-Type": {"application/json"}}
}

const goodMessage = `{"id": "m1", "type": "invoice", "class": "transactional", "recipient_id": "c-1", "status": "queued",
	"attempts": [], "created_at": "2026-11-25T12:00:00Z", "updated_at": "2026-11-25T12:00:00Z"}`

// Check finds each kind of mismatch, naming it, and passes an exchange that
// matches: a wrong description or a wrong answer cannot pass unnoticed.
func TestCheckFindsMismatches(t *testing.T) {
	t.Parallel()
	c := openapitest.Herold(t)
	for _, tc := range []struct {
		name string
		e    openapitest.Exchange
		want string // in the problems; "" for none
	}{
		{"a matching answer", openapitest.Exchange{Method: "GET", Target: "/v1/messages/m1", Header: authed(),
			Status: 200, RespHeader: jsonHeader(), RespBody: []byte(goodMessage)}, ""},
		{"a documented error", openapitest.Exchange{Method: "GET", Target: "/v1/messages/m1", Header: authed(),
			Status: 404, RespHeader: jsonHeader(), RespBody: []byte(`{"status": 404, "code": "not_found", "message": "no such message"}`)}, ""},
		{"a required field missing", openapitest.Exchange{Method: "GET", Target: "/v1/messages/m1", Header: authed(),
			Status: 200, RespHeader: jsonHeader(), RespBody: []byte(`{"id": "m1"}`)}, "missing"},
		{"a field the description lacks", openapitest.Exchange{Method: "GET", Target: "/v1/messages/m1", Header: authed(),
			Status: 200, RespHeader: jsonHeader(), RespBody: []byte(strings.Replace(goodMessage, `"id"`, `"surprise": 1, "id"`, 1))}, "surprise"},
		{"a wrong type", openapitest.Exchange{Method: "GET", Target: "/v1/messages/m1", Header: authed(),
			Status: 200, RespHeader: jsonHeader(), RespBody: []byte(strings.Replace(goodMessage, `"attempts": []`, `"attempts": 3`, 1))}, "attempts"},
		{"an undocumented status", openapitest.Exchange{Method: "GET", Target: "/v1/messages/m1", Header: authed(),
			Status: 418, RespHeader: jsonHeader(), RespBody: []byte(`{}`)}, "418"},
		{"an error body that is no Problem", openapitest.Exchange{Method: "GET", Target: "/v1/messages/m1", Header: authed(),
			Status: 404, RespHeader: http.Header{"Content-Type": {"text/plain"}}, RespBody: []byte("404 page not found")}, "answer"},
		{"a bad request taken", openapitest.Exchange{Method: "POST", Target: "/v1/messages", Header: authed(), Body: []byte(`{"type": 5}`),
			Status: 202, RespHeader: jsonHeader(), RespBody: []byte(`{"id": "m1", "status": "queued", "status_url": "/v1/messages/m1"}`)}, "request does not match"},
		{"a bad request refused", openapitest.Exchange{Method: "POST", Target: "/v1/messages", Header: authed(), Body: []byte(`{"type": 5}`),
			Status: 400, RespHeader: jsonHeader(), RespBody: []byte(`{"status": 400, "code": "invalid_request", "message": "invalid request", "fields": [{"field": "type", "message": "must be string"}]}`)}, ""},
		{"no key taken", openapitest.Exchange{Method: "GET", Target: "/v1/messages/m1", Header: http.Header{},
			Status: 200, RespHeader: jsonHeader(), RespBody: []byte(goodMessage)}, "request does not match"},
		{"an undocumented route that answers", openapitest.Exchange{Method: "GET", Target: "/v1/secret-route", Header: authed(),
			Status: 200, RespHeader: jsonHeader(), RespBody: []byte(`{}`)}, "not in the API description"},
		{"an undocumented route refused", openapitest.Exchange{Method: "GET", Target: "/v1/secret-route", Header: authed(),
			Status: 404, RespHeader: jsonHeader(), RespBody: []byte(`{"status": 404, "code": "not_found", "message": "no route"}`)}, ""},
		{"an undocumented method that answers", openapitest.Exchange{Method: "PUT", Target: "/v1/messages", Header: authed(), Body: []byte(`{}`),
			Status: 200, RespHeader: jsonHeader(), RespBody: []byte(`{}`)}, "not in the API description"},
		{"an audit export line that is no record", openapitest.Exchange{Method: "GET", Target: "/v1/audit?format=ndjson", Header: authed(),
			Status: 200, RespHeader: http.Header{"Content-Type": {"application/x-ndjson"}}, RespBody: []byte(`{"id": "a1"}` + "\n")}, "answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Check(tc.e)
			got := strings.Join(r.Problems, "\n")
			switch {
			case tc.want == "" && got != "":
				t.Fatalf("problems, want none:\n%s", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Fatalf("problems do not name %q:\n%s", tc.want, got)
			}
		})
	}
}

// recorder is a testing.TB that keeps what Errorf reports.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// Handler fails the test on an answer that does not match, naming the
// route, the status and the validator's message, and counts what it checked.
func TestHandlerFailsTheTestOnAMismatch(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	var stats openapitest.Stats
	wrong := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"id": "m1"}`) // a message view without its required fields
	})
	srv := httptest.NewServer(openapitest.Herold(t).Handler(rec, &stats, wrong))
	defer srv.Close()
	for _, path := range []string{"/v1/messages/m1", "/healthz"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer k")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	srv.Close() // every handler has returned
	if stats.Checked() != 1 || stats.Failed() != 1 {
		t.Fatalf("checked %d, failed %d; want 1, 1 (/healthz is not the API)", stats.Checked(), stats.Failed())
	}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "GET /v1/messages/m1 → 200") || !strings.Contains(rec.errs[0], "missing") {
		t.Fatalf("reported %q", rec.errs)
	}
}

// A description that is not valid OpenAPI 3.1 is refused.
func TestNewRefusesABadDescription(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"OpenAPI 3.0":        `{"openapi": "3.0.3", "info": {"title": "x", "version": "1"}, "paths": {}}`,
		"no info":            `{"openapi": "3.1.0", "paths": {}}`,
		"a path without a /": `{"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": {"v1/x": {}}}`,
	} {
		if _, err := openapitest.New([]byte(doc)); err == nil {
			t.Errorf("%s: taken", name)
		}
	}
}
