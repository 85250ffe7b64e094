package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/heroldhq/herold/internal/invalid"
)

// writeProblem answers err for the handlers of one area: a *Problem as it
// is, an *invalid.Error as a 400 naming each field, what known returns for
// the area's own errors, and anything else after logging it: a Redis that
// cannot take the request now as a 503 (unavailable), the rest as fallback
// (nil: a 500 that does not show err, which may hold internals).
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, area string, err error, known func(error) *Problem, fallback *Problem) {
	var prob *Problem
	if errors.As(err, &prob) {
		WriteError(w, prob)
		return
	}
	if bad, ok := invalid.As(err); ok {
		WriteError(w, Invalid(bad))
		return
	}
	if prob = known(err); prob != nil {
		WriteError(w, prob)
		return
	}
	if log == nil {
		log = slog.Default()
	}
	if prob = unavailable(w, err); prob != nil {
		log.WarnContext(r.Context(), area+" API: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		WriteError(w, prob)
		return
	}
	log.ErrorContext(r.Context(), area+" API", "method", r.Method, "path", r.URL.Path, "err", err)
	if fallback != nil {
		WriteError(w, fallback)
		return
	}
	WriteError(w, err)
}
