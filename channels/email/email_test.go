package email_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/channeltest"
	"github.com/heroldhq/herold/channels/email"
)

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

// config returns a Sender configuration for ts: STARTTLS (mandatory) and
// AUTH PLAIN with the server's test certificate.
func config(ts *testServer) email.Config {
	return email.Config{
		Host: ts.Host, Port: ts.Port, TLS: email.TLSMandatory,
		Username: ts.User, Password: ts.Password,
		RootCAs:  ts.RootCAs,
		PoolSize: 2, Timeout: 10 * time.Second,
		ComposeConfig: email.ComposeConfig{
			From: "rechnung@herold.example", FromName: "Herold Müller GmbH",
			UnsubscribeMailto: "unsubscribe@herold.example",
		},
	}
}

func newSender(t testing.TB, cfg email.Config) *email.Sender {
	t.Helper()
	s, err := email.New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func msg(id, to string) channels.Outbound {
	return channels.Outbound{
		MessageID: id, Type: "invoice", Class: "transactional", To: to,
		Subject: "Ihre Rechnung", Text: "Guten Tag,\nanbei Ihre Rechnung.", HTML: "<p>Guten Tag,</p>",
	}
}

// TestContract runs the channel contract with MAIL, RCPT and DATA pipelined
// (go-smtp offers PIPELINING) and one at a time.
func TestContract(t *testing.T) {
	t.Parallel()
	for _, noPipelining := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-pipelining=%v", noPipelining), func(t *testing.T) {
			t.Parallel()
			channeltest.Run(t, func(t *testing.T) channeltest.Harness {
				ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
				cfg := config(ts)
				cfg.NoPipelining = noPipelining
				s := newSender(t, cfg)
				down := cfg
				down.Port = closedPort(t)
				wrongPassword := cfg
				wrongPassword.Password = "wrong"
				return channeltest.Harness{
					Sender: s,
					OK:     channeltest.Case{Msg: msg("m-ok", "anna.schmidt@example.org")},
					Permanent: []channeltest.Case{
						{Msg: msg("m-bounce", "bounce.lena.vogel@example.org"), Is: channels.ErrHardBounce},
						{Msg: msg("m-junk", "junk.lena.vogel@example.org")},
						{Msg: msg("m-bad", "not an address"), Is: channels.ErrInvalidAddress},
					},
					Retryable: []channeltest.Case{
						{Msg: msg("m-later", "later.lena.vogel@example.org")},
						{Sender: newSender(t, down), Msg: msg("m-down", "anna.schmidt@example.org")},
						{Sender: newSender(t, wrongPassword), Msg: msg("m-auth", "anna.schmidt@example.org")},
					},
					Stall: channeltest.Case{Msg: msg("m-stall", "stall.lena.vogel@example.org")},
					Receipt: func(t *testing.T, r channels.Receipt) {
						if r.Provider != "smtp" || r.ProviderID != "m-ok@herold.example" {
							t.Errorf("receipt = %+v, want smtp m-ok@herold.example", r)
						}
						got := ts.Messages()
						if len(got) != 1 || !got[0].TLS || got[0].Authed != ts.User {
							t.Errorf("server got %d messages (tls, auth = %v, %q), want 1 over TLS with AUTH", len(got), len(got) > 0 && got[0].TLS, ts.User)
						}
					},
				}
			})
		})
	}
}

// TestRejectionsKeepTheSession: after each kind of rejection the next
// message goes out on the same connection, pipelined or not.
func TestRejectionsKeepTheSession(t *testing.T) {
	t.Parallel()
	for _, noPipelining := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-pipelining=%v", noPipelining), func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
			cfg := config(ts)
			cfg.PoolSize, cfg.NoPipelining = 1, noPipelining
			s := newSender(t, cfg)
			for i, to := range []string{"anna@example.org", "bounce.x@example.org", "lena@example.org", "later.x@example.org",
				"junk.x@example.org", "paul@example.org"} {
				_, err := s.Send(t.Context(), msg(fmt.Sprint("k-", i), to))
				if wantErr := strings.Contains(to, "."+"x@"); wantErr != (err != nil) {
					t.Errorf("send to %s: %v", to, err)
				}
			}
			if n := len(ts.Messages()); n != 3 {
				t.Errorf("server got %d messages, want 3", n)
			}
			if d := s.Dials(); d != 1 {
				t.Errorf("dials = %d, want 1", d)
			}
		})
	}
}

func TestHardBounceKeepsCode(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
	s := newSender(t, config(ts))
	_, err := s.Send(t.Context(), msg("m1", "bounce.lena.vogel@example.org"))
	var perr *channels.ProviderError
	if !errors.As(err, &perr) || perr.Status != 550 || perr.Provider != "smtp" {
		t.Fatalf("err = %v, want a ProviderError with status 550", err)
	}
	if !strings.Contains(perr.Detail, "5.1.1") {
		t.Errorf("detail %q lacks the enhanced status code", perr.Detail)
	}
	// The connection survives a rejected recipient: the next message reuses it.
	if _, err := s.Send(t.Context(), msg("m2", "anna@example.org")); err != nil {
		t.Fatal(err)
	}
	if d := s.Dials(); d != 1 {
		t.Errorf("dials = %d, want 1 (connection reused after a RCPT rejection)", d)
	}
}

// TestHeaders checks umlauts in headers and bodies, the Message-ID and the
// RFC 8058 one-click headers, by parsing what the server received.
func TestHeaders(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
	s := newSender(t, config(ts))
	m := channels.Outbound{
		MessageID: "01JD5Z7Q9X", Type: "newsletter", Class: "marketing", To: "jörg@example.org",
		Subject:        "Grüße aus Köln – Ihr März-Newsletter",
		Text:           "Hallo Jörg,\nschöne Grüße über die Straße.\n",
		HTML:           "<p>Hallo Jörg, schöne Grüße über die Straße.</p>",
		UnsubscribeURL: "https://herold.example/unsubscribe/tok123",
		ListID:         "maerz.newsletter.herold.example",
	}
	m.To = "joerg@example.org" // ASCII address; the name part carries the umlauts
	if _, err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := ts.Messages()
	if len(got) != 1 {
		t.Fatalf("server got %d messages, want 1", len(got))
	}
	pm, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(pm.Header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject = %q (%v), want %q", subject, err, m.Subject)
	}
	from, err := (&mail.AddressParser{WordDecoder: dec}).Parse(pm.Header.Get("From"))
	if err != nil || from.Name != "Herold Müller GmbH" || from.Address != "rechnung@herold.example" {
		t.Errorf("From = %+v (%v)", from, err)
	}
	for _, raw := range []string{pm.Header.Get("Subject"), pm.Header.Get("From")} {
		if strings.ContainsFunc(raw, func(r rune) bool { return r > 127 }) {
			t.Errorf("header %q is not encoded", raw)
		}
	}
	wantHeaders := map[string]string{
		"Message-Id":            "<01JD5Z7Q9X@herold.example>",
		"List-Unsubscribe":      "<mailto:unsubscribe@herold.example>, <https://herold.example/unsubscribe/tok123>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"List-Id":               "<maerz.newsletter.herold.example>",
		"To":                    "<joerg@example.org>",
	}
	for k, want := range wantHeaders {
		if g := pm.Header.Get(k); g != want {
			t.Errorf("%s = %q, want %q", k, g, want)
		}
	}
	text, html := parts(t, pm)
	if norm(text) != norm(m.Text) {
		t.Errorf("text part = %q, want %q", text, m.Text)
	}
	if norm(html) != norm(m.HTML) {
		t.Errorf("html part = %q, want %q", html, m.HTML)
	}
}

// TestTransactionalHasNoListHeaders: no unsubscribe URL, no List-* headers.
func TestTransactionalHasNoListHeaders(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
	s := newSender(t, config(ts))
	if _, err := s.Send(t.Context(), msg("inv-1", "anna@example.org")); err != nil {
		t.Fatal(err)
	}
	pm, err := mail.ReadMessage(bytes.NewReader(ts.Messages()[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"} {
		if v := pm.Header.Get(k); v != "" {
			t.Errorf("%s = %q on a transactional message", k, v)
		}
	}
}

func TestSubjectCannotInjectHeaders(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
	s := newSender(t, config(ts))
	m := msg("inj-1", "anna@example.org")
	m.Subject = "Rechnung\r\nBcc: victim@example.net\r\nX-Injected: yes"
	if _, err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := ts.Messages()[0]
	if len(got.To) != 1 {
		t.Errorf("envelope recipients = %d, want 1", len(got.To))
	}
	pm, err := mail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatal(err)
	}
	if pm.Header.Get("Bcc") != "" || pm.Header.Get("X-Injected") != "" {
		t.Errorf("subject injected headers: %v", pm.Header)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(pm.Header.Get("Subject"))
	if strings.ContainsAny(subject, "\r\n") || !strings.HasPrefix(subject, "Rechnung") {
		t.Errorf("Subject = %q", subject)
	}
}

// TestConnectionReuse: 50 messages from 10 goroutines travel over at most
// the pool's 3 connections, counted at the server.
func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
	cfg := config(ts)
	cfg.PoolSize = 3
	s := newSender(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := range 10 {
		wg.Go(func() {
			for i := range 5 {
				if _, err := s.Send(t.Context(), msg(fmt.Sprintf("m-%d-%d", g, i), fmt.Sprintf("p%d.%d@example.org", g, i))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(ts.Messages()); n != 50 {
		t.Errorf("server got %d messages, want 50", n)
	}
	if n := ts.conns.Load(); n > 3 || n < 1 {
		t.Errorf("server saw %d connections, want 1 to 3", n)
	}
	if d := s.Dials(); d != ts.conns.Load() {
		t.Errorf("sender dialled %d, server saw %d", d, ts.conns.Load())
	}
}

// TestBrokenConnectionReplaced: the server drops the pooled connection; the
// next message goes out on a new one without an error.
func TestBrokenConnectionReplaced(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
	cfg := config(ts)
	cfg.PoolSize = 1
	s := newSender(t, cfg)
	if _, err := s.Send(t.Context(), msg("b-1", "anna@example.org")); err != nil {
		t.Fatal(err)
	}
	ts.DropConnections()
	if _, err := s.Send(t.Context(), msg("b-2", "anna@example.org")); err != nil {
		t.Fatalf("send after the server dropped the connection: %v", err)
	}
	if n := len(ts.Messages()); n != 2 {
		t.Errorf("server got %d messages, want 2", n)
	}
	if d := s.Dials(); d != 2 {
		t.Errorf("dials = %d, want 2", d)
	}
}

func TestIdleConnectionsAreRedialled(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
	cfg := config(ts)
	cfg.IdleTimeout = time.Nanosecond // every idle connection is stale
	s := newSender(t, cfg)
	for i := range 3 {
		if _, err := s.Send(t.Context(), msg(fmt.Sprint("i-", i), "anna@example.org")); err != nil {
			t.Fatal(err)
		}
	}
	if d := s.Dials(); d != 3 {
		t.Errorf("dials = %d, want 3", d)
	}
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, serverOpts{implicit: true, auth: true})
	cfg := config(ts)
	cfg.TLS = email.TLSImplicit
	s := newSender(t, cfg)
	if _, err := s.Send(t.Context(), msg("tls-1", "anna@example.org")); err != nil {
		t.Fatal(err)
	}
	got := ts.Messages()
	if len(got) != 1 || !got[0].TLS || got[0].Authed == "" {
		t.Fatalf("got %+v, want one message over implicit TLS with AUTH", got)
	}
}

// TestCancelWhileConnecting: a server that accepts but never greets holds
// the dial; cancelling the context ends Send long before the 30s timeout.
func TestCancelWhileConnecting(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	s := newSender(t, email.Config{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, TLS: email.TLSOff, Timeout: 30 * time.Second,
		ComposeConfig: email.ComposeConfig{From: "a@herold.example"}})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { _, err := s.Send(ctx, msg("g-1", "anna@example.org")); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || channels.IsPermanent(err) {
			t.Fatalf("err = %v, want a retryable context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return within 10s of the cancel")
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
	s := newSender(t, config(ts))
	if _, err := s.Send(t.Context(), msg("c-1", "anna@example.org")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Send(t.Context(), msg("c-2", "anna@example.org")); err == nil {
		t.Fatal("Send after Close succeeded")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	base := email.Config{Host: "127.0.0.1", ComposeConfig: email.ComposeConfig{From: "a@example.org"}}
	for name, mod := range map[string]func(*email.Config){
		"no host":      func(c *email.Config) { c.Host = "" },
		"bad from":     func(c *email.Config) { c.From = "Anna <a@example.org>" },
		"bad tls":      func(c *email.Config) { c.TLS = "sometimes" },
		"bad auth":     func(c *email.Config) { c.Username, c.Auth = "u", "cram" },
		"bad dkim key": func(c *email.Config) { c.DKIMKey, c.DKIMSelector = []byte("nope"), "s" },
		"bad mailto":   func(c *email.Config) { c.UnsubscribeMailto = "mailto:<x>" },
	} {
		cfg := base
		mod(&cfg)
		if _, err := email.New(cfg, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// parts returns the decoded text and HTML parts of a multipart/alternative message.
func parts(t *testing.T, pm *mail.Message) (text, html string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(pm.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", pm.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(pm.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return text, html
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, cparams, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if cparams["charset"] != "UTF-8" && cparams["charset"] != "utf-8" {
			t.Errorf("part %s charset = %q", ct, cparams["charset"])
		}
		var r io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			r = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		switch ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
}

func norm(s string) string { return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n") }

// closedPort returns a loopback port nobody listens on.
func closedPort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}
