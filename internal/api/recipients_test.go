package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/api"
	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/privacy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/store"
)

// API keys of the test server: one per role.
const (
	keyCRM        = "crm-secret"        // scope recipients
	keyCompliance = "compliance-secret" // scope decisions
	keySender     = "sender-secret"     // scope send:* only
)

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type recipientsBundle struct {
	srv    *httptest.Server
	rdb    redis.UniversalClient
	prefix string
	store  *store.Store
	clock  *testClock
	logs   *bytes.Buffer
	logMu  *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func setupRecipientsAPI(t *testing.T) *recipientsBundle {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	clock := &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	st := store.New(rdb, prefix, store.WithSalt("api-test-salt-0123456789"), store.WithClock(clock.Now))
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	ring, err := apikey.New([]apikey.Key{
		{Name: "crm", Hash: apikey.Hash(keyCRM), Scopes: []string{apikey.ScopeRecipients}},
		{Name: "compliance", Hash: apikey.Hash(keyCompliance), Scopes: []string{apikey.ScopeDecisions}},
		{Name: "sender", Hash: apikey.Hash(keySender), Scopes: []string{apikey.ScopeSendAll}},
	})
	if err != nil {
		t.Fatal(err)
	}
	logs, logMu := &bytes.Buffer{}, &sync.Mutex{}
	log := slog.New(slog.NewJSONHandler(lockedWriter{logMu, logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := http.NewServeMux()
	(&api.Recipients{Store: st, Rights: privacy.New(st, nil), Log: log, Region: "DE", Now: clock.Now, Catalog: cat}).Routes(mux)
	(&api.Decisions{Store: st, Catalog: cat, Log: log, Now: clock.Now}).Routes(mux)
	srv := httptest.NewServer(api.Authenticate(ring, mux))
	t.Cleanup(srv.Close)
	return &recipientsBundle{srv: srv, rdb: rdb, prefix: prefix, store: st, clock: clock, logs: logs, logMu: logMu}
}

// do sends body (a string as is, anything else as JSON) and returns the status and body.
func (b *recipientsBundle) do(t *testing.T, method, path, key string, body any) (int, []byte) {
	t.Helper()
	return b.doCT(t, method, path, key, "application/json", body)
}

func (b *recipientsBundle) doCT(t *testing.T, method, path, key, contentType string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	default:
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, b.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// keys lists the Redis keys of this test.
func (b *recipientsBundle) keys(t *testing.T) []string {
	t.Helper()
	return redistest.Keys(t, b.rdb, b.prefix+"*")
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, body)
	}
	return v
}

// fieldNames returns the names of a 400 answer's fields.
func fieldNames(t *testing.T, status int, body []byte) []string {
	t.Helper()
	if status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", status, body)
	}
	p := decode[api.Problem](t, body)
	var names []string
	for _, f := range p.Fields {
		names = append(names, f.Field)
	}
	return names
}

var erika = map[string]any{
	"kind":       "customer",
	"salutation": "Frau",
	"first_name": "Erika",
	"last_name":  "Mustermann",
	"emails":     []any{map[string]any{"address": "Erika@Example.DE", "collected_in_sale": true}},
	"mobile":     map[string]any{"number": "0151 23456789", "verified_at": "2026-01-05T10:00:00Z"},
	"postal_address": map[string]any{
		"street": "Heidestraße 17", "postal_code": "51147", "city": "Köln", "country": "de",
	},
	"locale":       "de",
	"time_zone":    "Europe/Berlin",
	"contract":     map[string]any{"started_at": "2025-01-01"},
	"open_request": false,
}

func TestRecipientLifecycle(t *testing.T) {
	t.Parallel()
	b := setupRecipientsAPI(t)

	status, body := b.do(t, "PUT", "/v1/recipients/c-1", keyCRM, erika)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	got := decode[recipient.Recipient](t, body)
	if got.ID != "c-1" || got.Emails[0].Address != "Erika@example.de" || !got.Emails[0].CollectedInSale ||
		got.Mobile.Number != "+4915123456789" || got.PostalAddress.Country != "DE" ||
		!got.CreatedAt.Equal(b.clock.Now()) || got.Contract.StartedAt.Format(time.DateOnly) != "2025-01-01" {
		t.Fatalf("created: %s", body)
	}

	b.clock.Advance(time.Minute)
	status, body = b.do(t, "GET", "/v1/recipients/c-1", keyCRM, nil)
	if status != http.StatusOK {
		t.Fatalf("get: %d %s", status, body)
	}
	// What GET shows can be sent back as is.
	status, body = b.do(t, "PUT", "/v1/recipients/c-1", keyCRM, string(body))
	if status != http.StatusOK {
		t.Fatalf("put back: %d %s", status, body)
	}
	replaced := decode[recipient.Recipient](t, body)
	if !replaced.CreatedAt.Equal(got.CreatedAt) || !replaced.UpdatedAt.Equal(b.clock.Now()) {
		t.Fatalf("replace timestamps: %s", body)
	}

	status, body = b.doCT(t, "PATCH", "/v1/recipients/c-1", keyCRM, "application/merge-patch+json",
		`{"open_request": true, "salutation": null, "contract": {"ended_at": "2026-02-28"}}`)
	if status != http.StatusOK {
		t.Fatalf("patch: %d %s", status, body)
	}
	patched := decode[recipient.Recipient](t, body)
	if !patched.OpenRequest || patched.Salutation != "" || patched.FirstName != "Erika" ||
		patched.Contract.EndedAt.Format(time.DateOnly) != "2026-02-28" || patched.Contract.StartedAt.Format(time.DateOnly) != "2025-01-01" {
		t.Fatalf("patched: %s", body)
	}

	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/recipients/nobody"},
		{"PATCH", "/v1/recipients/nobody"},
		{"DELETE", "/v1/recipients/nobody"},
		{"GET", "/v1/recipients/nobody/consents"},
		{"POST", "/v1/recipients/nobody/consents"},
		{"GET", "/v1/recipients/nobody/export"},
	} {
		var body any
		switch tc.method {
		case "PATCH":
			body = `{"open_request": true}`
		case "POST":
			body = map[string]any{"kind": "object", "purpose": "advertising", "channel": "all", "source": "letter"}
		}
		if status, resp := b.do(t, tc.method, tc.path, keyCRM, body); status != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", tc.method, tc.path, status, resp)
		} else if p := decode[api.Problem](t, resp); p.Code != "not_found" {
			t.Errorf("%s %s: code %q", tc.method, tc.path, p.Code)
		}
	}
	if keys := b.keys(t); slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, "nobody") }) {
		t.Fatalf("a 404 wrote keys: %v", keys)
	}

	status, body = b.do(t, "DELETE", "/v1/recipients/c-1", keyCRM, nil)
	if status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, body)
	}
	if status, _ := b.do(t, "GET", "/v1/recipients/c-1", keyCRM, nil); status != http.StatusNotFound {
		t.Fatalf("get after delete: %d", status)
	}
	// No personal data in the logs.
	b.logMu.Lock()
	logs := b.logs.String()
	b.logMu.Unlock()
	for _, pd := range []string{"Erika", "Mustermann", "example.de", "Example", "23456789", "Heidestra", "Köln"} {
		if strings.Contains(logs, pd) {
			t.Errorf("log holds personal data %q:\n%s", pd, logs)
		}
	}
	if !strings.Contains(logs, `"recipient_id":"c-1"`) {
		t.Errorf("log lacks the recipient id:\n%s", logs)
	}
}

func TestRecipientBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	b := setupRecipientsAPI(t)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		fields []string
	}{
		{"every bad field at once", "PUT", "/v1/recipients/c-1", map[string]any{
			"kind":           "lead",
			"emails":         []any{map[string]any{"address": "not-an-address"}, map[string]any{"address": "ok@example.de"}},
			"mobile":         map[string]any{"number": "030 1234567", "verified_at": "soon"},
			"locale":         "fr",
			"time_zone":      "Europe/Atlantis",
			"contract":       map[string]any{"started_at": "2025-13-01", "ended_at": "later"},
			"postal_address": map[string]any{"country": "Deutschland"},
		}, []string{"kind", "emails[0].address", "mobile.number", "mobile.verified_at", "postal_address.country",
			"locale", "time_zone", "contract.started_at", "contract.ended_at"}},
		{"missing kind", "PUT", "/v1/recipients/c-1", map[string]any{"first_name": "Erika"}, []string{"kind"}},
		{"unknown field", "PUT", "/v1/recipients/c-1", map[string]any{"kind": "customer", "birthday": "1970-01-01"}, []string{"birthday"}},
		{"wrong type", "PUT", "/v1/recipients/c-1", map[string]any{"kind": "customer", "open_request": "yes"}, []string{"open_request"}},
		{"bad id", "PUT", "/v1/recipients/a%20b", map[string]any{"kind": "customer"}, []string{"id"}},
		{"id mismatch", "PUT", "/v1/recipients/c-1", map[string]any{"id": "c-2", "kind": "customer"}, []string{"id"}},
		{"duplicate address", "PUT", "/v1/recipients/c-1", map[string]any{"kind": "prospect", "emails": []any{
			map[string]any{"address": "a@example.de"}, map[string]any{"address": "A@EXAMPLE.DE"}}}, []string{"emails[1].address"}},
	}
	for _, tt := range tests {
		status, body := b.do(t, tt.method, tt.path, keyCRM, tt.body)
		got := fieldNames(t, status, body)
		if !slices.Equal(got, tt.fields) {
			t.Errorf("%s: fields %v, want %v\n%s", tt.name, got, tt.fields, body)
		}
	}
	if keys := b.keys(t); len(keys) != 0 {
		t.Fatalf("bad input wrote %v", keys)
	}
	if status, body := b.do(t, "PUT", "/v1/recipients/c-1", keyCRM, "{not json"); status != http.StatusBadRequest {
		t.Fatalf("malformed JSON: %d %s", status, body)
	}

	// A bad patch leaves the stored profile as it was.
	if status, body := b.do(t, "PUT", "/v1/recipients/c-1", keyCRM, erika); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	before, _ := b.rdb.Get(t.Context(), b.prefix+"{r:c-1}:profile").Result()
	status, body := b.do(t, "PATCH", "/v1/recipients/c-1", keyCRM, map[string]any{"kind": "vip", "emails": []any{map[string]any{"address": "x"}}})
	if got := fieldNames(t, status, body); !slices.Equal(got, []string{"kind", "emails[0].address"}) {
		t.Fatalf("bad patch fields: %v", got)
	}
	if status, body := b.do(t, "PATCH", "/v1/recipients/c-1", keyCRM, `[1,2]`); status != http.StatusBadRequest {
		t.Fatalf("array patch: %d %s", status, body)
	}
	after, _ := b.rdb.Get(t.Context(), b.prefix+"{r:c-1}:profile").Result()
	if before != after {
		t.Fatalf("bad patch changed the profile:\n%s\n%s", before, after)
	}
}

func TestRecipientsNeedScope(t *testing.T) {
	t.Parallel()
	b := setupRecipientsAPI(t)
	if status, _ := b.do(t, "PUT", "/v1/recipients/c-1", "", erika); status != http.StatusUnauthorized {
		t.Fatalf("no key: %d", status)
	}
	for _, key := range []string{keySender, keyCompliance} {
		for _, tc := range []struct{ method, path string }{
			{"PUT", "/v1/recipients/c-1"}, {"GET", "/v1/recipients/c-1"}, {"DELETE", "/v1/recipients/c-1"},
			{"POST", "/v1/recipients/c-1/consents"}, {"GET", "/v1/recipients/c-1/export"},
		} {
			if status, body := b.do(t, tc.method, tc.path, key, erika); status != http.StatusForbidden {
				t.Errorf("%s %s with %s: %d %s", tc.method, tc.path, key, status, body)
			}
		}
	}
	if status, body := b.do(t, "POST", "/v1/decisions", keyCRM, map[string]any{"type": "invoice", "recipient_id": "c-1", "channel": "email"}); status != http.StatusForbidden {
		t.Errorf("decisions with the crm key: %d %s", status, body)
	}
	if keys := b.keys(t); len(keys) != 0 {
		t.Fatalf("forbidden requests wrote %v", keys)
	}
}

type consentsView struct {
	RecipientID string               `json:"recipient_id"`
	At          time.Time            `json:"at"`
	State       []store.ConsentEntry `json:"state"`
	History     []consent.Event      `json:"history"`
}

func TestConsentLedgerAPI(t *testing.T) {
	t.Parallel()
	b := setupRecipientsAPI(t)
	if status, body := b.do(t, "PUT", "/v1/recipients/c-1", keyCRM, erika); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	// One event, with at, ip and user agent.
	status, body := b.do(t, "POST", "/v1/recipients/c-1/consents", keyCRM, map[string]any{
		"kind": "grant", "purpose": "advertising", "channel": "email", "source": "web_form",
		"at": "2026-03-01T08:00:00+01:00", "ip": "::ffff:192.0.2.7", "user_agent": "Mozilla/5.0",
		"text": "Ja, ich möchte Angebote per E-Mail erhalten.", "text_version": "ads-email-v3",
	})
	if status != http.StatusCreated {
		t.Fatalf("append: %d %s", status, body)
	}
	one := decode[struct{ Events []consent.Event }](t, body)
	if len(one.Events) != 1 || one.Events[0].ID == "" || one.Events[0].RecordedBy != "crm" ||
		!one.Events[0].At.Equal(time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)) || one.Events[0].IP.String() != "192.0.2.7" {
		t.Fatalf("stored event: %s", body)
	}
	// Several at once; at defaults to now.
	status, body = b.do(t, "POST", "/v1/recipients/c-1/consents", keyCRM, map[string]any{"events": []any{
		map[string]any{"kind": "doi_request", "purpose": "newsletter:tarife", "channel": "email", "source": "web_form", "text": "Newsletter Tarife"},
		map[string]any{"kind": "object", "purpose": "customer_tip", "channel": "all", "source": "letter"},
	}})
	if status != http.StatusCreated {
		t.Fatalf("append many: %d %s", status, body)
	}
	many := decode[struct{ Events []consent.Event }](t, body)
	if len(many.Events) != 2 || !many.Events[0].At.Equal(b.clock.Now()) || many.Events[0].ID == many.Events[1].ID {
		t.Fatalf("stored events: %s", body)
	}

	// Bad events: each field named, nothing appended.
	bad := []struct {
		name   string
		body   any
		fields []string
	}{
		{"every field", map[string]any{"events": []any{
			map[string]any{"kind": "grant", "purpose": "advertising", "channel": "sms", "source": "api", "text": "ok"},
			map[string]any{"kind": "maybe", "purpose": "Ads!", "channel": "fax", "source": "rumour", "at": "yesterday", "ip": "1.2.3"},
		}}, []string{"events[1].kind", "events[1].purpose", "events[1].channel", "events[1].source", "events[1].at", "events[1].ip"}},
		{"grant without text", map[string]any{"kind": "grant", "purpose": "survey", "channel": "email", "source": "phone"}, []string{"text"}},
		{"missing channel", map[string]any{"kind": "withdraw", "purpose": "survey", "source": "phone"}, []string{"channel"}},
		{"in the future", map[string]any{"kind": "withdraw", "purpose": "survey", "channel": "all", "source": "phone",
			"at": b.clock.Now().Add(time.Hour).Format(time.RFC3339)}, []string{"at"}},
		{"server fields", map[string]any{"kind": "withdraw", "purpose": "survey", "channel": "all", "source": "phone", "id": "mine"}, []string{"id"}},
		{"both forms", map[string]any{"kind": "withdraw", "events": []any{map[string]any{"kind": "withdraw"}}}, []string{"events"}},
		{"empty list", map[string]any{"events": []any{}}, []string{"events"}},
	}
	for _, tt := range bad {
		status, body := b.do(t, "POST", "/v1/recipients/c-1/consents", keyCRM, tt.body)
		if got := fieldNames(t, status, body); !slices.Equal(got, tt.fields) {
			t.Errorf("%s: fields %v, want %v\n%s", tt.name, got, tt.fields, body)
		}
	}

	b.clock.Advance(time.Minute)
	status, body = b.do(t, "GET", "/v1/recipients/c-1/consents", keyCRM, nil)
	if status != http.StatusOK {
		t.Fatalf("consents: %d %s", status, body)
	}
	view := decode[consentsView](t, body)
	if len(view.History) != 3 {
		t.Fatalf("history has %d events, want 3 (bad requests appended?): %s", len(view.History), body)
	}
	want := []store.ConsentEntry{
		{Purpose: "advertising", Channel: "email", Entry: consent.Entry{Status: consent.Granted, Since: one.Events[0].At, EventID: one.Events[0].ID, Source: consent.WebForm}},
		{Purpose: "customer_tip", Channel: "all", Entry: consent.Entry{Status: consent.Objected, Since: many.Events[1].At, EventID: many.Events[1].ID, Source: consent.Letter}},
		{Purpose: "newsletter:tarife", Channel: "email", Entry: consent.Entry{Status: consent.DOIPending, Since: many.Events[0].At, EventID: many.Events[0].ID, Source: consent.WebForm}},
	}
	if len(view.State) != len(want) {
		t.Fatalf("state: %s", body)
	}
	for i := range want {
		g, w := view.State[i], want[i]
		if g.Purpose != w.Purpose || g.Channel != w.Channel || g.Status != w.Status || !g.Since.Equal(w.Since) || g.EventID != w.EventID || g.Source != w.Source {
			t.Errorf("state[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestExport(t *testing.T) {
	t.Parallel()
	b := setupRecipientsAPI(t)
	if status, body := b.do(t, "PUT", "/v1/recipients/c-1", keyCRM, erika); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, body := b.do(t, "POST", "/v1/recipients/c-1/consents", keyCRM, map[string]any{
		"kind": "grant", "purpose": "survey", "channel": "email", "source": "customer_portal", "text": "Umfragen: ja",
	}); status != http.StatusCreated {
		t.Fatalf("consent: %d %s", status, body)
	}
	rec := &store.MessageRecord{ID: "msg-export-1", Type: "invoice", Class: message.Transactional, RecipientID: "c-1",
		Status: store.StatusDelivered, Decision: &policy.Decision{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed}}
	if err := b.store.CreateMessage(t.Context(), rec, time.Hour); err != nil {
		t.Fatal(err)
	}

	req, _ := http.NewRequestWithContext(t.Context(), "GET", b.srv.URL+"/v1/recipients/c-1/export", nil)
	req.Header.Set("Authorization", "Bearer "+keyCRM)
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), `filename="herold-export-c-1.json"`) {
		t.Fatalf("export: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	doc := decode[struct {
		Format      string
		RecipientID string `json:"recipient_id"`
		Profile     recipient.Recipient
		Consents    consentsView
		Messages    []store.MessageRecord
	}](t, body)
	if doc.Format != privacy.ExportFormat || doc.RecipientID != "c-1" || doc.Profile.LastName != "Mustermann" ||
		len(doc.Consents.History) != 1 || len(doc.Consents.State) != 1 || doc.Consents.State[0].Status != consent.Granted ||
		len(doc.Messages) != 1 || doc.Messages[0].ID != "msg-export-1" || doc.Messages[0].Decision == nil {
		t.Fatalf("export document: %s", body)
	}

	// Erasure takes the message log with it.
	if status, body := b.do(t, "DELETE", "/v1/recipients/c-1", keyCRM, nil); status != http.StatusNoContent {
		t.Fatalf("erase: %d %s", status, body)
	}
	if _, err := b.store.GetMessage(t.Context(), "msg-export-1"); err == nil {
		t.Fatal("message record survived erasure")
	}
	if keys := b.keys(t); !slices.Equal(keys, []string{b.prefix + "idx:email", b.prefix + "idx:phone", b.prefix + "suppression"}) &&
		!slices.Equal(keys, []string{b.prefix + "suppression"}) {
		t.Fatalf("keys after erasure: %v", keys)
	}
}

func TestConcurrentConsentRequests(t *testing.T) {
	t.Parallel()
	b := setupRecipientsAPI(t)
	if status, body := b.do(t, "PUT", "/v1/recipients/c-1", keyCRM, erika); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	const writers, each = 16, 10
	kinds := []string{"grant", "withdraw", "object"}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				at := b.clock.Now().Add(-time.Duration(w*each+i+1) * time.Second).Format(time.RFC3339)
				status, body := b.do(t, "POST", "/v1/recipients/c-1/consents", keyCRM, map[string]any{
					"kind": kinds[(w+i)%3], "purpose": "advertising", "channel": []string{"sms", "email", "all"}[i%3],
					"source": "api", "text": "t", "at": at,
				})
				if status != http.StatusCreated {
					t.Errorf("writer %d: %d %s", w, status, body)
					return
				}
			}
		})
	}
	wg.Wait()
	status, body := b.do(t, "GET", "/v1/recipients/c-1/consents", keyCRM, nil)
	if status != http.StatusOK {
		t.Fatalf("consents: %d %s", status, body)
	}
	view := decode[consentsView](t, body)
	if len(view.History) != writers*each {
		t.Fatalf("history has %d events, want %d", len(view.History), writers*each)
	}
	want := store.StateEntries(consent.Fold(view.History, view.At))
	if len(want) != len(view.State) {
		t.Fatalf("state %+v, fold %+v", view.State, want)
	}
	for i := range want {
		if want[i].Purpose != view.State[i].Purpose || want[i].Channel != view.State[i].Channel ||
			want[i].Status != view.State[i].Status || want[i].EventID != view.State[i].EventID {
			t.Errorf("state[%d] = %+v, fold says %+v", i, view.State[i], want[i])
		}
	}
}

// TestConsentAPIRefusesLateConfirmation: a doi_confirm recorded through the
// API must confirm a pending signup within the catalog's window (30 days by
// default); otherwise it is refused with 422 naming the field and why, and
// nothing is appended.
func TestConsentAPIRefusesLateConfirmation(t *testing.T) {
	t.Parallel()
	b := setupRecipientsAPI(t)
	if status, body := b.do(t, "PUT", "/v1/recipients/c-1", keyCRM, erika); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	now := b.clock.Now()
	at := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339) }
	event := func(kind, purpose, when string) map[string]any {
		return map[string]any{"kind": kind, "purpose": purpose, "channel": "email", "source": "web_form", "at": when, "text": "Newsletter"}
	}
	post := func(body any) (int, []byte) { return b.do(t, "POST", "/v1/recipients/c-1/consents", keyCRM, body) }
	day := 24 * time.Hour

	if status, body := post(event("doi_request", "newsletter:late", at(40*day))); status != http.StatusCreated {
		t.Fatalf("doi_request: %d %s", status, body)
	}
	for _, tt := range []struct {
		name  string
		body  any
		field string
		words string
	}{
		{"confirmed 31 days after the signup", event("doi_confirm", "newsletter:late", at(9*day)), "at", "too late"},
		{"confirmation without a signup", event("doi_confirm", "newsletter:none", at(time.Hour)), "kind", "no pending doi_request"},
		{"late confirmation in a list", map[string]any{"events": []any{
			event("grant", "survey", at(time.Hour)), event("doi_confirm", "newsletter:late", at(time.Hour)),
		}}, "events[1].at", "too late"},
	} {
		status, body := post(tt.body)
		p := decode[api.Problem](t, body)
		if status != http.StatusUnprocessableEntity || p.Code != "confirmation_not_valid" || len(p.Fields) != 1 ||
			p.Fields[0].Field != tt.field || !strings.Contains(p.Fields[0].Message, tt.words) {
			t.Errorf("%s: %d %s, want 422 confirmation_not_valid on %s saying %q", tt.name, status, body, tt.field, tt.words)
		}
	}
	ledger, err := b.store.Ledger(t.Context(), "c-1")
	if err != nil || len(ledger) != 1 {
		t.Fatalf("ledger after refused confirmations: %d events, %v (want only the doi_request)", len(ledger), err)
	}

	// Within the window, alone or together with its signup: recorded.
	if status, body := post(event("doi_confirm", "newsletter:late", at(10*day+time.Minute))); status != http.StatusCreated {
		t.Errorf("confirmation within 30 days: %d %s", status, body)
	}
	if status, body := post(map[string]any{"events": []any{
		event("doi_request", "newsletter:now", ""), event("doi_confirm", "newsletter:now", ""),
	}}); status != http.StatusCreated {
		t.Errorf("signup and confirmation in one request: %d %s", status, body)
	}
}
