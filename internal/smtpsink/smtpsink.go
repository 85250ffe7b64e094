// Package smtpsink is a real SMTP server (go-smtp) on loopback that accepts
// mail and counts it, optionally keeping it: what `herold bench` and `herold
// load` send to, and what the end-to-end tests read delivered mail from. The
// recipient's local part steers it, so tests can provoke a hard bounce or a
// temporary refusal without a mail server of their own.
package smtpsink

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one message the sink accepted.
type Mail struct {
	From string
	To   []string
	Data []byte
}

// Sink is a real SMTP server on 127.0.0.1, without TLS or AUTH. The
// local part of a recipient steers it: "bounce…@" is refused with 550,
// "later…@" with 451, "busy…@" with 421; everything else is accepted.
type Sink struct {
	Host string
	Port int

	keep     bool
	onMail   func(Mail) // NewFunc's; nil otherwise
	srv      *smtp.Server
	count    atomic.Int64
	rcptSeen atomic.Int64
	sessions atomic.Int64 // open connections
	delay    atomic.Int64 // nanoseconds each message's DATA takes (SetDelay)
	mu       sync.Mutex
	mails    []Mail
}

// New starts a sink. keep=false counts messages without keeping
// them (for load runs).
func New(keep bool) (*Sink, error) {
	return start(&Sink{keep: keep})
}

// NewFunc starts a sink that hands every accepted message to fn instead of
// keeping it, so that a long run can tally what it needs (say, deliveries
// per recipient) without holding every mail. fn is called from the
// sessions' goroutines, concurrently, before the message is acknowledged.
func NewFunc(fn func(Mail)) (*Sink, error) {
	return start(&Sink{keep: true, onMail: fn})
}

func start(s *Sink) (*Sink, error) {
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		s.sessions.Add(1)
		return &sinkSession{s: s}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.MaxMessageBytes = 4 << 20
	s.srv.MaxRecipients = 50
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtp sink: %w", err)
	}
	s.Host = "127.0.0.1"
	s.Port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.srv.Serve(l) }() // returns when closed
	return s, nil
}

// Close stops the server.
func (s *Sink) Close() error {
	err := s.srv.Close()
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Sessions returns how many SMTP connections are open. After a sender
// died, 0 means the sink has seen the end of every message it was sending.
func (s *Sink) Sessions() int { return int(s.sessions.Load()) }

// SetDelay makes every message take d before the sink accepts it, like a
// slow relay, so that messages are in flight when a test kills a sender.
func (s *Sink) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Count returns how many messages were accepted.
func (s *Sink) Count() int { return int(s.count.Load()) }

// Mails returns the messages accepted so far (only when keeping them).
func (s *Sink) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

type sinkSession struct {
	s   *Sink
	cur Mail
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.cur = Mail{From: from}
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.rcptSeen.Add(1)
	local, _, _ := strings.Cut(to, "@")
	switch {
	case strings.HasPrefix(local, "bounce"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: mailbox unknown"}
	case strings.HasPrefix(local, "later"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	case strings.HasPrefix(local, "busy"):
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "service not available, try again later"}
	}
	ss.cur.To = append(ss.cur.To, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	if d := time.Duration(ss.s.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if !ss.s.keep {
		_, err := io.Copy(io.Discard, r)
		if err == nil {
			ss.s.count.Add(1)
		}
		return err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cur.Data = b
	if ss.s.onMail != nil {
		ss.s.onMail(ss.cur)
		ss.s.count.Add(1)
		return nil
	}
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, ss.cur)
	ss.s.mu.Unlock()
	ss.s.count.Add(1)
	return nil
}

func (ss *sinkSession) Reset()        { ss.cur = Mail{} }
func (ss *sinkSession) Logout() error { ss.s.sessions.Add(-1); return nil }
