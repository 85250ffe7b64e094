package redisconn

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RouteLogs sends the lines go-redis logs by itself (a failed dial while Redis
// is down, a Sentinel failover, a cluster reload) to log at level Warn, instead
// of go-redis' default plain-text line on stderr, which breaks a JSON log.
//
// go-redis has one logger per process, held in its own package variable and
// set by redis.SetLogger; there is no per-client option. So main calls this
// once with the process's logger. The adapter carries log, and this package
// keeps no state of its own. Tests should not call it with a logger that dies
// with the test (such as one writing to t.Log): go-redis keeps using it after
// the test ends.
func RouteLogs(log *slog.Logger) {
	redis.SetLogger(slogAdapter{log: log})
}

// slogAdapter implements go-redis' internal Logging interface.
type slogAdapter struct{ log *slog.Logger }

// Printf logs one go-redis line. The text carries server addresses and
// network errors, never a password or a command's arguments.
func (a slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	a.log.Log(ctx, slog.LevelWarn, msg, "library", "go-redis")
}
