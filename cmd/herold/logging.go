package main

import (
	"context"
	"io"
	"log/slog"
	"slices"

	"github.com/heroldhq/herold/internal/config"
)

// newLogger returns the process logger: JSON lines by default, text with
// HEROLD_LOG_FORMAT=text, each key at most once per line. Config validation
// has checked level and format.
func newLogger(w io.Writer, c config.Core) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slogLevel(c.LogLevel)}
	if c.LogFormat == "text" {
		return slog.New(newUniqueKeys(slog.NewTextHandler(w, opts)))
	}
	return slog.New(newUniqueKeys(slog.NewJSONHandler(w, opts)))
}

// uniqueKeys is a slog.Handler that writes every key once per line: an
// attribute added again, by a later With or by the logging call itself,
// replaces the earlier one. Constructors name their own part
// (log.With("component", "smtp")) and are often handed a logger that already
// names its caller's; slog's handlers would write both, and a JSON object with
// a key twice is read differently by every log pipeline (RFC 8259 §4: names
// SHOULD be unique). Attributes inside a group are only compared with each
// other, as a group is a namespace of its own.
type uniqueKeys struct {
	base  slog.Handler // the handler at the current group, without attrs
	attrs []slog.Attr  // added by With at the current group, each key once
	h     slog.Handler // base.WithAttrs(attrs), made once per With
}

func newUniqueKeys(h slog.Handler) *uniqueKeys { return &uniqueKeys{base: h, h: h} }

func (u *uniqueKeys) Enabled(ctx context.Context, l slog.Level) bool { return u.h.Enabled(ctx, l) }

func (u *uniqueKeys) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return u
	}
	merged := slices.Clone(u.attrs)
	for _, a := range as {
		merged = setAttr(merged, a)
	}
	return &uniqueKeys{base: u.base, attrs: merged, h: u.base.WithAttrs(merged)}
}

func (u *uniqueKeys) WithGroup(name string) slog.Handler {
	if name == "" {
		return u // slog: an empty group name is no group
	}
	g := u.h.WithGroup(name)
	return &uniqueKeys{base: g, h: g}
}

func (u *uniqueKeys) Handle(ctx context.Context, r slog.Record) error {
	if !u.clashes(r) {
		return u.h.Handle(ctx, r) // the usual case: nothing to rebuild
	}
	var own []slog.Attr
	r.Attrs(func(a slog.Attr) bool {
		own = setAttr(own, a)
		return true
	})
	pre := slices.DeleteFunc(slices.Clone(u.attrs), func(a slog.Attr) bool { return a.Key != "" && keyIndex(own, a.Key) >= 0 })
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	nr.AddAttrs(own...)
	return u.base.WithAttrs(pre).Handle(ctx, nr)
}

// clashes reports whether r repeats a key of its own or of u.attrs.
func (u *uniqueKeys) clashes(r slog.Record) bool {
	if r.NumAttrs() == 0 {
		return false
	}
	clash := false
	var buf [16]string // on the stack for the usual few attributes
	seen := buf[:0]
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "" {
			return true
		}
		if slices.Contains(seen, a.Key) || keyIndex(u.attrs, a.Key) >= 0 {
			clash = true
			return false
		}
		seen = append(seen, a.Key)
		return true
	})
	return clash
}

// setAttr returns as with a in place of the attribute of the same key, or
// appended. An empty key (a group slog inlines) is never replaced.
func setAttr(as []slog.Attr, a slog.Attr) []slog.Attr {
	if i := keyIndex(as, a.Key); a.Key != "" && i >= 0 {
		as[i] = a
		return as
	}
	return append(as, a)
}

func keyIndex(as []slog.Attr, key string) int {
	return slices.IndexFunc(as, func(a slog.Attr) bool { return a.Key == key })
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
