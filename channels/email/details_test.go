package email_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gomail "github.com/wneessen/go-mail"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/email"
)

// TestComposeMatchesGoMail: Compose writes what go-mail writes for the same
// message, field for field and body for body (go-mail orders some header
// fields at random, so fields are compared as a set).
func TestComposeMatchesGoMail(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 9, 14, 0, 0, time.FixedZone("CET", 3600))
	long := strings.Repeat("Grüße aus Köln, ", 12)
	texts := []string{
		"Hallo Anna,\nschöne Grüße.\n",
		"ohne Zeilenende am Schluss",
		"Zeile mit Leerzeichen am Ende   \nund\tTabs\t\nund = Zeichen =3D\n",
		".Punkt am Anfang\n..zwei Punkte\n.\nEnde",
		"CRLF\r\nZeilen\r\n\r\nmit Leerzeile\r\n",
		long + "\n" + strings.Repeat("x", 75) + "\n" + strings.Repeat("y", 76) + "\n" + strings.Repeat("z", 77) + "\n",
		strings.Repeat("ä", 40) + "\n\n\n",
		"€ 29,98 – „Anführung“ 👋\n",
	}
	c, err := email.NewComposer(email.ComposeConfig{From: "angebote@herold.example", FromName: "Herold Mobil – Angebote",
		ReplyTo: "service@herold.example", UnsubscribeMailto: "abmelden@herold.example", Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		for _, shape := range []string{"both", "text", "html"} {
			m := channels.Outbound{MessageID: fmt.Sprintf("cmp-1:C-%d", i), Type: "promo_offer", Class: "marketing",
				To: "anna.schmidt@example.org", Subject: "Exklusiv für Sie: " + long, Text: text, HTML: "<p>" + text + "</p>",
				UnsubscribeURL: "https://herold.example/unsubscribe/tok", ListID: "advertising.herold.example"}
			switch shape {
			case "text":
				m.HTML = ""
			case "html":
				m.Text = ""
			}
			got, err := c.Compose(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			ref := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
			must(t, ref.FromFormat("Herold Mobil – Angebote", "angebote@herold.example"))
			must(t, ref.ReplyTo("service@herold.example"))
			must(t, ref.To(m.To))
			ref.Subject(m.Subject)
			ref.SetDateWithValue(at)
			ref.SetMessageIDWithValue(got.MessageID)
			ref.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, "<mailto:abmelden@herold.example>, <https://herold.example/unsubscribe/tok>")
			ref.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
			ref.SetGenHeaderPreformatted("List-Id", "<advertising.herold.example>")
			switch shape {
			case "both":
				ref.SetBodyString(gomail.TypeTextPlain, m.Text)
				ref.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
				_, params, err := mime.ParseMediaType(header(t, got.Data).Get("Content-Type"))
				if err != nil {
					t.Fatal(err)
				}
				ref.SetBoundary(params["boundary"])
			case "text":
				ref.SetBodyString(gomail.TypeTextPlain, m.Text)
			default:
				ref.SetBodyString(gomail.TypeTextHTML, m.HTML)
			}
			var want bytes.Buffer
			if _, err := ref.WriteTo(&want); err != nil {
				t.Fatal(err)
			}
			gh, gb, _ := bytes.Cut(got.Data, []byte("\r\n\r\n"))
			wh, wb, _ := bytes.Cut(want.Bytes(), []byte("\r\n\r\n"))
			if g, w := fieldSet(string(gh)), fieldSet(string(wh)); !slices.Equal(g, w) {
				t.Errorf("text %d, %s: header fields\n%q\nwant\n%q", i, shape, g, w)
			}
			// The SMTP data phase ends the content with a line break; Compose does so itself.
			if !bytes.Equal(gb, wb) && !bytes.Equal(gb, append(wb, "\r\n"...)) {
				t.Errorf("text %d, %s: body\n%q\nwant\n%q", i, shape, gb, wb)
			}
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func header(t *testing.T, data []byte) mail.Header {
	t.Helper()
	pm, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return pm.Header
}

// fieldSet returns the header fields (with their folding), sorted.
func fieldSet(head string) []string {
	var fields []string
	for _, line := range strings.Split(head, "\r\n") {
		if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && len(fields) > 0 {
			fields[len(fields)-1] += "\r\n" + line
			continue
		}
		fields = append(fields, line)
	}
	slices.Sort(fields)
	return fields
}

// TestSenderPerClassAndType: invoices come from rechnung@, offers from
// angebote@, each with its own Reply-To, on the envelope and in the header;
// a type without a setting falls back to its class, then to the default.
func TestSenderPerClassAndType(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
	cfg := config(ts)
	cfg.From, cfg.FromName, cfg.ReplyTo = "news@herold.example", "Herold", ""
	cfg.Classes = map[string]email.Identity{
		"transactional": {From: "service@herold.example", FromName: "Herold Kundenservice", ReplyTo: "hilfe@herold.example"},
		"marketing":     {From: "angebote@herold.example", FromName: "Herold Angebote"},
	}
	cfg.Types = map[string]email.Identity{
		"invoice": {From: "rechnung@herold.example", FromName: "Herold Rechnung"}, // Reply-To from its class
	}
	s := newSender(t, cfg)
	tests := []struct {
		typ, class          string
		from, name, replyTo string
	}{
		{"invoice", "transactional", "rechnung@herold.example", "Herold Rechnung", "hilfe@herold.example"},
		{"contract_info", "transactional", "service@herold.example", "Herold Kundenservice", "hilfe@herold.example"},
		{"promo_offer", "marketing", "angebote@herold.example", "Herold Angebote", ""},
		{"service_reply", "service", "news@herold.example", "Herold", ""},
	}
	for i, tt := range tests {
		m := msg(fmt.Sprint("s-", i), "anna@example.org")
		m.Type, m.Class = tt.typ, tt.class
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		got := ts.Messages()[i]
		if got.From != tt.from {
			t.Errorf("%s: MAIL FROM %q, want %q", tt.typ, got.From, tt.from)
		}
		h := header(t, got.Data)
		dec := &mail.AddressParser{WordDecoder: new(mime.WordDecoder)}
		from, err := dec.Parse(h.Get("From"))
		if err != nil || from.Address != tt.from || from.Name != tt.name {
			t.Errorf("%s: From %q (%v), want %s <%s>", tt.typ, h.Get("From"), err, tt.name, tt.from)
		}
		if rt := h.Get("Reply-To"); (tt.replyTo == "" && rt != "") || (tt.replyTo != "" && rt != "<"+tt.replyTo+">") {
			t.Errorf("%s: Reply-To %q, want %q", tt.typ, rt, tt.replyTo)
		}
	}
	if id := s.Composer().Sender("transactional", "invoice"); id.From != "rechnung@herold.example" || id.ReplyTo != "hilfe@herold.example" {
		t.Errorf("Sender(transactional, invoice) = %+v", id)
	}
	for name, bad := range map[string]map[string]email.Identity{
		"name in the address": {"invoice": {From: "Rechnung <rechnung@herold.example>"}},
		"bad reply-to":        {"invoice": {ReplyTo: "nicht-adresse"}},
	} {
		c := cfg
		c.Types = bad
		if _, err := email.New(c, testLog(t)); err == nil || !strings.Contains(err.Error(), "invoice") {
			t.Errorf("%s: New = %v, want an error naming the type", name, err)
		}
	}
}

// TestDKIMOversigns: the signature verifies (go-msgauth), lists From, To,
// Subject, Date, Reply-To and the list headers once more than they occur,
// and so breaks when any of them is added in transit.
func TestDKIMOversigns(t *testing.T) {
	t.Parallel()
	key, pubTXT := dkimKey(t)
	ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
	cfg := config(ts)
	cfg.DKIMKey, cfg.DKIMSelector = key, "herold2026"
	cfg.Types = map[string]email.Identity{"promo_offer": {From: "angebote@angebote.herold.example", ReplyTo: "service@herold.example"}}
	s := newSender(t, cfg)
	m := msg("dkim-1", "anna@example.org")
	m.Type, m.Class, m.Subject = "promo_offer", "marketing", "Unser Angebot für Sie"
	m.UnsubscribeURL, m.ListID = "https://herold.example/unsubscribe/abc", "angebote.herold.example"
	m.Text = ".Punkt am Zeilenanfang\n" + m.Text
	if _, err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	data := ts.Messages()[0].Data
	lookup := func(domain string) ([]string, error) {
		if domain != "herold2026._domainkey.angebote.herold.example" {
			return nil, fmt.Errorf("unexpected lookup %q", domain)
		}
		return []string{pubTXT}, nil
	}
	v := verify(t, data, lookup)
	if v.Err != nil {
		t.Fatalf("signature does not verify: %v\n%s", v.Err, data)
	}
	if v.Domain != "angebote.herold.example" {
		t.Errorf("d= %q, want the From domain of the type", v.Domain)
	}
	count := map[string]int{}
	for _, k := range v.HeaderKeys {
		count[strings.ToLower(k)]++
	}
	for _, h := range []string{"from", "to", "subject", "date", "reply-to", "list-unsubscribe", "list-unsubscribe-post"} {
		if count[h] != 2 {
			t.Errorf("%s is signed %d times, want 2 (oversigned)", h, count[h])
		}
	}
	for _, h := range []string{"message-id", "list-id", "mime-version", "content-type"} {
		if count[h] != 1 {
			t.Errorf("%s is signed %d times, want 1", h, count[h])
		}
	}
	for _, added := range []string{"Subject: Gewinnspiel", "From: boss@example.org", "List-Unsubscribe: <https://evil.example/>", "Reply-To: x@evil.example"} {
		forged := append([]byte(added+"\r\n"), data...)
		if v := verify(t, forged, lookup); v.Err == nil {
			t.Errorf("the signature still verifies with %q added", added)
		}
	}
	// Transactional mail oversigns the list headers it does not carry.
	if _, err := s.Send(t.Context(), msg("dkim-2", "anna@example.org")); err != nil {
		t.Fatal(err)
	}
	inv := ts.Messages()[1].Data
	lookupBase := func(string) ([]string, error) { return []string{pubTXT}, nil }
	if v := verify(t, inv, lookupBase); v.Err != nil || v.Domain != "herold.example" {
		t.Fatalf("invoice: %v, d=%s", v.Err, v.Domain)
	}
	if v := verify(t, append([]byte("List-Unsubscribe: <https://evil.example/>\r\n"), inv...), lookupBase); v.Err == nil {
		t.Error("a List-Unsubscribe added to a transactional mail keeps the signature valid")
	}
}

// dkimKey makes an Ed25519 key: the PEM for ComposeConfig.DKIMKey and the
// DNS TXT record that publishes it.
func dkimKey(t *testing.T) (key []byte, txt string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
}

func verify(t *testing.T, data []byte, lookup func(string) ([]string, error)) *dkim.Verification {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 {
		t.Fatalf("%d signatures, want 1", len(vs))
	}
	return vs[0]
}

// TestTLSProblemsAreNamed: the error a message record keeps says what failed.
func TestTLSProblemsAreNamed(t *testing.T) {
	t.Parallel()
	plain := newTestServer(t, serverOpts{})
	cfg := config(plain)
	cfg.Username, cfg.Password = "", ""
	s := newSender(t, cfg)

	_, err := s.Send(t.Context(), msg("p-1", "anna@example.org"))
	var perr *channels.ProviderError
	if !errors.As(err, &perr) || channels.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable ProviderError", err)
	}
	const want = "TLS required (HEROLD_SMTP_TLS=mandatory) but the server does not offer STARTTLS"
	if perr.Detail != want || !strings.Contains(perr.Error(), want) {
		t.Errorf("recorded error %q, want it to say %q", perr.Error(), want)
	}
	var ce *email.ConnectError
	if !errors.As(err, &ce) || ce.Server != plain.Addr {
		t.Errorf("err = %v, want a ConnectError naming %s", err, plain.Addr)
	}
	if n := len(plain.Messages()); n != 0 {
		t.Errorf("server got %d messages without TLS", n)
	}
	if err := s.Check(t.Context()); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), plain.Addr) {
		t.Errorf("Check = %v, want it to name the server and say %q", err, want)
	}

	cfg.TLS = email.TLSOpportunistic
	if err := newSender(t, cfg).Check(t.Context()); err != nil {
		t.Errorf("opportunistic TLS to a plain server: %v", err)
	}

	tlsServer := newTestServer(t, serverOpts{startTLS: true, auth: true})
	for _, tt := range []struct {
		name string
		edit func(*email.Config)
		want string // "" : Check succeeds
	}{
		{"starttls and auth", func(*email.Config) {}, ""},
		{"untrusted certificate", func(c *email.Config) { c.RootCAs = x509.NewCertPool() }, "STARTTLS failed: the certificate is not signed by a trusted authority"},
		{"wrong password", func(c *email.Config) { c.Password = "falsch" }, "authentication failed (reply 535)"},
		{"nobody listens", func(c *email.Config) { c.Port = closedPort(t) }, "cannot connect to the SMTP server"},
	} {
		c := config(tlsServer)
		tt.edit(&c)
		err := newSender(t, c).Check(t.Context())
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Check = %v, want %q", tt.name, err, tt.want)
		}
	}
	implicit := newTestServer(t, serverOpts{implicit: true, auth: true})
	c := config(implicit)
	c.TLS = email.TLSImplicit
	if err := newSender(t, c).Check(t.Context()); err != nil {
		t.Errorf("implicit TLS: %v", err)
	}
	if n := tlsServer.conns.Load(); n != 3 {
		t.Errorf("the TLS server saw %d connections, want one per Check that reached it", n)
	}
}

// TestDotStuffing: lines that start with a dot arrive intact.
func TestDotStuffing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, serverOpts{startTLS: true, auth: true})
	s := newSender(t, config(ts))
	m := msg("dot-1", "anna@example.org")
	m.HTML = ""
	m.Text = ".\n..\n.Anfang\nMitte.\n.\r\n." // QP keeps dots; the data phase must double them
	if _, err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	c, err := email.NewComposer(config(ts).ComposeConfig)
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.Compose(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	got := ts.Messages()[0].Data
	// The Date differs by the clock; the rest is the composed message.
	_, gb, _ := bytes.Cut(got, []byte("\r\n\r\n"))
	_, wb, _ := bytes.Cut(want.Data, []byte("\r\n\r\n"))
	if !bytes.Equal(gb, wb) {
		t.Errorf("body on the server\n%q\nwant\n%q", gb, wb)
	}
}
