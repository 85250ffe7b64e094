package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/token"
)

// TestRedisUnreachableIs503 is defect 5 of issue 14: while Redis was down
// the API answered 500 internal, so a producer could not tell "retry later"
// from a bug. Every route that needs the store now answers 503 with
// Retry-After and the problem code store_unavailable (the people's pages a
// plain 503 page); none answers 500; /readyz still says 503 not_ready.
func TestRedisUnreachableIs503(t *testing.T) {
	t.Parallel()
	proxy, rdb := redistest.NewProxy(t)
	const key = "hrld_unavailable_admin"
	h := apptest.New(t, apptest.Options{Redis: rdb, Env: map[string]string{"HEROLD_API_KEYS": "admin:" + key + ":*"}})
	unsub, err := h.Tokens.Seal(token.Token{Purpose: token.Unsubscribe, Recipient: "c-1", Scope: "advertising",
		Channel: "email", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	prefs, err := h.Tokens.Seal(token.Token{Purpose: token.Preferences, Recipient: "c-1", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	proxy.Cut()

	const msgID = "msg_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	invoice := `{"type":"invoice","recipient_id":"c-1","data":{"invoice":{"number":"RE-1","period":"November 2026",` +
		`"amount":29.98,"due_date":"2026-12-03","url":"https://service.example.com/r/1"}}}`
	person := `{"kind":"customer","emails":[{"address":"anna@example.com"}]}`
	consents := `{"events":[{"kind":"grant","purpose":"advertising","channel":"email","source":"web_form","text":"Ja"}]}`
	campaign := `{"name":"Winter","type":"promo_offer","channels":["email"],"audience":["c-1"],"data":{"offer":` +
		`{"title":"Allnet","price":24.99,"valid_until":"2026-12-31","url":"https://www.example.com/o"}}}`
	api := []struct{ method, path, body string }{
		{"POST", "/v1/messages", invoice},
		{"GET", "/v1/messages/" + msgID, ""},
		{"DELETE", "/v1/messages/" + msgID, ""},
		{"PUT", "/v1/recipients/c-1", person},
		{"PATCH", "/v1/recipients/c-1", `{"first_name":"Anna"}`},
		{"GET", "/v1/recipients/c-1", ""},
		{"DELETE", "/v1/recipients/c-1", ""},
		{"POST", "/v1/recipients/c-1/consents", consents},
		{"GET", "/v1/recipients/c-1/consents", ""},
		{"GET", "/v1/recipients/c-1/export", ""},
		{"POST", "/v1/decisions", `{"type":"invoice","recipient_id":"c-1","channel":"email"}`},
		{"POST", "/v1/campaigns", campaign},
		{"GET", "/v1/campaigns/cmp_0123456789abcdef", ""},
		{"POST", "/v1/campaigns/cmp_0123456789abcdef/audience", "c-1\n"},
		{"POST", "/v1/campaigns/cmp_0123456789abcdef/pause", ""},
		{"POST", "/v1/campaigns/cmp_0123456789abcdef/resume", ""},
		{"POST", "/v1/campaigns/cmp_0123456789abcdef/cancel", ""},
		{"GET", "/v1/campaigns/cmp_0123456789abcdef/recipients", ""},
		{"GET", "/v1/campaigns/cmp_0123456789abcdef/recipients/c-1", ""},
	}
	for _, rt := range api {
		resp := send(t, rt.method, h.URL+rt.path, key, "application/json", rt.body, nil)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p struct{ Code string }
		_ = json.Unmarshal(body, &p)
		if resp.StatusCode != http.StatusServiceUnavailable || p.Code != "store_unavailable" || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: %d %s (Retry-After %q), want 503 store_unavailable with Retry-After",
				rt.method, rt.path, resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
	}
	// A route that needs no store keeps working.
	if resp := send(t, "POST", h.URL+"/v1/preview", key, "application/json", `{"type":"invoice","channel":"email"}`, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("preview without Redis: %d, want 200", resp.StatusCode)
	}

	form := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}
	inbound := url.Values{"MessageSid": {"SM2"}, "From": {"+4915112345001"}, "Body": {"STOP"}}
	for path, f := range map[string]url.Values{"/webhooks/twilio/status": form, "/webhooks/twilio/inbound": inbound} {
		sig := sign(apptest.AuthToken, h.URL+path, f)
		resp := send(t, "POST", h.URL+path, "", "application/x-www-form-urlencoded", f.Encode(), map[string]string{"X-Twilio-Signature": sig})
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("POST %s: %d, want 503 with Retry-After (Twilio retries)", path, resp.StatusCode)
		}
	}

	pages := []struct{ method, path, ctype, body string }{
		{"POST", "/unsubscribe/" + unsub, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click"},
		{"GET", "/preferences/" + prefs, "", ""},
	}
	for _, pg := range pages {
		resp := send(t, pg.method, h.URL+pg.path, "", pg.ctype, pg.body, nil)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "nicht erreichbar") {
			t.Errorf("%s %s: %d %q, want the plain 503 page", pg.method, pg.path[:12], resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}

	resp := send(t, "GET", h.URL+"/readyz", "", "", "", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "not_ready") {
		t.Errorf("/readyz: %d %s, want 503 not_ready as before", resp.StatusCode, body)
	}

	// Back again: the same request succeeds.
	proxy.Restore()
	if resp := send(t, "PUT", h.URL+"/v1/recipients/c-1", key, "application/json", person, nil); resp.StatusCode >= 300 {
		t.Errorf("PUT after Redis came back: %d", resp.StatusCode)
	}
}

func send(t *testing.T, method, u, key, ctype, body string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
