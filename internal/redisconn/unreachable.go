package redisconn

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Unreachable reports whether err means that Redis could not be reached or
// could not serve the command just now — a refused or dropped connection, a
// timeout, an exhausted pool, a closed client, no cluster node or sentinel
// answering, or a server that is loading its data, fails over or has lost
// its cluster — rather than that the command or the data was wrong. It is
// the difference between "retry later" (HTTP 503) and a bug (500).
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr), // refused, reset, i/o timeout, DNS
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), // the server closed the connection mid-reply
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrClosed),
		redis.IsLoadingError(err), redis.IsClusterDownError(err), redis.IsMasterDownError(err),
		redis.IsTryAgainError(err), redis.IsReadOnlyError(err): // a write reached a replica during a failover
		return true
	}
	// go-redis does not export these two.
	s := err.Error()
	return strings.Contains(s, "redis: cluster has no nodes") ||
		strings.Contains(s, "redis: all sentinels specified in configuration are unreachable")
}
