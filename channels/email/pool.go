package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wneessen/go-mail/smtp"

	"github.com/heroldhq/herold/channels"
)

// errPoolClosed is returned by Send after Close.
var errPoolClosed = errors.New("email: sender closed")

// conn is one open SMTP session. raw is the TCP connection under any TLS, kept
// so a cancelled context can break a blocked read or write (go-mail's calls
// take no context).
type conn struct {
	sc         *smtp.Client
	raw        net.Conn
	lastUsed   time.Time
	pipelining bool // the server offers PIPELINING (RFC 2920)
	smtputf8   bool
}

// dialer opens SMTP sessions: connect, greeting, EHLO, STARTTLS, AUTH.
type dialer struct {
	addr, host  string
	helo        string
	tlsMode     TLSMode
	tlsConfig   *tls.Config
	timeout     time.Duration
	username    string
	password    string
	authLogin   bool
	noPipelines bool // never pipeline (a measurement switch, and for servers that get it wrong)
}

// pool holds at most size open SMTP connections, shared by all goroutines.
// A connection is taken for one message at a time; one that failed in a way
// that may have left the session in an unknown state is closed, and the next
// message dials a fresh one.
type pool struct {
	d           *dialer
	idle        chan *conn    // open, unused connections (cap size)
	tokens      chan struct{} // one per open connection (cap size)
	idleTimeout time.Duration

	mu     sync.Mutex
	closed bool

	dials atomic.Int64 // connections opened, for tests and logs
}

func newPool(d *dialer, size int, idleTimeout time.Duration) *pool {
	return &pool{
		d:           d,
		idle:        make(chan *conn, size),
		tokens:      make(chan struct{}, size),
		idleTimeout: idleTimeout,
	}
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
			c, err := p.d.open(ctx)
			if err != nil {
				<-p.tokens
				return nil, false, err
			}
			p.dials.Add(1)
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
	c.quit()
	<-p.tokens
}

// abort closes c without a word: it is in an unknown state.
func (p *pool) abort(c *conn) {
	c.raw.Close()
	<-p.tokens
}

func (c *conn) quit() {
	c.raw.SetDeadline(time.Now().Add(time.Second))
	_ = c.sc.Quit() // a broken connection cannot say goodbye; nothing to do
	c.raw.Close()
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

// open dials and prepares one session. Its errors say which step failed,
// in words an operator can act on (ConnectError).
func (d *dialer) open(ctx context.Context) (*conn, error) {
	nd := net.Dialer{Timeout: d.timeout}
	raw, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, d.connectError(dialProblem(err), 0, err)
	}
	// The greeting, STARTTLS and AUTH run on go-mail's client, which takes
	// no context: a cancelled ctx closes the connection under it.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	c, err := d.handshake(ctx, raw)
	if !stop() {
		raw.Close()
		return nil, errors.Join(ctx.Err(), err)
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// connectError is a ConnectError of this dialer's server.
func (d *dialer) connectError(problem string, code int, err error) *ConnectError {
	ce := connectError(problem, code, err)
	ce.Server = d.addr
	return ce
}

func (d *dialer) handshake(ctx context.Context, raw net.Conn) (*conn, error) {
	if err := raw.SetDeadline(time.Now().Add(d.timeout)); err != nil {
		return nil, d.connectError("cannot set a deadline", 0, err)
	}
	var nc net.Conn = raw
	if d.tlsMode == TLSImplicit {
		tc := tls.Client(raw, d.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, d.connectError("TLS handshake failed"+certProblem(err), 0, err)
		}
		nc = tc
	}
	sc, err := smtp.NewClient(nc, d.host)
	if err != nil {
		return nil, d.connectError("no greeting from the SMTP server", replyCode(err), err)
	}
	if err := sc.Hello(d.helo); err != nil {
		return nil, d.connectError("the SMTP server rejected EHLO", replyCode(err), err)
	}
	startTLS, _ := sc.Extension("STARTTLS")
	switch {
	case d.tlsMode == TLSMandatory && !startTLS:
		return nil, d.connectError(noStartTLS, 0, nil)
	case startTLS && (d.tlsMode == TLSMandatory || d.tlsMode == TLSOpportunistic):
		if err := sc.StartTLS(d.tlsConfig); err != nil {
			return nil, d.connectError("STARTTLS failed"+certProblem(err), replyCode(err), err)
		}
	}
	if d.username != "" {
		if ok, _ := sc.Extension("AUTH"); !ok {
			return nil, d.connectError("the SMTP server offers no AUTH, but a user name is set", 0, nil)
		}
		auth := smtp.PlainAuth("", d.username, d.password, d.host, false)
		if d.authLogin {
			auth = smtp.LoginAuth(d.username, d.password, d.host, false)
		}
		if err := sc.Auth(auth); err != nil {
			problem := "authentication failed"
			if errors.Is(err, smtp.ErrUnencrypted) {
				problem = "AUTH refused: the connection is not encrypted"
			}
			return nil, d.connectError(problem, replyCode(err), err)
		}
	}
	c := &conn{sc: sc, raw: raw, lastUsed: time.Now()}
	c.pipelining, _ = sc.Extension("PIPELINING")
	c.pipelining = c.pipelining && !d.noPipelines
	c.smtputf8, _ = sc.Extension("SMTPUTF8")
	return c, nil
}

// noStartTLS is the connect error of HEROLD_SMTP_TLS=mandatory against a
// server without STARTTLS.
const noStartTLS = "TLS required (HEROLD_SMTP_TLS=mandatory) but the server does not offer STARTTLS"

// ConnectError is why a connection to the SMTP server could not be opened
// or prepared. Its Problem names the step in words an operator can act on;
// it is retryable (the server or the settings are at fault, not the
// message) and unwraps to a channels.ProviderError carrying the same words,
// which is what a message record keeps.
type ConnectError struct {
	Server  string // host:port
	Problem string
	perr    *channels.ProviderError
	err     error // the library's error, for logs: it names the server, never a recipient
}

func connectError(problem string, code int, err error) *ConnectError {
	return &ConnectError{Problem: problem, err: err,
		perr: &channels.ProviderError{Provider: "smtp", Status: code, Detail: problem}}
}

func (e *ConnectError) Error() string {
	s := "smtp " + e.Server + ": " + e.Problem
	if e.perr.Status != 0 {
		s += fmt.Sprintf(" (reply %d)", e.perr.Status)
	}
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *ConnectError) Unwrap() []error {
	if e.err == nil {
		return []error{e.perr}
	}
	return []error{e.perr, e.err}
}

// dialProblem names why a TCP connection failed.
func dialProblem(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		return "cannot connect to the SMTP server: host name not found"
	case isTimeout(err):
		return "cannot connect to the SMTP server: timed out"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "cannot connect to the SMTP server: connection refused or unreachable"
	}
	return "cannot connect to the SMTP server"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// certProblem adds why a certificate was not accepted.
func certProblem(err error) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknown):
		return ": the certificate is not signed by a trusted authority"
	case errors.As(err, &host):
		return ": the certificate does not name the host"
	case errors.As(err, &invalid):
		return ": the certificate is expired or invalid"
	case errors.As(err, &verify):
		return ": the certificate was not accepted"
	case isTimeout(err):
		return ": timed out"
	}
	return ""
}

// replyCode is the SMTP reply code in err, or 0.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

var enhanced = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}( |$)`)

// enhancedCode returns the RFC 3463 status code a reply text starts with, e.g. "5.1.1".
func enhancedCode(msg string) string { return strings.TrimSpace(enhanced.FindString(msg)) }
