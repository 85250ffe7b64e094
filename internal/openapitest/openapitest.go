// Package openapitest holds HTTP exchanges with Herold's /v1 API against its
// OpenAPI description (internal/api/openapi.yaml), with libopenapi-validator:
// the end-to-end harness (internal/apptest) wraps every Herold it runs with
// Handler, so each request and answer of every end-to-end test is checked,
// and a test fails naming the route, the status and what does not match.
// It is for tests only: the shipped binary never links it.
package openapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/content"
	vErrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"

	"github.com/heroldhq/herold/internal/api"
)

// maxBody is the largest request or answer body checked; a bigger one (a
// large import in a benchmark) is passed through and its exchange checked
// without the body.
const maxBody = 8 << 20

// Checker checks exchanges against one API description.
type Checker struct {
	mu sync.Mutex // the validator's caches are not documented as safe for concurrent use
	v  validator.Validator
}

// New builds a Checker on doc, an OpenAPI document, after checking that doc
// is valid OpenAPI (3.1, as Herold's is).
func New(doc []byte) (*Checker, error) {
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: parse: %w", err)
	}
	if v := d.GetVersion(); !strings.HasPrefix(v, "3.1") {
		return nil, fmt.Errorf("openapi: version %q, want 3.1", v)
	}
	var opts []config.Option
	for _, mt := range ndjsonTypes {
		opts = append(opts, config.WithBodyDecoder(mt, content.DecoderFunc(decodeNDJSON)))
	}
	v, errs := validator.NewValidator(d, opts...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi: build validator: %w", errs[0])
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		return nil, fmt.Errorf("openapi: the document is not valid OpenAPI: %s", describe(verrs))
	}
	return &Checker{v: v}, nil
}

var shared = sync.OnceValues(func() (*Checker, error) {
	doc, err := api.OpenAPI()
	if err != nil {
		return nil, err
	}
	return New(doc)
})

// Herold returns the Checker of Herold's own API description, built once
// per test binary.
func Herold(t testing.TB) *Checker {
	t.Helper()
	c, err := shared()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Exchange is one request and its answer, as the server saw them.
type Exchange struct {
	Method, Target string // Target: path and query, e.g. /v1/messages?recipient_id=c-1
	Header         http.Header
	Body           []byte
	BodyCut        bool // the body was longer than what is checked: it is not checked

	Status     int
	RespHeader http.Header
	RespBody   []byte
	RespCut    bool
}

// Result says what Check made of an exchange.
type Result struct {
	// Documented: the description has the request's path and method, and
	// the answer was checked against it.
	Documented bool
	// Problems: what does not match, one sentence each; empty when all does.
	Problems []string
}

// Check holds e against the description:
//
//   - a request to a route the description lacks must be answered as one
//     Herold has no route for (404, 405; 401 without a valid key first);
//   - a request the description refuses (a wrong field, a missing key) must
//     be refused with a 4xx: if Herold takes it, one of the two is wrong;
//   - every answer of a documented route must be documented: its status,
//     its headers, its body's media type and schema.
func (c *Checker) Check(e Exchange) Result {
	req, err := http.NewRequest(e.Method, "http://herold.test"+e.Target, bytes.NewReader(e.Body))
	if err != nil {
		return Result{Problems: []string{"bad request target: " + err.Error()}}
	}
	req.Header = e.Header.Clone()
	if e.BodyCut {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ok, reqErrs := c.v.ValidateHttpRequestSync(req)
	if !ok && undocumented(reqErrs) {
		switch e.Status {
		case http.StatusUnauthorized, http.StatusNotFound, http.StatusMethodNotAllowed:
			return Result{}
		}
		return Result{Problems: []string{fmt.Sprintf("the route is not in the API description, yet it answered %d", e.Status)}}
	}
	var r Result
	r.Documented = true
	if e.BodyCut {
		reqErrs = slices.DeleteFunc(reqErrs, func(v *vErrors.ValidationError) bool {
			return v.ValidationType == helpers.RequestBodyValidation
		})
	}
	if len(reqErrs) > 0 && e.Status < 400 {
		r.Problems = append(r.Problems, fmt.Sprintf("the request does not match the description, yet it was answered %d: %s", e.Status, describe(reqErrs)))
	}
	body := e.RespBody
	if e.RespCut {
		body = nil
	}
	res := &http.Response{StatusCode: e.Status, Header: e.RespHeader.Clone(), Body: io.NopCloser(bytes.NewReader(body)), Request: req}
	req.Body = io.NopCloser(bytes.NewReader(e.Body))
	if ok, resErrs := c.v.ValidateHttpResponse(req, res); !ok {
		if e.RespCut {
			resErrs = slices.DeleteFunc(resErrs, func(v *vErrors.ValidationError) bool { return v.ValidationType == helpers.ResponseBodyValidation })
		}
		if len(resErrs) > 0 {
			r.Problems = append(r.Problems, "the answer does not match the description: "+describe(resErrs))
		}
	}
	return r
}

// ndjsonTypes are the media types of newline-delimited JSON that Herold
// takes (imports, audience uploads) and gives (the audit export).
var ndjsonTypes = []string{"application/x-ndjson", "application/ndjson", "application/jsonl"}

// decodeNDJSON decodes newline-delimited JSON as the array of its lines, so
// the description gives the schema of a line as the items of an array. A
// line that is not JSON is its text, for the schema to refuse (or, where
// Herold skips bad lines, to take).
func decodeNDJSON(in *content.DecodeInput) (any, error) {
	if in == nil || in.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	lines := []any{}
	for line := range bytes.Lines(b) {
		if line = bytes.TrimSpace(line); len(line) == 0 {
			continue
		}
		var v any
		if json.Unmarshal(line, &v) != nil {
			v = string(line)
		}
		lines = append(lines, v)
	}
	return lines, nil
}

// undocumented reports whether errs say that the description has no such
// path, or no such method on it.
func undocumented(errs []*vErrors.ValidationError) bool {
	for _, e := range errs {
		if e.ValidationType == helpers.PathValidation &&
			(e.ValidationSubType == helpers.ValidationMissing || e.ValidationSubType == helpers.ValidationMissingOperation) {
			return true
		}
	}
	return false
}

// describe renders validation errors with their schema details.
func describe(errs []*vErrors.ValidationError) string {
	var parts []string
	for _, e := range errs {
		s := e.Message
		if e.Reason != "" && e.Reason != e.Message {
			s += " (" + e.Reason + ")"
		}
		for _, f := range e.SchemaValidationErrors {
			s += "; " + f.Error()
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

// Stats count the exchanges a Handler checked.
type Stats struct {
	checked, failed atomic.Int64
}

// Checked is how many exchanges of documented routes were checked.
func (s *Stats) Checked() int64 { return s.checked.Load() }

// Failed is how many exchanges did not match.
func (s *Stats) Failed() int64 { return s.failed.Load() }

// Handler wraps next so that each exchange under /v1/ is checked after next
// answered it; a mismatch fails t, naming method, path, status and the
// problems. The answer goes to the client as next writes it (nothing is held
// back), so t must still be running, or cleaning up, when requests end: an
// http.Server shut down in t.Cleanup waits for them.
func (c *Checker) Handler(t testing.TB, stats *Stats, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") || r.Method == http.MethodHead {
			next.ServeHTTP(w, r) // HEAD is GET without a body: nothing to check
			return
		}
		e := Exchange{Method: r.Method, Target: r.URL.RequestURI(), Header: r.Header.Clone()}
		if r.Body != nil && r.Body != http.NoBody {
			head, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
			e.Body, e.BodyCut = head, len(head) > maxBody || err != nil
			r.Body = readCloser{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
		}
		tee := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(tee, r)
		e.Status, e.RespHeader, e.RespBody, e.RespCut = tee.status, tee.header, tee.body.Bytes(), tee.cut
		if e.Status == 0 {
			e.Status, e.RespHeader = http.StatusOK, w.Header().Clone()
		}
		res := c.Check(e)
		if res.Documented {
			stats.checked.Add(1)
		}
		if len(res.Problems) > 0 {
			stats.failed.Add(1)
			t.Errorf("openapi: %s %s → %d: %s\n  answer: %s", e.Method, e.Target, e.Status,
				strings.Join(res.Problems, "\n  "), snippet(e.RespBody))
		}
	})
}

func snippet(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// teeWriter passes an answer through and keeps a copy of it.
type teeWriter struct {
	http.ResponseWriter
	status int
	header http.Header
	body   bytes.Buffer
	cut    bool
}

func (w *teeWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status, w.header = status, w.ResponseWriter.Header().Clone()
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if room := maxBody - w.body.Len(); room < len(b) {
		w.cut = true
		w.body.Write(b[:max(room, 0)])
	} else {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines) through the tee.
func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
