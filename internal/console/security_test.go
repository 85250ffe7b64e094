package console_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/console"
)

// TestSessionsAndCSRF: without a live session every page leads to the
// sign-in and every change is refused; a forged or expired cookie counts as
// none; a POST without the session's CSRF token, with another token or from
// another origin is refused, and nothing changes.
func TestSessionsAndCSRF(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	h := start(t, map[string]string{"HEROLD_CONSOLE_ABSOLUTE_TIMEOUT": "2h", "HEROLD_CONSOLE_IDLE_TIMEOUT": "1h"}, clk.Now)
	p := seedPerson(t, h, "c_sec", "sec@example.de")

	anon := newBrowser(t, h.URL)
	for _, path := range []string{"/console/", "/console/campaigns", "/console/people/c_sec", "/console/audit"} {
		a := anon.get(path)
		if a.Status != http.StatusSeeOther || !strings.HasPrefix(a.Header.Get("Location"), "/console/signin?next=") {
			t.Errorf("GET %s without a session: %d to %q, want 303 to the sign-in", path, a.Status, a.Header.Get("Location"))
		}
	}
	if a := anon.post("/console/people/c_sec/erase", url.Values{"confirm": {"c_sec"}}); a.Status != http.StatusForbidden {
		t.Errorf("erase without a session: %d, want 403", a.Status)
	}

	// A forged cookie (well-formed, never issued).
	forged := newBrowser(t, h.URL)
	u, _ := url.Parse(h.URL + "/console/")
	forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: "herold_console", Value: strings.Repeat("A", 43), Path: "/console/"}})
	if a := forged.get("/console/people/c_sec"); a.Status != http.StatusSeeOther {
		t.Errorf("forged session cookie: %d, want 303 to the sign-in", a.Status)
	}

	b := signedIn(t, h, console.Compliance)
	if a := b.get("/console/people/c_sec"); a.Status != http.StatusOK || !strings.Contains(a.Body, "sec@example.de") {
		t.Fatalf("person page signed in: %d", a.Status)
	}
	tok := b.csrf()
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
	}{
		{"no CSRF token", url.Values{"confirm": {"c_sec"}}, nil},
		{"another token", url.Values{"confirm": {"c_sec"}, "csrf": {strings.Repeat("x", len(tok))}}, nil},
		{"cross-origin", url.Values{"confirm": {"c_sec"}, "csrf": {tok}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"cross-origin without fetch metadata", url.Values{"confirm": {"c_sec"}, "csrf": {tok}}, map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}},
	} {
		a := b.do("POST", "/console/people/c_sec/erase", tc.form, tc.header)
		if a.Status != http.StatusForbidden {
			t.Errorf("%s: erase answered %d, want 403", tc.name, a.Status)
		}
	}
	if _, err := h.Store.GetRecipient(t.Context(), p.ID); err != nil {
		t.Fatalf("the person is gone after refused erasures: %v", err)
	}

	// Headers of a page with personal data.
	a := b.get("/console/people/c_sec")
	csp := a.Header.Get("Content-Security-Policy")
	for _, want := range []string{"frame-ancestors 'none'", "script-src 'self'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if cc := a.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on the person page, want no-store", cc)
	}

	// Past the absolute timeout the session is gone, however active.
	clk.Advance(2*time.Hour + time.Second)
	if a := b.get("/console/people/c_sec"); a.Status != http.StatusSeeOther {
		t.Errorf("after the absolute timeout: %d, want 303 to the sign-in", a.Status)
	}
	if a := b.post("/console/people/c_sec/erase", url.Values{"confirm": {"c_sec"}, "csrf": {tok}}); a.Status != http.StatusForbidden {
		t.Errorf("erase with an expired session: %d, want 403", a.Status)
	}
	if _, err := h.Store.GetRecipient(t.Context(), p.ID); err != nil {
		t.Fatalf("the person is gone after an erasure with an expired session: %v", err)
	}
}

// TestSignInBackOff: ten wrong passwords make the name and the address
// wait; while they wait even the right password is refused (429 with
// Retry-After); another user from another address is not held up; the audit
// log names each checked failure.
func TestSignInBackOff(t *testing.T) {
	t.Parallel()
	h := start(t, map[string]string{"HEROLD_CONSOLE_LOCKOUT_AFTER": "5", "HEROLD_CONSOLE_LOCKOUT_BASE": "30s",
		"HEROLD_CONSOLE_TRUST_PROXY": "true"}, nil)
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	b := newBrowser(t, h.URL)
	var last answer
	for i := range 10 {
		last = b.do("POST", "/console/signin", url.Values{"name": {"marketing"}, "password": {"wrong password " + string(rune('a'+i))}}, from("192.0.2.7"))
		if last.Status == http.StatusSeeOther {
			t.Fatalf("try %d with a wrong password signed in", i+1)
		}
	}
	if last.Status != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("after 10 wrong passwords: %d, Retry-After %q; want 429 with Retry-After", last.Status, last.Header.Get("Retry-After"))
	}
	if !strings.Contains(last.Body, "signin-error") {
		t.Errorf("the back-off page does not say why:\n%s", last.Body)
	}
	for _, ip := range []string{"192.0.2.7", "192.0.2.8"} {
		if a := b.do("POST", "/console/signin", url.Values{"name": {"marketing"}, "password": {testPassword}}, from(ip)); a.Status != http.StatusTooManyRequests {
			t.Errorf("the right password for the locked name from %s: %d, want 429", ip, a.Status)
		}
	}
	if a := b.do("POST", "/console/signin", url.Values{"name": {"viewer"}, "password": {testPassword}}, from("192.0.2.7")); a.Status != http.StatusTooManyRequests {
		t.Errorf("another name from the locked address: %d, want 429", a.Status)
	}
	comp := newBrowser(t, h.URL)
	if a := comp.do("POST", "/console/signin", url.Values{"name": {"compliance"}, "password": {testPassword}, "next": {"/console/"}}, from("192.0.2.9")); a.Status != http.StatusSeeOther {
		t.Fatalf("another user from another address: %d, want signed in", a.Status)
	}
	failed := 0
	for _, e := range auditEntries(t, comp) {
		if e.Action == "signin.failed" && e.User == "marketing" {
			failed++
			if e.IP != "192.0.2.7" {
				t.Errorf("signin.failed from IP %q, want 192.0.2.7", e.IP)
			}
		}
	}
	// Five were checked and failed; the other five were refused unchecked.
	if failed != 5 {
		t.Errorf("%d signin.failed entries for marketing, want 5", failed)
	}
}

// auditEntries downloads the audit log through the console's export.
func auditEntries(t *testing.T, b *browser) []console.AuditEntry {
	t.Helper()
	a := b.post("/console/audit/export", url.Values{"format": {"ndjson"}, "csrf": {b.csrf()}})
	if a.Status != http.StatusOK {
		t.Fatalf("audit export: %d\n%s", a.Status, a.Body)
	}
	var out []console.AuditEntry
	dec := json.NewDecoder(strings.NewReader(a.Body))
	for dec.More() {
		var e console.AuditEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}
