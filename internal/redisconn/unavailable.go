package redisconn

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Unavailable reports whether err means that Redis cannot serve the request
// now but is expected to again soon, so that the caller answers "try again
// later" (HTTP 503 with Retry-After) instead of reporting a fault:
//
//   - a write fewer replicas confirmed than HEROLD_REDIS_MIN_REPLICAS_ACK asks
//     for (*NotAckedError);
//   - a failover under way: a demoted primary (READONLY), a primary without
//     enough replicas (NOREPLICAS), a replica still loading or cut off from
//     its primary (LOADING, MASTERDOWN), a cluster without a primary for a
//     slot (CLUSTERDOWN, TRYAGAIN);
//   - no connection: a refused, reset or timed-out connection, a reply cut
//     off (EOF), no free connection in the pool, no sentinel reachable.
//
// A request its own caller canceled is not unavailability.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var na *NotAckedError
	if errors.As(err, &na) {
		return true
	}
	if redis.IsReadOnlyError(err) || redis.IsNoReplicasError(err) || redis.IsLoadingError(err) ||
		redis.IsMasterDownError(err) || redis.IsClusterDownError(err) || redis.IsTryAgainError(err) {
		return true
	}
	var ne net.Error // dial and read errors, timeouts (context.DeadlineExceeded is one too)
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	// go-redis does not export these two.
	s := err.Error()
	return strings.Contains(s, "all sentinels specified in configuration are unreachable") ||
		strings.Contains(s, "redis: cluster has no nodes")
}
