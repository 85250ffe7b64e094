package pages_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/pages"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redisconn"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/token"
)

const secret = "pages-test-secret-0123456789abcdef"

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// outbox records the submissions the pages hand to the pipeline. The browser
// test runs the real pipeline; these tests look at what the pages ask for.
type outbox struct {
	mu   sync.Mutex
	subs []dispatch.Submission
}

func (o *outbox) Submit(_ context.Context, s dispatch.Submission) (dispatch.Accepted, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.subs = append(o.subs, s)
	return dispatch.Accepted{ID: fmt.Sprintf("msg_%d", len(o.subs)), Status: store.StatusQueued}, nil
}

func (o *outbox) all() []dispatch.Submission {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]dispatch.Submission(nil), o.subs...)
}

// logBuf collects log output, to check that no personal data is logged.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testBundle struct {
	pages  *pages.Pages
	store  *store.Store
	sealer *token.Sealer
	out    *outbox
	clock  *clock
	srv    *httptest.Server
	logs   *logBuf
	cfg    config.Pages
}

// setup builds the pages over a real Redis with a key prefix of this test's
// own, serves them on a loopback httptest server and returns the bundle.
func setup(t *testing.T, env map[string]string) *testBundle {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	var cfg config.Pages
	if err := config.Load(&cfg, func(k string) string { return env[k] }, nil); err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.Lists = append(cfg.Lists, config.NewsletterList{
		Key:     "press",
		Title:   map[string]string{"de": "Presse", "en": "Press"},
		Consent: map[string]string{"de": "Ja, Presse-Newsletter von {brand}.", "en": "Yes, press newsletter of {brand}."},
	})
	// HEROLD_REDIS_MIN_REPLICAS_ACK in env makes consent writes wait for replicas.
	var rcfg config.Redis
	if err := config.Load(&rcfg, func(k string) string { return env[k] }, nil); err != nil {
		t.Fatalf("config: %v", err)
	}
	rcfg.KeyPrefix = prefix
	clk := &clock{}
	clk.Set(time.Now().UTC().Truncate(time.Millisecond))
	st := store.New(rdb, prefix, store.WithSalt("pages-test-salt-0123"), store.WithClock(clk.Now),
		store.WithDurability(redisconn.NewDurability(rcfg)))
	sealer, err := token.NewSealer(secret)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	out := &outbox{}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	p, err := pages.New(pages.Options{
		Config: cfg, Brand: loadBrand(t, env), PublicURL: srv.URL, Secret: secret, Sealer: sealer, Store: st, Submitter: out,
		Redis: rdb, Prefix: prefix, Log: slog.New(slog.NewJSONHandler(io.MultiWriter(logs, tlog{t}), nil)), Now: clk.Now,
		Catalog: cat,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Routes(mux)
	return &testBundle{pages: p, store: st, sealer: sealer, out: out, clock: clk, srv: srv, logs: logs, cfg: cfg}
}

type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

// browser is an HTTP client with a cookie jar, like a person's browser.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type page struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values, hdr ...string) page {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

var (
	csrfRe        = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	textVersionRe = regexp.MustCompile(`name="text_version" value="([^"]+)"`)
	consentTextRe = regexp.MustCompile(`(?s)<label for="agree" id="consent-text">(.*?)</label>`)
)

func field(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in page:\n%s", re, body)
	}
	return m[1]
}

// signUp fills in and sends the sign-up form of list as a browser does.
func (b *testBundle) signUp(t *testing.T, c *http.Client, list, addr string) page {
	t.Helper()
	form := do(t, c, "GET", b.srv.URL+"/subscribe/"+list+"?lang=de", nil)
	if form.status != 200 {
		t.Fatalf("GET subscribe: %d\n%s", form.status, form.body)
	}
	return do(t, c, "POST", b.srv.URL+"/subscribe/"+list, url.Values{
		"csrf": {field(t, csrfRe, form.body)}, "lang": {"de"}, "email": {addr}, "name": {"Erika Mustermann"},
		"agree": {"yes"}, "text_version": {field(t, textVersionRe, form.body)},
	})
}

func (b *testBundle) recipient(t *testing.T, addr string) message.RecipientID {
	t.Helper()
	id, err := b.store.RecipientByEmail(t.Context(), addr)
	if err != nil {
		t.Fatalf("recipient of %s: %v", addr, err)
	}
	return id
}

func (b *testBundle) ledger(t *testing.T, id message.RecipientID) []consent.Event {
	t.Helper()
	ev, err := b.store.Ledger(t.Context(), id)
	if err != nil {
		t.Fatalf("ledger: %v", err)
	}
	return ev
}

func (b *testBundle) customer(t *testing.T, id, addr string) message.RecipientID {
	t.Helper()
	r, err := recipient.Parse(id, recipient.Input{Kind: "customer", Emails: []recipient.EmailInput{{Address: addr}},
		Mobile: &recipient.MobileInput{Number: "+4915112345678"}, Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.store.PutRecipient(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func (b *testBundle) seal(t *testing.T, tok token.Token) string {
	t.Helper()
	if tok.Expires.IsZero() {
		tok.Expires = b.clock.Now().Add(time.Hour)
	}
	raw, err := b.sealer.Seal(tok)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// confirmURL is the confirmation link of the last mail submitted to id.
func (b *testBundle) confirmURL(t *testing.T, id message.RecipientID) string {
	t.Helper()
	subs := b.out.all()
	for i := len(subs) - 1; i >= 0; i-- {
		if subs[i].RecipientID == id {
			return subs[i].Data["doi"]["confirm_url"].(string)
		}
	}
	t.Fatalf("no confirmation mail to %s among %d", id, len(subs))
	return ""
}

func TestSignUpAndConfirm(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := browser(t)
	form := do(t, c, "GET", b.srv.URL+"/subscribe/news?lang=de", nil)
	shown := consentTextRe.FindStringSubmatch(form.body)
	if shown == nil || !strings.Contains(shown[1], "Ja, ich möchte den E-Mail-Newsletter von Herold") {
		t.Fatalf("consent text not shown:\n%s", form.body)
	}
	done := b.signUp(t, c, "news", "erika@example.de")
	if done.status != 200 || !strings.Contains(done.body, "Bestätigungslink") {
		t.Fatalf("POST subscribe: %d\n%s", done.status, done.body)
	}
	id := b.recipient(t, "erika@example.de")
	if !strings.HasPrefix(string(id), "p_") {
		t.Errorf("prospect id %q, want p_…", id)
	}
	rec, err := b.store.GetRecipient(t.Context(), id)
	if err != nil || rec.Kind != policy.Prospect || rec.FirstName != "Erika" || rec.LastName != "Mustermann" || rec.Locale != "de" {
		t.Fatalf("prospect = %+v, %v", rec, err)
	}
	ev := b.ledger(t, id)
	if len(ev) != 1 || ev[0].Kind != consent.DOIRequest || ev[0].Purpose != "newsletter:news" || ev[0].Source != consent.WebForm ||
		!ev[0].IP.IsLoopback() || ev[0].UserAgent == "" || ev[0].Text != shown[1] || ev[0].TextVersion == "" {
		t.Fatalf("ledger after sign-up = %+v\nwant one doi_request with IP, user agent and the text shown %q", ev, shown[1])
	}
	subs := b.out.all()
	if len(subs) != 1 {
		t.Fatalf("%d submissions, want 1", len(subs))
	}
	s := subs[0]
	if s.Type != "doi_confirmation" || s.RecipientID != id || s.Key != nil || s.Data["doi"]["list"] != "news" || s.IdempotencyKey == "" {
		t.Fatalf("submission = %+v", s)
	}
	link := s.Data["doi"]["confirm_url"].(string)
	if !strings.HasPrefix(link, b.srv.URL+"/confirm/") || strings.Contains(link, string(id)) || strings.Contains(link, "erika") {
		t.Fatalf("confirm_url %q: want %s/confirm/<opaque token>", link, b.srv.URL)
	}

	// The link shows a button; only the POST confirms.
	get := do(t, c, "GET", link, nil)
	if get.status != 200 || !strings.Contains(get.body, `id="confirm-submit"`) {
		t.Fatalf("GET confirm: %d\n%s", get.status, get.body)
	}
	if n := len(b.ledger(t, id)); n != 1 {
		t.Fatalf("GET confirm wrote to the ledger (%d events)", n)
	}
	b.clock.Advance(time.Minute)
	post := do(t, c, "POST", link, url.Values{"csrf": {field(t, csrfRe, get.body)}, "lang": {"de"}})
	if post.status != 200 || !strings.Contains(post.body, "ist bestätigt") || !strings.Contains(post.body, `href="/preferences/`) {
		t.Fatalf("POST confirm: %d\n%s", post.status, post.body)
	}
	ev = b.ledger(t, id)
	if len(ev) != 2 || ev[1].Kind != consent.DOIConfirm || !ev[1].IP.IsLoopback() || !strings.Contains(ev[1].Text, "Ich bestätige meine Anmeldung") || !ev[1].At.After(ev[0].At) {
		t.Fatalf("ledger after confirm = %+v", ev)
	}
	e := consent.Fold(ev, b.clock.Now()).Lookup("newsletter:news", message.Email)
	if e.Status != consent.Granted || !e.DOIConfirmed {
		t.Fatalf("state = %+v, want granted by double opt-in", e)
	}
	if strings.Contains(b.logs.String(), "erika") {
		t.Errorf("logs hold the address:\n%s", b.logs.String())
	}
}

func TestSignUpSameAnswerForKnownAndUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.customer(t, "cust-1", "known@example.de")
	answers := map[string]page{}
	for _, addr := range []string{"known@example.de", "unknown@example.de"} {
		answers[addr] = b.signUp(t, browser(t), "news", addr)
	}
	k, u := answers["known@example.de"], answers["unknown@example.de"]
	if k.status != 200 || k.status != u.status || k.body != u.body {
		t.Fatalf("answers differ:\nknown %d:\n%s\nunknown %d:\n%s", k.status, k.body, u.status, u.body)
	}
	for _, h := range []string{"Set-Cookie", "Location", "Content-Length"} {
		if k.header.Get(h) != u.header.Get(h) {
			t.Errorf("header %s differs: %q vs %q", h, k.header.Get(h), u.header.Get(h))
		}
	}
	// The known customer kept its id; the unknown address became a prospect.
	if id := b.recipient(t, "known@example.de"); id != "cust-1" {
		t.Errorf("known address now belongs to %q", id)
	}
	if n := len(b.out.all()); n != 2 {
		t.Errorf("%d confirmation mails, want 2", n)
	}
	// Confirm the known customer, then sign up again: same page, no new mail.
	link := b.confirmURL(t, "cust-1")
	c := browser(t)
	get := do(t, c, "GET", link, nil)
	if p := do(t, c, "POST", link, url.Values{"csrf": {field(t, csrfRe, get.body)}}); p.status != 200 {
		t.Fatalf("confirm: %d", p.status)
	}
	again := b.signUp(t, browser(t), "news", "known@example.de")
	if again.body != u.body {
		t.Errorf("sign-up of a subscribed address answers differently:\n%s", again.body)
	}
	if n := len(b.out.all()); n != 2 {
		t.Errorf("%d confirmation mails after re-sign-up of a subscriber, want still 2", n)
	}
}

func TestSignUpBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := browser(t)
	form := do(t, c, "GET", b.srv.URL+"/subscribe/news?lang=en", nil)
	base := url.Values{"csrf": {field(t, csrfRe, form.body)}, "lang": {"en"}, "email": {"a@example.com"},
		"agree": {"yes"}, "text_version": {field(t, textVersionRe, form.body)}}
	for name, mod := range map[string]func(v url.Values){
		"bad address":     func(v url.Values) { v.Set("email", "not-an-address") },
		"display name":    func(v url.Values) { v.Set("email", "Eve <eve@example.com>") },
		"no consent":      func(v url.Values) { v.Del("agree") },
		"changed text":    func(v url.Values) { v.Set("text_version", "sha256:0000") },
		"control in name": func(v url.Values) { v.Set("name", "a\x00b") },
		"long name":       func(v url.Values) { v.Set("name", strings.Repeat("x", 101)) },
	} {
		v := url.Values{}
		for k, vs := range base {
			v[k] = append([]string(nil), vs...)
		}
		mod(v)
		p := do(t, c, "POST", b.srv.URL+"/subscribe/news", v)
		if p.status != 400 || !strings.Contains(p.body, `role="alert"`) || !strings.Contains(p.body, `aria-invalid="true"`) {
			t.Errorf("%s: %d\n%s", name, p.status, p.body)
		}
	}
	if p := do(t, c, "GET", b.srv.URL+"/subscribe/nosuchlist", nil); p.status != 404 {
		t.Errorf("unknown list: %d", p.status)
	}
	if _, err := b.store.RecipientByEmail(t.Context(), "a@example.com"); err == nil {
		t.Error("a prospect was created from bad input")
	}
	if n := len(b.out.all()); n != 0 {
		t.Errorf("%d mails from bad input", n)
	}
}

func TestSignUpRateLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"HEROLD_PAGES_RATE_PER_IP": "3", "HEROLD_PAGES_RATE_PER_ADDRESS": "1"})
	c := browser(t)
	first := b.signUp(t, c, "news", "same@example.de")
	second := b.signUp(t, c, "news", "same@example.de")
	if first.status != 200 || second.body != first.body {
		t.Fatalf("over the address limit the answer must not change: %d / %d\n%s", first.status, second.status, second.body)
	}
	id := b.recipient(t, "same@example.de")
	if n := len(b.ledger(t, id)); n != 1 {
		t.Errorf("%d doi_requests, want 1 (address limit)", n)
	}
	if n := len(b.out.all()); n != 1 {
		t.Errorf("%d mails to one address, want 1", n)
	}
	third := b.signUp(t, c, "news", "other@example.de")
	if third.status != 200 {
		t.Fatalf("third sign-up from the IP: %d", third.status)
	}
	fourth := b.signUp(t, c, "news", "fourth@example.de")
	if fourth.status != http.StatusTooManyRequests || fourth.header.Get("Retry-After") == "" {
		t.Fatalf("fourth sign-up from one IP: %d (Retry-After %q), want 429", fourth.status, fourth.header.Get("Retry-After"))
	}
	if _, err := b.store.RecipientByEmail(t.Context(), "fourth@example.de"); err == nil {
		t.Error("a rate-limited sign-up created a prospect")
	}
	for _, k := range []string{"same@example.de", "other@example.de", "127.0.0.1"} {
		if strings.Contains(b.logs.String(), k) {
			t.Errorf("logs hold %q", k)
		}
	}
}

func TestConfirmTokens(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := browser(t)
	b.signUp(t, c, "news", "tok@example.de")
	id := b.recipient(t, "tok@example.de")
	link := b.confirmURL(t, id)
	raw := strings.TrimPrefix(link, b.srv.URL+"/confirm/")
	get := do(t, c, "GET", link, nil)
	csrf := field(t, csrfRe, get.body)
	post := func(raw string) page {
		// The CSRF field is bound to the path, so each token path needs its own.
		g := do(t, c, "GET", b.srv.URL+"/confirm/"+raw, nil)
		tok := csrf
		if m := csrfRe.FindStringSubmatch(g.body); m != nil {
			tok = m[1]
		}
		return do(t, c, "POST", b.srv.URL+"/confirm/"+raw, url.Values{"csrf": {tok}})
	}

	forged := []byte(raw)
	forged[len(forged)/2] ^= 0x01
	if p := post(string(forged)); p.status != 404 {
		t.Errorf("forged token: %d, want 404", p.status)
	}
	other := b.seal(t, token.Token{Purpose: token.Unsubscribe, Recipient: string(id), Scope: "newsletter:news"})
	if p := post(other); p.status != 404 {
		t.Errorf("unsubscribe token on /confirm: %d, want 404", p.status)
	}
	wrongList := b.seal(t, token.Token{Purpose: token.Confirm, Recipient: string(id), Scope: "newsletter:press"})
	if p := post(wrongList); p.status != 410 {
		t.Errorf("token for a list not signed up to: %d, want 410", p.status)
	}
	unknownList := b.seal(t, token.Token{Purpose: token.Confirm, Recipient: string(id), Scope: "newsletter:nosuch"})
	if p := post(unknownList); p.status != 404 {
		t.Errorf("token for an unknown list: %d, want 404", p.status)
	}
	expired := b.seal(t, token.Token{Purpose: token.Confirm, Recipient: string(id), Scope: "newsletter:news",
		Expires: b.clock.Now().Add(-time.Second)})
	if p := post(expired); p.status != 410 {
		t.Errorf("expired token: %d, want 410", p.status)
	}
	if n := len(b.ledger(t, id)); n != 1 {
		t.Fatalf("bad tokens wrote %d events", n-1)
	}

	if p := do(t, c, "POST", link, url.Values{"csrf": {csrf}}); p.status != 200 {
		t.Fatalf("valid token: %d\n%s", p.status, p.body)
	}
	// A used link is no dead end: it says the sign-up is confirmed and links
	// the preference centre.
	if p := do(t, c, "POST", link, url.Values{"csrf": {csrf}}); p.status != 200 || !strings.Contains(p.body, "bereits bestätigt") || !strings.Contains(p.body, `href="/preferences/`) {
		t.Errorf("reused token: %d\n%s", p.status, p.body)
	}
	if p := do(t, c, "GET", link, nil); p.status != 200 || !strings.Contains(p.body, "bereits bestätigt") || !strings.Contains(p.body, `href="/preferences/`) {
		t.Errorf("GET of a used token: %d, want the friendly page\n%s", p.status, p.body)
	}
	if n := len(b.ledger(t, id)); n != 2 {
		t.Errorf("%d events, want doi_request + one doi_confirm", n)
	}

	// The link of the default TTL expires after 48 hours.
	b.signUp(t, browser(t), "news", "late@example.de")
	late := b.recipient(t, "late@example.de")
	lateLink := b.confirmURL(t, late)
	b.clock.Advance(48 * time.Hour)
	c2 := browser(t)
	if p := do(t, c2, "GET", lateLink, nil); p.status != 410 {
		t.Errorf("GET after 48h: %d, want 410", p.status)
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := browser(t)
	form := do(t, c, "GET", b.srv.URL+"/subscribe/news", nil)
	good := url.Values{"csrf": {field(t, csrfRe, form.body)}, "email": {"csrf@example.de"}, "agree": {"yes"},
		"text_version": {field(t, textVersionRe, form.body)}}
	for name, tc := range map[string]struct {
		client *http.Client
		vals   func() url.Values
		hdr    []string
	}{
		"no cookie": {http.DefaultClient, func() url.Values { return good }, nil},
		"no field": {c, func() url.Values {
			v := url.Values{}
			v.Set("email", "csrf@example.de")
			v.Set("agree", "yes")
			return v
		}, nil},
		"wrong field":      {c, func() url.Values { v, _ := url.ParseQuery(good.Encode()); v.Set("csrf", "AAAA"); return v }, nil},
		"cross-site fetch": {c, func() url.Values { return good }, []string{"Sec-Fetch-Site", "cross-site"}},
		"foreign origin":   {c, func() url.Values { return good }, []string{"Origin", "https://evil.example"}},
	} {
		if p := do(t, tc.client, "POST", b.srv.URL+"/subscribe/news", tc.vals(), tc.hdr...); p.status != 403 {
			t.Errorf("%s: %d, want 403", name, p.status)
		}
	}
	// A field made for another form (path) is refused too.
	if p := do(t, c, "POST", b.srv.URL+"/subscribe/press", good); p.status != 403 {
		t.Errorf("field of another form: %d, want 403", p.status)
	}
	if _, err := b.store.RecipientByEmail(t.Context(), "csrf@example.de"); err == nil {
		t.Error("a refused form created a prospect")
	}

	id := b.customer(t, "cust-csrf", "c@example.de")
	prefs := b.srv.URL + "/preferences/" + b.seal(t, token.Token{Purpose: token.Preferences, Recipient: string(id)})
	if p := do(t, c, "POST", prefs, url.Values{"action": {"all_ads"}}); p.status != 403 {
		t.Errorf("preferences without CSRF: %d, want 403", p.status)
	}
	unsub := b.srv.URL + "/unsubscribe/" + b.seal(t, token.Token{Purpose: token.Unsubscribe, Recipient: string(id), Scope: "advertising", Channel: "email"})
	if p := do(t, c, "POST", unsub+"/undo", url.Values{}); p.status != 403 {
		t.Errorf("undo without CSRF: %d, want 403", p.status)
	}
	if ev, _ := b.store.Ledger(t.Context(), id); len(ev) != 0 {
		t.Errorf("refused forms wrote %+v", ev)
	}
	// And the right way works.
	if p := do(t, c, "POST", b.srv.URL+"/subscribe/news", good); p.status != 200 {
		t.Errorf("valid form: %d\n%s", p.status, p.body)
	}
}

func TestSecurityHeadersAndLocale(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"HEROLD_BRAND_LOGO_URL": "https://cdn.example.com/logo.svg", "HEROLD_PAGES_IMPRINT_URL": "https://example.com/impressum"})
	c := browser(t)
	p := do(t, c, "GET", b.srv.URL+"/subscribe/news", nil, "Accept-Language", "en-GB,en;q=0.9,de;q=0.5")
	csp := p.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "img-src 'self' https://cdn.example.com", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if got := p.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if !strings.Contains(p.body, `<html lang="en">`) || !strings.Contains(p.body, "Sign up") || !strings.Contains(p.body, `href="https://example.com/impressum"`) {
		t.Errorf("Accept-Language en did not give the English page:\n%s", p.body)
	}
	if !strings.Contains(p.body, `<label for="email">`) || !strings.Contains(p.body, `autocomplete="email"`) {
		t.Errorf("form fields lack labels:\n%s", p.body)
	}
	de := do(t, c, "GET", b.srv.URL+"/subscribe/news?lang=de", nil, "Accept-Language", "en")
	if !strings.Contains(de.body, `<html lang="de">`) || !strings.Contains(de.body, "Anmelden") {
		t.Errorf("?lang=de did not switch to German")
	}
	// The switch is remembered.
	again := do(t, c, "GET", b.srv.URL+"/subscribe/news", nil, "Accept-Language", "en")
	if !strings.Contains(again.body, `<html lang="de">`) {
		t.Errorf("the language switch was not remembered")
	}
	css := do(t, c, "GET", b.srv.URL+"/pages/style.css", nil)
	if css.status != 200 || !strings.Contains(css.body, "--primary: #0b5394") || !strings.Contains(css.body, "--on-primary: #ffffff") {
		t.Errorf("style.css: %d\n%.300s", css.status, css.body)
	}
}

// TestPrivacyCommunicationPage: the pages serve the notice rendered from the
// catalog at /privacy/communication and link it from every page.
func TestPrivacyCommunicationPage(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := browser(t)
	de := do(t, c, "GET", b.srv.URL+pages.NoticePath+"?lang=de", nil)
	if de.status != 200 || !strings.Contains(de.body, "<h1>Kommunikation mit Ihnen</h1>") || !strings.Contains(de.body, `<article id="t-invoice">`) ||
		!strings.Contains(de.body, "3 Monate nach dem Ende Ihres Vertrags sperren wir") || strings.Contains(de.body, "<h2>Kommunikation mit Ihnen</h2>") {
		t.Fatalf("notice page: %d\n%s", de.status, de.body)
	}
	en := do(t, c, "GET", b.srv.URL+pages.NoticePath+"?lang=en", nil)
	if !strings.Contains(en.body, "<h1>Communicating with you</h1>") || !strings.Contains(en.body, "Art. 6(1)(b) GDPR") {
		t.Errorf("English notice page:\n%s", en.body)
	}
	sub := do(t, c, "GET", b.srv.URL+"/subscribe/news?lang=de", nil)
	if !strings.Contains(sub.body, `href="`+pages.NoticePath+`?lang=de">So kontaktieren wir Sie</a>`) {
		t.Errorf("pages do not link the notice:\n%s", sub.body)
	}
}

// loadBrand is the Brand section as Herold loads it from env.
func loadBrand(t *testing.T, env map[string]string) config.Brand {
	t.Helper()
	var c struct{ Brand config.Brand }
	if err := config.Load(&c, func(k string) string { return env[k] }, nil); err != nil {
		t.Fatalf("brand config: %v", err)
	}
	return c.Brand
}
