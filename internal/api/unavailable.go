package api

import (
	"net/http"
	"strconv"

	"github.com/heroldhq/herold/internal/redisconn"
)

// RetryAfter is how long a client is asked to wait when Redis cannot take a
// request: about one Sentinel or Cluster failover (down-after time and
// election) on a well-tuned installation.
const RetryAfter = 5 // seconds

// unavailable returns the 503 Problem "store_unavailable" and sets
// Retry-After on w when err means that Redis cannot take the request now but
// should soon (redisconn.Unavailable: a write fewer replicas confirmed than
// HEROLD_REDIS_MIN_REPLICAS_ACK asks for, a failover under way, no
// connection); else it returns nil. An accepting request may have been
// carried out on the primary all the same: retried with the same
// idempotency key, it is not carried out twice.
func unavailable(w http.ResponseWriter, err error) *Problem {
	if !redisconn.Unavailable(err) {
		return nil
	}
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
	return Errorf(http.StatusServiceUnavailable, "store_unavailable",
		"the store cannot take the request now; retry in %d seconds (with the same idempotency key)", RetryAfter)
}
