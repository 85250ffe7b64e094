package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/console"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/store"
)

// withSegments switches on the segment part of the marketing walk: a draft
// campaign from a segment, dry-run, then started. It needs the audience
// work's Segments and Drafts wired into the console (plug.go); until then
// the campaign is made from ids.
const withSegments = false

// The texts the compliance officer must see word for word.
const (
	grantText  = "Ja, ich möchte per E-Mail Angebote von Herold Mobil erhalten. Ich kann diese Einwilligung jederzeit widerrufen."
	objectText = "Ich widerspreche jeder Werbung von Herold Mobil."
)

// TestBrowserConsole drives the console in headless Chromium against Herold
// with its real worker, Redis and SMTP sink: marketing creates and starts a
// campaign and watches it finish; compliance finds a person by e-mail, reads
// the consent timeline with its exact texts, asks "Why?" for their message
// and erases them; a viewer finds no change action and is refused every
// one. Each screen is photographed at 1280 and 390 px and checked with
// axe-core for serious and critical violations; the audit log holds every
// change the test made.
func TestBrowserConsole(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	axe := axeSource(t)
	h := start(t, nil, nil)
	shots := artifactDir(t)
	t.Logf("screenshots: %s", shots)

	// ---- data: three customers for the campaign, one person for compliance
	var audience []string
	for i := range 3 {
		id := fmt.Sprintf("c_camp%d", i)
		seedPerson(t, h, id, fmt.Sprintf("kunde%d@example.de", i))
		audience = append(audience, id)
	}
	person := seedPerson(t, h, "c_erika", "erika.muster@example.de")
	at := time.Now().Add(-48 * time.Hour).UTC()
	if _, err := h.Store.AppendConsent(t.Context(), person.ID,
		consent.Event{Kind: consent.Grant, Purpose: consent.Advertising, Channel: "email", Source: consent.WebForm, At: at,
			IP: netip.MustParseAddr("198.51.100.23"), UserAgent: "Firefox/133", Text: grantText, TextVersion: "ads-email-v3"},
		consent.Event{Kind: consent.Object, Purpose: consent.Advertising, Channel: consent.AllChannels, Source: consent.Letter,
			At: at.Add(24 * time.Hour), Text: objectText, RecordedBy: "kundenservice"},
	); err != nil {
		t.Fatal(err)
	}
	acc, err := h.Messages.Submit(t.Context(), dispatch.Submission{Type: "promo_offer", RecipientID: person.ID,
		Channels: []message.Channel{message.Email}, Data: map[string]map[string]any{"offer": offer()}})
	if err != nil {
		t.Fatal(err)
	}
	waitSettled(t, h.Store, acc.ID)

	// ---- the browser
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
	defer cancel()
	w := &walk{t: t, ctx: ctx, base: h.URL, shots: shots, axe: axe}

	// The check can fail: a page with an image without text and an
	// unlabelled field has critical violations.
	w.do("axe self-check", chromedp.Navigate("about:blank"),
		chromedp.Evaluate[chromedp.Void](`document.body.innerHTML = '<img src="x.png"><input id="q">'`))
	if vs := w.violations("self-check"); len(vs) == 0 {
		t.Fatal("axe finds no violation on a page with an unlabelled image and field: the check cannot fail")
	}

	// ---- marketing: create, start, watch it finish
	w.signIn("marketing")
	w.screen("overview", "/console/", "#queues")
	w.screen("campaigns", "/console/campaigns", "#new-campaign")
	w.screen("campaign-new", "/console/campaigns/new", "#campaign-form")
	var id string
	if withSegments {
		id = w.campaignFromSegment(audience)
	} else {
		id = w.campaignFromIDs(audience)
	}
	w.do("start", chromedp.Click(chromedp.ID("action-start")),
		chromedp.WaitVisible(chromedp.CSS(`#page-notice`)))
	// The live progress (Server-Sent Events) moves the state to done; the
	// script reloads the page on each change of state.
	w.do("live progress reaches done", chromedp.WaitVisible(chromedp.CSS(`#state[data-state="done"]`)))
	if got := w.text("#c-delivered"); got != "3" {
		t.Errorf("delivered counter at done: %q, want 3", got)
	}
	w.capture("campaign-done")
	w.screen("outcomes", "/console/campaigns/"+id+"/recipients", "#outcomes")
	if n := w.count(`#outcomes tr[data-status="delivered"]`); n != 3 {
		t.Errorf("%d delivered rows in the outcomes, want 3", n)
	}
	w.screen("catalog", "/console/catalog", "#catalog-version")
	w.signOut()

	// ---- compliance: find by e-mail, timeline, Why?, erase
	w.signIn("compliance")
	w.screen("people", "/console/people", "#people-search")
	w.do("find by e-mail", chromedp.SendKeys(chromedp.ID("q"), "Erika.Muster@example.de"),
		chromedp.Click(chromedp.ID("people-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#main[data-page="person"] #timeline`)))
	w.capture("person")
	if n := w.count(`#timeline blockquote`); n != 2 {
		t.Errorf("%d texts in the timeline, want 2", n)
	}
	for _, want := range []string{grantText, objectText, "198.51.100.23", "Firefox/133", "ads-email-v3"} {
		if !strings.Contains(w.text("#timeline"), want) {
			t.Errorf("the timeline lacks %q", want)
		}
	}
	if got := w.attr(`#matrix tr[data-type="promo_offer"] td[data-channel="email"]`, "data-reason"); got != "objection" {
		t.Errorf("policy matrix promo_offer/email: reason %q, want objection", got)
	}
	w.do("why", chromedp.Click(chromedp.CSS(`tr[data-message="`+acc.ID+`"] a.why-link`)),
		chromedp.WaitVisible(chromedp.CSS(`#main[data-page="why"] #why-answer`)))
	w.capture("why")
	if r := w.attr("#why-answer", "data-reason"); r != "objection" {
		t.Errorf("Why? answers reason %q, want objection", r)
	}
	if !strings.Contains(w.text("#timeline"), objectText) || !strings.Contains(w.text("#why-facts"), "promo_offer/email") {
		t.Errorf("Why? lacks the objection's text or the rule:\n%s", w.text("#main"))
	}
	w.screen("person-campaigns", "/console/people/"+string(person.ID)+"/campaigns", "#main")
	w.screen("campaign-why", "/console/campaigns/"+id+"/recipients/"+audience[0], "#why-answer")
	w.screen("erase", "/console/people/"+string(person.ID)+"/erase", "#erase-form")
	w.do("erase with a wrong confirmation", chromedp.SendKeys(chromedp.ID("confirm"), "c_other"),
		chromedp.Click(chromedp.ID("erase-submit")), chromedp.WaitVisible(chromedp.ID("confirm-err")))
	if _, err := h.Store.GetRecipient(t.Context(), person.ID); err != nil {
		t.Fatalf("a wrong confirmation erased the person: %v", err)
	}
	w.do("erase", chromedp.SendKeys(chromedp.ID("confirm"), string(person.ID)),
		chromedp.Click(chromedp.ID("erase-submit")), chromedp.WaitVisible(chromedp.CSS(`#main[data-page="people"] #page-notice`)))
	if _, err := h.Store.GetRecipient(t.Context(), person.ID); err == nil {
		t.Errorf("the person is still there after the erasure")
	}
	w.screen("audit", "/console/audit", "#audit-log")
	w.signOut()

	// ---- viewer: no change action in the UI, every one refused
	w.signIn("viewer")
	for _, p := range []struct{ name, path, sel string }{
		{"viewer-overview", "/console/", "#queues"},
		{"viewer-campaigns", "/console/campaigns", "#campaign-list"},
		{"viewer-campaign", "/console/campaigns/" + id, "#state"},
		{"viewer-outcomes", "/console/campaigns/" + id + "/recipients", "#outcomes"},
		{"viewer-catalog", "/console/catalog", "#catalog-version"},
	} {
		w.screen(p.name, p.path, p.sel)
		if n := w.count(`main form[method="post"], #new-campaign, a[href$="/erase"]`); n != 0 {
			t.Errorf("%s: %d change controls shown to a viewer", p.path, n)
		}
	}
	// A forged form with the viewer's own token gets the 403 page.
	w.do("viewer posts a cancel", chromedp.Evaluate[chromedp.Void](`(() => {
		const f = document.createElement("form"); f.method = "post"; f.action = "/console/campaigns/`+id+`/cancel";
		const i = document.createElement("input"); i.type = "hidden"; i.name = "csrf";
		i.value = document.querySelector("input[name=csrf]").value; f.appendChild(i); document.body.appendChild(f); f.submit();
	})()`), chromedp.WaitVisible(chromedp.CSS(`#error-message[data-status="403"]`)))
	w.capture("viewer-403")
	w.signOut()
	w.screen("signin", "/console/signin", "#signin-form")

	viewer := signedIn(t, h, console.Viewer)
	tok := viewer.csrf()
	for _, path := range changeRoutes(id, string(person.ID), acc.ID) {
		a := viewer.post(path, url.Values{"csrf": {tok}, "confirm": {string(person.ID)}, "format": {"csv"}, "name": {"x"}})
		if a.Status != http.StatusForbidden && a.Status != http.StatusNotFound {
			t.Errorf("viewer POST %s: %d, want 403", path, a.Status)
		}
		if a.Status == http.StatusForbidden && !strings.Contains(a.Body, `data-status="403"`) {
			t.Errorf("viewer POST %s: no 403 page", path)
		}
	}
	if st, err := h.Campaigns.Status(t.Context(), id); err != nil || st.State != store.CampaignDone {
		t.Errorf("campaign after the viewer's tries: %v %v, want done", st.State, err)
	}

	// ---- the audit log holds every change made above
	comp := signedIn(t, h, console.Compliance)
	got := map[string]bool{}
	for _, e := range auditEntries(t, comp) {
		got[e.User+" "+e.Action+" "+e.Target] = true
	}
	for _, want := range []string{
		"marketing signin ", "marketing campaign.create " + id, "marketing campaign.start " + id, "marketing signout ",
		"compliance person.erase " + string(person.ID), "viewer denied /console/campaigns/" + id + "/cancel",
	} {
		if !got[want] {
			t.Errorf("audit log lacks %q; has %v", want, got)
		}
	}
	entries, _ := os.ReadDir(shots)
	t.Logf("%d screenshots in %s", len(entries), shots)
}

// changeRoutes lists every change the console offers (with the ids of the
// test's campaign, person and message).
func changeRoutes(campaign, person, msg string) []string {
	out := []string{"/console/campaigns", "/console/people/" + person + "/export", "/console/people/" + person + "/erase",
		"/console/segments", "/console/segments/s1/delete", "/console/suppressions/x/lift",
		"/console/webhooks/w/deliveries/d/replay"}
	for _, op := range []string{"start", "pause", "resume", "cancel", "dryrun"} {
		out = append(out, "/console/campaigns/"+campaign+"/"+op)
	}
	return out
}

func offer() map[string]any {
	return map[string]any{"title": "Allnet Flat", "price": 19.99, "valid_until": "2026-12-31", "url": "https://example.com/o"}
}

// campaignFromIDs fills the create form with ids and a send time an hour
// ahead, so that "Start now" starts it.
func (w *walk) campaignFromIDs(ids []string) string {
	data, _ := json.Marshal(map[string]any{"offer": offer()})
	w.do("create campaign",
		chromedp.Navigate(w.base+"/console/campaigns/new"),
		chromedp.WaitVisible(chromedp.ID("campaign-form")),
		chromedp.SendKeys(chromedp.ID("name"), "Winterangebot"),
		chromedp.SetValue(chromedp.ID("type"), "promo_offer"),
		chromedp.Click(chromedp.ID("ch-email")),
		chromedp.SetValue(chromedp.ID("data"), string(data)),
		chromedp.Click(chromedp.ID("when-later")),
		chromedp.SendKeys(chromedp.ID("send_at"), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)),
		chromedp.SetValue(chromedp.ID("audience"), strings.Join(ids, "\n")),
		chromedp.Click(chromedp.ID("campaign-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#main[data-page="campaign"] #action-start`)),
	)
	w.capture("campaign-scheduled")
	return strings.TrimPrefix(w.location(), w.base+"/console/campaigns/")
}

// campaignFromSegment is the walk once segments and drafts exist: a segment
// of the ids, a draft campaign from it, a dry run whose counts add up to the
// audience; then the caller starts it.
func (w *walk) campaignFromSegment(ids []string) string {
	data, _ := json.Marshal(map[string]any{"offer": offer()})
	w.do("segment",
		chromedp.Navigate(w.base+"/console/segments/new"),
		chromedp.SendKeys(chromedp.ID("seg-name"), "Winter customers"),
		chromedp.SendKeys(chromedp.ID("expression"), "kind=customer and reachable(promo_offer, email)"),
		chromedp.Click(chromedp.ID("segment-save")),
		chromedp.WaitVisible(chromedp.ID("segment-count")))
	w.capture("segment")
	w.do("draft from the segment",
		chromedp.Navigate(w.base+"/console/campaigns/new"),
		chromedp.SendKeys(chromedp.ID("name"), "Winterangebot"),
		chromedp.SetValue(chromedp.ID("type"), "promo_offer"),
		chromedp.Click(chromedp.ID("ch-email")),
		chromedp.SetValue(chromedp.ID("data"), string(data)),
		chromedp.Click(chromedp.ID("when-draft")),
		chromedp.SetValue(chromedp.ID("segment"), "Winter customers"),
		chromedp.Click(chromedp.ID("campaign-submit")),
		chromedp.WaitVisible(chromedp.ID("action-dryrun")),
		chromedp.Click(chromedp.ID("action-dryrun")),
		chromedp.WaitVisible(chromedp.ID("dryrun")))
	w.capture("dryrun")
	return strings.TrimPrefix(w.location(), w.base+"/console/campaigns/")
}

// ---- the walk through the console

type walk struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	axe   string
}

func (w *walk) fail(step string, err error) {
	w.t.Helper()
	html, _ := chromedp.Run(w.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	w.t.Fatalf("%s: %v\npage:\n%s", step, err, html)
}

func (w *walk) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	w.t.Helper()
	// A step that waits for what never comes fails within a minute, with the page.
	ctx, cancel := context.WithTimeout(w.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		w.fail(step, err)
	}
}

func (w *walk) text(sel string) string {
	w.t.Helper()
	v, err := chromedp.Run(w.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		w.fail("text of "+sel, err)
	}
	return strings.TrimSpace(v)
}

func (w *walk) attr(sel, name string) string {
	w.t.Helper()
	v, err := chromedp.Run(w.ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		w.fail(name+" of "+sel, err)
	}
	return v.Value
}

func (w *walk) count(sel string) int {
	w.t.Helper()
	n, err := chromedp.Run(w.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(sel)+`).length`))
	if err != nil {
		w.fail("count "+sel, err)
	}
	return n
}

func (w *walk) location() string {
	w.t.Helper()
	loc, err := chromedp.Run(w.ctx, chromedp.Location())
	if err != nil {
		w.fail("location", err)
	}
	u, _ := url.Parse(loc)
	return w.base + u.Path
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

func (w *walk) signIn(name string) {
	w.t.Helper()
	w.do("sign in as "+name,
		chromedp.Navigate(w.base+"/console/signin?lang=de"),
		chromedp.WaitVisible(chromedp.ID("signin-form")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.ID("signin-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#who[data-role="`+name+`"]`)))
}

func (w *walk) signOut() {
	w.t.Helper()
	w.do("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("signin-form")))
}

// screen opens path, waits for sel and captures it.
func (w *walk) screen(name, path, sel string) {
	w.t.Helper()
	w.do("open "+path, chromedp.Navigate(w.base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
	w.capture(name)
}

// capture checks the page with axe-core (failing on serious and critical
// violations) and saves screenshots at 1280 and 390 px.
func (w *walk) capture(name string) {
	w.t.Helper()
	w.accessible(name)
	for _, width := range []int64{1280, 390} {
		var buf []byte
		err := chromedp.Do(w.ctx, chromedp.EmulateViewport(width, 900), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			var err error
			buf, err = chromedp.FullScreenshot(100)(ctx, tg)
			return err
		}))
		if err != nil {
			w.fail("screenshot "+name, err)
		}
		file := fmt.Sprintf("%s-%d.png", name, width)
		if docsShots() && !docShots[strings.TrimSuffix(file, ".png")] {
			continue
		}
		if err := os.WriteFile(filepath.Join(w.shots, file), buf, 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := chromedp.Do(w.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		w.fail("viewport", err)
	}
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []string `json:"target"`
	} `json:"nodes"`
}

// accessible runs axe-core in the page (injected over the DevTools protocol,
// which the page's CSP does not govern).
func (w *walk) accessible(name string) {
	w.t.Helper()
	for _, v := range w.violations(name) {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, strings.Join(n.Target, " "))
		}
		w.t.Errorf("%s: axe %s violation %s: %s at %v", name, v.Impact, v.ID, v.Help, where)
	}
}

// violations returns the serious and critical violations axe finds.
func (w *walk) violations(name string) []axeViolation {
	w.t.Helper()
	js := `(async () => { if (!window.axe) { ` + w.axe + ` }
		const r = await axe.run(document, {resultTypes: ["violations"]});
		return JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical")); })()`
	out, err := chromedp.Run(w.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		w.fail("axe on "+name, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		w.t.Fatalf("axe result on %s: %v", name, err)
	}
	return vs
}

// ---- helpers

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

// axeSource returns axe-core's script: the file HEROLD_AXE_JS names, else
// axe-core installed with npm into a temporary folder now (it is never
// committed). Without either the test fails.
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv("HEROLD_AXE_JS")
	if path == "" {
		dir := t.TempDir()
		cmd := exec.Command("npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--silent", "axe-core@4")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install axe-core (or set HEROLD_AXE_JS to axe.min.js): %v\n%s", err, out)
		}
		path = filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	return string(b)
}

// docShots are the screenshots docs/console.md shows; with
// HEROLD_CONSOLE_DOCS_SHOTS=1 the test writes them (only them) to docs/console.
var docShots = map[string]bool{"overview-1280": true, "campaign-done-1280": true, "campaign-done-390": true,
	"person-1280": true, "why-1280": true, "why-390": true, "audit-1280": true, "viewer-403-390": true}

func docsShots() bool { return os.Getenv("HEROLD_CONSOLE_DOCS_SHOTS") != "" }

func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HEROLD_TEST_ARTIFACTS")
	if docsShots() {
		dir = filepath.Join("..", "..", "docs", "console") // regenerate the README's screenshots
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "console-browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
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

var _ = apptest.DayZone
