package email_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/email"
)

// dropSession accepts the envelope, reads the start of the message and then
// drops the connection, as a server that crashes or a network that breaks
// mid-DATA does.
type dropSession struct{ conn *smtp.Conn }

func (dropSession) Mail(string, *smtp.MailOptions) error { return nil }
func (dropSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s dropSession) Data(r io.Reader) error {
	_, _ = r.Read(make([]byte, 64))
	s.conn.Conn().Close()
	return errors.New("connection dropped")
}
func (dropSession) Reset()        {}
func (dropSession) Logout() error { return nil }

// TestConnectionDroppedMidDataIsTransport is a small one of issue 14
// (point 9): a connection dropped mid-DATA was recorded as "message
// rejected", as if the server had refused the message. It is a retryable
// transport error (not a ProviderError, so the delivery core classes it
// "transport") whose text names no address.
func TestConnectionDroppedMidDataIsTransport(t *testing.T) {
	t.Parallel()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return dropSession{conn: c}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l) //nolint:errcheck // returns when closed
	t.Cleanup(func() { srv.Close() })

	s := newSender(t, email.Config{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, TLS: email.TLSOff,
		PoolSize: 1, Timeout: 5 * time.Second, ComposeConfig: email.ComposeConfig{From: "rechnung@herold.example"}})
	m := msg("m-drop", "anna.schmidt@example.org")
	m.Text = strings.Repeat("Zeile einer langen Rechnung.\n", 4000) // longer than what the server reads
	_, err = s.Send(t.Context(), m)
	if err == nil {
		t.Fatal("send succeeded although the server dropped the connection")
	}
	var perr *channels.ProviderError
	var terr *email.TransportError
	switch {
	case channels.IsPermanent(err):
		t.Errorf("err %v is permanent, want retryable", err)
	case errors.As(err, &perr):
		t.Errorf("err %v is a ProviderError (%q): the server refused nothing", err, perr.Detail)
	case !errors.As(err, &terr) || terr.Stage != "message":
		t.Errorf("err %v (%T), want a TransportError at the message", err, err)
	}
	if strings.Contains(err.Error(), "rejected") || strings.Contains(err.Error(), "anna") {
		t.Errorf("err text %q says rejected or names the address", err)
	}
}
