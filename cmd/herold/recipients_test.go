package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/redistest"
)

// send does one JSON request against a running herold.
func (tb *testBundle) send(t *testing.T, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+tb.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, out
}

// The recipients issue's acceptance story through the running server:
// create a customer, grant advertising consent by SMS, withdraw it, grant it
// again; the history shows three events and POST /v1/decisions answers
// allowed → consent_withdrawn → allowed. Then erase the person and create
// them again: suppressed.
func TestServeRecipientsConsentAndDecisions(t *testing.T) {
	t.Parallel()
	_, prefix := redistest.Client(t)
	crm, compliance := "crm-key-0123456789abcdef", "compliance-key-0123456789abcdef"
	tb := runCommand(t, map[string]string{
		"HEROLD_REDIS_URL":    redistest.URL(),
		"HEROLD_REDIS_PREFIX": prefix,
		"HEROLD_HTTP_ADDR":    "127.0.0.1:0",
		"HEROLD_API_KEYS":     "crm:" + crm + ":recipients,compliance:" + compliance + ":decisions",
		"HEROLD_HASH_SALT":    "e2e-salt-0123456789abcdef",
	}, "serve")

	code, body := tb.send(t, "PUT", "/v1/recipients/k-1001", crm,
		`{"kind":"customer","first_name":"Max","emails":[{"address":"max@example.de"}],"mobile":{"number":"0151 11122233"},"contract":{"started_at":"2024-01-01"}}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, body)
	}
	decide := func() string {
		t.Helper()
		code, d := tb.send(t, "POST", "/v1/decisions", compliance, `{"type":"promo_offer","recipient_id":"k-1001","channel":"sms"}`)
		if code != http.StatusOK {
			t.Fatalf("decide: %d %v", code, d)
		}
		return d["reason"].(string)
	}
	for i, step := range []struct{ kind, want string }{
		{"grant", "allowed"}, {"withdraw", "consent_withdrawn"}, {"grant", "allowed"},
	} {
		code, body := tb.send(t, "POST", "/v1/recipients/k-1001/consents", crm,
			`{"kind":"`+step.kind+`","purpose":"advertising","channel":"sms","source":"customer_portal","text":"Angebote per SMS: ja"}`)
		if code != http.StatusCreated {
			t.Fatalf("step %d: %d %v", i, code, body)
		}
		if got := decide(); got != step.want {
			t.Fatalf("step %d after %s: decision %s, want %s", i, step.kind, got, step.want)
		}
	}
	code, body = tb.send(t, "GET", "/v1/recipients/k-1001/consents", crm, "")
	if code != http.StatusOK || len(body["history"].([]any)) != 3 {
		t.Fatalf("consents: %d %v", code, body)
	}

	if code, body := tb.send(t, "DELETE", "/v1/recipients/k-1001", crm, ""); code != http.StatusNoContent {
		t.Fatalf("erase: %d %v", code, body)
	}
	code, body = tb.send(t, "PUT", "/v1/recipients/k-2002", crm,
		`{"kind":"customer","emails":[{"address":"MAX@example.de"}],"contract":{"started_at":"2024-01-01"}}`)
	if code != http.StatusCreated {
		t.Fatalf("re-create: %d %v", code, body)
	}
	code, d := tb.send(t, "POST", "/v1/decisions", compliance, `{"type":"invoice","recipient_id":"k-2002","channel":"email"}`)
	if code != http.StatusOK || d["reason"] != "suppressed" {
		t.Fatalf("invoice to an erased address: %d %v", code, d)
	}
	if strings.Contains(tb.stderr.String(), "max@example.de") || strings.Contains(tb.stderr.String(), "Max") {
		t.Error("personal data in the logs")
	}
}
