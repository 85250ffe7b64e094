package email

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// errPoolClosed is returned by Send after Close.
var errPoolClosed = errors.New("email: sender closed")

// conn is one open SMTP session. raw is the TCP connection under any TLS, kept
// so a cancelled context can break a blocked read or write (go-mail's calls
// take no context).
type conn struct {
	sc       *smtp.Client
	raw      net.Conn
	lastUsed time.Time
}

// pool holds at most size open SMTP connections, shared by all goroutines.
// A connection is taken for one message at a time; one that failed in a way
// that may have left the session in an unknown state is closed, and the next
// message dials a fresh one.
type pool struct {
	mc          *gomail.Client
	idle        chan *conn    // open, unused connections (cap size)
	tokens      chan struct{} // one per open connection (cap size)
	idleTimeout time.Duration
	implicitTLS bool
	tlsConfig   *tls.Config

	mu     sync.Mutex
	closed bool

	dials atomic.Int64 // connections opened, for tests and logs
}

type rawKey struct{}

func newPool(mc *gomail.Client, size int, idleTimeout time.Duration, implicitTLS bool, tlsConfig *tls.Config) *pool {
	return &pool{
		mc:          mc,
		idle:        make(chan *conn, size),
		tokens:      make(chan struct{}, size),
		idleTimeout: idleTimeout,
		implicitTLS: implicitTLS,
		tlsConfig:   tlsConfig,
	}
}

// dialContext is go-mail's dial function: it records the raw connection for
// the caller of open (through ctx) and does implicit TLS itself, since go-mail
// only does that when it dials on its own.
func (p *pool) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if c, ok := ctx.Value(rawKey{}).(*capture); ok && !c.set(raw) {
		raw.Close()
		return nil, context.Canceled
	}
	if !p.implicitTLS {
		return raw, nil
	}
	tc := tls.Client(raw, p.tlsConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return tc, nil
}

// get returns an open connection, reusing an idle one when there is one, else
// dialling while fewer than size are open, else waiting for one to come back.
func (p *pool) get(ctx context.Context) (c *conn, reused bool, err error) {
	for {
		if p.isClosed() {
			return nil, false, errPoolClosed
		}
		select {
		case c := <-p.idle:
			if p.fresh(c) {
				return c, true, nil
			}
			p.discard(c)
			continue
		default:
		}
		select {
		case c := <-p.idle:
			if p.fresh(c) {
				return c, true, nil
			}
			p.discard(c)
			continue
		case p.tokens <- struct{}{}:
			c, err := p.open(ctx)
			if err != nil {
				<-p.tokens
				return nil, false, err
			}
			return c, false, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// fresh reports whether an idle connection may be used: servers drop idle
// sessions (often after 60 s), and a send on a dropped one costs a round trip.
func (p *pool) fresh(c *conn) bool {
	return p.idleTimeout <= 0 || time.Since(c.lastUsed) < p.idleTimeout
}

// capture hands the raw connection from dialContext to open, and lets a
// cancelled context close it while the greeting, STARTTLS or AUTH still run
// (go-mail bounds those only by its timeout).
type capture struct {
	mu        sync.Mutex
	raw       net.Conn
	cancelled bool
}

// set records raw; false when the context was cancelled already.
func (c *capture) set(raw net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.raw = raw
	return !c.cancelled
}

func (c *capture) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancelled = true
	if c.raw != nil {
		c.raw.Close()
	}
}

func (p *pool) open(ctx context.Context) (*conn, error) {
	var c capture
	stop := context.AfterFunc(ctx, c.cancel)
	sc, err := p.mc.DialToSMTPClientWithContext(context.WithValue(ctx, rawKey{}, &c))
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	c.mu.Lock()
	raw := c.raw
	c.mu.Unlock()
	if err != nil {
		if raw != nil {
			raw.Close()
		}
		return nil, err
	}
	p.dials.Add(1)
	return &conn{sc: sc, raw: raw, lastUsed: time.Now()}, nil
}

// put returns a healthy connection to the pool.
func (p *pool) put(c *conn) {
	c.lastUsed = time.Now()
	p.mu.Lock()
	if !p.closed {
		p.idle <- c // never blocks: at most size connections hold a token
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.discard(c)
}

// discard closes c (politely when it is still usable) and frees its token.
func (p *pool) discard(c *conn) {
	c.raw.SetDeadline(time.Now().Add(time.Second))
	_ = c.sc.Quit() // a broken connection cannot say goodbye; nothing to do
	c.raw.Close()
	<-p.tokens
}

// abort closes c without a word: it is in an unknown state.
func (p *pool) abort(c *conn) {
	c.raw.Close()
	<-p.tokens
}

func (p *pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// close quits every idle connection; connections in use are closed when
// their message is done.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for {
		select {
		case c := <-p.idle:
			p.discard(c)
		default:
			return
		}
	}
}
