package api

import (
	"net/http"
	"slices"
	"sync"
)

// Mux is what the Routes methods register their handlers on: an
// *http.ServeMux, or a RouteTable that also records the patterns.
type Mux interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// RouteTable registers routes on a mux and remembers their patterns, so a
// test can hold the routes Herold really serves against the API
// description (the mux itself cannot list them).
type RouteTable struct {
	mux      *http.ServeMux
	mu       sync.Mutex
	patterns []string
}

// NewRouteTable returns a table registering on mux.
func NewRouteTable(mux *http.ServeMux) *RouteTable { return &RouteTable{mux: mux} }

// HandleFunc registers handler for pattern on the mux, as
// http.ServeMux.HandleFunc does, and records pattern.
func (t *RouteTable) HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request)) {
	t.Handle(pattern, http.HandlerFunc(handler))
}

// Handle registers h for pattern on the mux and records pattern.
func (t *RouteTable) Handle(pattern string, h http.Handler) {
	t.mux.Handle(pattern, h)
	t.mu.Lock()
	t.patterns = append(t.patterns, pattern)
	t.mu.Unlock()
}

// Patterns returns the patterns registered so far, sorted.
func (t *RouteTable) Patterns() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Sorted(slices.Values(t.patterns))
}
