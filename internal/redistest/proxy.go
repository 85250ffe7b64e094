package redistest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/config"
)

// Proxy is a TCP proxy on loopback in front of the test Redis, through
// which a test cuts a client off Redis and lets it back, as a network
// partition or a Redis restart does to Herold: while cut, every connection
// is closed and new ones are closed as soon as they are accepted.
type Proxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

// NewProxy starts a proxy in front of the test Redis and returns it with a
// client that talks through it (short timeouts, so a cut shows within a
// second). The proxy needs a single-server Redis: a cluster's or Sentinel's
// clients find their nodes by themselves, past any proxy; with such a
// HEROLD_TEST_REDIS_URL the test is skipped, saying so.
func NewProxy(t testing.TB) (*Proxy, redis.UniversalClient) {
	t.Helper()
	target, err := config.ParseRedisURL(URL())
	if err != nil {
		t.Fatalf("redistest: HEROLD_TEST_REDIS_URL: %v", err)
	}
	if target.Mode != config.RedisSingle {
		t.Skipf("redistest: a proxy needs a single Redis server, HEROLD_TEST_REDIS_URL names a %s topology", target.Mode)
	}
	opt, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatalf("redistest: HEROLD_TEST_REDIS_URL: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, upstream: opt.Addr, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.Cut() })
	opt.Addr = ln.Addr().String()
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 500*time.Millisecond, time.Second, time.Second
	opt.MaxRetries = 1
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return p, rdb
}

// Cut closes every connection through the proxy and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		go p.pipe(c)
	}
}

func (p *Proxy) pipe(c net.Conn) {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		return
	}
	up, err := net.DialTimeout("tcp", p.upstream, time.Second)
	if err != nil {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}
