package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The README's quick start, as a test: on `herold dev` with nothing else
// running, an invoice to a customer is decided, rendered and written to the
// outbox.
func TestDevDeliversIntoOutbox(t *testing.T) {
	t.Parallel()
	outbox := t.TempDir()
	tb := runCommand(t, map[string]string{"HEROLD_HTTP_ADDR": "127.0.0.1:0", "HEROLD_OUTBOX_DIR": outbox}, "dev")
	m := apiKeyLine.FindStringSubmatch(tb.stdout.String())
	if m == nil {
		t.Fatalf("no API key line:\n%s", tb.stdout)
	}
	key := m[1]

	send := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, "http://"+tb.addr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
		return resp.StatusCode, v
	}

	if code, v := send(http.MethodPut, "/v1/recipients/c-1001", `{"kind": "customer", "salutation": "Frau",
		"first_name": "Anna", "last_name": "Schmidt", "emails": [{"address": "anna@example.com"}], "locale": "de",
		"contract": {"started_at": "2024-01-01T00:00:00Z"}}`); code/100 != 2 {
		t.Fatalf("PUT recipient = %d %v", code, v)
	}
	code, v := send(http.MethodPost, "/v1/messages", `{"type": "invoice", "recipient_id": "c-1001",
		"data": {"invoice": {"number": "RE-2026-11-004711", "period": "November 2026", "amount": 29.98,
		"currency": "EUR", "due_date": "2026-12-03", "direct_debit": true,
		"url": "https://service.example.com/rechnungen/RE-2026-11-004711"}}}`)
	if code != http.StatusAccepted {
		t.Fatalf("POST message = %d %v", code, v)
	}
	id, _ := v["id"].(string)

	// Wait for the delivery (the test's deadline bounds this).
	var status any
	for {
		_, v := send(http.MethodGet, "/v1/messages/"+id, "")
		if status = v["status"]; status != "queued" && status != "sending" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status != "delivered" {
		t.Fatalf("message status %v, want delivered", status)
	}
	files, err := filepath.Glob(filepath.Join(outbox, "email", "*"+id+"*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("outbox files for %s: %v, %v", id, files, err)
	}
	eml, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"anna@example.com", "RE-2026-11-004711"} {
		if !strings.Contains(string(eml), want) {
			t.Errorf("outbox message lacks %q", want)
		}
	}
	if err := tb.stop(); err != nil {
		t.Fatal(err)
	}
}
