package campaign_test

import (
	"errors"
	"testing"

	"github.com/hibiken/asynq"
)

// A chunk whose worker process died (asynq hands it back with
// ErrLeaseExpired) goes on at once; a chunk that failed waits as before.
func TestChunkOfADeadWorkerGoesOnAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noWorker: true})
	delay := b.engine.ServerConfig(nil).RetryDelayFunc
	task := asynq.NewTask("campaign:chunk", nil)
	if d := delay(0, asynq.ErrLeaseExpired, task); d != 0 {
		t.Errorf("retry after a dead worker: %s, want 0", d)
	}
	if d := delay(0, errors.New("redis: connection refused"), task); d <= 0 {
		t.Errorf("retry after a failure: %s, want a back-off", d)
	}
}
