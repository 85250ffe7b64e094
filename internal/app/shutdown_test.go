package app_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/redistest"
)

// On SIGTERM the worker stops taking tasks but lets a running one finish, and
// run returns only after it did.
func TestShutdownLetsRunningTaskFinish(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	var cfg config.Config
	env := map[string]string{
		"HEROLD_REDIS_PREFIX": prefix,
		"HEROLD_SCHEDULER":    "false",
		"HEROLD_QUEUE_SUFFIX": "-" + redistest.Queue(t, "shutdown"),
		"HEROLD_OUTBOX_DIR":   t.TempDir(),
	}
	if err := config.Load(&cfg, func(k string) string { return env[k] }, nil); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), cfg, app.Options{Role: app.Role{Name: "worker", Worker: true},
		Log: slog.New(slog.DiscardHandler), Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	qname := a.Queues.Name(message.Transactional)
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() { _ = inspector.DeleteQueue(qname, true) })

	started, release := make(chan struct{}), make(chan struct{})
	var finishedCleanly atomic.Bool
	a.Tasks.HandleFunc("test:slow", func(ctx context.Context, _ *asynq.Task) error {
		close(started)
		<-release
		finishedCleanly.Store(ctx.Err() == nil)
		return nil
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln, nil) }()

	info, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask("test:slow", nil), asynq.Queue(qname))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	cancel() // SIGTERM

	// Shutdown has begun once the HTTP listener is closed.
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			break
		}
		resp.Body.Close()
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("run returned (%v) while a task was still running", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("run = %v, want nil", err)
	}
	if !finishedCleanly.Load() {
		t.Error("the running task's context was cancelled during a graceful shutdown")
	}
	// Completed tasks without retention are deleted: the task is neither
	// pending again nor waiting for a retry.
	if ti, err := inspector.GetTaskInfo(qname, info.ID); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Errorf("task after shutdown: %+v, %v; want it completed and gone", ti, err)
	}
}
