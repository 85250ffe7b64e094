package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	"github.com/heroldhq/herold/internal/webhooks"
)

// The texts the compliance officer must see word for word.
const (
	grantText  = "Ja, ich möchte per E-Mail Angebote von Herold Mobil erhalten. Ich kann diese Einwilligung jederzeit widerrufen."
	objectText = "Ich widerspreche jeder Werbung von Herold Mobil."
)

// TestBrowserConsole drives the console in headless Chromium against Herold
// with its real worker, Redis and SMTP sink: marketing saves a segment (a
// bad expression first), makes a draft campaign from it, dry-runs it (the
// counts add up to the audience), starts it and watches it finish, and
// reads the newsletter lists; compliance finds a person by e-mail, reads
// the consent timeline with its exact texts, asks "Why?" for their message,
// erases them, finds a suppression by address and lifts it with a reason;
// admin reads a webhook's delivery log and replays one; a viewer finds no
// change action and is refused every one. Each screen is photographed at
// 1280 and 390 px and checked with axe-core for serious and critical
// violations; the audit log holds every change the test made.
func TestBrowserConsole(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	axe := axeSource(t)
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(recv.Close)
	h := start(t, map[string]string{"HEROLD_WEBHOOKS_ALLOW_PRIVATE": "true"}, nil)
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
	// Newsletter sign-ups, one confirmed and one pending; a webhook endpoint
	// that hears the campaign's deliveries.
	seedSubscriber(t, h, message.RecipientID(audience[0]), "news", true)
	seedSubscriber(t, h, message.RecipientID(audience[1]), "news", false)
	hookURL, hookEvents := recv.URL+"/hooks/herold", []string{"message.delivered"}
	ep, _, err := h.Hub.Create(t.Context(), webhooks.EndpointInput{URL: &hookURL, EventTypes: &hookEvents})
	if err != nil {
		t.Fatal(err)
	}

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

	// ---- marketing: a segment, a draft from it, dry run, start, watch it finish
	w.signIn("marketing")
	w.screen("overview", "/console/", "#queues")
	w.screen("campaigns", "/console/campaigns", "#new-campaign")
	w.screen("campaign-new", "/console/campaigns/new", "#campaign-form")
	segID, id := w.campaignFromSegment()
	if got, want := w.attr("#dryrun", "data-total"), w.attr("#dryrun", "data-audience"); got != want || want != "3" {
		t.Errorf("dry run: rows add up to %s, audience %s; want both 3", got, want)
	}
	if got := w.attr(`#dryrun tr[data-channel="email"][data-outcome="allowed"]`, "data-count"); got != "3" {
		t.Errorf("dry run: %s allowed on e-mail, want 3", got)
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
	w.screen("segments", "/console/segments", "#segments")
	w.screen("lists", "/console/lists", "#lists")
	w.screen("list", "/console/lists/news", "#members")
	w.screen("list-pending", "/console/lists/news?state=pending", `#members[data-state="pending"]`)
	if n := w.count(`#members tr[data-recipient]`); n != 1 {
		t.Errorf("%d pending sign-ups, want 1", n)
	}
	// The events the campaign told, counted (Run flushes every few seconds).
	if err := h.Stats.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.screen("overview-stats", "/console/", "#chart-24h")
	w.screen("campaign-rate", "/console/campaigns/"+id, "#chart-rate")
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
	// A suppression from the previous provider, found by address and lifted.
	if _, err := h.Store.ImportSuppressions(t.Context(), []store.SuppressionInput{{Contact: message.EmailAddress,
		Address: "kunde2@example.de", Channel: "email", Reason: "hard_bounce"}}, "test", "old ESP"); err != nil {
		t.Fatal(err)
	}
	w.screen("suppressions", "/console/suppressions", "#suppressions-search")
	w.do("find a suppression", chromedp.SendKeys(chromedp.ID("sq"), "Kunde2@example.de"),
		chromedp.Click(chromedp.ID("suppressions-submit")), chromedp.WaitVisible(chromedp.CSS(`#suppressions tr[data-suppression]`)))
	w.capture("suppression")
	sid := w.attr(`#suppressions tr[data-suppression]`, "data-suppression")
	w.do("lift it", chromedp.SendKeys(chromedp.CSS(`#suppressions input[name="reason"]`), "Kundin bat telefonisch darum, Ticket 4711"),
		chromedp.Click(chromedp.CSS(`#suppressions form.lift button`)), chromedp.WaitVisible(chromedp.ID("page-notice")))
	w.capture("suppression-lifted")
	if n := w.count(`#suppressions tr[data-suppression]`); n != 0 {
		t.Errorf("%d entries listed after the lift", n)
	}
	w.screen("audit", "/console/audit", "#audit-log")
	w.signOut()

	// ---- admin: the webhook's delivery log and a replay
	did := waitDelivery(t, h, ep.ID)
	w.signIn("admin")
	w.screen("webhooks", "/console/webhooks", "#webhooks")
	w.screen("webhook", "/console/webhooks/"+ep.ID, "#deliveries")
	w.do("replay", chromedp.Click(chromedp.CSS(`#deliveries tr[data-delivery="`+did+`"] button`)),
		chromedp.WaitVisible(chromedp.ID("page-notice")))
	w.capture("webhook-replayed")
	w.screen("users", "/console/users", "#main")
	w.signOut()

	// ---- viewer: no change action in the UI, every one refused
	w.signIn("viewer")
	for _, p := range []struct{ name, path, sel string }{
		{"viewer-overview", "/console/", "#queues"},
		{"viewer-campaigns", "/console/campaigns", "#campaign-list"},
		{"viewer-campaign", "/console/campaigns/" + id, "#state"},
		{"viewer-outcomes", "/console/campaigns/" + id + "/recipients", "#outcomes"},
		{"viewer-catalog", "/console/catalog", "#catalog-version"},
		{"viewer-segments", "/console/segments", "#segments"},
		{"viewer-segment", "/console/segments/" + segID, "#segment-expression"},
	} {
		w.screen(p.name, p.path, p.sel)
		if n := w.count(`main form[method="post"], #new-campaign, #new-segment, #segment-campaign, a[href$="/erase"]`); n != 0 {
			t.Errorf("%s: %d change controls shown to a viewer", p.path, n)
		}
	}
	// Screens of other roles are refused and not in the navigation.
	for _, p := range []string{"/console/lists", "/console/suppressions", "/console/webhooks", "/console/people", "/console/audit"} {
		w.do("viewer opens "+p, chromedp.Navigate(w.base+p), chromedp.WaitVisible(chromedp.CSS(`#error-message[data-status="403"]`)))
		if n := w.count(`nav.nav a[href="` + p + `"]`); n != 0 {
			t.Errorf("the viewer's navigation offers %s", p)
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
	for _, path := range changeRoutes(id, string(person.ID), segID, sid, ep.ID, did) {
		a := viewer.post(path, url.Values{"csrf": {tok}, "confirm": {string(person.ID)}, "format": {"csv"}, "name": {"x"},
			"expression": {"kind = customer"}, "reason": {"x"}})
		if a.Status != http.StatusForbidden || !strings.Contains(a.Body, `data-status="403"`) {
			t.Errorf("viewer POST %s: %d, want the 403 page", path, a.Status)
		}
	}
	if st, err := h.Campaigns.Status(t.Context(), id); err != nil || st.State != store.CampaignDone {
		t.Errorf("campaign after the viewer's tries: %v %v, want done", st.State, err)
	}
	if _, err := h.Store.Segment(t.Context(), segID, 0); err != nil {
		t.Errorf("segment after the viewer's tries: %v", err)
	}

	// ---- the audit log holds every change made above
	comp := signedIn(t, h, console.Compliance)
	got := map[string]bool{}
	for _, e := range auditEntries(t, comp) {
		got[e.User+" "+e.Action+" "+e.Target] = true
	}
	for _, want := range []string{
		"marketing signin ", "marketing segment.save " + segID, "marketing campaign.create " + id,
		"marketing campaign.dryrun " + id, "marketing campaign.start " + id, "marketing signout ",
		"compliance person.erase " + string(person.ID), "compliance suppression.lift " + sid,
		"admin webhook.replay " + ep.ID + "/" + did,
		"viewer denied /console/campaigns/" + id + "/cancel", "viewer denied /console/segments/" + segID + "/delete",
	} {
		if !got[want] {
			t.Errorf("audit log lacks %q; has %v", want, got)
		}
	}
	entries, _ := os.ReadDir(shots)
	t.Logf("%d screenshots in %s", len(entries), shots)
}

// changeRoutes lists every change the console offers (with the ids of the
// test's campaign, person, segment, suppression and webhook delivery).
func changeRoutes(campaign, person, segment, suppression, endpoint, delivery string) []string {
	out := []string{"/console/campaigns", "/console/people/" + person + "/export", "/console/people/" + person + "/erase",
		"/console/segments", "/console/segments/" + segment + "/delete", "/console/suppressions/" + suppression + "/lift",
		"/console/webhooks/" + endpoint + "/deliveries/" + delivery + "/replay", "/console/audit/export"}
	for _, op := range []string{"start", "pause", "resume", "cancel", "dryrun"} {
		out = append(out, "/console/campaigns/"+campaign+"/"+op)
	}
	return out
}

func offer() map[string]any {
	return map[string]any{"title": "Allnet Flat", "price": 19.99, "valid_until": "2026-12-31", "url": "https://example.com/o"}
}

// campaignFromSegment saves a segment of the customers the offer may reach
// by e-mail (after a bad expression, which the editor refuses naming the
// bad part), makes a draft campaign from it and dry-runs it; the caller
// starts it. It returns the segment's and the campaign's ids.
func (w *walk) campaignFromSegment() (string, string) {
	data, _ := json.Marshal(map[string]any{"offer": offer()})
	w.do("a bad segment",
		chromedp.Navigate(w.base+"/console/segments/new"),
		chromedp.WaitVisible(chromedp.ID("segment-form")),
		chromedp.SendKeys(chromedp.ID("seg-name"), "Winterkunden"),
		chromedp.SendKeys(chromedp.ID("expression"), "kind=customer and reachable(promo_offer, fax)"),
		chromedp.Click(chromedp.ID("segment-save")),
		chromedp.WaitVisible(chromedp.ID("expr-err")))
	if msg := w.text("#expr-err"); !strings.Contains(msg, "fax") {
		w.t.Errorf("the editor's message does not name the bad part: %q", msg)
	}
	w.capture("segment-invalid")
	w.do("segment",
		chromedp.SetValue(chromedp.ID("expression"), "kind=customer and reachable(promo_offer, email)"),
		chromedp.Click(chromedp.ID("segment-save")),
		chromedp.WaitVisible(chromedp.ID("segment-count")))
	w.capture("segment")
	if got := w.attr("#segment-count", "data-count"); got != "3" {
		w.t.Errorf("segment counts %s, want 3", got)
	}
	segID := strings.TrimPrefix(w.location(), w.base+"/console/segments/")
	w.do("draft from the segment",
		chromedp.Click(chromedp.ID("segment-campaign")),
		chromedp.WaitVisible(chromedp.ID("campaign-form")),
		chromedp.SendKeys(chromedp.ID("name"), "Winterangebot"),
		chromedp.SetValue(chromedp.ID("type"), "promo_offer"),
		chromedp.Click(chromedp.ID("ch-email")),
		chromedp.SetValue(chromedp.ID("data"), string(data)))
	if got := w.attr("#segment option[selected]", "value"); got != segID {
		w.t.Errorf("the form from the segment's page chose segment %q, want %s", got, segID)
	}
	w.capture("campaign-new-segment")
	w.do("create the draft",
		chromedp.Click(chromedp.ID("campaign-submit")),
		chromedp.WaitVisible(chromedp.ID("action-dryrun")))
	w.capture("campaign-draft")
	w.do("dry run",
		chromedp.Click(chromedp.ID("action-dryrun")),
		chromedp.WaitVisible(chromedp.ID("dryrun")))
	w.capture("dryrun")
	// The dry run redirects to the campaign's page, which shows its report.
	return segID, strings.TrimPrefix(w.location(), w.base+"/console/campaigns/")
}

// waitDelivery waits (at most a minute) for a delivered call to endpoint
// eid and returns its id.
func waitDelivery(t *testing.T, h *apptest.Herold, eid string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ds, err := h.Hub.Deliveries(t.Context(), eid, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.State == webhooks.StateDelivered {
				return d.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivered webhook call to %s: %+v", eid, ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
		if _, err := exec.LookPath("npm"); err != nil {
			t.Fatal("npm is not installed: apt-get install -y npm (it brings nodejs), or set HEROLD_AXE_JS to an axe.min.js; the browser test never skips")
		}
		dir := t.TempDir()
		cmd := exec.Command("npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--silent", "axe-core@4")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install axe-core (needs the npm registry; or set HEROLD_AXE_JS to an axe.min.js): %v\n%s", err, out)
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
var docShots = map[string]bool{"overview-stats-1280": true, "campaign-done-1280": true, "campaign-done-390": true,
	"segment-invalid-1280": true, "dryrun-1280": true, "dryrun-390": true, "list-1280": true, "suppression-1280": true,
	"webhook-1280": true, "person-1280": true, "why-1280": true, "why-390": true, "audit-1280": true, "viewer-403-390": true}

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
