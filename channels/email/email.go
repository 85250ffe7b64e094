// Package email delivers Herold's e-mail over SMTP, through a small pool of
// persistent connections shared by all goroutines of a worker.
//
// go-mail composes (see Composer) and runs the session set-up (greeting,
// EHLO, STARTTLS, AUTH); the mail transaction itself is written here, so
// that MAIL, RCPT and DATA go out in one write when the server offers
// PIPELINING (RFC 2920): two round trips per message instead of four, and
// no NOOP before or RSET after a message (BenchmarkSend has the figures).
//
// # Errors
//
// A 4xx reply and network trouble (a TransportError: the connection broke,
// mid-DATA too) are retryable; a 5xx reply is permanent,
// and a 550, 551 or 553 on RCPT TO is a hard bounce (channels.ErrHardBounce:
// the dispatcher suppresses the address). Errors are channels.ProviderError
// values with the SMTP code and a fixed description: servers' replies can
// name the recipient, so they are never passed on. A connection that cannot
// be opened is a ConnectError that says which step failed ("TLS required
// but the server does not offer STARTTLS").
//
// # Connections
//
// A connection whose session may be in an unknown state is closed; a
// message whose reused connection turned out to be dead before its content
// went out is tried once more on a fresh one.
package email

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/heroldhq/herold/channels"
)

// TLSMode says how the connection is encrypted.
type TLSMode string

// The TLS modes.
const (
	TLSMandatory     TLSMode = "mandatory"     // STARTTLS, refuse servers without it (port 587)
	TLSOpportunistic TLSMode = "opportunistic" // STARTTLS when offered
	TLSImplicit      TLSMode = "implicit"      // TLS from the first byte (port 465)
	TLSOff           TLSMode = "off"           // plain text, e.g. a local relay
)

// Config configures a Sender.
type Config struct {
	Host     string
	Port     int     // default 587, or 465 for TLSImplicit
	TLS      TLSMode // default TLSMandatory
	Username string  // AUTH when set
	Password string
	Auth     string // "plain" (default) or "login"

	PoolSize    int           // open connections at most; default 4
	Timeout     time.Duration // dial and per-command timeout; default 30s
	IdleTimeout time.Duration // idle connections older than this are redialled; default 30s
	HELO        string        // EHLO name; default the host name

	// RootCAs verifies the server's certificate; nil means the system pool.
	RootCAs *x509.CertPool

	// NoPipelining sends MAIL, RCPT and DATA one at a time even when the
	// server offers PIPELINING, for servers that mishandle it.
	NoPipelining bool

	ComposeConfig
}

// Sender sends e-mail through an SMTP server. It is safe for concurrent use.
type Sender struct {
	log      *slog.Logger
	composer *Composer
	dialer   *dialer
	pool     *pool
	timeout  time.Duration
	bufs     sync.Pool // *[]byte: composed messages
}

// New checks cfg and returns a Sender. It does not connect: the first
// message opens the first connection (Check connects at once).
func New(cfg Config, log *slog.Logger) (*Sender, error) {
	composer, err := NewComposer(cfg.ComposeConfig)
	if err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		return nil, errors.New("email: SMTP host is empty")
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSMandatory
	}
	switch cfg.TLS {
	case TLSMandatory, TLSOpportunistic, TLSImplicit, TLSOff:
	default:
		return nil, fmt.Errorf("email: TLS mode %q is not mandatory, opportunistic, implicit or off", cfg.TLS)
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == TLSImplicit {
			cfg.Port = 465
		}
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = 4
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	d := &dialer{
		addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), host: cfg.Host, helo: cfg.HELO,
		tlsMode:   cfg.TLS,
		tlsConfig: &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs},
		timeout:   cfg.Timeout, noPipelines: cfg.NoPipelining,
	}
	if d.helo == "" {
		if d.helo, err = os.Hostname(); err != nil || d.helo == "" {
			d.helo = "localhost"
		}
	}
	if cfg.Username != "" {
		// PLAIN and LOGIN refuse to send the password over an unencrypted
		// connection (except to localhost): TLSOff with AUTH fails loudly.
		switch cfg.Auth {
		case "", "plain":
		case "login":
			d.authLogin = true
		default:
			return nil, fmt.Errorf("email: auth %q is not plain or login", cfg.Auth)
		}
		d.username, d.password = cfg.Username, cfg.Password
	}
	return &Sender{log: log, composer: composer, dialer: d, timeout: cfg.Timeout,
		pool: newPool(d, cfg.PoolSize, cfg.IdleTimeout)}, nil
}

// Composer returns the message builder, for an outbox that must write the
// same messages.
func (s *Sender) Composer() *Composer { return s.composer }

// Dials returns how many connections the Sender has opened.
func (s *Sender) Dials() int64 { return s.pool.dials.Load() }

// Close closes the idle connections; connections in use close when their
// message is done. Send fails after Close.
func (s *Sender) Close() error {
	s.pool.close()
	return nil
}

// Check opens one session the way Send does (connect, EHLO, STARTTLS when
// the TLS mode asks for it, AUTH when a user is set) and closes it again.
// Its error is a *ConnectError naming the step that failed; call it once at
// start-up to warn about a server that cannot take mail.
func (s *Sender) Check(ctx context.Context) error {
	c, err := s.dialer.open(ctx)
	if err != nil {
		return err
	}
	c.quit()
	return nil
}

// Send delivers m. The receipt's ProviderID is the Message-ID.
func (s *Sender) Send(ctx context.Context, m channels.Outbound) (channels.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return channels.Receipt{}, err
	}
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer s.bufs.Put(bp)
	msg, err := s.composer.Compose((*bp)[:0], m)
	if err != nil {
		return channels.Receipt{}, err
	}
	*bp = msg.Data[:0] // keep what the buffer grew to
	receipt := channels.Receipt{Provider: "smtp", ProviderID: msg.MessageID}
	for attempt := 0; ; attempt++ {
		c, reused, err := s.pool.get(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return channels.Receipt{}, fmt.Errorf("email: waiting for a connection: %w", ctx.Err())
			}
			if errors.Is(err, errPoolClosed) {
				return channels.Receipt{}, err
			}
			s.log.WarnContext(ctx, "smtp connect failed", "err", err)
			return channels.Receipt{}, err
		}
		stop := context.AfterFunc(ctx, func() { c.raw.Close() })
		st, err := s.transact(c, msg)
		interrupted := !stop()
		if err == nil {
			if interrupted {
				s.pool.abort(c) // sent, but the connection is gone
			} else {
				s.pool.put(c)
			}
			return receipt, nil
		}
		if interrupted || ctx.Err() != nil {
			s.pool.abort(c)
			return channels.Receipt{}, fmt.Errorf("email: send interrupted: %w", ctx.Err())
		}
		code := replyCode(err)
		if reused && attempt == 0 && st < stageBody && (code == 0 || code == 421) {
			// The server dropped an idle connection; the message did not go out on it.
			s.pool.abort(c)
			continue
		}
		switch {
		case code == 0 || code == 421:
			s.pool.abort(c) // no reply, or the server is closing the session
		case st < stageBody && c.sc.Reset() != nil:
			s.pool.abort(c) // the transaction could not be reset
		default:
			s.pool.put(c) // the server answered; the session is clean again
		}
		return channels.Receipt{}, classify(st, err)
	}
}

// stage is the step of a mail transaction.
type stage int

const (
	stageMail stage = iota
	stageRcpt
	stageData
	stageBody // the content and the final reply
)

// transact runs one mail transaction on c. With PIPELINING, MAIL, RCPT and
// DATA go out in one write and their replies are read in order.
func (s *Sender) transact(c *conn, msg Message) (stage, error) {
	if err := c.sc.UpdateDeadline(s.timeout); err != nil {
		return stageMail, err
	}
	tp := c.sc.Text // after STARTTLS go-mail replaced it; read it each time
	mailCmd := "MAIL FROM:<" + msg.From + ">"
	if c.smtputf8 && (!ascii(msg.From) || !ascii(msg.To)) {
		mailCmd += " SMTPUTF8"
	}
	cmds := [3]string{mailCmd, "RCPT TO:<" + msg.To + ">", "DATA"}
	expect := [3]int{250, 25, 354}
	if c.pipelining {
		for _, cmd := range cmds {
			tp.W.WriteString(cmd)
			tp.W.WriteString("\r\n")
		}
		if err := tp.W.Flush(); err != nil {
			return stageMail, err
		}
		var errs [3]error
		for i := range cmds {
			_, _, errs[i] = tp.ReadResponse(expect[i])
			if errs[i] != nil && replyCode(errs[i]) == 0 {
				return stage(i), errs[i] // no reply at all
			}
		}
		for i, err := range errs[:2] {
			if err != nil {
				if errs[2] == nil { // DATA was taken although the transaction failed: end it empty
					tp.W.WriteString(".\r\n")
					if ferr := tp.W.Flush(); ferr == nil {
						tp.ReadResponse(250) //nolint:errcheck // the transaction failed already
					}
				}
				return stage(i), err
			}
		}
		if errs[2] != nil {
			return stageData, errs[2]
		}
	} else {
		// Not tp.Cmd: its pipeline ids would wait for responses go-mail's
		// own commands (RSET, QUIT) never take.
		for i, cmd := range cmds {
			tp.W.WriteString(cmd)
			tp.W.WriteString("\r\n")
			if err := tp.W.Flush(); err != nil {
				return stage(i), err
			}
			if _, _, err := tp.ReadResponse(expect[i]); err != nil {
				return stage(i), err
			}
		}
	}
	writeDotted(tp.W, msg.Data)
	if err := tp.W.Flush(); err != nil {
		return stageBody, err
	}
	_, _, err := tp.ReadResponse(250)
	return stageBody, err
}

// writeDotted writes data (CRLF line ends) as SMTP DATA content: a dot that
// starts a line is doubled, and the content ends with CRLF "." CRLF.
func writeDotted(w *bufio.Writer, data []byte) {
	crlfDot := []byte("\r\n.")
	if len(data) > 0 && data[0] == '.' {
		w.WriteByte('.')
	}
	rest := data
	for {
		i := bytes.Index(rest, crlfDot)
		if i < 0 {
			w.Write(rest)
			break
		}
		w.Write(rest[:i+2])
		w.WriteByte('.')
		rest = rest[i+2:]
	}
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		w.WriteString("\r\n")
	}
	w.WriteString(".\r\n")
}

func ascii(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// classify turns a failed transaction into a ProviderError with the reply
// code and a fixed description (the server's text can name the recipient).
func classify(st stage, err error) error {
	code := replyCode(err)
	if code == 0 {
		// No reply at all: the connection broke. Nothing was refused.
		return &TransportError{Stage: transportStage(st)}
	}
	perr := &channels.ProviderError{Provider: "smtp", Status: code, Detail: stageText(st)}
	var te *textproto.Error
	if errors.As(err, &te) {
		if esc := enhancedCode(te.Msg); esc != "" {
			perr.Detail += " (" + esc + ")"
		}
	}
	switch {
	case code >= 500 && st == stageRcpt && (code == 550 || code == 551 || code == 553):
		return channels.Permanent(fmt.Errorf("%w: %w", channels.ErrHardBounce, perr))
	case code >= 500:
		return channels.Permanent(perr)
	default: // 4xx
		return perr
	}
}

// transportStage names the part of the transaction a broken connection cut off.
func transportStage(st stage) string {
	switch st {
	case stageMail:
		return "sender"
	case stageRcpt:
		return "recipient"
	default:
		return "message"
	}
}

func stageText(st stage) string {
	switch st {
	case stageMail:
		return "sender rejected"
	case stageRcpt:
		return "recipient rejected"
	default:
		return "message rejected"
	}
}

// TransportError is a send that broke off without a reply from the server:
// the connection was lost before, during or right after the message. It is
// retryable, and the delivery core records it as a transport error, not as
// something the server refused. It names the stage only, never an address.
// A break after the final "." may still have delivered the message; the
// retry carries the same Message-ID, by which receivers drop the copy.
type TransportError struct {
	Stage string // "sender", "recipient", "message" (opening a connection fails as a ConnectError)
	Err   error  // the underlying network error, if any (it never names a recipient)
}

func (e *TransportError) Error() string {
	s := "smtp: connection lost"
	switch e.Stage {
	case "connect":
		s = "smtp: connect failed"
	case "send":
	default:
		s += " at " + e.Stage
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *TransportError) Unwrap() error { return e.Err }
