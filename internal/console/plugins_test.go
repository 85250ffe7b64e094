package console_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/console"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/webhooks"
)

// postMultipart sends form as multipart/form-data, the CSRF token first
// (as the campaign form does).
func (b *browser) postMultipart(path string, fields [][2]string) answer {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		_ = mw.WriteField(f[0], f[1])
	}
	_ = mw.Close()
	return b.doRaw("POST", path, &buf, mw.FormDataContentType())
}

func (b *browser) doRaw(method, path string, body *bytes.Buffer, ct string) answer {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.base)
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(res.Body)
	return answer{Status: res.StatusCode, Header: res.Header, Body: out.String()}
}

// seedSubscriber signs id up to newsletter list (and confirms, if confirmed).
func seedSubscriber(t testing.TB, h *apptest.Herold, id message.RecipientID, list string, confirmed bool) {
	t.Helper()
	at := time.Now().Add(-time.Hour).UTC()
	evs := []consent.Event{{Kind: consent.DOIRequest, Purpose: consent.Newsletter(list), Channel: "email",
		Source: consent.WebForm, At: at, Text: "Ja, ich möchte den Newsletter.", TextVersion: "news-v1"}}
	if confirmed {
		evs = append(evs, consent.Event{Kind: consent.DOIConfirm, Purpose: consent.Newsletter(list), Channel: "email",
			Source: consent.EmailSource, At: at.Add(time.Minute)})
	}
	if _, err := h.Store.AppendConsent(t.Context(), id, evs...); err != nil {
		t.Fatal(err)
	}
}

var segmentPath = regexp.MustCompile(`^/console/segments/(seg_[0-9a-f]+)\?done=saved$`)

// TestSegmentsDraftsAndDryRun: marketing saves a segment (a bad expression
// is refused with the bad part named), makes a draft campaign from it,
// dry-runs it (the counts add up to the audience) and starts it; the
// campaign reaches its segment's members. Every change is in the audit log.
func TestSegmentsDraftsAndDryRun(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	for i := range 3 {
		seedPerson(t, h, fmt.Sprintf("c_seg%d", i), fmt.Sprintf("seg%d@example.de", i))
	}
	m := signedIn(t, h, console.Marketing)
	tok := m.csrf()

	bad := m.post("/console/segments", url.Values{"csrf": {tok}, "name": {"Winter"},
		"expression": {"kind = customer and reachable(promo_offer, fax)"}})
	if bad.Status != http.StatusBadRequest || !strings.Contains(bad.Body, `id="expr-err"`) || !strings.Contains(bad.Body, "fax") {
		t.Fatalf("a bad expression: %d, want 400 naming the bad part (fax):\n%s", bad.Status, bad.Body)
	}
	if list, _, _ := h.Store.Segments(t.Context(), "", 10); len(list) != 0 {
		t.Fatalf("a refused segment was stored: %v", list)
	}
	saved := m.post("/console/segments", url.Values{"csrf": {tok}, "name": {"Winter"},
		"expression": {"kind = customer and reachable(promo_offer, email)"}})
	sm := segmentPath.FindStringSubmatch(saved.Header.Get("Location"))
	if saved.Status != http.StatusSeeOther || sm == nil {
		t.Fatalf("save segment: %d to %q\n%s", saved.Status, saved.Header.Get("Location"), saved.Body)
	}
	segID := sm[1]
	page := m.get("/console/segments/" + segID)
	if !strings.Contains(page.Body, `data-count="3"`) || !strings.Contains(page.Body, "c_seg0") {
		t.Errorf("segment page: no count of 3 with a sample:\n%s", page.Body)
	}
	// An edit based on an old version is refused, not overwritten.
	stale := m.post("/console/segments", url.Values{"csrf": {tok}, "id": {segID}, "version": {"7"}, "name": {"Winter"},
		"expression": {"kind = customer"}})
	if stale.Status != http.StatusConflict {
		t.Errorf("stale edit: %d, want 409", stale.Status)
	}
	if list := m.get("/console/segments"); !strings.Contains(list.Body, `data-segment="`+segID+`"`) {
		t.Errorf("segment list lacks %s", segID)
	}

	data, _ := json.Marshal(map[string]any{"offer": offer()})
	form := [][2]string{{"csrf", tok}, {"name", "Winterangebot"}, {"type", "promo_offer"}, {"channels", "email"},
		{"data", string(data)}, {"when", "draft"}, {"segment", segID}}
	// A segment needs a draft.
	if a := m.postMultipart("/console/campaigns", append(form[:5:5], [2]string{"when", "now"}, [2]string{"segment", segID})); a.Status != http.StatusBadRequest {
		t.Errorf("segment without draft: %d, want 400", a.Status)
	}
	created := m.postMultipart("/console/campaigns", form)
	if created.Status != http.StatusSeeOther {
		t.Fatalf("create draft: %d\n%s", created.Status, created.Body)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(created.Header.Get("Location"), "/console/campaigns/"), "?done=created")
	if st, err := h.Campaigns.Status(t.Context(), id); err != nil || st.State != store.CampaignDraft {
		t.Fatalf("campaign %s: %v %v, want a draft", id, st.State, err)
	}
	if p := m.get("/console/campaigns/" + id); !strings.Contains(p.Body, `id="action-dryrun"`) || !strings.Contains(p.Body, `id="campaign-segment"`) {
		t.Errorf("draft page lacks the dry run or its segment:\n%s", p.Body)
	}
	if p := m.get("/console/campaigns/" + id); strings.Contains(p.Body, `id="dryrun"`) {
		t.Errorf("the draft shows a dry run before any ran:\n%s", p.Body)
	}
	dry := m.post("/console/campaigns/"+id+"/dryrun", url.Values{"csrf": {tok}})
	if loc := dry.Header.Get("Location"); dry.Status != http.StatusSeeOther || loc != "/console/campaigns/"+id+"?done=dryrun" {
		t.Fatalf("dry run: %d to %q, want 303 to the campaign's page\n%s", dry.Status, loc, dry.Body)
	}
	// The page shows the stored report, on every load: a reload decides
	// nobody again (one campaign.dryrun in the audit log below).
	for range 2 {
		p := m.get("/console/campaigns/" + id + "?done=dryrun")
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `data-audience="3" data-total="3"`) ||
			!strings.Contains(p.Body, `data-channel="email" data-outcome="allowed" data-reason="allowed" data-count="3"`) {
			t.Fatalf("after the dry run: %d, want 3 allowed on email adding up to the audience of 3:\n%s", p.Status, p.Body)
		}
	}
	if st, _ := h.Campaigns.Status(t.Context(), id); st.State != store.CampaignDraft {
		t.Errorf("the dry run changed the campaign: %s", st.State)
	}
	if a := m.post("/console/campaigns/"+id+"/start", url.Values{"csrf": {tok}}); a.Status != http.StatusSeeOther {
		t.Fatalf("start: %d\n%s", a.Status, a.Body)
	}
	st := waitCampaign(t, h, id, store.CampaignDone)
	if st.Counters.Delivered != 3 {
		t.Errorf("delivered %d, want the segment's 3", st.Counters.Delivered)
	}
	// With the events counted: the campaign's per-minute chart, the overview's.
	if err := h.Stats.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p := m.get("/console/campaigns/" + id); !strings.Contains(p.Body, `id="chart-rate"`) {
		t.Errorf("campaign page lacks the per-minute chart")
	}
	if p := m.get("/console/"); !strings.Contains(p.Body, `id="chart-24h"`) || !strings.Contains(p.Body, `id="chart-7d"`) {
		t.Errorf("overview lacks the delivery charts")
	}
	if a := m.post("/console/segments/"+segID+"/delete", url.Values{"csrf": {tok}}); a.Status != http.StatusSeeOther {
		t.Errorf("delete segment: %d", a.Status)
	}
	if _, err := h.Store.Segment(t.Context(), segID, 0); err == nil {
		t.Errorf("segment still there after delete")
	}

	got := map[string]int{}
	for _, e := range auditEntries(t, signedIn(t, h, console.Compliance)) {
		got[e.User+" "+e.Action+" "+e.Target]++
	}
	for _, want := range []string{"marketing segment.save " + segID, "marketing campaign.create " + id,
		"marketing campaign.dryrun " + id, "marketing campaign.start " + id, "marketing segment.delete " + segID} {
		if got[want] != 1 {
			t.Errorf("audit log has %q %d times, want once", want, got[want])
		}
	}
}

// waitCampaign waits (at most a minute) until campaign id is in state want.
func waitCampaign(t *testing.T, h *apptest.Herold, id string, want store.CampaignState) store.CampaignStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := h.Campaigns.Status(t.Context(), id)
		if err == nil && st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s: %s %v, want %s", id, st.State, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestListsSuppressionsWebhooks: list members page by page, confirmed and
// pending; compliance finds a suppression by address and lifts it only
// with a reason (in the store's trail and the console's audit log);
// marketing may do neither; admin sees the webhook log and replays.
func TestListsSuppressionsWebhooks(t *testing.T) {
	t.Parallel()
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(recv.Close)
	h := start(t, map[string]string{"HEROLD_WEBHOOKS_ALLOW_PRIVATE": "true"}, nil)
	ctx := t.Context()

	// 101 confirmed subscribers: two pages; one pending.
	for i := range 101 {
		id := message.RecipientID(fmt.Sprintf("c_news%03d", i))
		seedPerson(t, h, string(id), fmt.Sprintf("news%03d@example.de", i))
		seedSubscriber(t, h, id, "news", true)
	}
	seedPerson(t, h, "c_pending", "pending@example.de")
	seedSubscriber(t, h, "c_pending", "news", false)

	m := signedIn(t, h, console.Marketing)
	if a := m.get("/console/lists"); !strings.Contains(a.Body, `data-list="news"`) {
		t.Errorf("lists page lacks news:\n%s", a.Body)
	}
	first := m.get("/console/lists/news")
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(first.Body)
	if first.Status != http.StatusOK || strings.Count(first.Body, "data-recipient=") != 100 || next == nil {
		t.Fatalf("first page: %d, %d members, next %v", first.Status, strings.Count(first.Body, "data-recipient="), next)
	}
	second := m.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if n := strings.Count(second.Body, "data-recipient="); n != 1 || !strings.Contains(second.Body, "c_news100") {
		t.Errorf("second page: %d members, want c_news100 alone", n)
	}
	if p := m.get("/console/lists/news?state=pending"); !strings.Contains(p.Body, `data-recipient="c_pending"`) ||
		strings.Contains(p.Body, "c_news000") {
		t.Errorf("pending page: want c_pending alone")
	}
	if a := m.get("/console/lists/nosuch"); a.Status != http.StatusNotFound {
		t.Errorf("unknown list: %d, want 404", a.Status)
	}
	if a := m.get("/console/suppressions"); a.Status != http.StatusForbidden {
		t.Errorf("marketing opens the suppression list: %d, want 403", a.Status)
	}

	if _, err := h.Store.ImportSuppressions(ctx, []store.SuppressionInput{{Contact: message.EmailAddress,
		Address: "news000@example.de", Channel: "email", Reason: "hard_bounce"}}, "test", "old ESP"); err != nil {
		t.Fatal(err)
	}
	c := signedIn(t, h, console.Compliance)
	tok := c.csrf()
	found := c.get("/console/suppressions?q=" + url.QueryEscape("News000@Example.de"))
	sid := regexp.MustCompile(`data-suppression="([^"]+)"`).FindStringSubmatch(found.Body)
	if sid == nil || !strings.Contains(found.Body, "c_news000") {
		t.Fatalf("search by address: no entry with its person:\n%s", found.Body)
	}
	if a := c.get("/console/suppressions?q=not-a-number"); a.Status != http.StatusBadRequest || !strings.Contains(a.Body, `id="sq-err"`) {
		t.Errorf("bad search: %d, want 400 on the field", a.Status)
	}
	if a := c.post("/console/suppressions/"+sid[1]+"/lift", url.Values{"csrf": {tok}, "reason": {"  "}}); a.Status != http.StatusBadRequest ||
		!strings.Contains(a.Body, `id="reason-err"`) {
		t.Errorf("lift without a reason: %d, want 400 naming the reason", a.Status)
	}
	if a := m.post("/console/suppressions/"+sid[1]+"/lift", url.Values{"csrf": {m.csrf()}, "reason": {"x"}}); a.Status != http.StatusForbidden {
		t.Errorf("marketing lifts: %d, want 403", a.Status)
	}
	if a := c.post("/console/suppressions/"+sid[1]+"/lift", url.Values{"csrf": {tok}, "reason": {"asked by phone, ticket 4711"}}); a.Status != http.StatusSeeOther {
		t.Fatalf("lift: %d\n%s", a.Status, a.Body)
	}
	if a := c.get("/console/suppressions?q=news000@example.de"); strings.Contains(a.Body, "data-suppression=") {
		t.Errorf("the entry is still there after the lift")
	}
	recs, _, err := h.Store.Audit(ctx, "", 10)
	if last := len(recs) - 1; err != nil || last < 0 || recs[last].Kind != "suppression_lifted" || recs[last].Subject != sid[1] ||
		recs[last].By != "console:compliance" || recs[last].Reason != "asked by phone, ticket 4711" {
		t.Errorf("store audit trail: %+v %v", recs, err)
	}
	if a := c.post("/console/suppressions/nosuch:email/lift", url.Values{"csrf": {tok}, "reason": {"x"}}); a.Status != http.StatusNotFound {
		t.Errorf("lift unknown: %d, want 404", a.Status)
	}

	// Webhooks: admin only.
	u, events := recv.URL+"/hook?token=s3cret", []string{"message.delivered"}
	ep, _, err := h.Hub.Create(ctx, webhooks.EndpointInput{URL: &u, EventTypes: &events})
	if err != nil {
		t.Fatal(err)
	}
	if a := c.get("/console/webhooks"); a.Status != http.StatusForbidden {
		t.Errorf("compliance opens webhooks: %d, want 403", a.Status)
	}
	adm := signedIn(t, h, console.Admin)
	if a := adm.get("/console/webhooks"); !strings.Contains(a.Body, ep.ID) || strings.Contains(a.Body, "whsec_") {
		t.Errorf("webhooks page: lacks the endpoint, or shows a secret")
	}
	if a := adm.post("/console/webhooks/"+ep.ID+"/deliveries/whd_nosuch/replay", url.Values{"csrf": {adm.csrf()}}); a.Status != http.StatusNotFound {
		t.Errorf("replay unknown: %d, want 404", a.Status)
	}
	if a := adm.get("/console/webhooks/" + ep.ID); a.Status != http.StatusOK || !strings.Contains(a.Body, `id="webhook-url"`) {
		t.Errorf("webhook page: %d", a.Status)
	}

	got := map[string]bool{}
	for _, e := range auditEntries(t, c) {
		got[e.User+" "+e.Action+" "+e.Target] = true
	}
	for _, want := range []string{"compliance suppression.lift " + sid[1], "marketing denied /console/suppressions/" + sid[1] + "/lift"} {
		if !got[want] {
			t.Errorf("audit log lacks %q", want)
		}
	}
}
