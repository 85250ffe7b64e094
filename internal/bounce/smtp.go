package bounce

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// NewSMTPServer returns the bounce listener (HEROLD_BOUNCE_SMTP_ADDR): an
// SMTP server that takes mail for the VERP domain only (anything else is
// refused, so it is no open relay), reads each message up to the
// processor's MaxSize and hands it to Process. It speaks no AUTH and no
// STARTTLS: it is the MX of the bounce domain, or sits behind the MTA that
// is. A report whose processing fails (Redis, effects) is answered 451, so
// the sending MTA tries again later.
//
// Start it with ListenAndServe or Serve and stop it with Shutdown.
func NewSMTPServer(addr string, p *Processor, log *slog.Logger) *smtp.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := smtp.NewServer(&backend{p: p, log: log})
	s.Addr = addr
	s.Domain = p.VERP().Domain()
	s.MaxMessageBytes = p.MaxSize()
	s.MaxRecipients = 10
	s.ReadTimeout = time.Minute
	s.WriteTimeout = time.Minute
	return s
}

type backend struct {
	p   *Processor
	log *slog.Logger
}

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &session{b: b}, nil
}

type session struct {
	b     *backend
	rcpts []string
}

func (s *session) Reset()        { s.rcpts = nil }
func (s *session) Logout() error { return nil }

// Mail accepts any reverse path: DSNs come from <> (RFC 3464), feedback
// reports from the provider's address.
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	at := strings.LastIndexByte(to, '@')
	if at < 0 || !strings.EqualFold(to[at+1:], s.b.p.VERP().Domain()) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "relaying denied: this server takes reports for its bounce domain only"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		if errors.Is(err, smtp.ErrDataTooLarge) {
			return smtp.ErrDataTooLarge
		}
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s.b.p.Process(ctx, "smtp", s.rcpts, buf.Bytes())
	if errors.Is(err, ErrTooLarge) {
		return smtp.ErrDataTooLarge
	}
	if err != nil {
		s.b.log.ErrorContext(ctx, "bounce: report not processed, answered 451", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "report not processed, try again later"}
	}
	s.b.log.DebugContext(ctx, "bounce: report received", "report_id", st.ID, "kind", st.Kind, "duplicate", st.Duplicate)
	return nil
}
