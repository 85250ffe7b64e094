package bounce_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/heroldhq/herold/internal/bounce"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/redistest"
)

const domain = "bounces.herold.test"

var key = []byte("0123456789abcdef0123456789abcdef-verp-test")

func newVERP(t *testing.T) *bounce.VERP {
	t.Helper()
	v, err := bounce.NewVERP(key, "bounce", domain)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVERPRoundTripAndForgery(t *testing.T) {
	t.Parallel()
	v := newVERP(t)
	for _, id := range []string{"msg_abcdefghijklmnopqrstuvwxyz", "cm.cmp_0011223344556677.00112233445566778899"} {
		addr, err := v.ReturnPath(id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		local := addr[:strings.IndexByte(addr, '@')]
		if len(local) > 64 || !strings.HasSuffix(addr, "@"+domain) {
			t.Errorf("%s: %q breaks RFC 5321 (local part %d octets)", id, addr, len(local))
		}
		if got, ok := v.MessageID(addr); !ok || got != id {
			t.Errorf("MessageID(%q) = %q, %v", addr, got, ok)
		}
		if got, ok := v.MessageID("<" + strings.ToUpper(addr) + ">"); !ok || got != id {
			t.Errorf("an MTA that upper-cases the address breaks it: %q, %v", got, ok)
		}
		// Another message's id with this signature, a changed signature, the
		// right address at another domain: all refused.
		forged := strings.Replace(addr, id, "msg_zzzzzzzzzzzzzzzzzzzzzzzzzz", 1)
		sig := addr[strings.LastIndexByte(addr, '=')+1 : strings.IndexByte(addr, '@')]
		flipped := strings.Replace(addr, "="+sig, "="+strings.Repeat("a", len(sig)), 1)
		for _, bad := range []string{forged, flipped, strings.Replace(addr, domain, "evil.test", 1), "bounce+" + id + "@" + domain} {
			if got, ok := v.MessageID(bad); ok {
				t.Errorf("forged %q accepted as %q", bad, got)
			}
		}
		other, _ := bounce.NewVERP([]byte("another-key-another-key-another-key!"), "bounce", domain)
		if _, ok := other.MessageID(addr); ok {
			t.Error("an address signed with another key verifies")
		}
	}
	for _, id := range []string{"MSG_Upper", "has space", "a..b", strings.Repeat("x", 60)} {
		if _, err := v.ReturnPath(id); !errors.Is(err, bounce.ErrUnencodable) {
			t.Errorf("ReturnPath(%q) = %v, want ErrUnencodable", id, err)
		}
	}
	if _, err := bounce.NewVERP([]byte("short"), "bounce", domain); err == nil {
		t.Error("a short key was accepted")
	}
}

// sample reads a composed report and puts the VERP address of id in it.
func sample(t *testing.T, name, verp, id string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("{{VERP}}"), []byte(verp))
	return bytes.ReplaceAll(b, []byte("{{MSGID}}"), []byte(id))
}

func TestParseClassifiesTheSamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file                   string
		kind                   bounce.Kind
		status, action, format string
	}{
		{"hard.eml", bounce.Hard, "5.1.1", "failed", "dsn"},
		{"soft.eml", bounce.Soft, "4.2.2", "delayed", "dsn"},
		{"vacation.eml", bounce.AutoReply, "", "", "auto_reply"},
		{"outofoffice.eml", bounce.AutoReply, "", "", "auto_reply"},
		{"complaint.eml", bounce.Complaint, "", "", "arf"},
		{"daemon.eml", bounce.Hard, "5.1.1", "failed", "plain"},
	}
	for _, c := range cases {
		p, err := bounce.Parse(sample(t, c.file, "bounce+msg_x=abc@"+domain, "msg_x"))
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if p.Kind != c.kind || p.Status != c.status || p.Action != c.action || p.Format != c.format {
			t.Errorf("%s: parsed %+v, want kind %s status %q action %q format %s", c.file, p, c.kind, c.status, c.action, c.format)
		}
		if strings.Contains(p.Diagnostic, "@") || strings.Contains(p.Diagnostic, "1234567") {
			t.Errorf("%s: diagnostic holds personal data: %q", c.file, p.Diagnostic)
		}
	}
	p, _ := bounce.Parse(sample(t, "hard.eml", "x", "y"))
	if want := "550 5.1.1 [address]: Recipient address rejected: User unknown in virtual mailbox table"; p.Diagnostic != want {
		t.Errorf("hard diagnostic = %q, want %q", p.Diagnostic, want)
	}
	if _, err := bounce.Parse([]byte("\x00\x01 no header at all")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestClassificationOfStatusCodes(t *testing.T) {
	t.Parallel()
	dsn := func(action, status string) []byte {
		return []byte("From: MAILER-DAEMON@x.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x.test\r\n\r\nFinal-Recipient: rfc822; a@b.test\r\nAction: " + action +
			"\r\nStatus: " + status + "\r\n\r\n--b--\r\n")
	}
	for _, c := range []struct {
		action, status string
		want           bounce.Kind
	}{
		{"failed", "5.1.1", bounce.Hard},  // bad mailbox
		{"failed", "5.1.2", bounce.Hard},  // bad domain
		{"failed", "5.1.10", bounce.Hard}, // null MX
		{"failed", "5.2.1", bounce.Hard},  // mailbox disabled
		{"failed", "5.2.2", bounce.Soft},  // mailbox full
		{"failed", "5.7.1", bounce.Soft},  // policy: about the sender
		{"failed", "4.4.7", bounce.Soft},  // gave up on a temporary error
		{"delayed", "4.4.1", bounce.Soft},
		{"delivered", "2.0.0", bounce.Ignored},
		{"relayed", "2.0.0", bounce.Ignored},
	} {
		p, err := bounce.Parse(dsn(c.action, c.status))
		if err != nil || p.Kind != c.want {
			t.Errorf("%s %s: %s, %v; want %s", c.action, c.status, p.Kind, err, c.want)
		}
	}
}

// ---- the listener, end to end over SMTP

type effects struct {
	mu    sync.Mutex
	calls []bounce.Report
	fail  error
}

func (e *effects) Bounced(_ context.Context, r bounce.Report) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil {
		return e.fail
	}
	e.calls = append(e.calls, r)
	return nil
}

func (e *effects) snapshot() []bounce.Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]bounce.Report(nil), e.calls...)
}

type observer struct {
	mu   sync.Mutex
	seen []string
}

func (o *observer) BounceReport(kind string, matched bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !matched {
		kind += "/unmatched"
	}
	o.seen = append(o.seen, kind)
}

type bundle struct {
	verp *bounce.VERP
	proc *bounce.Processor
	eff  *effects
	obs  *observer
	addr string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	b := &bundle{verp: newVERP(t), eff: &effects{}, obs: &observer{}}
	var err error
	b.proc, err = bounce.NewProcessor(bounce.Options{Redis: rdb, Prefix: prefix, VERP: b.verp, Effects: b.eff, Observer: b.obs,
		ReportTTL: time.Hour, MaxSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := bounce.NewSMTPServer("", b.proc, nil)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	b.addr = ln.Addr().String()
	return b
}

// send delivers msg as an MTA would: plain SMTP on loopback (the
// listener offers no STARTTLS, which go-smtp's SendMail insists on).
func (b *bundle) send(from string, to []string, msg []byte) error {
	c, err := smtp.Dial(b.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("mx.example.net"); err != nil {
		return err
	}
	// MTAs declare the size (RFC 1870) when the server offers SIZE.
	if err := c.Mail(from, &smtp.MailOptions{Size: int64(len(msg))}); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func TestReportsOverSMTP(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const (
		invoice = "msg_abcdefghijklmnopqrstuvwxyz"
		offer   = "cm.cmp_0011223344556677.00112233445566778899"
		tip     = "msg_tttttttttttttttttttttttttt"
	)
	verp := func(id string) string { a, _ := b.verp.ReturnPath(id); return a }

	// A hard bounce from <> to the invoice's VERP address. SendMail returns
	// after the listener answered DATA, i.e. after processing.
	hard := sample(t, "hard.eml", verp(invoice), invoice)
	if err := b.send("", []string{verp(invoice)}, hard); err != nil {
		t.Fatal(err)
	}
	// The same DSN again (the MTA retried): no second effect.
	if err := b.send("", []string{verp(invoice)}, hard); err != nil {
		t.Fatal(err)
	}
	if err := b.send("", []string{verp(tip)}, sample(t, "soft.eml", verp(tip), tip)); err != nil {
		t.Fatal(err)
	}
	// The complaint goes to the feedback-loop address, not to a VERP address:
	// the message is found through Original-Mail-From.
	if err := b.send("abuse@mail.example.com", []string{"fbl@" + domain}, sample(t, "complaint.eml", verp(offer), offer)); err != nil {
		t.Fatal(err)
	}
	// A vacation reply and an out-of-office reply change nothing.
	if err := b.send("", []string{verp(invoice)}, sample(t, "vacation.eml", verp(invoice), invoice)); err != nil {
		t.Fatal(err)
	}
	if err := b.send("max.muster@example.org", []string{verp(tip)}, sample(t, "outofoffice.eml", verp(tip), tip)); err != nil {
		t.Fatal(err)
	}
	// A hard bounce to a forged VERP address changes nothing.
	forged := strings.Replace(verp(invoice), invoice, "msg_zzzzzzzzzzzzzzzzzzzzzzzzzz", 1)
	if err := b.send("", []string{forged}, sample(t, "hard.eml", forged, "msg_zzzzzzzzzzzzzzzzzzzzzzzzzz")); err != nil {
		t.Fatal(err)
	}

	calls := b.eff.snapshot()
	type got struct {
		id     string
		kind   bounce.Kind
		status string
	}
	var have []got
	for _, c := range calls {
		have = append(have, got{c.MessageID, c.Kind, c.Status})
		if strings.Contains(c.Diagnostic, "@") || c.ReportID == "" {
			t.Errorf("report %+v: diagnostic with an address or no report id", c)
		}
	}
	want := []got{{invoice, bounce.Hard, "5.1.1"}, {tip, bounce.Soft, "4.2.2"}, {offer, bounce.Complaint, ""}}
	if len(have) != len(want) {
		t.Fatalf("effects = %+v, want %+v", have, want)
	}
	for i := range want {
		if have[i] != want[i] {
			t.Errorf("effect %d = %+v, want %+v", i, have[i], want[i])
		}
	}
	b.obs.mu.Lock()
	seen := strings.Join(b.obs.seen, " ")
	b.obs.mu.Unlock()
	if want := "hard soft complaint auto_reply auto_reply hard/unmatched"; seen != want {
		t.Errorf("observed %q, want %q (the duplicate is not counted)", seen, want)
	}

	// The stored report is the raw message as received.
	st, err := b.proc.Get(t.Context(), calls[0].ReportID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(st.Raw, hard) || st.MessageID != invoice || st.Kind != bounce.Hard || st.Source != "smtp" {
		t.Errorf("stored report %+v (raw %d bytes, sent %d)", st.Parsed, len(st.Raw), len(hard))
	}
	if _, err := b.proc.Get(t.Context(), "rpt_aaaaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, bounce.ErrNotFound) {
		t.Errorf("Get of an unknown id: %v", err)
	}
}

func TestListenerRefusesRelayAndOversizeAndRetriesFailures(t *testing.T) {
	t.Parallel()
	b := setup(t)
	addr, _ := b.verp.ReturnPath("msg_abcdefghijklmnopqrstuvwxyz")
	hard := sample(t, "hard.eml", addr, "msg_abcdefghijklmnopqrstuvwxyz")

	var se *smtp.SMTPError
	if err := b.send("", []string{"someone@example.com"}, hard); !errors.As(err, &se) || se.Code != 550 {
		t.Errorf("relay attempt: %v, want 550", err)
	}
	big := append(bytes.Clone(hard), bytes.Repeat([]byte("x"), 70<<10)...)
	if err := b.send("", []string{addr}, big); !errors.As(err, &se) || se.Code != 552 {
		t.Errorf("oversized report: %v, want 552", err)
	}

	b.eff.mu.Lock()
	b.eff.fail = errors.New("redis down")
	b.eff.mu.Unlock()
	if err := b.send("", []string{addr}, hard); !errors.As(err, &se) || se.Code != 451 {
		t.Errorf("report whose effects failed: %v, want 451", err)
	}
	b.eff.mu.Lock()
	b.eff.fail = nil
	b.eff.mu.Unlock()
	if err := b.send("", []string{addr}, hard); err != nil {
		t.Fatalf("the MTA's retry: %v", err)
	}
	if n := len(b.eff.snapshot()); n != 1 {
		t.Errorf("effects applied %d times, want once (after the retry)", n)
	}
}

func TestSubmitByHTTPShape(t *testing.T) {
	t.Parallel()
	b := setup(t)
	addr, _ := b.verp.ReturnPath("msg_abcdefghijklmnopqrstuvwxyz")
	st, err := b.proc.Submit(t.Context(), bounce.Submission{VERP: addr, Kind: "hard", Status: "5.1.1",
		Diagnostic: "550 5.1.1 <anna@example.net> unknown", RecipientID: "c-1001"})
	if err != nil {
		t.Fatal(err)
	}
	calls := b.eff.snapshot()
	if len(calls) != 1 || calls[0].RecipientID != "c-1001" || calls[0].Diagnostic != "550 5.1.1 [address] unknown" || st.Source != "http" {
		t.Errorf("effects %+v, stored %+v", calls, st)
	}
	// The raw report posted as is is parsed like one from SMTP.
	if _, err := b.proc.Submit(t.Context(), bounce.Submission{VERP: addr, Raw: string(sample(t, "vacation.eml", addr, "x"))}); err != nil {
		t.Fatal(err)
	}
	if n := len(b.eff.snapshot()); n != 1 {
		t.Errorf("a posted vacation reply had an effect")
	}
	for _, c := range []struct {
		s     bounce.Submission
		field string
	}{
		{bounce.Submission{Kind: "hard"}, "verp"},
		{bounce.Submission{VERP: addr}, "kind"},
		{bounce.Submission{VERP: addr, Kind: "bounced"}, "kind"},
		{bounce.Submission{VERP: addr, Kind: "hard", Status: "550"}, "status"},
		{bounce.Submission{VERP: addr, Kind: "hard", RecipientID: "anna@example.net"}, "recipient_id"},
	} {
		_, err := b.proc.Submit(t.Context(), c.s)
		if inv, ok := invalid.As(err); !ok || inv.Fields[0].Field != c.field {
			t.Errorf("Submit(%+v) = %v, want an invalid.Error naming %s", c.s, err, c.field)
		}
	}
	// A forged address in a submission changes nothing either.
	if _, err := b.proc.Submit(t.Context(), bounce.Submission{VERP: "bounce+msg_zzzzzzzzzzzzzzzzzzzzzzzzzz=aaaaaaaaaa@" + domain, Kind: "hard"}); err != nil {
		t.Fatal(err)
	}
	if n := len(b.eff.snapshot()); n != 1 {
		t.Errorf("a forged submission had an effect")
	}
}
