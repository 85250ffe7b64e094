// Package api serves Herold's HTTP interface: the /v1 JSON API for producers,
// the provider webhooks and the people's pages. Each area is a handler struct
// with a Routes method; cmd/herold composes them on one mux.
//
// Every error answer is a JSON Problem with a stable code and, for bad input,
// one entry per bad field, so a producer can fix a request without guessing.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/heroldhq/herold/internal/invalid"
)

// DefaultMaxBody is the request body limit when a handler sets none.
const DefaultMaxBody = 256 << 10

// FieldError names one bad field of a request: the field and what is wrong
// with it, as the services report it (internal/invalid).
type FieldError = invalid.Field

// Problem is the body of every error answer.
type Problem struct {
	Status  int          `json:"status"`
	Code    string       `json:"code"` // e.g. "invalid_request", "not_found", "forbidden"
	Message string       `json:"message"`
	Fields  []FieldError `json:"fields,omitempty"`
}

func (p *Problem) Error() string {
	if len(p.Fields) == 0 {
		return p.Message
	}
	parts := make([]string, len(p.Fields))
	for i, f := range p.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return p.Message + ": " + strings.Join(parts, "; ")
}

// Errorf returns a Problem with a status, code and message.
func Errorf(status int, code, format string, args ...any) *Problem {
	return &Problem{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Fields collects the problems of a request's fields; its Err is the 400
// that names them (invalid.List, which the domain packages use too).
type Fields = invalid.List

// WriteJSON writes v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// Invalid is the 400 Problem of bad input: one entry per bad field.
func Invalid(e *invalid.Error) *Problem {
	return &Problem{Status: http.StatusBadRequest, Code: "invalid_request", Message: "invalid request", Fields: e.Fields}
}

// WriteError answers err: a *Problem as it is, bad input (*invalid.Error) as
// a 400 naming each field, a Redis that cannot take the request now as a 503
// with Retry-After (unavailable), anything else as a 500 whose text is not
// shown (it may hold internals).
func WriteError(w http.ResponseWriter, err error) {
	var p *Problem
	if !errors.As(err, &p) {
		if ie, ok := invalid.As(err); ok {
			p = Invalid(ie)
		} else if p = unavailable(w, err); p == nil {
			p = &Problem{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
		}
	}
	WriteJSON(w, p.Status, p)
}

// DecodeJSON reads one JSON object from r's body into v, at most max bytes
// (DefaultMaxBody when max <= 0). Unknown fields, trailing data, a wrong type
// and an oversized body are 4xx Problems that say precisely what is wrong.
// Numbers in untyped fields (template data) decode as json.Number, so they
// keep every digit the producer sent.
func DecodeJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if max <= 0 {
		max = DefaultMaxBody
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		// The media type itself, parameters aside: application/jsonfoo is not JSON.
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json, not %q", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err, max)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeProblem(err, max)
		}
		return Errorf(http.StatusBadRequest, "invalid_json", "body must hold a single JSON object")
	}
	return nil
}

func decodeProblem(err error, max int64) error {
	var (
		syn   *json.SyntaxError
		typ   *json.UnmarshalTypeError
		large *http.MaxBytesError
	)
	switch {
	case errors.As(err, &large):
		return Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "body exceeds %d bytes", max)
	case errors.As(err, &syn):
		return Errorf(http.StatusBadRequest, "invalid_json", "malformed JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return &Problem{Status: http.StatusBadRequest, Code: "invalid_request", Message: "invalid request",
			Fields: []FieldError{{Field: field, Message: fmt.Sprintf("must be %s, not %s", typ.Type, typ.Value)}}}
	case errors.Is(err, io.EOF):
		return Errorf(http.StatusBadRequest, "invalid_json", "empty body: a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(http.StatusBadRequest, "invalid_json", "malformed JSON: unexpected end of body")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &Problem{Status: http.StatusBadRequest, Code: "invalid_request", Message: "invalid request",
			Fields: []FieldError{{Field: name, Message: "unknown field"}}}
	default:
		return Errorf(http.StatusBadRequest, "invalid_json", "malformed JSON: %v", err)
	}
}
