package apptest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/api"
	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/openapitest"
)

const tourKey = "tour-key-0123456789abcdef"

// tourEnv runs Herold with every /v1 route: the bounce routes exist only
// with a bounce domain, webhooks need a loopback URL.
var tourEnv = map[string]string{
	"HEROLD_API_KEYS":                  "tour:" + tourKey + ":*",
	"HEROLD_BOUNCE_DOMAIN":             "bounces.example.com",
	"HEROLD_WEBHOOKS_ALLOW_PRIVATE":    "true",
	"HEROLD_CAMPAIGN_DEFAULT_THROTTLE": "0",
}

// Every route Herold registers under /v1 is in the API description with its
// method, and every operation the description names is a route Herold
// serves: neither can drift from the other.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Env: tourEnv})
	served := h.APIRoutes()
	if len(served) < 40 {
		t.Fatalf("only %d /v1 routes recorded: %v; the route table misses registrations", len(served), served)
	}
	documented := documentedRoutes(t)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is served but not in internal/api/openapi.yaml", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("operation %q is in internal/api/openapi.yaml but no such route is served", r)
		}
	}
}

// documentedRoutes returns "METHOD /path" for each operation of the description.
func documentedRoutes(t *testing.T) []string {
	t.Helper()
	doc, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.1") {
		t.Fatalf("openapi %q, want 3.1", d.OpenAPI)
	}
	var out []string
	for path, item := range d.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}

// tour drives a Herold through its API.
type tour struct {
	t     *testing.T
	url   string
	calls int
}

// call sends body (JSON unless it is a string) and checks the status; it
// returns the answer's body.
func (c *tour) call(method, path, contentType string, body any, want int) []byte {
	c.t.Helper()
	c.calls++
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r, contentType = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.url+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+tourKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	return b
}

func (c *tour) id(b []byte) string {
	c.t.Helper()
	var v struct{ ID string }
	if err := json.Unmarshal(b, &v); err != nil || v.ID == "" {
		c.t.Fatalf("no id in %s", b)
	}
	return v.ID
}

// A tour of the /v1 API, one or more calls of every route, answers as the
// API description says (apptest checks each exchange; a mismatch fails this
// test), and the check really ran: it counted the exchanges.
func TestOpenAPITourOfTheAPI(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Env: tourEnv})
	c := &tour{t: t, url: h.URL}

	// The description itself, without a key, and its ETag.
	res, err := http.Get(h.URL + api.OpenAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || res.Header.Get("ETag") == "" {
		t.Fatalf("GET %s: %d %v", api.OpenAPIPath, res.StatusCode, res.Header)
	}
	if _, err := openapitest.New(served); err != nil { // what is served is valid OpenAPI 3.1
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", h.URL+api.OpenAPIPath, nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %v %v", res, err)
	}

	// Recipients and consent.
	person := map[string]any{"kind": "customer", "salutation": "Frau", "first_name": "Anna", "last_name": "Schmidt",
		"emails": []map[string]any{{"address": "anna@example.com", "collected_in_sale": true}}, "mobile": map[string]any{"number": "+4915112345678"},
		"locale": "de", "contract": map[string]any{"started_at": "2024-01-01T00:00:00Z"}}
	c.call("PUT", "/v1/recipients/c-1", "", person, 201)
	c.call("PUT", "/v1/recipients/c-1", "", person, 200)
	c.call("PUT", "/v1/recipients/c-2", "", map[string]any{"kind": "prospect", "emails": []map[string]any{{"address": "ben@example.com"}}}, 201)
	c.call("PATCH", "/v1/recipients/c-1", "application/merge-patch+json", `{"last_name": "Schmidt-Weber"}`, 200)
	c.call("GET", "/v1/recipients/c-1", "", nil, 200)
	c.call("GET", "/v1/recipients/nobody", "", nil, 404)
	c.call("POST", "/v1/recipients/c-1/consents", "", map[string]any{"kind": "grant", "purpose": "advertising", "channel": "email",
		"source": "web_form", "text": "Ja, Angebote per E-Mail.", "ip": "203.0.113.7"}, 201)
	c.call("POST", "/v1/recipients/c-2/consents", "", map[string]any{"events": []map[string]any{
		{"kind": "doi_request", "purpose": "newsletter:news", "channel": "email", "source": "web_form", "text_version": "nl-1"},
		{"kind": "doi_confirm", "purpose": "newsletter:news", "channel": "email", "source": "web_form"}}}, 201)
	c.call("POST", "/v1/recipients/c-1/consents", "", map[string]any{"kind": "grant"}, 400)
	c.call("GET", "/v1/recipients/c-1/consents", "", nil, 200)
	c.call("GET", "/v1/recipients/c-1/export", "", nil, 200)
	c.call("GET", "/v1/recipients", "", nil, 200)
	c.call("GET", "/v1/recipients?email=anna@example.com&limit=5", "", nil, 200)
	c.call("GET", "/v1/recipients?limit=0", "", nil, 400)
	c.call("POST", "/v1/recipients/import", "application/x-ndjson",
		`{"id": "c-3", "kind": "customer", "emails": [{"address": "cara@example.com"}], "contract": {"started_at": "2025-01-01T00:00:00Z"}}`+"\n"+
			`{"id": "c-4", "kind": "nonsense"}`+"\n", 200)
	c.call("POST", "/v1/recipients/import", "text/csv", "id,kind,email\nc-5,prospect,dora@example.com\n", 200)
	c.call("GET", "/v1/lists", "", nil, 200)
	c.call("GET", "/v1/lists/news/members", "", nil, 200)
	c.call("GET", "/v1/lists/news/members?state=pending", "", nil, 200)
	c.call("GET", "/v1/lists/nope/members", "", nil, 404)

	// Messages.
	invoice := map[string]any{"type": "invoice", "recipient_id": "c-1", "data": map[string]any{"invoice": map[string]any{
		"number": "RE-1", "period": "November 2026", "amount": 29.98, "currency": "EUR", "due_date": "2026-12-03",
		"direct_debit": true, "url": "https://service.example.com/rechnungen/RE-1"}}}
	mid := c.id(c.call("POST", "/v1/messages", "", invoice, 202))
	c.call("GET", "/v1/messages/"+mid, "", nil, 200)
	c.call("GET", "/v1/messages/nope", "", nil, 404)
	later := map[string]any{"type": "invoice", "recipient_id": "c-1", "send_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"data": invoice["data"]}
	lid := c.id(c.call("POST", "/v1/messages", "", later, 202))
	c.call("DELETE", "/v1/messages/"+lid, "", nil, 200)
	c.call("POST", "/v1/messages", "", map[string]any{"type": "invoice", "recipient_id": "nobody", "data": invoice["data"]}, 422)
	c.call("POST", "/v1/messages", "", `{"type": "invoice",`, 400)
	c.call("POST", "/v1/messages", "text/plain", "hello", 415)
	unknown := map[string]any{"type": "invoice", "recipient_id": "nobody", "data": invoice["data"]}
	c.call("POST", "/v1/messages/batch", "", map[string]any{"messages": []any{invoice, unknown}}, 207)
	c.call("POST", "/v1/messages/batch", "", map[string]any{"messages": []any{invoice}}, 202)
	c.call("GET", "/v1/messages?recipient_id=c-1", "", nil, 200)
	c.call("GET", "/v1/messages", "", nil, 400)
	c.call("POST", "/v1/decisions", "", map[string]any{"type": "promo_offer", "recipient_id": "c-1", "channel": "email"}, 200)
	c.call("POST", "/v1/decisions", "", map[string]any{"type": "promo_offer", "recipient_id": "c-1", "channels": []string{"email", "sms"}}, 200)
	c.call("POST", "/v1/preview", "", map[string]any{"type": "invoice", "channel": "email"}, 200)
	c.call("POST", "/v1/preview", "", map[string]any{"type": "invoice", "channel": "fax"}, 400)

	// Segments.
	c.call("POST", "/v1/segments", "", map[string]any{"id": "customers", "name": "Customers", "expression": `kind = "customer"`}, 201)
	c.call("GET", "/v1/segments", "", nil, 200)
	c.call("GET", "/v1/segments/customers", "", nil, 200)
	c.call("PUT", "/v1/segments/customers", "", map[string]any{"name": "All customers", "expression": `kind = "customer"`, "version": 1}, 200)
	c.call("GET", "/v1/segments/customers?version=1", "", nil, 200)
	c.call("GET", "/v1/segments/customers/count?sample=2", "", nil, 200)
	c.call("GET", "/v1/recipients?segment=customers", "", nil, 200)

	// Campaigns.
	offer := map[string]any{"offer": map[string]any{"title": "Glasfaser 500", "price": 39.99, "valid_until": "2026-12-31",
		"url": "https://www.example.com/glasfaser"}}
	cid := c.id(c.call("POST", "/v1/campaigns", "", map[string]any{"name": "Advent", "type": "promo_offer", "channels": []string{"email"},
		"data": offer, "draft": true, "segment": "customers", "audience": []string{"c-1"},
		"quiet_hours": map[string]any{"start": "22:00", "end": "06:00"}}, 201))
	c.call("POST", "/v1/campaigns/"+cid+"/audience", "application/x-ndjson", `{"recipient_id": "c-3"}`+"\n", 200)
	c.call("POST", "/v1/campaigns/"+cid+"/audience", "text/csv", "recipient_id\nc-5\n", 200)
	c.call("GET", "/v1/campaigns/"+cid+"/dry-run", "", nil, 404)
	c.call("POST", "/v1/campaigns/"+cid+"/dry-run", "", nil, 200)
	c.call("GET", "/v1/campaigns/"+cid+"/dry-run", "", nil, 200)
	c.call("GET", "/v1/campaigns/"+cid, "", nil, 200)
	c.call("GET", "/v1/campaigns?state=draft", "", nil, 200)
	c.call("POST", "/v1/campaigns/"+cid+"/resume", "", nil, 409)
	c.call("POST", "/v1/campaigns/"+cid+"/start", "", nil, 200)
	c.call("POST", "/v1/campaigns/"+cid+"/pause", "", nil, 200)
	c.call("POST", "/v1/campaigns/"+cid+"/resume", "", nil, 200)
	c.call("GET", "/v1/campaigns/"+cid+"/recipients?limit=10", "", nil, 200)
	c.call("GET", "/v1/campaigns/"+cid+"/recipients/nobody", "", nil, 404)
	c.call("POST", "/v1/campaigns/"+cid+"/cancel", "", nil, 200)
	c.call("GET", "/v1/campaigns/nope", "", nil, 404)
	c.call("GET", "/v1/campaigns", "", nil, 200)
	c.call("POST", "/v1/campaigns", "", map[string]any{"name": "", "type": "promo_offer"}, 400)

	// Suppressions and the audit trail.
	c.call("POST", "/v1/suppressions", "", map[string]any{"reason": "hard_bounce", "note": "old ESP",
		"entries": []map[string]any{{"email": "old@example.com"}, {"phone": "+4915199999999", "channel": "sms"}}}, 200)
	list := c.call("GET", "/v1/suppressions?limit=10", "", nil, 200)
	c.call("GET", "/v1/suppressions?email=old@example.com", "", nil, 200)
	var sup struct {
		Suppressions []struct{ ID string } `json:"suppressions"`
	}
	if err := json.Unmarshal(list, &sup); err != nil || len(sup.Suppressions) == 0 {
		t.Fatalf("suppressions: %s", list)
	}
	c.call("DELETE", "/v1/suppressions/"+sup.Suppressions[0].ID, "", map[string]any{"reason": "asked to get mail again, ticket 4711"}, 200)
	c.call("DELETE", "/v1/suppressions/"+sup.Suppressions[0].ID+"?reason=again", "", nil, 404)
	c.call("GET", "/v1/audit", "", nil, 200)
	c.call("GET", "/v1/audit?format=ndjson", "", nil, 200)

	// Webhooks.
	wid := c.id(c.call("POST", "/v1/webhooks", "", map[string]any{"url": "http://127.0.0.1:9/herold", "event_types": []string{"message.delivered"}}, 201))
	c.call("GET", "/v1/webhooks", "", nil, 200)
	c.call("GET", "/v1/webhooks/"+wid, "", nil, 200)
	c.call("PATCH", "/v1/webhooks/"+wid, "", map[string]any{"enabled": false}, 200)
	c.call("POST", "/v1/webhooks/"+wid+"/rotate-secret", "", map[string]any{"overlap": "1h"}, 200)
	c.call("POST", "/v1/webhooks/"+wid+"/rotate-secret", "", nil, 200)
	c.call("GET", "/v1/webhooks/"+wid+"/deliveries?limit=5", "", nil, 200)
	c.call("POST", "/v1/webhooks/"+wid+"/deliveries/nope/replay", "", nil, 404)
	c.call("DELETE", "/v1/webhooks/"+wid, "", nil, 204)

	// Bounces.
	// A VERP address that does not verify is kept, matching no message.
	bid := c.id(c.call("POST", "/v1/bounces", "", map[string]any{"verp": "bounce+nothing@bounces.example.com", "kind": "hard"}, 201))
	c.call("GET", "/v1/bounces/"+bid, "", nil, 200)
	c.call("GET", "/v1/bounces/nope", "", nil, 404)

	// Erasure, and an unknown route.
	c.call("DELETE", "/v1/recipients/c-2", "", nil, 204)
	c.call("GET", "/v1/no-such-route", "", nil, 404)

	want := int64(c.calls + 2 - 1) // the tour's calls and the two of the description, but the unknown route
	if n := h.API.Checked(); n < want {
		t.Fatalf("%d exchanges checked against the API description, want at least %d: the check does not run", n, want)
	}
	t.Logf("%d exchanges checked against the API description", h.API.Checked())
}
