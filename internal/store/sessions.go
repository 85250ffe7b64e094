package store

import (
	"context"
	"fmt"
	"time"

	"github.com/heroldhq/herold/internal/message"
)

// Session windows: on a channel whose provider takes free text only within
// a time after the person last wrote (WhatsApp: 24 hours), the inbound
// webhook opens the window of the number and delivery asks whether it is
// still open.
//
//	<prefix>session:<channel>:<phone hash>   string "1", TTL the channel's window from the last inbound message
//
// The key names the number only by its salted hash and expires with the
// window, so it holds nothing an export or erasure would have to find.

func (s *Store) sessionKey(ch message.Channel, e164 string) string {
	return s.prefix + "session:" + string(ch) + ":" + s.phoneHash(e164)
}

// OpenSession opens (or extends) the session window of number e164 on ch
// for window from now.
func (s *Store) OpenSession(ctx context.Context, ch message.Channel, e164 string, window time.Duration) error {
	if window <= 0 {
		return fmt.Errorf("open session on %s: no window", ch)
	}
	if err := s.rdb.Set(ctx, s.sessionKey(ch, e164), "1", window).Err(); err != nil {
		return fmt.Errorf("open session on %s: %w", ch, err)
	}
	return nil
}

// SessionOpen reports whether the session window of number e164 on ch is open.
func (s *Store) SessionOpen(ctx context.Context, ch message.Channel, e164 string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.sessionKey(ch, e164)).Result()
	if err != nil {
		return false, fmt.Errorf("session window on %s: %w", ch, err)
	}
	return n == 1, nil
}
