package email_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// received is one message as the test server got it.
type received struct {
	From   string
	To     []string
	Data   []byte
	TLS    bool
	Authed string // user name, if the session authenticated
}

// testServer is a real SMTP server (go-smtp) on 127.0.0.1. The local part of
// a recipient up to its first dot steers it: bounce.x@ 550, later.x@ 451,
// junk.x@ 554 after DATA, stall.x@ hangs until the server closes; everything else is accepted.
type testServer struct {
	Addr     string
	Host     string
	Port     int
	RootCAs  *x509.CertPool
	User     string
	Password string

	conns atomic.Int64 // TCP connections accepted

	mu   sync.Mutex
	msgs []received
	open []net.Conn

	stall chan struct{}
}

type serverOpts struct {
	startTLS bool // offer STARTTLS
	implicit bool // TLS from the first byte
	auth     bool // require AUTH PLAIN
}

func newTestServer(t testing.TB, o serverOpts) *testServer {
	t.Helper()
	cert, pool := testCert(t)
	ts := &testServer{Host: "127.0.0.1", RootCAs: pool, User: "herold", Password: "s3cret-Pässwort", stall: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: ts, conn: c, needAuth: o.auth}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxRecipients = 10
	srv.AllowInsecureAuth = !o.startTLS && !o.implicit
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if o.startTLS {
		srv.TLSConfig = tlsConfig
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l = &countingListener{Listener: l, ts: ts}
	if o.implicit {
		l = tls.NewListener(l, tlsConfig)
	}
	ts.Addr = l.Addr().String()
	ts.Port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l) //nolint:errcheck // returns when closed
	t.Cleanup(func() {
		close(ts.stall)
		srv.Close()
	})
	return ts
}

// Messages returns what the server accepted so far.
func (ts *testServer) Messages() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.msgs...)
}

// DropConnections closes every connection from the server's side, as a
// server does with idle sessions.
func (ts *testServer) DropConnections() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, c := range ts.open {
		c.Close()
	}
	ts.open = nil
}

// countingListener counts accepted connections and keeps them for DropConnections.
type countingListener struct {
	net.Listener
	ts *testServer
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.ts.conns.Add(1)
		l.ts.mu.Lock()
		l.ts.open = append(l.ts.open, c)
		l.ts.mu.Unlock()
	}
	return c, err
}

type session struct {
	srv      *testServer
	conn     *smtp.Conn
	needAuth bool
	user     string
	cur      received
	junk     bool
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.srv.User || password != s.srv.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.needAuth && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = received{From: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	local, _, _ := strings.Cut(to, "@")
	local, _, _ = strings.Cut(local, ".")
	switch local {
	case "bounce":
		// The reply quotes the address, as real servers do.
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: mailbox unknown"}
	case "later":
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later, " + to}
	case "stall":
		<-s.srv.stall
		return &smtp.SMTPError{Code: 421, Message: "shutting down"}
	case "junk":
		s.junk = true
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.junk {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "looks like spam to " + strings.Join(s.cur.To, ",")}
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.cur.Data, s.cur.TLS, s.cur.Authed = b, isTLS, s.user
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur, s.junk = received{}, false }
func (s *session) Logout() error { return nil }

// testCert makes a self-signed certificate for 127.0.0.1 and localhost.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "herold test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
