package console

// Sessions and sign-in back-off, in Redis.
//
// # Keys
//
//	<prefix>console:s:<sha256 of the cookie>  hash {u: user, c: CSRF token, t: sign-in time (unix ms), ip}; TTL the idle timeout, renewed by each request
//	<prefix>console:fail:<hmac>               failed sign-ins of one user name or one client IP; TTL HEROLD_CONSOLE_LOCKOUT_MAX after the last
//	<prefix>console:wait:<hmac>               present while that name or IP must wait; TTL the wait
//
// The cookie holds 32 random bytes; Redis holds only their SHA-256, so a
// copy of Redis opens no session. User names and IPs appear in keys only as
// HMACs keyed from the token secret.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// session is one signed-in browser.
type session struct {
	key   string // Redis key
	User  string
	CSRF  string
	Since time.Time
	IP    string
}

// newToken returns 32 random bytes, base64url.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) sessionKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return c.prefix + "console:s:" + hex.EncodeToString(sum[:])
}

// startSession stores a new session for user and returns its cookie value.
func (c *Console) startSession(ctx context.Context, user, ip string) (string, error) {
	tok := newToken()
	now := c.now()
	key := c.sessionKey(tok)
	pipe := c.rdb.TxPipeline()
	pipe.HSet(ctx, key, "u", user, "c", newToken(), "t", strconv.FormatInt(now.UnixMilli(), 10), "ip", ip)
	pipe.PExpire(ctx, key, c.cfg.IdleTimeout)
	if _, err := pipe.Exec(ctx); err != nil {
		return "", fmt.Errorf("start session: %w", err)
	}
	return tok, nil
}

// errNoSession means the cookie names no live session: never issued, forged,
// signed out, idle too long or past the absolute timeout.
var errNoSession = errors.New("no session")

// loadSession finds the session of cookie and renews its idle timeout.
func (c *Console) loadSession(ctx context.Context, cookie string) (*session, error) {
	if len(cookie) != 43 { // 32 bytes, base64url without padding
		return nil, errNoSession
	}
	key := c.sessionKey(cookie)
	vals, err := c.rdb.HMGet(ctx, key, "u", "c", "t", "ip").Result()
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	user, _ := vals[0].(string)
	csrf, _ := vals[1].(string)
	ts, _ := vals[2].(string)
	ip, _ := vals[3].(string)
	ms, err := strconv.ParseInt(ts, 10, 64)
	if user == "" || csrf == "" || err != nil {
		return nil, errNoSession
	}
	since := time.UnixMilli(ms)
	left := c.cfg.AbsoluteTimeout - c.now().Sub(since)
	if left <= 0 {
		_ = c.rdb.Del(ctx, key).Err()
		return nil, errNoSession
	}
	if err := c.rdb.PExpire(ctx, key, min(c.cfg.IdleTimeout, left)).Err(); err != nil {
		return nil, fmt.Errorf("renew session: %w", err)
	}
	return &session{key: key, User: user, CSRF: csrf, Since: since, IP: ip}, nil
}

// endSession deletes a session (sign-out).
func (c *Console) endSession(ctx context.Context, s *session) error {
	if err := c.rdb.Del(ctx, s.key).Err(); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// ---- sign-in back-off

func (c *Console) throttleKeys(kind, v string) (fail, wait string) {
	mac := hmac.New(sha256.New, c.keyKey)
	mac.Write([]byte(kind + ":" + v))
	h := base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
	return c.prefix + "console:fail:" + h, c.prefix + "console:wait:" + h
}

// mustWait returns how long the user name or the IP must still wait before
// the next sign-in try (0: none).
func (c *Console) mustWait(ctx context.Context, name, ip string) (time.Duration, error) {
	_, wu := c.throttleKeys("user", name)
	_, wi := c.throttleKeys("ip", ip)
	pipe := c.rdb.Pipeline()
	a, b := pipe.PTTL(ctx, wu), pipe.PTTL(ctx, wi)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("sign-in back-off: %w", err)
	}
	return max(a.Val(), b.Val(), 0), nil
}

// failed counts a failed sign-in for the name and the IP. From the
// LockoutAfter-th failure on, each one makes the next try wait, twice as
// long each time, up to LockoutMax. It returns that wait.
func (c *Console) failed(ctx context.Context, name, ip string) (time.Duration, error) {
	var wait time.Duration
	for _, k := range [][2]string{{"user", name}, {"ip", ip}} {
		fail, w := c.throttleKeys(k[0], k[1])
		pipe := c.rdb.TxPipeline()
		n := pipe.Incr(ctx, fail)
		pipe.PExpire(ctx, fail, c.cfg.LockoutMax)
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, fmt.Errorf("sign-in back-off: %w", err)
		}
		over := n.Val() - int64(c.cfg.LockoutAfter)
		if over < 0 {
			continue
		}
		d := c.cfg.LockoutMax
		if over < 30 && c.cfg.LockoutBase<<over < c.cfg.LockoutMax {
			d = c.cfg.LockoutBase << over
		}
		if err := c.rdb.Set(ctx, w, "1", d).Err(); err != nil {
			return 0, fmt.Errorf("sign-in back-off: %w", err)
		}
		wait = max(wait, d)
	}
	return wait, nil
}

// succeeded forgets the user name's failures (not the IP's: one valid
// account must not reset the count of guesses at others).
func (c *Console) succeeded(ctx context.Context, name string) error {
	fail, w := c.throttleKeys("user", name)
	pipe := c.rdb.Pipeline()
	pipe.Del(ctx, fail) // one key per command: on Redis Cluster they live in different slots
	pipe.Del(ctx, w)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("sign-in back-off: %w", err)
	}
	return nil
}
