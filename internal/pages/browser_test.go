package pages_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/smtpsink"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/token"
)

// pipeline is Herold in-process, built by the composition root as `herold
// serve` builds it: real Redis, the dispatch service and worker on queues of
// this test, the renderer with the embedded templates, the real e-mail sender
// talking SMTP to an in-process go-smtp server, and the pages on one loopback
// HTTP server.
type pipeline struct {
	url   string
	store *store.Store
	svc   *dispatch.Service
	smtp  *smtpsink.Sink
	seal  *token.Sealer
}

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	h := apptest.New(t, apptest.Options{
		Log: slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Env: map[string]string{"HEROLD_TOKEN_SECRET": secret, "HEROLD_HASH_SALT": "browser-test-salt-0123",
			"HEROLD_SMTP_FROM": "newsletter@example.com", "HEROLD_SMTP_FROM_NAME": "Herold", "HEROLD_SMTP_POOL_SIZE": "1"},
	})
	return &pipeline{url: h.URL, store: h.Store, svc: h.Messages, smtp: h.SMTP, seal: h.Tokens}
}

// chromium finds the browser; the test fails without it (CI installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: apt-get install -y chromium (the browser test never skips)")
	return ""
}

func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HEROLD_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "pages-browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowserDoubleOptInToWithdrawal walks a person through the pages in
// headless Chromium: sign up, confirm from the mail, see the newsletter in
// the preference centre, withdraw it there; then a newsletter to them is
// suppressed with consent_withdrawn by the normal pipeline. Last, on a
// phone-sized screen (390 px), a customer gives consent in the preference
// matrix, with the full text shown and recorded.
//
// Every step that submits waits for an element only the next page has (its
// data-page, or a notice the page before lacks), never for one both share.
func TestBrowserDoubleOptInToWithdrawal(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	p := newPipeline(t)
	shots := artifactDir(t)
	t.Logf("screenshots: %s", shots)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 1200),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	// The first call starts the browser; it must not carry a timeout.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Generous: the whole suite runs in parallel under -race on two cores, and
	// a slow step is not a failure of the pages.
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()

	type action = chromedp.Action[chromedp.Void]
	shot := func(name string) action {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return fmt.Errorf("screenshot %s: %w", name, err)
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	fail := func(step string, err error) {
		t.Helper()
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		t.Fatalf("%s: %v\npage:\n%s", step, err, html)
	}
	do := func(step string, actions ...action) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			fail(step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			fail("text of "+sel, err)
		}
		return strings.TrimSpace(v)
	}
	attr := func(sel, name string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		if err != nil {
			fail(name+" of "+sel, err)
		}
		return v.Value
	}
	const addr = "browser.person@example.de"

	// 1. Sign up.
	do("sign up",
		chromedp.Navigate(p.url+"/subscribe/news?lang=de"),
		chromedp.WaitVisible(chromedp.ID("email")),
		shot("1-subscribe"),
		chromedp.SendKeys(chromedp.ID("email"), addr),
		chromedp.SendKeys(chromedp.ID("name"), "Bea Browser"),
		chromedp.Click(chromedp.ID("agree")),
		chromedp.Click(chromedp.ID("subscribe-submit")),
		chromedp.WaitVisible(chromedp.ID("page-notice")),
		shot("2-subscribe-done"),
	)
	if notice := text("#page-notice"); !strings.Contains(notice, "Bestätigungslink") {
		t.Fatalf("after sign-up: %q", notice)
	}

	// 2. The confirmation mail arrives over SMTP.
	confirmURL := waitForLink(t, p.smtp, addr, regexp.MustCompile(regexp.QuoteMeta(p.url)+`/confirm/[A-Za-z0-9_-]+`))

	// 3. Confirm.
	do("confirm",
		chromedp.Navigate(confirmURL),
		chromedp.WaitVisible(chromedp.ID("confirm-submit")),
		shot("3-confirm"),
		chromedp.Click(chromedp.ID("confirm-submit")),
		chromedp.WaitVisible(chromedp.ID("prefs-link")),
		shot("4-confirmed"),
	)
	if done := text("#page-notice"); !strings.Contains(done, "bestätigt") {
		t.Fatalf("after confirming: %q", done)
	}
	id, err := p.store.RecipientByEmail(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}

	// 4. The preference centre shows the newsletter as active; withdraw it.
	const cell = `td[data-purpose="newsletter:news"][data-channel="email"]`
	do("preferences",
		chromedp.Click(chromedp.ID("prefs-link")),
		chromedp.WaitVisible(chromedp.CSS(`#main[data-page="preferences"] `+cell)),
		chromedp.Click(chromedp.CSS(cell+" summary")),
		chromedp.WaitVisible(chromedp.ID("b-newsletter-news-email-withdraw")),
		shot("5-preferences"),
	)
	if active, status := attr(cell, "data-active"), text(cell+" .status"); active != "true" || !strings.Contains(status, "bestätigt") || strings.Contains(status, "UTC") {
		t.Fatalf("preference centre before withdrawal: active=%q status=%q", active, status)
	}
	do("withdraw",
		chromedp.Click(chromedp.ID("b-newsletter-news-email-withdraw")),
		// Only the page after the save has the notice.
		chromedp.WaitVisible(chromedp.CSS(`#main[data-page="preferences"] #page-notice`)),
		chromedp.Click(chromedp.CSS(cell+" summary")),
		chromedp.WaitVisible(chromedp.CSS(cell+" .status")),
		shot("6-withdrawn"),
	)
	if active, status, saved := attr(cell, "data-active"), text(cell+" .status"), text("#page-notice"); active != "false" || !strings.Contains(status, "widerrufen") || !strings.Contains(saved, "gespeichert") {
		t.Fatalf("after withdrawal: active=%q status=%q notice=%q", active, status, saved)
	}

	// 5. A newsletter to the person is now suppressed, decided at delivery.
	acc, err := p.svc.Submit(t.Context(), dispatch.Submission{
		Type: "newsletter", RecipientID: id, Locale: "de",
		Data: map[string]map[string]any{"newsletter": {
			"list": "news", "list_name": "Newsletter", "edition": "Test", "headline": "Hallo",
			"intro": "Test", "items": []any{}, "url": "https://www.example.com/n",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := waitSettled(t, p.store, acc.ID)
	if rec.Status != store.StatusSuppressed || rec.Decision == nil || rec.Decision.Reason != policy.ConsentWithdrawn {
		t.Fatalf("newsletter after withdrawal: status %s decision %+v, want suppressed with consent_withdrawn", rec.Status, rec.Decision)
	}
	// 6. The unsubscribe page of an offer mail: ask, object, undo (no
	// consent existed, so the objection stays).
	raw, err := p.seal.Seal(token.Token{Purpose: token.Unsubscribe, Recipient: string(id), Scope: "advertising",
		Channel: "email", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	do("unsubscribe",
		chromedp.Navigate(p.url+"/unsubscribe/"+raw+"?lang=en"),
		chromedp.WaitVisible(chromedp.ID("unsubscribe-submit")),
		shot("7-unsubscribe"),
		chromedp.Click(chromedp.ID("unsubscribe-submit")),
		chromedp.WaitVisible(chromedp.ID("undo-submit")),
		shot("8-unsubscribed"),
		chromedp.Click(chromedp.ID("undo-submit")),
		// The unsubscribed page has a notice too: wait for the undo's own
		// page (data-page "message"), not for an element both pages share.
		chromedp.WaitVisible(chromedp.CSS(`#main[data-page="message"] #page-notice`)),
		shot("9-undo"),
	)
	if notice := text("#page-notice"); !strings.Contains(notice, "nothing to restore") {
		t.Errorf("undo of a bare objection: %q", notice)
	}

	if n := len(mailsTo(p.smtp, addr)); n != 1 {
		t.Errorf("%d mails to the person, want only the confirmation", n)
	}

	// 7. The preference matrix on a phone: 390 px wide, no sideways
	// scrolling, and a cell that gives consent shows the whole text.
	cust, err := recipient.Parse("browser-customer", recipient.Input{Kind: "customer",
		Emails: []recipient.EmailInput{{Address: "browser.customer@example.de", CollectedInSale: true}},
		Mobile: &recipient.MobileInput{Number: "+4915112345678", VerifiedAt: "2025-01-02T10:00:00Z"}, TimeZone: "Europe/Berlin",
		Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.store.PutRecipient(t.Context(), cust); err != nil {
		t.Fatal(err)
	}
	prefs, err := p.seal.Seal(token.Token{Purpose: token.Preferences, Recipient: string(cust.ID), Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	const wa = `td[data-purpose="advertising"][data-channel="whatsapp"]`
	do("matrix on a phone",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(p.url+"/preferences/"+prefs+"?lang=de"),
		chromedp.WaitVisible(chromedp.CSS(`#main[data-page="preferences"] #prefs-matrix`)),
		shot("10-matrix-390"),
	)
	fits := func(step, js string) {
		t.Helper()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			fail(step, err)
		}
		if !ok {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("#main")))
			t.Errorf("%s: %s is false at 390 px\n%s", step, js, html)
		}
	}
	fits("matrix", `document.documentElement.scrollWidth <= 390 && document.querySelector("#prefs-matrix").getBoundingClientRect().right <= 390`)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#prefs-matrix td details").length`)); err != nil || n != 8 {
		t.Errorf("matrix has %d controls (%v), want one per offered cell: the newsletter by e-mail, offers on 4 channels, surveys on 2, usage data", n, err)
	}
	do("open a cell",
		chromedp.Click(chromedp.CSS(wa+" summary")),
		chromedp.WaitVisible(chromedp.ID("b-advertising-whatsapp-grant")),
		shot("11-matrix-390-consent"),
	)
	fits("open cell", `(() => { const r = document.querySelector("`+strings.ReplaceAll(wa, `"`, `\"`)+` .panel").getBoundingClientRect(); return r.left >= 0 && r.right <= 390 && document.documentElement.scrollWidth <= 390 })()`)
	shown := text("#t-advertising-whatsapp-grant")
	if !strings.HasPrefix(shown, "Ja, ich willige ein, dass Herold Mobil mir über WhatsApp Angebote") || !strings.HasSuffix(shown, "mit Wirkung für die Zukunft widerrufen.") {
		t.Fatalf("the cell shows %q, want the whole consent text", shown)
	}
	do("give consent on a phone",
		chromedp.Click(chromedp.ID("b-advertising-whatsapp-grant")),
		chromedp.WaitVisible(chromedp.CSS(`#main[data-page="preferences"] #page-notice`)),
		shot("12-matrix-390-saved"),
	)
	if st := attr(wa, "data-state"); st != "on" {
		t.Errorf("whatsapp offers after consent: state %q, want on", st)
	}
	ledger, err := p.store.Ledger(t.Context(), cust.ID)
	if err != nil || len(ledger) != 1 || ledger[0].Kind != "grant" || ledger[0].Purpose != "advertising" || ledger[0].Channel != "whatsapp" || ledger[0].Text != shown {
		t.Errorf("ledger after consent on a phone = %+v, %v; want one grant with the text shown %q", ledger, err, shown)
	}

	entries, _ := os.ReadDir(shots)
	if len(entries) < 12 {
		t.Errorf("%d screenshots in %s, want 12", len(entries), shots)
	}
	t.Logf("phone-width preference matrix: %s", filepath.Join(shots, "10-matrix-390.png"))
}

func waitSettled(t *testing.T, st *store.Store, id string) store.MessageRecord {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rec, err := st.GetMessage(t.Context(), id)
		if err == nil && !rec.Status.Pending() && rec.Status != store.StatusSending {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s not settled: %+v, %v", id, rec, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mailsTo(sink *smtpsink.Sink, addr string) []smtpsink.Mail {
	var out []smtpsink.Mail
	for _, m := range sink.Mails() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				out = append(out, m)
			}
		}
	}
	return out
}

// waitForLink waits for a mail to addr and returns the first link matching
// re in its decoded text or HTML part.
func waitForLink(t *testing.T, sink *smtpsink.Sink, addr string, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range mailsTo(sink, addr) {
			body, err := mailText(m.Data)
			if err != nil {
				t.Fatalf("parse mail: %v", err)
			}
			if link := re.FindString(body); link != "" {
				return link
			}
			t.Fatalf("mail to %s without a link matching %s:\n%s", addr, re, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no mail to %s within 15s (%d mails in the sink)", addr, len(sink.Mails()))
	return ""
}

// mailText decodes every text part of a MIME message.
func mailText(raw []byte) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	var out strings.Builder
	err = walkPart(msg.Header, msg.Body, &out)
	return out.String(), err
}

// header is mail.Header or a MIME part's textproto.MIMEHeader.
type header interface{ Get(string) string }

func walkPart(h header, body io.Reader, out *strings.Builder) error {
	mt, params, err := mime.ParseMediaType(cmp.Or(h.Get("Content-Type"), "text/plain"))
	if err != nil {
		return err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walkPart(part.Header, part, out); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	out.Write(b)
	out.WriteString("\n")
	return nil
}
