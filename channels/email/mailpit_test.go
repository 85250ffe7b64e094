package email_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/email"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/token"
)

// TestMailpit sends an invoice and an offer, rendered from the default
// templates (the offer on the campaign path, render.Prepared), over STARTTLS
// with AUTH to a real Mailpit, and checks with Mailpit's API what mailbox
// providers check: each type comes from its own From address, the offer
// carries an https one-click List-Unsubscribe and a List-Id of the list
// domain, the invoice neither; the DKIM signature of what Mailpit received
// verifies and oversigns. It logs Mailpit's HTML compatibility score.
//
// HEROLD_TEST_MAILPIT names the mailpit binary (scripts/test installs
// github.com/axllent/mailpit and sets it). Without it the test is skipped,
// saying so; with CI=true it fails instead.
func TestMailpit(t *testing.T) {
	t.Parallel()
	bin := os.Getenv("HEROLD_TEST_MAILPIT")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("HEROLD_TEST_MAILPIT is not set: scripts/test installs Mailpit and sets it")
		}
		t.Skip("HEROLD_TEST_MAILPIT is not set (scripts/test installs Mailpit and sets it)")
	}
	mp := startMailpit(t, bin)

	// Render as the dispatcher does.
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := token.NewSealer("mailpit-test-secret-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.New(render.Options{Catalog: cat, Sealer: sealer, PublicURL: "https://herold.example.com",
		ListIDDomain: "lists.herold.example", UnsubscribeMailto: "abmelden@herold.example"})
	if err != nil {
		t.Fatal(err)
	}
	out := func(typ message.Type, id string, c render.Content) channels.Outbound {
		spec, _ := cat.Type(typ)
		return channels.Outbound{MessageID: id, Type: string(typ), Class: string(spec.Class), Locale: c.Locale,
			To: "anna.schmidt@example.org", Subject: c.Subject, Text: c.Text, HTML: c.HTML,
			UnsubscribeURL: c.UnsubscribeURL, UnsubscribeMailto: c.UnsubscribeMailto, ListID: c.ListID}
	}
	sample := func(typ message.Type) render.Request {
		spec, _ := cat.Type(typ)
		s, ok, err := r.Sample(typ, "de")
		if err != nil || !ok {
			t.Fatalf("sample %s: %v", typ, err)
		}
		req := render.PreviewRequest(spec, message.Email, "de", s)
		req.Recipient = "C-100042"
		return req
	}
	invReq := sample("invoice")
	invReq.MessageID = "01JMAILPIT-INVOICE"
	invoice, err := r.Render(invReq)
	if err != nil {
		t.Fatal(err)
	}
	shared, personal := sample("promo_offer").Split()
	personal.MessageID = "cmp-7:C-100042"
	prepared, err := r.Prepare(shared)
	if err != nil {
		t.Fatal(err)
	}
	offer, err := prepared.Render(personal)
	if err != nil {
		t.Fatal(err)
	}

	key, pubTXT := dkimKey(t)
	s := newSender(t, email.Config{Host: "127.0.0.1", Port: mp.smtpPort, TLS: email.TLSMandatory, RootCAs: mp.roots,
		Username: "herold", Password: "geheim", Timeout: 10 * time.Second,
		ComposeConfig: email.ComposeConfig{
			From: "news@herold.example", FromName: "Herold Mobil", UnsubscribeMailto: "abmelden@herold.example",
			Classes: map[string]email.Identity{"transactional": {ReplyTo: "service@herold.example"}},
			Types: map[string]email.Identity{
				"invoice":     {From: "rechnung@herold.example", FromName: "Herold Mobil Rechnung"},
				"promo_offer": {From: "angebote@herold.example", FromName: "Herold Mobil Angebote"},
			},
			DKIMKey: key, DKIMSelector: "herold2026",
		}})
	if err := s.Check(t.Context()); err != nil {
		t.Fatalf("Check against Mailpit: %v", err)
	}
	for _, m := range []channels.Outbound{out("invoice", invReq.MessageID, invoice), out("promo_offer", personal.MessageID, offer)} {
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("send %s: %v", m.Type, err)
		}
	}

	lookup := func(string) ([]string, error) { return []string{pubTXT}, nil }
	for _, tt := range []struct {
		id, from, name, replyTo string
		list                    bool
	}{
		{"01JMAILPIT-INVOICE@herold.example", "rechnung@herold.example", "Herold Mobil Rechnung", "service@herold.example", false},
		{"cmp-7-C-100042@herold.example", "angebote@herold.example", "Herold Mobil Angebote", "", true},
	} {
		var found struct {
			Messages []struct{ ID string } `json:"messages"`
		}
		mp.get(t, "/api/v1/search?query="+url.QueryEscape("message-id:"+tt.id), &found)
		if len(found.Messages) != 1 {
			t.Fatalf("Mailpit has %d messages with Message-ID %s, want 1", len(found.Messages), tt.id)
		}
		id := found.Messages[0].ID
		var msg struct {
			From            struct{ Name, Address string }
			ReplyTo         []struct{ Address string }
			ReturnPath      string
			ListUnsubscribe struct {
				Header, Errors, HeaderPost string
				Links                      []string
			}
		}
		mp.get(t, "/api/v1/message/"+id, &msg)
		if msg.From.Address != tt.from || msg.From.Name != tt.name || msg.ReturnPath != tt.from {
			t.Errorf("%s: From %+v, Return-Path %q, want %s <%s>", tt.id, msg.From, msg.ReturnPath, tt.name, tt.from)
		}
		if tt.replyTo != "" && (len(msg.ReplyTo) != 1 || msg.ReplyTo[0].Address != tt.replyTo) {
			t.Errorf("%s: Reply-To %+v, want %s", tt.id, msg.ReplyTo, tt.replyTo)
		}
		var headers map[string][]string
		mp.get(t, "/api/v1/message/"+id+"/headers", &headers)
		lu := msg.ListUnsubscribe
		if tt.list {
			https := 0
			for _, l := range lu.Links {
				if strings.HasPrefix(l, "https://herold.example.com/unsubscribe/") {
					https++
				}
			}
			if https != 1 || lu.Errors != "" || lu.HeaderPost != "List-Unsubscribe=One-Click" {
				t.Errorf("%s: List-Unsubscribe %+v, want one https link, no errors, one-click", tt.id, lu)
			}
			if got := headers["List-Id"]; len(got) != 1 || got[0] != "<advertising.lists.herold.example>" {
				t.Errorf("%s: List-Id %q", tt.id, got)
			}
		} else if lu.Header != "" || len(headers["List-Id"]) != 0 {
			t.Errorf("%s: a transactional mail carries list headers: %+v %q", tt.id, lu, headers["List-Id"])
		}

		raw := mp.raw(t, "/api/v1/message/"+id+"/raw")
		v := verify(t, raw, lookup)
		if v.Err != nil {
			t.Errorf("%s: DKIM does not verify on what Mailpit received: %v", tt.id, v.Err)
		}
		count := map[string]int{}
		for _, k := range v.HeaderKeys {
			count[strings.ToLower(k)]++
		}
		for _, h := range []string{"from", "to", "subject", "date", "list-unsubscribe", "list-unsubscribe-post"} {
			want := 2 // once for the field, once more so that none can be added
			if !tt.list && strings.HasPrefix(h, "list-") {
				want = 1 // absent: signed as empty, so none can be added
			}
			if count[h] != want {
				t.Errorf("%s: %s signed %d times, want %d (oversigned)", tt.id, h, count[h], want)
			}
		}

		var check struct {
			Total    struct{ Supported, Partial, Unsupported float64 }
			Warnings []struct {
				Slug  string
				Score struct{ Unsupported float64 }
			}
		}
		mp.get(t, "/api/v1/message/"+id+"/html-check", &check)
		if check.Total.Supported == 0 {
			t.Errorf("%s: no HTML check result", tt.id)
		}
		var worst []string
		for _, w := range check.Warnings {
			if w.Score.Unsupported > 0 {
				worst = append(worst, fmt.Sprintf("%s %.0f %%", w.Slug, w.Score.Unsupported))
			}
		}
		t.Logf("%s: Mailpit HTML check: %.1f %% supported, %.1f %% partial, %.1f %% unsupported; unsupported somewhere: %s",
			tt.id, check.Total.Supported, check.Total.Partial, check.Total.Unsupported, strings.Join(worst, ", "))
	}
}

// mailpit is a Mailpit process on loopback ports.
type mailpit struct {
	smtpPort int
	api      string
	roots    *x509.CertPool
}

func startMailpit(t *testing.T, bin string) *mailpit {
	t.Helper()
	dir := t.TempDir()
	cert, roots := testCert(t)
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	smtpPort, httpPort := freePort(t), freePort(t)
	cmd := exec.Command(bin, "--smtp", fmt.Sprintf("127.0.0.1:%d", smtpPort), "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--database", filepath.Join(dir, "mailpit.db"), "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile,
		"--smtp-require-starttls", "--smtp-auth-accept-any", "--smtp-disable-rdns", "--disable-version-check", "--quiet")
	logs, err := os.Create(filepath.Join(dir, "mailpit.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		logs.Close()
	})
	mp := &mailpit{smtpPort: smtpPort, api: fmt.Sprintf("http://127.0.0.1:%d", httpPort), roots: roots}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(mp.api + "/api/v1/info")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return mp
			}
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logs.Name())
			t.Fatalf("mailpit exited: %v\n%s", err, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit's API did not answer within 15s: %v", err)
		}
	}
}

func (mp *mailpit) get(t *testing.T, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(mp.raw(t, path), v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func (mp *mailpit) raw(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get(mp.api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v: %s", path, resp.StatusCode, err, b)
	}
	return b
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
