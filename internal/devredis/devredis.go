// Package devredis runs an embedded, in-memory Redis (miniredis) for
// `herold dev`, the zero-setup way to try Herold.
//
// It listens on a real TCP loopback port, so go-redis and asynq connect to it
// exactly as they connect to a real Redis. Nothing it holds survives the
// process. It is for trying Herold out only: `herold serve` never uses it, and
// tests use a real Redis (internal/redistest).
package devredis

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
)

// Server is a running in-memory Redis.
type Server struct{ m *miniredis.Miniredis }

// Start starts an in-memory Redis on a free port of 127.0.0.1.
func Start() (*Server, error) {
	m := miniredis.NewMiniRedis()
	// Without this, keys with a TTL (idempotency keys, rate-limit windows,
	// pending sign-ups) would never expire: miniredis only ages TTLs on request.
	m.ClockTTL(true)
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	return &Server{m: m}, nil
}

// Addr returns host:port of the listener.
func (s *Server) Addr() string { return s.m.Addr() }

// URL returns a redis:// URL for the server, as HEROLD_REDIS_URL takes it.
func (s *Server) URL() string { return "redis://" + s.m.Addr() + "/0" }

// Close stops the server and drops everything it held.
func (s *Server) Close() { s.m.Close() }
