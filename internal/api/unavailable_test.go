package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/heroldhq/herold/internal/apptest"
)

// With HEROLD_REDIS_MIN_REPLICAS_ACK above the replicas there are, nothing
// that must survive a failover is acknowledged: an accepted message, a
// created campaign and a recorded consent are answered 503 store_unavailable
// with Retry-After, never 202/201 and never 500. The message is queued on the
// primary all the same, and a retry with the same idempotency key finds it
// instead of queueing a second one.
func TestUnconfirmedWritesAre503(t *testing.T) {
	t.Parallel()
	const key = "hrld_unavailable_admin"
	logs := &syncBuffer{}
	h := apptest.New(t, apptest.Options{Log: slog.New(slog.NewTextHandler(logs, nil)), Env: map[string]string{
		"HEROLD_API_KEYS":               "admin:" + key + ":*",
		"HEROLD_REDIS_MIN_REPLICAS_ACK": "9", // no test topology has 9 replicas
		"HEROLD_REDIS_ACK_TIMEOUT":      "20ms",
	}})
	// Start-up says so before the first write fails.
	if !strings.Contains(logs.String(), "HEROLD_REDIS_MIN_REPLICAS_ACK cannot be met now") || !strings.Contains(logs.String(), "wants 9") {
		t.Errorf("no start-up warning about the missing replicas in the log:\n%s", logs)
	}
	do := func(method, path string, body any, header ...string) (*http.Response, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(t.Context(), method, h.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp, out
	}
	want503 := func(what string, resp *http.Response, body []byte) {
		t.Helper()
		var p struct {
			Status int
			Code   string
		}
		_ = json.Unmarshal(body, &p)
		if resp.StatusCode != http.StatusServiceUnavailable || p.Code != "store_unavailable" || resp.Header.Get("Retry-After") != "5" {
			t.Errorf("%s: %d %s (Retry-After %q), want 503 store_unavailable with Retry-After 5", what, resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
	}

	if resp, body := do("PUT", "/v1/recipients/k-1", map[string]any{"kind": "customer", "last_name": "Berg",
		"emails": []any{map[string]any{"address": "berg@example.de"}}, "contract": map[string]any{"started_at": "2024-01-01"}}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT recipient: %d %s", resp.StatusCode, body)
	}
	invoice := map[string]any{"type": "invoice", "recipient_id": "k-1", "data": map[string]any{"invoice": map[string]any{
		"number": "RE-1", "period": "Mai", "amount": 9.5, "currency": "EUR", "due_date": "2026-06-01", "url": "https://example.com/r/1"}}}
	for i := range 2 {
		resp, body := do("POST", "/v1/messages", invoice, "Idempotency-Key", "inv-RE-1")
		want503(fmt.Sprintf("POST /v1/messages, try %d", i+1), resp, body)
	}
	if recs, err := h.Store.RecipientMessages(t.Context(), "k-1"); err != nil || len(recs) != 1 {
		t.Errorf("records of k-1: %d (%v), want the one message both tries accepted on the primary", len(recs), err)
	}

	resp, body := do("POST", "/v1/recipients/k-1/consents", map[string]any{
		"kind": "object", "purpose": "advertising", "channel": "all", "source": "letter"})
	want503("POST consents", resp, body)

	resp, body = do("POST", "/v1/campaigns", map[string]any{"name": "Mai", "type": "promo_offer",
		"data":     map[string]any{"offer": map[string]any{"title": "Mai", "price": 19.99, "valid_until": "2026-12-31", "url": "https://example.com/mai"}},
		"audience": []string{"k-1"}})
	want503("POST /v1/campaigns", resp, body)
}

// syncBuffer is a log sink the app's goroutines may write to concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
