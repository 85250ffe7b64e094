package pages_test

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/pages"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/token"
)

// subscribed signs addr up to news and confirms, returning the prospect.
func (b *testBundle) subscribed(t *testing.T, addr string) message.RecipientID {
	t.Helper()
	c := browser(t)
	b.signUp(t, c, "news", addr)
	id := b.recipient(t, addr)
	link := b.confirmURL(t, id)
	g := do(t, c, "GET", link, nil)
	b.clock.Advance(time.Second)
	if p := do(t, c, "POST", link, url.Values{"csrf": {field(t, csrfRe, g.body)}}); p.status != 200 {
		t.Fatalf("confirm: %d", p.status)
	}
	b.clock.Advance(time.Second)
	return id
}

func TestOneClickUnsubscribeAsCurlSendsIt(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := b.subscribed(t, "oneclick@example.de")
	u := b.srv.URL + "/unsubscribe/" + b.seal(t, token.Token{Purpose: token.Unsubscribe, Recipient: string(id),
		Scope: "newsletter:news", Channel: "email", Expires: b.clock.Now().Add(365 * 24 * time.Hour)})

	// Exactly what `curl -X POST -d 'List-Unsubscribe=One-Click' URL` sends:
	// no cookie, no Origin, form-encoded body.
	req, _ := http.NewRequestWithContext(t.Context(), "POST", u, strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "curl/8.5.0")
	req.Header.Set("Accept", "*/*")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("one-click POST: %d, want 200", resp.StatusCode)
	}
	ev := b.ledger(t, id)
	last := ev[len(ev)-1]
	if len(ev) != 3 || last.Kind != consent.Withdraw || last.Purpose != "newsletter:news" || last.Channel != "email" ||
		last.Source != consent.WebForm || !last.IP.IsLoopback() || last.Text == "" {
		t.Fatalf("ledger = %+v, want a withdrawal of newsletter:news", ev)
	}
	if st := consent.Fold(ev, b.clock.Now()).Lookup("newsletter:news", message.Email).Status; st != consent.Withdrawn {
		t.Fatalf("status %q, want withdrawn", st)
	}

	// The real curl, if installed, gets 200 too; a repeat records nothing new.
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.CommandContext(t.Context(), curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-d", "List-Unsubscribe=One-Click", u).CombinedOutput()
		if err != nil || string(out) != "200" {
			t.Fatalf("curl: %s %v", out, err)
		}
	} else {
		t.Logf("curl not installed; the Go request above replays what it sends")
	}
	if n := len(b.ledger(t, id)); n != 3 {
		t.Errorf("repeated one-click wrote again: %d events", n)
	}

	// Without the one-click body nothing happens.
	id2 := b.subscribed(t, "noform@example.de")
	u2 := b.srv.URL + "/unsubscribe/" + b.seal(t, token.Token{Purpose: token.Unsubscribe, Recipient: string(id2), Scope: "newsletter:news", Channel: "email"})
	for _, body := range []string{"", "List-Unsubscribe=Yes", "%zz"} {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", u2, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("body %q: %d, want 400", body, resp.StatusCode)
		}
	}
	if n := len(b.ledger(t, id2)); n != 2 {
		t.Errorf("bad one-click bodies wrote events: %d", n)
	}
	// A forged token is refused.
	if p := do(t, http.DefaultClient, "POST", b.srv.URL+"/unsubscribe/AAAA"+strings.Repeat("B", 60), url.Values{"List-Unsubscribe": {"One-Click"}}); p.status != 404 {
		t.Errorf("forged token: %d", p.status)
	}
	// GET asks and changes nothing (mail scanners fetch links).
	c := browser(t)
	g := do(t, c, "GET", u2, nil)
	if g.status != 200 || !strings.Contains(g.body, `name="List-Unsubscribe" value="One-Click"`) {
		t.Fatalf("GET unsubscribe: %d\n%s", g.status, g.body)
	}
	if n := len(b.ledger(t, id2)); n != 2 {
		t.Errorf("GET unsubscribe wrote events")
	}
}

func TestUnsubscribeScopes(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := b.customer(t, "cust-scopes", "scopes@example.de")
	for _, tc := range []struct {
		scope, channel string
		kind           consent.Kind
		key            consent.Key
	}{
		{"advertising", "sms", consent.Object, consent.Key{Purpose: "advertising", Channel: "sms"}},
		{"advertising", "", consent.Object, consent.Key{Purpose: "advertising", Channel: "all"}},
		{"survey", "email", consent.Withdraw, consent.Key{Purpose: "survey", Channel: "email"}},
		{"customer_tip", "email", consent.Object, consent.Key{Purpose: "customer_tip", Channel: "email"}},
	} {
		u := b.srv.URL + "/unsubscribe/" + b.seal(t, token.Token{Purpose: token.Unsubscribe, Recipient: string(id), Scope: tc.scope, Channel: tc.channel})
		if p := do(t, http.DefaultClient, "POST", u, url.Values{"List-Unsubscribe": {"One-Click"}}); p.status != 200 {
			t.Fatalf("%s/%s: %d", tc.scope, tc.channel, p.status)
		}
		ev := b.ledger(t, id)
		last := ev[len(ev)-1]
		if last.Kind != tc.kind || (consent.Key{Purpose: last.Purpose, Channel: last.Channel}) != tc.key {
			t.Errorf("%s/%s recorded %s %s/%s, want %s %v", tc.scope, tc.channel, last.Kind, last.Purpose, last.Channel, tc.kind, tc.key)
		}
	}
}

var undoCSRFRe = regexp.MustCompile(`(?s)id="undo-form">\s*<input type="hidden" name="csrf" value="([^"]+)"`)

func TestUndo(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)

	// A newsletter confirmed by double opt-in comes back confirmed.
	id := b.subscribed(t, "undo@example.de")
	c := browser(t)
	u := b.srv.URL + "/unsubscribe/" + b.seal(t, token.Token{Purpose: token.Unsubscribe, Recipient: string(id), Scope: "newsletter:news", Channel: "email"})
	g := do(t, c, "GET", u, nil)
	done := do(t, c, "POST", u, url.Values{"List-Unsubscribe": {"One-Click"}, "csrf": {field(t, csrfRe, g.body)}})
	if done.status != 200 || !strings.Contains(done.body, `id="undo-submit"`) {
		t.Fatalf("unsubscribe page: %d\n%s", done.status, done.body)
	}
	b.clock.Advance(time.Second)
	undo := do(t, c, "POST", u+"/undo", url.Values{"csrf": {field(t, undoCSRFRe, done.body)}})
	if undo.status != 200 {
		t.Fatalf("undo: %d\n%s", undo.status, undo.body)
	}
	e := consent.Fold(b.ledger(t, id), b.clock.Now()).Lookup("newsletter:news", message.Email)
	if e.Status != consent.Granted || !e.DOIConfirmed {
		t.Errorf("after undo: %+v, want granted and confirmed again", e)
	}
	n := len(b.ledger(t, id))
	if p := do(t, c, "POST", u+"/undo", url.Values{"csrf": {field(t, undoCSRFRe, done.body)}}); p.status != 200 || len(b.ledger(t, id)) != n {
		t.Errorf("second undo: %d, events %d → %d", p.status, n, len(b.ledger(t, id)))
	}

	// An objection that replaced no consent is not undone into a consent.
	cust := b.customer(t, "cust-undo", "li@example.de")
	ua := b.srv.URL + "/unsubscribe/" + b.seal(t, token.Token{Purpose: token.Unsubscribe, Recipient: string(cust), Scope: "advertising", Channel: "email"})
	g = do(t, c, "GET", ua, nil)
	done = do(t, c, "POST", ua, url.Values{"List-Unsubscribe": {"One-Click"}})
	b.clock.Advance(time.Second)
	undo = do(t, c, "POST", ua+"/undo", url.Values{"csrf": {field(t, undoCSRFRe, done.body)}})
	if undo.status != 200 || !strings.Contains(undo.body, "nichts wiederherzustellen") && !strings.Contains(undo.body, "nothing to restore") {
		t.Errorf("undo of a bare objection: %d\n%s", undo.status, undo.body)
	}
	ev := b.ledger(t, cust)
	if len(ev) != 1 || ev[0].Kind != consent.Object {
		t.Errorf("ledger = %+v, want the objection only", ev)
	}

	// With an earlier consent, the undo restores it.
	if _, err := b.store.AppendConsent(t.Context(), cust, consent.Event{Kind: consent.Grant, Purpose: "advertising", Channel: "sms",
		At: b.clock.Now(), Source: consent.Phone, Text: "ja"}); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(time.Second)
	us := b.srv.URL + "/unsubscribe/" + b.seal(t, token.Token{Purpose: token.Unsubscribe, Recipient: string(cust), Scope: "advertising", Channel: "sms"})
	done = do(t, c, "POST", us, url.Values{"List-Unsubscribe": {"One-Click"}})
	b.clock.Advance(time.Second)
	do(t, c, "POST", us+"/undo", url.Values{"csrf": {field(t, undoCSRFRe, done.body)}})
	if st := consent.Fold(b.ledger(t, cust), b.clock.Now()).Lookup("advertising", message.SMS).Status; st != consent.Granted {
		t.Errorf("advertising/sms after undo: %q, want granted", st)
	}
}

var (
	actionRe = regexp.MustCompile(`(?s)<form method="post" action="[^"]+" class="action">\s*<input type="hidden" name="csrf" value="([^"]+)">.*?name="purpose" value="([^"]+)">.*?name="channel" value="([^"]+)">.*?name="action" value="([^"]+)">\s*<p class="statement small" id="[^"]+">([^<]+)</p>`)
	statusRe = regexp.MustCompile(`(?s)<td data-purpose="([^"]+)" data-channel="([^"]+)" data-active="(true|false)"`)
)

func TestPreferenceCentre(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := b.subscribed(t, "prefs@example.de")
	c := browser(t)
	u := b.srv.URL + "/preferences/" + b.seal(t, token.Token{Purpose: token.Preferences, Recipient: string(id)})
	p := do(t, c, "GET", u+"?lang=en", nil)
	if p.status != 200 {
		t.Fatalf("GET preferences: %d\n%s", p.status, p.body)
	}
	active := map[string]string{}
	for _, m := range statusRe.FindAllStringSubmatch(p.body, -1) {
		active[m[1]+"/"+m[2]] = m[3]
	}
	if active["newsletter:news/email"] != "true" || active["advertising/email"] != "false" || active["newsletter:press/email"] != "false" {
		t.Fatalf("rows = %v\n%s", active, p.body)
	}
	if !strings.Contains(p.body, "Consent given and confirmed on") {
		t.Errorf("the newsletter's status is not in plain words:\n%s", p.body)
	}
	if strings.Contains(p.body, `data-channel="sms"`) {
		t.Errorf("SMS rows shown for a person without a number")
	}
	var withdraw []string
	for _, m := range actionRe.FindAllStringSubmatch(p.body, -1) {
		if m[2] == "newsletter:news" && m[4] == "withdraw" {
			withdraw = m
		}
	}
	if withdraw == nil {
		t.Fatalf("no withdraw form for the newsletter:\n%s", p.body)
	}
	b.clock.Advance(time.Second)
	r := do(t, c, "POST", u, url.Values{"csrf": {withdraw[1]}, "lang": {"en"}, "purpose": {withdraw[2]}, "channel": {withdraw[3]}, "action": {"withdraw"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("withdraw: %d\n%s", r.status, r.body)
	}
	ev := b.ledger(t, id)
	last := ev[len(ev)-1]
	if last.Kind != consent.Withdraw || last.Purpose != "newsletter:news" || last.Source != consent.WebForm || !last.IP.IsLoopback() || last.Text != withdraw[5] {
		t.Fatalf("last event = %+v, want a withdrawal with the text shown %q", last, withdraw[5])
	}
	after := do(t, c, "GET", b.srv.URL+r.header.Get("Location"), nil)
	if !strings.Contains(after.body, "Your change has been saved") || !strings.Contains(after.body, `<td data-purpose="newsletter:news" data-channel="email" data-active="false"`) {
		t.Errorf("after withdrawing:\n%s", after.body)
	}

	// A change the page does not offer is refused, nothing written.
	n := len(b.ledger(t, id))
	bad := do(t, c, "POST", u, url.Values{"csrf": {withdraw[1]}, "purpose": {"newsletter:news"}, "channel": {"email"}, "action": {"withdraw"}})
	if bad.status != http.StatusConflict || len(b.ledger(t, id)) != n {
		t.Errorf("withdrawing twice: %d, events %d → %d", bad.status, n, len(b.ledger(t, id)))
	}
	forged := do(t, c, "POST", u, url.Values{"csrf": {withdraw[1]}, "purpose": {"advertising"}, "channel": {"telegram"}, "action": {"grant"}})
	if forged.status != http.StatusConflict || len(b.ledger(t, id)) != n {
		t.Errorf("forged row: %d", forged.status)
	}

	// Object to all advertising with one button.
	cust := b.customer(t, "cust-prefs", "allads@example.de")
	if _, err := b.store.AppendConsent(t.Context(), cust,
		consent.Event{Kind: consent.Grant, Purpose: "survey", Channel: "email", At: b.clock.Now(), Source: consent.Phone, Text: "ja"},
		consent.Event{Kind: consent.Grant, Purpose: "advertising", Channel: "sms", At: b.clock.Now(), Source: consent.Phone, Text: "ja"}); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(time.Second)
	cu := b.srv.URL + "/preferences/" + b.seal(t, token.Token{Purpose: token.Preferences, Recipient: string(cust)})
	cp := do(t, c, "GET", cu, nil)
	if !strings.Contains(cp.body, `data-channel="sms"`) || !strings.Contains(cp.body, `data-channel="whatsapp"`) {
		t.Errorf("phone channels missing for a person with a number")
	}
	r = do(t, c, "POST", cu, url.Values{"csrf": {field(t, csrfRe, cp.body)}, "action": {"all_ads"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("object to all: %d\n%s", r.status, r.body)
	}
	st := consent.Fold(b.ledger(t, cust), b.clock.Now())
	for _, ch := range message.Channels() {
		if got := st.Lookup("advertising", ch).Status; got != consent.Objected {
			t.Errorf("advertising/%s = %q, want objected", ch, got)
		}
	}
	if got := st.Lookup("survey", message.Email).Status; got != consent.Withdrawn {
		t.Errorf("survey/email = %q, want withdrawn", got)
	}

	// Unknown or erased person: the neutral invalid-link page.
	gone := b.srv.URL + "/preferences/" + b.seal(t, token.Token{Purpose: token.Preferences, Recipient: "nobody"})
	if p := do(t, c, "GET", gone, nil); p.status != 404 {
		t.Errorf("unknown recipient: %d", p.status)
	}
}

func TestPreferenceCentreNewsletterNeedsDoubleOptIn(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	cust := b.customer(t, "cust-doi", "doi@example.de")
	c := browser(t)
	u := b.srv.URL + "/preferences/" + b.seal(t, token.Token{Purpose: token.Preferences, Recipient: string(cust)})
	p := do(t, c, "GET", u, nil)
	var sub []string
	for _, m := range actionRe.FindAllStringSubmatch(p.body, -1) {
		if m[2] == "newsletter:press" && m[4] == "subscribe" {
			sub = m
		}
	}
	if sub == nil {
		t.Fatalf("no sign-up form for press:\n%s", p.body)
	}
	r := do(t, c, "POST", u, url.Values{"csrf": {sub[1]}, "purpose": {sub[2]}, "channel": {sub[3]}, "action": {"subscribe"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("subscribe: %d", r.status)
	}
	e := consent.Fold(b.ledger(t, cust), b.clock.Now()).Lookup("newsletter:press", message.Email)
	if e.Status != consent.DOIPending {
		t.Errorf("press after sign-up in the preference centre: %+v, want pending", e)
	}
	if link := b.confirmURL(t, cust); !strings.Contains(link, "/confirm/") {
		t.Errorf("no confirmation mail")
	}
}

func TestPruneUnconfirmedSignUps(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := t.Context()
	c := browser(t)

	b.signUp(t, c, "news", "stale@example.de") // never confirmed: goes
	stale := b.recipient(t, "stale@example.de")
	b.signUp(t, c, "news", "confirmed@example.de") // confirmed: stays
	confirmed := b.recipient(t, "confirmed@example.de")
	link := b.confirmURL(t, confirmed)
	g := do(t, c, "GET", link, nil)
	do(t, c, "POST", link, url.Values{"csrf": {field(t, csrfRe, g.body)}})
	cust := b.customer(t, "cust-prune", "customer@example.de") // a customer: stays
	b.signUp(t, c, "news", "customer@example.de")
	b.signUp(t, c, "news", "other@example.de") // another consent too: stays
	other := b.recipient(t, "other@example.de")
	if _, err := b.store.AppendConsent(ctx, other, consent.Event{Kind: consent.Grant, Purpose: "survey", Channel: "email", At: b.clock.Now(), Source: consent.Phone, Text: "ja"}); err != nil {
		t.Fatal(err)
	}

	b.clock.Advance(47 * time.Hour)
	b.signUp(t, c, "news", "fresh@example.de") // too young: stays
	fresh := b.recipient(t, "fresh@example.de")
	if n, err := b.pages.PruneUnconfirmed(ctx); err != nil || n != 0 {
		t.Fatalf("prune before 48h: %d, %v", n, err)
	}
	b.clock.Advance(time.Hour + time.Second)
	n, err := b.pages.PruneUnconfirmed(ctx)
	if err != nil || n != 1 {
		t.Fatalf("prune after 48h: deleted %d, %v; want 1", n, err)
	}
	if _, err := b.store.GetRecipient(ctx, stale); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("stale sign-up still there: %v", err)
	}
	if _, err := b.store.RecipientByEmail(ctx, "stale@example.de"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("stale address still indexed: %v", err)
	}
	for _, id := range []message.RecipientID{confirmed, cust, other, fresh} {
		if _, err := b.store.GetRecipient(ctx, id); err != nil {
			t.Errorf("%s was deleted: %v", id, err)
		}
	}
	logs := b.logs.String()
	if !strings.Contains(logs, `"deleted":1`) {
		t.Errorf("the deletion count is not logged:\n%s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "pruned") && (strings.Contains(line, "@") || strings.Contains(line, string(stale))) {
			t.Errorf("the prune log names the person: %s", line)
		}
	}

	// The address can sign up again, and is not suppressed.
	b.signUp(t, browser(t), "news", "stale@example.de")
	again := b.recipient(t, "stale@example.de")
	r, err := b.store.GetRecipient(ctx, again)
	if err != nil || r.SuppressedOn(message.Email) {
		t.Errorf("re-sign-up after pruning: %+v, %v", r, err)
	}

	// A second run finds nothing more; the fresh one goes 48h after its sign-up.
	if n, _ := b.pages.PruneUnconfirmed(ctx); n != 0 {
		t.Errorf("second prune deleted %d", n)
	}
	b.clock.Advance(47 * time.Hour)
	if n, _ := b.pages.PruneUnconfirmed(ctx); n != 1 {
		t.Errorf("prune of the fresh sign-up: %d, want 1", n)
	}
}

// TestPruneTaskThroughAsynq runs the prune as the scheduler does: a task on
// a real asynq worker.
func TestPruneTaskThroughAsynq(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.signUp(t, browser(t), "news", "task@example.de")
	id := b.recipient(t, "task@example.de")
	b.clock.Advance(49 * time.Hour)

	rdb, _ := redistest.Client(t)
	q := redistest.Queue(t, "pages-prune")
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Queues: map[string]int{q: 1}, Concurrency: 1,
		TaskCheckInterval: 10 * time.Millisecond, Logger: asynqNop{}, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.Handle(pages.PruneTaskType, b.pages)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.EnqueueContext(t.Context(), pages.NewPruneTask(q)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = asynq.NewInspectorFromRedisClient(rdb).DeleteQueue(q, true) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := b.store.GetRecipient(t.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the prune task did not delete the stale sign-up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b.pages.PruneSchedule() != "@every 15m0s" {
		t.Errorf("schedule %q", b.pages.PruneSchedule())
	}
}

type asynqNop struct{}

func (asynqNop) Debug(...any) {}
func (asynqNop) Info(...any)  {}
func (asynqNop) Warn(...any)  {}
func (asynqNop) Error(...any) {}
func (asynqNop) Fatal(...any) {}

// TestOneClickUnsubscribeMultipart: RFC 8058 §3.1 lets the mailbox provider
// post the one-click body as multipart/form-data; it is accepted like the
// URL-encoded form, and an oversized multipart body is refused.
func TestOneClickUnsubscribeMultipart(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := b.subscribed(t, "multipart@example.de")
	u := b.srv.URL + "/unsubscribe/" + b.seal(t, token.Token{Purpose: token.Unsubscribe, Recipient: string(id), Scope: "newsletter:news", Channel: "email"})
	post := func(fields map[string]string, pad int) int {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for k, v := range fields {
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
		if pad > 0 {
			if err := mw.WriteField("padding", strings.Repeat("x", pad)); err != nil {
				t.Fatal(err)
			}
		}
		mw.Close()
		req, _ := http.NewRequestWithContext(t.Context(), "POST", u, &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(map[string]string{"List-Unsubscribe": "Yes"}, 0); st != 400 {
		t.Errorf("multipart without the one-click value: %d, want 400", st)
	}
	if st := post(map[string]string{"List-Unsubscribe": "One-Click"}, 32<<10); st != 400 {
		t.Errorf("oversized multipart body: %d, want 400", st)
	}
	if n := len(b.ledger(t, id)); n != 2 {
		t.Fatalf("refused multipart bodies wrote events: %d", n)
	}
	if st := post(map[string]string{"List-Unsubscribe": "One-Click"}, 0); st != 200 {
		t.Fatalf("multipart one-click: %d, want 200", st)
	}
	ev := b.ledger(t, id)
	if last := ev[len(ev)-1]; len(ev) != 3 || last.Kind != consent.Withdraw || last.Purpose != "newsletter:news" {
		t.Fatalf("ledger after a multipart one-click = %+v", ev)
	}
}

// TestUsedConfirmationLinkIsNoDeadEnd: a confirmation link used before, or
// one whose sign-up expired, shows a page with the preference centre link.
func TestUsedConfirmationLinkIsNoDeadEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := browser(t)
	b.signUp(t, c, "news", "again@example.de")
	id := b.recipient(t, "again@example.de")
	link := b.confirmURL(t, id)
	g := do(t, c, "GET", link, nil)
	if p := do(t, c, "POST", link, url.Values{"csrf": {field(t, csrfRe, g.body)}, "lang": {"en"}}); p.status != 200 {
		t.Fatalf("confirm: %d", p.status)
	}
	again := do(t, browser(t), "GET", link+"?lang=en", nil)
	if again.status != 200 || !strings.Contains(again.body, "already confirmed") || !strings.Contains(again.body, `href="/preferences/`) {
		t.Errorf("used link: %d\n%s", again.status, again.body)
	}
	// The sign-up withdrawn since: the link says it was used, and still leads on.
	u := b.srv.URL + "/unsubscribe/" + b.seal(t, token.Token{Purpose: token.Unsubscribe, Recipient: string(id), Scope: "newsletter:news", Channel: "email"})
	do(t, http.DefaultClient, "POST", u, url.Values{"List-Unsubscribe": {"One-Click"}})
	used := do(t, browser(t), "GET", link+"?lang=en", nil)
	if used.status != http.StatusGone || !strings.Contains(used.body, "already been used") || !strings.Contains(used.body, `href="/preferences/`) {
		t.Errorf("used link after withdrawal: %d\n%s", used.status, used.body)
	}
}

// TestPreferenceTimesInLocalTime: times are shown in the person's time
// zone, else in the brand's (Europe/Berlin), never as UTC.
func TestPreferenceTimesInLocalTime(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	at := time.Date(2026, 11, 25, 7, 25, 0, 0, time.UTC)
	for _, tc := range []struct {
		id, zone, want string
	}{
		{"tz-none", "", "25.11.2026, 08:25 Uhr"},
		{"tz-ny", "America/New_York", "25.11.2026, 02:25 Uhr"},
	} {
		r, err := recipient.Parse(tc.id, recipient.Input{Kind: "prospect", Emails: []recipient.EmailInput{{Address: tc.id + "@example.de"}}, TimeZone: tc.zone}, "DE")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.store.PutRecipient(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.AppendConsent(t.Context(), r.ID, consent.Event{Kind: consent.Grant, Purpose: "survey", Channel: "email", At: at, Source: consent.Phone, Text: "ja"}); err != nil {
			t.Fatal(err)
		}
		p := do(t, browser(t), "GET", b.srv.URL+"/preferences/"+b.seal(t, token.Token{Purpose: token.Preferences, Recipient: tc.id})+"?lang=de", nil)
		if !strings.Contains(p.body, "Eingewilligt am "+tc.want) || strings.Contains(p.body, "UTC") {
			t.Errorf("%s: want %q in local time, no UTC:\n%s", tc.id, tc.want, p.body)
		}
	}
}

// TestPreferenceMatrix: one control per purpose and channel; giving consent
// shows the full text that is recorded; channels without the purpose have
// no control.
func TestPreferenceMatrix(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	cust := b.customer(t, "cust-matrix", "matrix@example.de")
	p := do(t, browser(t), "GET", b.srv.URL+"/preferences/"+b.seal(t, token.Token{Purpose: token.Preferences, Recipient: string(cust)})+"?lang=de", nil)
	cells := regexp.MustCompile(`<td data-purpose="([^"]+)" data-channel="([^"]+)" data-active="[a-z]+" data-state="([a-z]+)"(?: colspan="(\d)")?>\s*<details id="c-[^"]+">\s*<summary>`).FindAllStringSubmatch(p.body, -1)
	got := map[string]string{}
	for _, m := range cells {
		got[m[1]+"/"+m[2]] = m[3]
	}
	want := map[string]string{
		"newsletter:news/email": "off", "newsletter:press/email": "off",
		"advertising/email": "on", "advertising/sms": "off", "advertising/whatsapp": "off", "advertising/rcs": "off",
		"survey/email": "off", "survey/sms": "off", "usage_data/all": "off",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cells (-want +got):\n%s\n%s", diff, p.body)
	}
	// Two newsletters on the three phone channels, surveys on WhatsApp and RCS.
	if n := strings.Count(p.body, `<td class="na"`); n != 8 {
		t.Errorf("%d cells without the purpose, want 8: %s", n, p.body)
	}
	grant := `Ja, ich willige ein, dass Herold Mobil mir über WhatsApp Angebote zu eigenen Produkten und Services schickt. Ich kann diese Einwilligung jederzeit mit Wirkung für die Zukunft widerrufen.`
	if !strings.Contains(p.body, `<p class="statement small" id="t-advertising-whatsapp-grant">`+grant+`</p>`) {
		t.Errorf("the cell does not show the full consent text:\n%s", p.body)
	}
}

// A withdrawal that the replicas do not confirm (HEROLD_REDIS_MIN_REPLICAS_ACK
// more than there are) is answered 503 with Retry-After, not 200: the person
// (or the mail client's one-click POST) tries again. The event is on the
// primary all the same.
func TestOneClickUnsubscribeUnconfirmedByReplicasIs503(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"HEROLD_REDIS_MIN_REPLICAS_ACK": "9", "HEROLD_REDIS_ACK_TIMEOUT": "20ms"})
	id := b.customer(t, "k-503", "acked@example.de")
	u := b.srv.URL + "/unsubscribe/" + b.seal(t, token.Token{Purpose: token.Unsubscribe, Recipient: string(id),
		Scope: "advertising", Channel: "email", Expires: b.clock.Now().Add(365 * 24 * time.Hour)})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", u, strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("one-click POST: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if ev := b.ledger(t, id); len(ev) == 0 || ev[len(ev)-1].Kind != consent.Object {
		t.Errorf("ledger = %+v, want the objection written on the primary", ev)
	}
}
