// Package email delivers Herold's e-mail over SMTP with go-mail, through a
// small pool of persistent connections shared by all goroutines of a worker.
//
// # Errors
//
// A 4xx reply and network trouble (a TransportError: the connection broke,
// mid-DATA too) are retryable; a 5xx reply is permanent,
// and a 550, 551 or 553 on RCPT TO is a hard bounce (channels.ErrHardBounce:
// the dispatcher suppresses the address). Errors are channels.ProviderError
// values with the SMTP code and a fixed description: go-mail's own errors name
// the recipients, so they are never passed on.
//
// # Connections
//
// Pooled connections skip go-mail's NOOP before and RSET after each message
// (a round trip each); a connection whose send failed is closed instead, and a
// message whose reused connection turned out to be dead before anything was
// sent is tried once more on a fresh one.
package email

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"time"

	gomail "github.com/wneessen/go-mail"

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

	ComposeConfig
}

// Sender sends e-mail through an SMTP server. It is safe for concurrent use.
type Sender struct {
	log      *slog.Logger
	composer *Composer
	mc       *gomail.Client
	pool     *pool
}

// New checks cfg and returns a Sender. It does not connect: the first
// message opens the first connection.
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
	tlsConfig := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs}
	p := newPool(nil, cfg.PoolSize, cfg.IdleTimeout, cfg.TLS == TLSImplicit, tlsConfig)

	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithDialContextFunc(p.dialContext),
		gomail.WithoutNoop(),
		gomail.WithoutRset(),
	}
	switch cfg.TLS {
	case TLSMandatory:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSOff:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("email: TLS mode %q is not mandatory, opportunistic, implicit or off", cfg.TLS)
	}
	if cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELO))
	}
	if cfg.Username != "" {
		// PLAIN and LOGIN refuse to send the password over an unencrypted
		// connection (except to localhost): TLSOff with AUTH fails loudly.
		auth := gomail.SMTPAuthPlain
		switch cfg.Auth {
		case "", "plain":
		case "login":
			auth = gomail.SMTPAuthLogin
		default:
			return nil, fmt.Errorf("email: auth %q is not plain or login", cfg.Auth)
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	mc, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	p.mc = mc
	return &Sender{log: log, composer: composer, mc: mc, pool: p}, nil
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

// Send delivers m. The receipt's ProviderID is the Message-ID.
func (s *Sender) Send(ctx context.Context, m channels.Outbound) (channels.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return channels.Receipt{}, err
	}
	msg, err := s.composer.Message(m)
	if err != nil {
		return channels.Receipt{}, err
	}
	receipt := channels.Receipt{Provider: "smtp", ProviderID: s.composer.MessageID(m.MessageID)}
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
			return channels.Receipt{}, connectError(err)
		}
		stop := context.AfterFunc(ctx, func() { c.raw.Close() })
		err = s.mc.SendWithSMTPClient(c.sc, msg)
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
		var se *gomail.SendError
		if !errors.As(err, &se) {
			s.pool.abort(c)
			return channels.Receipt{}, &TransportError{Stage: "send"}
		}
		code := se.ErrorCode()
		if code == 0 && reused && attempt == 0 && (se.Reason == gomail.ErrConnCheck || se.Reason == gomail.ErrSMTPMailFrom) {
			// The server dropped an idle connection; nothing was sent on it.
			s.pool.abort(c)
			continue
		}
		if code >= 400 && se.Reason == gomail.ErrSMTPRcptTo {
			s.pool.put(c) // go-mail reset the transaction: the session is clean
		} else {
			s.pool.abort(c)
		}
		return channels.Receipt{}, classify(se)
	}
}

// classify turns go-mail's SendError (whose text lists the recipients) into
// a ProviderError with the reply code and a fixed description, or, when the
// server gave no reply at all (the connection broke, e.g. mid-DATA), into a
// TransportError: nothing was refused, the message did not get through.
func classify(se *gomail.SendError) error {
	code := se.ErrorCode()
	if code == 0 {
		return &TransportError{Stage: transportStage(se.Reason)}
	}
	perr := &channels.ProviderError{Provider: "smtp", Status: code, Detail: stage(se.Reason)}
	if esc := se.EnhancedStatusCode(); esc != "" {
		perr.Detail += " (" + esc + ")"
	}
	switch {
	case code >= 500 && se.Reason == gomail.ErrSMTPRcptTo && (code == 550 || code == 551 || code == 553):
		return channels.Permanent(fmt.Errorf("%w: %w", channels.ErrHardBounce, perr))
	case code >= 500:
		return channels.Permanent(perr)
	default: // 4xx
		return perr
	}
}

// TransportError is a send that broke off without a reply from the server:
// the connection was lost before, during or right after the message. It is
// retryable, and the delivery core records it as a transport error, not as
// something the server refused. It names the stage only, never an address.
// A break after the final "." may still have delivered the message; the
// retry carries the same Message-ID, by which receivers drop the copy.
type TransportError struct {
	Stage string // "connect", "sender", "recipient", "message", "send"
	Err   error  // the dial error for "connect" (it names the server, never a recipient); else nil
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

// part names what of the transaction a SendError's reason concerns: the
// sender, a recipient, the message; "" for the rest.
func part(r gomail.SendErrReason) string {
	switch r {
	case gomail.ErrSMTPMailFrom:
		return "sender"
	case gomail.ErrSMTPRcptTo:
		return "recipient"
	case gomail.ErrSMTPData, gomail.ErrSMTPDataClose, gomail.ErrWriteContent:
		return "message"
	}
	return ""
}

// transportStage names where a send without a reply broke off.
func transportStage(r gomail.SendErrReason) string { return cmp.Or(part(r), "send") }

// stage describes what a server's reply refused.
func stage(r gomail.SendErrReason) string {
	switch p := part(r); {
	case p != "":
		return p + " rejected"
	case r == gomail.ErrConnCheck:
		return "connection lost"
	}
	return "send failed"
}

// connectError classifies a failure to open a connection: retryable, since
// the server, the network or the credentials are at fault, not the message.
// A reply code (a refused login, a 421 greeting) makes it the server's
// answer; otherwise it is the network's. Dial errors name the server, never
// a recipient.
func connectError(err error) error {
	code := 0
	var se *gomail.SendError
	var te *textproto.Error
	switch {
	case errors.As(err, &se):
		code = se.ErrorCode()
	case errors.As(err, &te):
		code = te.Code
	}
	if code != 0 {
		return fmt.Errorf("%w: %w", &channels.ProviderError{Provider: "smtp", Status: code, Detail: "connect failed"}, err)
	}
	return &TransportError{Stage: "connect", Err: err}
}
