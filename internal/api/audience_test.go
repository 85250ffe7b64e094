package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/store"
)

// The keys of the audience tests: one per role a marketing installation has.
const (
	keyAudAdmin = "hrld_audience_admin_0123"
	keyAudCRM   = "hrld_audience_crm_012345"   // recipients, segments, suppressions
	keyMkt      = "hrld_audience_mkt_012345"   // campaigns of marketing types
	keyDPO      = "hrld_audience_dpo_012345"   // compliance only
	keyBill     = "hrld_audience_bill_012345"  // campaigns, but only invoices
	keyRead     = "hrld_audience_read_012345"  // recipients only
	keySupp     = "hrld_audience_supp_0123456" // suppressions only: may import, may not lift
)

type audience struct {
	t *testing.T
	h *apptest.Herold
}

func setupAudience(t *testing.T) *audience {
	t.Helper()
	h := apptest.New(t, apptest.Options{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Env: map[string]string{
			"HEROLD_API_KEYS": "admin:" + keyAudAdmin + ":*,crm:" + keyAudCRM + ":recipients+segments+suppressions," +
				"mkt:" + keyMkt + ":campaigns+send:class:marketing,dpo:" + keyDPO + ":compliance," +
				"bill:" + keyBill + ":campaigns+send:invoice,read:" + keyRead + ":recipients,supp:" + keySupp + ":suppressions",
			"HEROLD_CAMPAIGN_CHUNK_SIZE": "7", "HEROLD_SMTP_POOL_SIZE": "4",
		},
	})
	return &audience{t: t, h: h}
}

// call sends body (string as is, else JSON) and decodes a JSON answer into out.
func (a *audience) call(method, path, key, contentType string, body any, out any) int {
	a.t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
		contentType = "application/json"
	}
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.h.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func (a *audience) must(method, path, key string, body any, want int, out any) {
	a.t.Helper()
	var raw json.RawMessage
	if code := a.call(method, path, key, "", body, &raw); code != want {
		a.t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatal(err)
		}
	}
}

type importReport struct {
	Lines, Accepted, Created, Updated, Events, Rejected int
	Errors                                              []struct {
		Line   int
		Fields []struct{ Field, Message string }
	}
}

func (a *audience) importNDJSON(lines []string) importReport {
	a.t.Helper()
	var rep importReport
	if code := a.call("POST", "/v1/recipients/import", keyAudCRM, "application/x-ndjson", strings.Join(lines, "\n")+"\n", &rep); code != 200 {
		a.t.Fatalf("import: %d %+v", code, rep)
	}
	return rep
}

func ids(list []map[string]any) []string {
	var out []string
	for _, r := range list {
		out = append(out, r["id"].(string))
	}
	return out
}

// A sign-up on the page, confirmed by double opt-in, is a confirmed member
// of the news list and is found by its address.
func TestPageSignUpIsAListMemberAndFoundByEmail(t *testing.T) {
	t.Parallel()
	a := setupAudience(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	page := func(method, u string, form url.Values) string {
		t.Helper()
		var resp *http.Response
		var err error
		if method == "GET" {
			resp, err = c.Get(a.h.URL + u)
		} else {
			resp, err = c.PostForm(a.h.URL+u, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d", method, u, resp.StatusCode)
		}
		return string(b)
	}
	body := page("GET", "/subscribe/news?lang=de", nil)
	tv := regexp.MustCompile(`name="text_version" value="([^"]+)"`).FindStringSubmatch(body)[1]
	page("POST", "/subscribe/news", url.Values{"csrf": {csrf.FindStringSubmatch(body)[1]}, "email": {"Lena.Page@Example.de"},
		"agree": {"yes"}, "text_version": {tv}, "lang": {"de"}})

	var found struct{ Recipients []map[string]any }
	a.must("GET", "/v1/recipients?email="+url.QueryEscape("Lena.Page@EXAMPLE.DE"), keyRead, nil, 200, &found)
	if len(found.Recipients) != 1 {
		t.Fatalf("lookup by e-mail found %d recipients", len(found.Recipients))
	}
	id := found.Recipients[0]["id"].(string)
	type members struct {
		Members []struct {
			RecipientID string    `json:"recipient_id"`
			State       string    `json:"state"`
			RequestedAt time.Time `json:"requested_at"`
			ConfirmedAt time.Time `json:"confirmed_at"`
		}
	}
	var pending, confirmed members
	a.must("GET", "/v1/lists/news/members?state=pending", keyRead, nil, 200, &pending)
	a.must("GET", "/v1/lists/news/members", keyRead, nil, 200, &confirmed)
	if len(pending.Members) != 1 || pending.Members[0].RecipientID != id || len(confirmed.Members) != 0 {
		t.Fatalf("before the confirmation: pending %+v, confirmed %+v", pending, confirmed)
	}

	link := ""
	linkRe := regexp.MustCompile(`/confirm/[A-Za-z0-9_-]+`)
	for deadline := time.Now().Add(20 * time.Second); link == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, m := range a.h.SMTP.Mails() {
			link = linkRe.FindString(strings.ReplaceAll(string(m.Data), "=\r\n", ""))
		}
	}
	if link == "" {
		t.Fatal("no confirmation mail")
	}
	body = page("GET", link, nil)
	page("POST", link, url.Values{"csrf": {csrf.FindStringSubmatch(body)[1]}})

	a.must("GET", "/v1/lists/news/members", keyRead, nil, 200, &confirmed)
	if len(confirmed.Members) != 1 || confirmed.Members[0].RecipientID != id || confirmed.Members[0].State != "confirmed" ||
		confirmed.Members[0].RequestedAt.IsZero() || confirmed.Members[0].ConfirmedAt.Before(confirmed.Members[0].RequestedAt) {
		t.Fatalf("after the confirmation: %+v", confirmed)
	}
	a.must("GET", "/v1/lists/news/members?state=pending", keyRead, nil, 200, &pending)
	if len(pending.Members) != 0 {
		t.Fatalf("still pending: %+v", pending)
	}
	var lists struct{ Lists []struct{ Name string } }
	a.must("GET", "/v1/lists", keyRead, nil, 200, &lists)
	if !slices.ContainsFunc(lists.Lists, func(l struct{ Name string }) bool { return l.Name == "news" }) {
		t.Fatalf("lists %+v", lists)
	}
	a.must("GET", "/v1/lists/nope/members", keyRead, nil, 404, nil)
	a.must("GET", "/v1/lists/news/members", keyMkt, nil, 403, nil)
	var none struct{ Recipients []map[string]any }
	a.must("GET", "/v1/recipients?email=nobody@example.de", keyRead, nil, 200, &none)
	if len(none.Recipients) != 0 {
		t.Fatal("an unknown address found someone")
	}
}

// An import of good and bad lines keeps the good ones and names the bad
// lines by number, in NDJSON and in CSV.
func TestImportKeepsGoodLinesAndNamesBadOnes(t *testing.T) {
	t.Parallel()
	a := setupAudience(t)
	rep := a.importNDJSON([]string{
		`{"id":"c_1","kind":"customer","emails":[{"address":"c1@example.de"}],"attributes":{"product":["dsl"]}}`,
		`{"id":"c_2","kind":"customr","emails":[{"address":"c2@example.de"}]}`,
		``,
		`not json`,
		`{"id":"c_3","kind":"prospect","emails":[{"address":"c3@example.de"}],"consents":[` +
			`{"kind":"grant","purpose":"advertising","channel":"email","at":"2026-01-02T10:00:00Z","source":"web_form","ip":"203.0.113.7","text":"Ja, Angebote per E-Mail","text_version":"v3"},` +
			`{"kind":"object","purpose":"advertising","channel":"sms","at":"2026-01-03T10:00:00Z","source":"phone"}]}`,
		`{"id":"c_4","kind":"customer","colour":"blue"}`,
		`{"id":"c_5","kind":"customer","consents":[{"kind":"grant","purpose":"advertising","channel":"email","source":"web_form"}]}`,
		`{"id":"c_6","kind":"customer","attributes":{"note":"` + strings.Repeat("x", 300) + `"}}`,
	})
	if rep.Lines != 7 || rep.Accepted != 2 || rep.Created != 2 || rep.Events != 2 || rep.Rejected != 5 {
		t.Fatalf("report %+v", rep)
	}
	want := map[int]string{2: "kind", 4: "(line)", 6: "colour", 7: "consents[0].text", 8: "attributes.note"}
	for _, e := range rep.Errors {
		if f, ok := want[e.Line]; !ok || !slices.ContainsFunc(e.Fields, func(x struct{ Field, Message string }) bool { return x.Field == f }) {
			t.Errorf("line %d: %+v (want field %q)", e.Line, e.Fields, want[e.Line])
		}
		delete(want, e.Line)
	}
	if len(want) > 0 {
		t.Fatalf("bad lines not reported: %v (got %+v)", want, rep.Errors)
	}
	var ledger struct {
		History []struct {
			Kind, Source, Text, TextVersion string
			IP                              string `json:"ip"`
		}
	}
	a.must("GET", "/v1/recipients/c_3/consents", keyAudCRM, nil, 200, &ledger)
	if len(ledger.History) != 2 || ledger.History[0].IP != "203.0.113.7" || ledger.History[0].Text != "Ja, Angebote per E-Mail" {
		t.Fatalf("ledger of c_3: %+v", ledger)
	}
	// The same file again: updates, no second copy of the events.
	rep = a.importNDJSON([]string{
		`{"id":"c_3","kind":"prospect","emails":[{"address":"c3@example.de"}],"consents":[` +
			`{"kind":"grant","purpose":"advertising","channel":"email","at":"2026-01-02T10:00:00Z","source":"web_form","ip":"203.0.113.7","text":"Ja, Angebote per E-Mail","text_version":"v3"}]}`,
	})
	if rep.Updated != 1 || rep.Events != 0 {
		t.Fatalf("re-import %+v", rep)
	}

	csv := "id,kind,first_name,email,email_collected_in_sale,mobile,locale,contract_started_at,attributes.product,consent.advertising.sms,consent_at,consent_source,consent_text\n" +
		"k_1,customer,Jonas,k1@example.de,yes,+49 151 23456789,de,2024-03-01,dsl|tv,grant,2026-02-01T08:00:00Z,web_form,Ja SMS\n" +
		"k_2,customer,Mia,not-an-address,yes,,de,2024-03-01,dsl,,,,\n" +
		"k_3,customer,\"Ben, Jr.\",k3@example.de,maybe,,de,,dsl,,,,\n" +
		"k_4,prospect,Lea,k4@example.de,no,,en,,,,,,\n"
	var crep importReport
	if code := a.call("POST", "/v1/recipients/import", keyAudCRM, "text/csv", csv, &crep); code != 200 {
		t.Fatalf("csv import: %d %+v", code, crep)
	}
	if crep.Lines != 4 || crep.Accepted != 2 || crep.Events != 1 || len(crep.Errors) != 2 || crep.Errors[0].Line != 3 ||
		crep.Errors[0].Fields[0].Field != "emails[0].address" || crep.Errors[1].Line != 4 || crep.Errors[1].Fields[0].Field != "email_collected_in_sale" {
		t.Fatalf("csv report %+v", crep)
	}
	var k1 map[string]any
	a.must("GET", "/v1/recipients/k_1", keyAudCRM, nil, 200, &k1)
	if k1["mobile"].(map[string]any)["number"] != "+4915123456789" || fmt.Sprint(k1["attributes"]) != "map[product:[dsl tv]]" {
		t.Fatalf("k_1 %v", k1)
	}
	var bad map[string]any
	if code := a.call("POST", "/v1/recipients/import", keyAudCRM, "text/csv", "id,kind,colour\nx,customer,blue\n", &bad); code != 400 ||
		!strings.Contains(fmt.Sprint(bad), "line 1: colour") {
		t.Fatalf("unknown csv column: %d %v", code, bad)
	}
	if code := a.call("POST", "/v1/recipients/import", keyAudCRM, "application/x-ndjson", "{\"id\":\"z\"}\n", &bad); code != 400 {
		t.Fatalf("an import with no good line: %d %v", code, bad)
	}
	if code := a.call("POST", "/v1/recipients/import", keyMkt, "application/x-ndjson", "{}\n", nil); code != 403 {
		t.Fatalf("import without the recipients scope: %d", code)
	}
	var all struct {
		Recipients []map[string]any
		NextCursor string `json:"next_cursor"`
	}
	a.must("GET", "/v1/recipients?limit=2", keyRead, nil, 200, &all)
	first := ids(all.Recipients)
	cursor := all.NextCursor
	all.NextCursor = ""
	a.must("GET", "/v1/recipients?limit=2&cursor="+cursor, keyRead, nil, 200, &all)
	if got := append(first, ids(all.Recipients)...); !slices.Equal(got, []string{"c_1", "c_3", "k_1", "k_4"}) || all.NextCursor != "" {
		t.Fatalf("listing %v (next %q)", got, all.NextCursor)
	}
}

// population is every consent state a promo_offer by e-mail can meet, each
// line of it a recipient of the segment test (NDJSON for the import).
func population() (lines []string, reachable []string) {
	const past = "2026-01-05T10:00:00Z"
	ev := func(kind, purpose, ch string) string {
		return fmt.Sprintf(`{"kind":%q,"purpose":%q,"channel":%q,"at":%q,"source":"web_form","text":"Ja"}`, kind, purpose, ch, past)
	}
	person := func(id, kind, locale string, fromSale bool, product string, contract string, consents ...string) string {
		c := ""
		if contract != "" {
			c = `,"contract":` + contract
		}
		return fmt.Sprintf(`{"id":%q,"kind":%q,"locale":%q,"emails":[{"address":"%s@example.de","collected_in_sale":%t}],"attributes":{"product":%s}%s,"consents":[%s]}`,
			id, kind, locale, id, fromSale, product, c, strings.Join(consents, ","))
	}
	active := `{"started_at":"2024-01-01"}`
	ended := `{"started_at":"2020-01-01","ended_at":"2025-01-31"}`
	lines = []string{
		person("s01", "customer", "de", true, `["dsl"]`, active),                                       // legitimate interest: in
		person("s02", "customer", "de", true, `["dsl"]`, active, ev("object", "advertising", "all")),   // objection: out
		person("s03", "customer", "de", false, `["dsl"]`, active),                                      // no sale, no consent: out
		person("s04", "customer", "de", false, `["dsl"]`, active, ev("grant", "advertising", "email")), // consent: in
		person("s05", "customer", "de", false, `["dsl"]`, active, ev("grant", "advertising", "email"),
			`{"kind":"withdraw","purpose":"advertising","channel":"email","at":"2026-01-06T10:00:00Z","source":"email"}`), // withdrawn: out
		person("s06", "customer", "de", true, `["mobile"]`, active),                                              // other product: out
		person("s07", "customer", "en", true, `["dsl"]`, active),                                                 // other locale: out
		person("s08", "prospect", "de", false, `["dsl"]`, "", ev("grant", "advertising", "email")),               // prospect: out
		person("s09", "customer", "de", true, `["dsl"]`, ended),                                                  // blocked: out
		person("s10", "customer", "de", true, `["dsl","tv"]`, active, ev("object", "advertising", "sms")),        // objected on sms only: in
		person("s11", "customer", "de", true, `["dsl"]`, active),                                                 // address suppressed (below): out
		person("s12", "customer", "de", false, `["dsl"]`, active, ev("doi_request", "newsletter:news", "email")), // pending newsletter only: out
		person("s13", "customer", "de", true, `"dsl"`, active, ev("object", "promo_offer", "email")),             // objected to this type: out
	}
	return lines, []string{"s01", "s04", "s10"}
}

const acceptanceSegment = "kind=customer and locale=de and attributes.product in [dsl] and reachable(promo_offer, email)"

// seed imports the population, suppresses s11's address and saves the
// acceptance segment; it returns the segment's id.
func (a *audience) seed() string {
	a.t.Helper()
	lines, _ := population()
	if rep := a.importNDJSON(lines); rep.Accepted != len(lines) {
		a.t.Fatalf("seed: %+v", rep)
	}
	a.must("POST", "/v1/suppressions", keyAudCRM, map[string]any{"reason": "hard_bounce", "note": "old ESP",
		"entries": []map[string]string{{"email": "s11@example.de"}}}, 200, nil)
	var seg struct{ ID string }
	a.must("POST", "/v1/segments", keyAudCRM, map[string]string{"name": "DSL customers, de, reachable by e-mail",
		"expression": acceptanceSegment}, 201, &seg)
	return seg.ID
}

func TestSegmentReturnsExactlyTheExpectedIDs(t *testing.T) {
	t.Parallel()
	a := setupAudience(t)
	segID := a.seed()
	_, want := population()
	var count struct {
		Count, Scanned, Version int
		Sample                  []string
	}
	a.must("GET", "/v1/segments/"+segID+"/count", keyAudCRM, nil, 200, &count)
	if count.Count != len(want) || count.Scanned != 13 || !slices.Equal(count.Sample, want) || count.Version != 1 {
		t.Fatalf("count %+v, want %v", count, want)
	}
	var members struct {
		Recipients []map[string]any
		NextCursor string `json:"next_cursor"`
	}
	var got []string
	for cursor := ""; ; {
		members.NextCursor = ""
		a.must("GET", "/v1/recipients?segment="+segID+"&limit=2&cursor="+cursor, keyRead, nil, 200, &members)
		got = append(got, ids(members.Recipients)...)
		if cursor = members.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("segment members %v, want %v", got, want)
	}
	// Validation names the bad part; a new version changes the answer.
	var prob struct {
		Fields []struct{ Field, Message string }
	}
	a.must("PUT", "/v1/segments/"+segID, keyAudCRM, map[string]any{"name": "x", "expression": "kind=customer and reachable(promo_offer, fax)"}, 400, &prob)
	if len(prob.Fields) != 1 || prob.Fields[0].Field != "expression" || !strings.Contains(prob.Fields[0].Message, `column 42: type promo_offer does not use channel "fax"`) {
		t.Fatalf("validation: %+v", prob)
	}
	a.must("PUT", "/v1/segments/"+segID, keyAudCRM, map[string]any{"name": "only objected on sms", "version": 1,
		"expression": acceptanceSegment + " and consent(advertising, sms) = objected"}, 200, nil)
	a.must("PUT", "/v1/segments/"+segID, keyAudCRM, map[string]any{"name": "stale", "version": 1, "expression": "kind = customer"}, 409, nil)
	a.must("GET", "/v1/segments/"+segID+"/count", keyAudCRM, nil, 200, &count)
	if count.Count != 1 || count.Sample[0] != "s10" || count.Version != 2 {
		t.Fatalf("version 2 count %+v", count)
	}
	var v1 struct{ Expression string }
	a.must("GET", "/v1/segments/"+segID+"?version=1", keyAudCRM, nil, 200, &v1)
	if v1.Expression != acceptanceSegment {
		t.Fatalf("version 1 is %q", v1.Expression)
	}
	a.must("GET", "/v1/segments/"+segID+"/count", keyMkt, nil, 403, nil)
}

type dryRun struct {
	Audience, Duplicates, Allowed int64
	Delayed, Suppressed           map[string]int64
	Rows                          []struct {
		Channel, Outcome, Reason string
		Count                    int64
		Sample                   []string
	}
	Segment struct {
		Matched int64
	}
}

func (a *audience) waitDone(id string) map[string]any {
	a.t.Helper()
	var c map[string]any
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(25 * time.Millisecond) {
		a.must("GET", "/v1/campaigns/"+id, keyMkt, nil, 200, &c)
		if c["state"] == "done" {
			return c
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("campaign %s did not finish: %v", id, c)
		}
	}
}

func offer() map[string]any {
	return map[string]any{"offer": map[string]any{"title": "Glasfaser 500", "price": 39.99, "valid_until": "2026-12-31",
		"url": "https://www.example.com/glasfaser"}}
}

// A draft's dry run counts every member of its audience by reason, the
// counts add up, and the campaign then does exactly that.
func TestDryRunMatchesWhatTheCampaignDoes(t *testing.T) {
	t.Parallel()
	a := setupAudience(t)
	a.seed()
	var seg struct{ ID string }
	a.must("POST", "/v1/segments", keyAudCRM, map[string]string{"name": "customers", "expression": "kind = customer"}, 201, &seg)
	var c struct {
		ID      string
		State   string
		Segment string
	}
	a.must("POST", "/v1/campaigns", keyMkt, map[string]any{"name": "Glasfaser", "type": "promo_offer", "channels": []string{"email"},
		"data": offer(), "draft": true, "segment": seg.ID, "audience": []string{"s08", "s08", "nobody"}}, 201, &c)
	if c.State != "draft" || c.Segment != seg.ID {
		t.Fatalf("created %+v", c)
	}
	var rep dryRun
	a.must("POST", "/v1/campaigns/"+c.ID+"/dry-run", keyMkt, nil, 200, &rep)
	var sup int64
	for _, n := range rep.Suppressed {
		sup += n
	}
	// 12 customers from the segment, s08 twice and an unknown id uploaded.
	if rep.Audience != 15 || rep.Segment.Matched != 12 || rep.Duplicates != 1 || rep.Allowed+sup+rep.Duplicates != rep.Audience {
		t.Fatalf("dry run %+v", rep)
	}
	wantSup := map[string]int64{"objection": 2, "no_consent": 2, "consent_withdrawn": 1, "blocked": 1, "suppressed": 1, "unknown_recipient": 1}
	if rep.Allowed != 6 || fmt.Sprint(rep.Suppressed) != fmt.Sprint(wantSup) {
		t.Fatalf("allowed %d, suppressed %v; want 6, %v", rep.Allowed, rep.Suppressed, wantSup)
	}
	for _, r := range rep.Rows {
		if r.Reason == "objection" && !slices.Equal(r.Sample, []string{"s02", "s13"}) {
			t.Fatalf("objection sample %v", r.Sample)
		}
	}
	var last dryRun
	a.must("GET", "/v1/campaigns/"+c.ID+"/dry-run", keyMkt, nil, 200, &last)
	if last.Allowed != rep.Allowed {
		t.Fatal("the last dry run is not kept")
	}
	var drafts struct{ Campaigns []map[string]any }
	a.must("GET", "/v1/campaigns?state=draft", keyMkt, nil, 200, &drafts)
	if len(drafts.Campaigns) != 1 || drafts.Campaigns[0]["id"] != c.ID {
		t.Fatalf("drafts %v", drafts)
	}
	a.must("GET", "/v1/campaigns?state=draft", keyBill, nil, 200, &drafts)
	if len(drafts.Campaigns) != 0 {
		t.Fatal("a key that may not send offers lists the offer campaign")
	}
	a.must("POST", "/v1/campaigns/"+c.ID+"/dry-run", keyBill, nil, 403, nil)

	a.must("POST", "/v1/campaigns/"+c.ID+"/start", keyMkt, nil, 200, nil)
	done := a.waitDone(c.ID)
	counters := done["counters"].(map[string]any)
	gotSup := map[string]int64{}
	for k, v := range counters["suppressed"].(map[string]any) {
		gotSup[k] = int64(v.(float64))
	}
	if int64(counters["audience"].(float64)) != rep.Audience || int64(counters["delivered"].(float64)) != rep.Allowed ||
		int64(counters["duplicates"].(float64)) != rep.Duplicates || fmt.Sprint(gotSup) != fmt.Sprint(rep.Suppressed) {
		t.Fatalf("the campaign did %v; the dry run said %+v", counters, rep)
	}
	a.must("POST", "/v1/campaigns/"+c.ID+"/dry-run", keyMkt, nil, 409, nil)

	// The person's messages list the campaign's message.
	var msgs struct {
		Messages []struct {
			ID, Status string
			CampaignID string `json:"campaign_id"`
		}
	}
	a.must("GET", "/v1/messages?recipient_id=s01", keyMkt, nil, 200, &msgs)
	if len(msgs.Messages) != 1 || msgs.Messages[0].CampaignID != c.ID || msgs.Messages[0].Status != "delivered" {
		t.Fatalf("messages of s01: %+v", msgs)
	}
	a.must("GET", "/v1/messages?recipient_id=s01", keyBill, nil, 200, &msgs)
	if len(msgs.Messages) != 0 {
		t.Fatal("a key that may not send offers sees the offer")
	}
}

// Every recipient is decided again when its message goes out: a consent
// withdrawn after the dry run stops that person's message.
func TestConsentWithdrawnAfterTheDryRunStopsTheMessage(t *testing.T) {
	t.Parallel()
	a := setupAudience(t)
	a.seed()
	// No reachable(…) in the segment: s04 stays in the audience at the
	// start, and only the decision at sending can stop the message.
	var seg struct{ ID string }
	a.must("POST", "/v1/segments", keyAudCRM, map[string]string{"name": "DSL customers de",
		"expression": "kind = customer and locale = de and attributes.product in [dsl]"}, 201, &seg)
	var c struct{ ID string }
	a.must("POST", "/v1/campaigns", keyMkt, map[string]any{"name": "Glasfaser", "type": "promo_offer", "channels": []string{"email"},
		"data": offer(), "draft": true, "segment": seg.ID}, 201, &c)
	var rep dryRun
	a.must("POST", "/v1/campaigns/"+c.ID+"/dry-run", keyMkt, nil, 200, &rep)
	if rep.Audience != 10 || rep.Allowed != 3 || rep.Suppressed["consent_withdrawn"] != 1 {
		t.Fatalf("dry run %+v", rep)
	}
	a.must("POST", "/v1/recipients/s04/consents", keyAudCRM, map[string]string{"kind": "withdraw", "purpose": "advertising",
		"channel": "email", "source": "email"}, 201, nil)
	a.must("POST", "/v1/campaigns/"+c.ID+"/start", keyMkt, nil, 200, nil)
	done := a.waitDone(c.ID)
	counters := done["counters"].(map[string]any)
	if counters["audience"].(float64) != 10 || counters["delivered"].(float64) != 2 ||
		counters["suppressed"].(map[string]any)["consent_withdrawn"].(float64) != 2 {
		t.Fatalf("counters %v", counters)
	}
	var o struct {
		Status   string
		Decision struct{ Reason string }
	}
	a.must("GET", "/v1/campaigns/"+c.ID+"/recipients/s04", keyMkt, nil, 200, &o)
	if o.Status != "suppressed" || o.Decision.Reason != "consent_withdrawn" {
		t.Fatalf("s04: %+v", o)
	}
	for _, m := range a.h.SMTP.Mails() {
		if slices.Contains(m.To, "s04@example.de") {
			t.Fatal("the person who withdrew got the offer")
		}
	}
}

// A draft with nothing in its audience cannot start; a draft can be canceled.
func TestDraftWithoutAudienceDoesNotStart(t *testing.T) {
	t.Parallel()
	a := setupAudience(t)
	var c struct{ ID string }
	a.must("POST", "/v1/campaigns", keyMkt, map[string]any{"name": "empty", "type": "promo_offer", "data": offer(), "draft": true}, 201, &c)
	a.must("POST", "/v1/campaigns/"+c.ID+"/start", keyMkt, nil, 409, nil)
	a.must("POST", "/v1/campaigns/"+c.ID+"/cancel", keyMkt, nil, 200, nil)
	var prob struct {
		Fields []struct{ Field string }
	}
	a.must("POST", "/v1/campaigns", keyMkt, map[string]any{"name": "x", "type": "promo_offer", "data": offer(), "segment": "nope"}, 400, &prob)
	if len(prob.Fields) != 1 || prob.Fields[0].Field != "segment" {
		t.Fatalf("unknown segment: %+v", prob)
	}
}

// Lifting a suppression needs the compliance scope and a reason, and the
// lift is in the audit export with who, when and why.
func TestLiftingASuppressionIsAuditedAndNeedsCompliance(t *testing.T) {
	t.Parallel()
	a := setupAudience(t)
	var imp struct {
		Added int
		IDs   []string
	}
	a.must("POST", "/v1/suppressions", keySupp, map[string]any{"reason": "unsubscribed", "note": "export of our old provider",
		"entries": []map[string]string{{"email": "Gone@Example.de"}, {"phone": "0151 23456789", "channel": "sms"}}}, 200, &imp)
	if imp.Added != 2 {
		t.Fatalf("import %+v", imp)
	}
	var prob struct {
		Fields []struct{ Field string }
	}
	a.must("POST", "/v1/suppressions", keySupp, map[string]any{"entries": []map[string]string{{"email": "ok@example.de"}, {"email": "nope"}, {"phone": "+4915123456789", "channel": "email"}}}, 400, &prob)
	if len(prob.Fields) != 2 || prob.Fields[0].Field != "entries[1].email" || prob.Fields[1].Field != "entries[2].channel" {
		t.Fatalf("bad entries: %+v", prob)
	}
	var found struct {
		Suppressions []struct{ ID, Kind, Channel, Reason, Source, By, Note string }
	}
	a.must("GET", "/v1/suppressions?email=gone@example.de", keySupp, nil, 200, &found)
	if len(found.Suppressions) != 1 || found.Suppressions[0].Kind != "email" || found.Suppressions[0].Source != "import" ||
		found.Suppressions[0].By != "supp" || found.Suppressions[0].Reason != "unsubscribed" {
		t.Fatalf("lookup %+v", found)
	}
	id := found.Suppressions[0].ID
	var listed struct{ Suppressions []struct{ ID string } }
	a.must("GET", "/v1/suppressions", keySupp, nil, 200, &listed)
	if len(listed.Suppressions) != 2 {
		t.Fatalf("listed %+v", listed)
	}

	a.must("DELETE", "/v1/suppressions/"+id, keySupp, map[string]string{"reason": "asked to get mail again"}, 403, nil)
	a.must("DELETE", "/v1/suppressions/"+id, keyAudCRM, map[string]string{"reason": "asked to get mail again"}, 403, nil)
	a.must("DELETE", "/v1/suppressions/"+id, keyDPO, nil, 400, nil)
	a.must("GET", "/v1/audit", keySupp, nil, 403, nil)
	a.must("DELETE", "/v1/suppressions/"+id, keyDPO, map[string]string{"reason": "Person asked by letter of 2026-11-20 to get our newsletter again"}, 200, nil)
	a.must("DELETE", "/v1/suppressions/"+id, keyDPO, map[string]string{"reason": "again"}, 404, nil)
	a.must("GET", "/v1/suppressions?email=gone@example.de", keySupp, nil, 200, &found)
	if len(found.Suppressions) != 0 {
		t.Fatal("the lifted entry is still listed")
	}

	req, _ := http.NewRequestWithContext(t.Context(), "GET", a.h.URL+"/v1/audit?format=ndjson", nil)
	req.Header.Set("Authorization", "Bearer "+keyDPO)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var recs []store.AuditRecord
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var r store.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if resp.StatusCode != 200 || len(recs) != 2 {
		t.Fatalf("audit export: %d, %+v", resp.StatusCode, recs)
	}
	lift := recs[1]
	if lift.Kind != store.AuditSuppressionLifted || lift.Subject != id || lift.By != "dpo" ||
		lift.Reason != "Person asked by letter of 2026-11-20 to get our newsletter again" || time.Since(lift.At) > time.Minute ||
		lift.Detail["reason"] != "unsubscribed" {
		t.Fatalf("lift record %+v", lift)
	}
	if recs[0].Kind != store.AuditSuppressionsImported || recs[0].By != "supp" {
		t.Fatalf("import record %+v", recs[0])
	}
	for _, r := range recs {
		if b, _ := json.Marshal(r); strings.Contains(strings.ToLower(string(b)), "gone@example.de") || strings.Contains(string(b), "4915123456789") {
			t.Fatalf("an audit record holds an address: %s", b)
		}
	}
}

// nightZone names a fixed-offset zone in which it is about 23:00 now:
// inside the catalog's quiet hours for advertising by phone.
func nightZone() string {
	offset := 23 - time.Now().UTC().Hour() // -1 … 23: Etc/GMT covers -12 … +14
	if offset > 12 {
		offset -= 24
	}
	switch {
	case offset == 0:
		return "Etc/GMT"
	case offset > 0:
		return "Etc/GMT-" + fmt.Sprint(offset)
	default:
		return "Etc/GMT+" + fmt.Sprint(-offset)
	}
}

// A recipient the policy allows, but only after the end of quiet hours in
// their time zone, is counted as a quiet_hours delay, not as a suppression.
func TestDryRunCountsQuietHoursAsADelay(t *testing.T) {
	t.Parallel()
	a := setupAudience(t)
	grant := `"consents":[{"kind":"grant","purpose":"advertising","channel":"sms","at":"2026-01-05T10:00:00Z","source":"web_form","text":"Ja, SMS"}]`
	a.importNDJSON([]string{
		fmt.Sprintf(`{"id":"q_night","kind":"customer","time_zone":%q,"mobile":{"number":"+4915100000001","verified_at":"2026-01-01T10:00:00Z"},"contract":{"started_at":"2024-01-01"},%s}`, nightZone(), grant),
		fmt.Sprintf(`{"id":"q_day","kind":"customer","time_zone":%q,"mobile":{"number":"+4915100000002","verified_at":"2026-01-01T10:00:00Z"},"contract":{"started_at":"2024-01-01"},%s}`, apptest.DayZone(), grant),
	})
	var c struct{ ID string }
	a.must("POST", "/v1/campaigns", keyMkt, map[string]any{"name": "SMS", "type": "promo_offer", "channels": []string{"sms"},
		"data": offer(), "draft": true, "audience": []string{"q_night", "q_day"}}, 201, &c)
	var rep dryRun
	a.must("POST", "/v1/campaigns/"+c.ID+"/dry-run", keyMkt, nil, 200, &rep)
	if rep.Audience != 2 || rep.Allowed != 1 || rep.Delayed["quiet_hours"] != 1 || len(rep.Suppressed) != 0 {
		t.Fatalf("dry run %+v", rep)
	}
	for _, r := range rep.Rows {
		if r.Outcome == "delayed" && (r.Channel != "sms" || r.Reason != "quiet_hours" || !slices.Equal(r.Sample, []string{"q_night"})) {
			t.Fatalf("delayed row %+v", r)
		}
	}
}
