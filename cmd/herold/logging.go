package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/config"
)

// newLogger returns the process logger: JSON lines by default, text with
// HEROLD_LOG_FORMAT=text. Config validation has checked level and format.
func newLogger(w io.Writer, c config.Core) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slogLevel(c.LogLevel)}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func slogLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

func asynqLevel(s string) asynq.LogLevel {
	switch s {
	case "debug":
		return asynq.DebugLevel
	case "warn":
		return asynq.WarnLevel
	case "error":
		return asynq.ErrorLevel
	}
	return asynq.InfoLevel
}

// asynqLogger lets asynq log through slog (asynq has its own printf-style
// Logger interface).
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }

func (a asynqLogger) Error(args ...any) {
	msg := fmt.Sprint(args...)
	// The scheduler tries to close the Redis client at shutdown even when it was
	// given a shared one (asynq v0.26 scheduler.go), and logs the refusal as an
	// error. We close that client ourselves, so this is expected.
	if strings.Contains(msg, "redis connection is shared") {
		a.l.Debug(msg)
		return
	}
	a.l.Error(msg)
}

// Fatal is called by asynq only for errors it cannot go on after.
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...))
	os.Exit(1)
}
