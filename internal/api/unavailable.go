package api

import (
	"net/http"
	"strconv"

	"github.com/heroldhq/herold/internal/redisconn"
)

// RetryAfterUnavailable is what a 503 of an unreachable store asks a
// producer to wait: long enough for a Redis restart or a Sentinel failover
// to finish, short enough not to hold up an invoice.
const RetryAfterUnavailable = 10

// unavailable reports whether err means the store cannot be reached now
// (redisconn.Unreachable): the request may succeed if retried later, so it
// is answered 503 store_unavailable with Retry-After, never 500.
func unavailable(err error) bool {
	return redisconn.Unreachable(err)
}

// storeUnavailable is the answer to a request that failed because the store
// cannot be reached.
func storeUnavailable(w http.ResponseWriter) *Problem {
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfterUnavailable))
	return Errorf(http.StatusServiceUnavailable, "store_unavailable",
		"the store cannot be reached right now; retry in %d seconds (with the same Idempotency-Key, a retry cannot send twice)", RetryAfterUnavailable)
}
