package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heroldhq/herold/internal/api"
	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/bounce"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/webhooks"
)

const (
	keyHooks  = "hooks-key-0123456789"
	keyMTA    = "mta-key-0123456789ab"
	keyNoHook = "crm2-key-0123456789a"
)

type hooksBundle struct {
	srv  *httptest.Server
	hub  *webhooks.Hub
	proc *bounce.Processor
	verp *bounce.VERP
	eff  *recordedEffects
}

type recordedEffects struct {
	mu    sync.Mutex
	calls []bounce.Report
}

func (e *recordedEffects) Bounced(_ context.Context, r bounce.Report) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, r)
	return nil
}

// setupHooks serves /v1/webhooks and /v1/bounces behind the real
// authentication, with a webhook worker and pump on a queue of its own.
func setupHooks(t *testing.T) *hooksBundle {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	cfg := config.Webhooks{
		Queue: redistest.Queue(t, "hooks"), Concurrency: 2, Timeout: 5 * time.Second, MaxAge: time.Hour,
		RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond, MaxBatch: 50, DefaultRate: 1000, MaxRate: 1000,
		MaxEndpoints: 10, AllowPrivate: true, Refresh: 100 * time.Millisecond, Poll: 20 * time.Millisecond,
		LogSize: 20, LogTTL: time.Hour, RotationOverlap: time.Hour,
	}
	hub, err := webhooks.New(webhooks.Options{Redis: rdb, Prefix: prefix, Client: asynq.NewClientFromRedisClient(rdb), Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	scfg := hub.ServerConfig(nil)
	scfg.TaskCheckInterval, scfg.DelayedTaskCheckInterval, scfg.LogLevel = 10*time.Millisecond, 20*time.Millisecond, asynq.FatalLevel
	worker := asynq.NewServerFromRedisClient(rdb, scfg)
	amux := asynq.NewServeMux()
	hub.Register(amux)
	if err := worker.Start(amux); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx) }()

	verp, err := bounce.NewVERP([]byte("api-test-verp-key-0123456789abcdef"), "bounce", "bounces.herold.test")
	if err != nil {
		t.Fatal(err)
	}
	eff := &recordedEffects{}
	proc, err := bounce.NewProcessor(bounce.Options{Redis: rdb, Prefix: prefix, VERP: verp, Effects: eff, ReportTTL: time.Hour, MaxSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ring, err := apikey.New([]apikey.Key{
		{Name: "integration", Hash: apikey.Hash(keyHooks), Scopes: []string{apikey.ScopeWebhooks, apikey.ScopeRecipients}},
		{Name: "mta", Hash: apikey.Hash(keyMTA), Scopes: []string{apikey.ScopeBounces}},
		{Name: "crm", Hash: apikey.Hash(keyNoHook), Scopes: []string{apikey.ScopeDecisions}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&api.Hooks{Hub: hub}).Routes(mux)
	(&api.Bounces{Processor: proc}).Routes(mux)
	srv := httptest.NewServer(api.Authenticate(ring, mux))
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		worker.Shutdown()
		_ = redistest.DeleteKeys(context.Background(), rdb, "asynq:{"+cfg.Queue+"}:*")
	})
	return &hooksBundle{srv: srv, hub: hub, proc: proc, verp: verp, eff: eff}
}

func (b *hooksBundle) do(t *testing.T, method, path, key string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, b.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

type hookView struct {
	ID            string   `json:"id"`
	URL           string   `json:"url"`
	EventTypes    []string `json:"event_types"`
	Enabled       bool     `json:"enabled"`
	BatchSize     int      `json:"batch_size"`
	Secret        string   `json:"secret"`
	Secrets       []any    `json:"secrets"`
	DeliveriesURL string   `json:"deliveries_url"`
}

func TestWebhooksAPIEndToEnd(t *testing.T) {
	t.Parallel()
	b := setupHooks(t)
	var (
		mu    sync.Mutex
		calls []*http.Request
		bods  [][]byte
	)
	got := make(chan struct{}, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls, bods = append(calls, r), append(bods, body)
		mu.Unlock()
		got <- struct{}{}
	}))
	defer rcv.Close()

	status, body := b.do(t, "POST", "/v1/webhooks", keyHooks, map[string]any{"url": rcv.URL + "/billing", "event_types": []string{"message.delivered"}})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	ep := decode[hookView](t, body)
	if !strings.HasPrefix(ep.Secret, "whsec_") || !ep.Enabled || ep.BatchSize != 1 || len(ep.Secrets) != 1 {
		t.Fatalf("created %s", body)
	}
	status, body = b.do(t, "GET", "/v1/webhooks/"+ep.ID, keyHooks, nil)
	if status != http.StatusOK || strings.Contains(string(body), ep.Secret) || strings.Contains(string(body), "whsec_") {
		t.Errorf("GET shows the secret or fails: %d %s", status, body)
	}
	status, body = b.do(t, "GET", "/v1/webhooks", keyHooks, nil)
	if list := decode[struct{ Webhooks []hookView }](t, body); status != http.StatusOK || len(list.Webhooks) != 1 || list.Webhooks[0].Secret != "" {
		t.Errorf("list: %d %s", status, body)
	}

	// An invoice's message.delivered arrives with the message id and no address.
	inv := events.Message{ID: "msg_abcdefghijklmnopqrstuvwxyz", RecipientID: "c-1001", Type: "invoice", Channel: "email"}
	if err := b.hub.Publish(t.Context(), events.Delivered(time.Now(), inv, "contract")); err != nil {
		t.Fatal(err)
	}
	<-got
	mu.Lock()
	c, cb := calls[0], bods[0]
	mu.Unlock()
	lib, _ := standardwebhooks.NewWebhook(ep.Secret)
	if err := lib.Verify(cb, c.Header); err != nil {
		t.Errorf("signature: %v", err)
	}
	if !strings.Contains(string(cb), `"message_id":"msg_abcdefghijklmnopqrstuvwxyz"`) || strings.Contains(string(cb), "@") {
		t.Errorf("payload %s", cb)
	}

	// The delivery log, then a replay of the delivered delivery.
	var dl struct{ Deliveries []webhooks.Delivery }
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		status, body = b.do(t, "GET", ep.DeliveriesURL, keyHooks, nil)
		if dl = decode[struct{ Deliveries []webhooks.Delivery }](t, body); len(dl.Deliveries) == 1 && dl.Deliveries[0].State == webhooks.StateDelivered {
			break
		}
	}
	if len(dl.Deliveries) != 1 || dl.Deliveries[0].State != webhooks.StateDelivered || dl.Deliveries[0].Attempts[0].StatusCode != 200 {
		t.Fatalf("deliveries: %d %s", status, body)
	}
	did := dl.Deliveries[0].ID
	if status, body = b.do(t, "POST", ep.DeliveriesURL+"/"+did+"/replay", keyHooks, nil); status != http.StatusAccepted {
		t.Fatalf("replay: %d %s", status, body)
	}
	<-got
	mu.Lock()
	if len(calls) != 2 || calls[1].Header.Get("webhook-id") != did {
		t.Errorf("replay call: %d calls", len(calls))
	}
	mu.Unlock()

	// Rotation through the API: both secrets sign during the overlap.
	status, body = b.do(t, "POST", "/v1/webhooks/"+ep.ID+"/rotate-secret", keyHooks, map[string]any{"overlap": "1h"})
	rot := decode[hookView](t, body)
	if status != http.StatusOK || rot.Secret == ep.Secret || len(rot.Secrets) != 2 {
		t.Fatalf("rotate: %d %s", status, body)
	}
	if err := b.hub.Publish(t.Context(), events.Delivered(time.Now(), inv, "contract")); err != nil {
		t.Fatal(err)
	}
	<-got
	mu.Lock()
	c, cb = calls[2], bods[2]
	mu.Unlock()
	for _, s := range []string{ep.Secret, rot.Secret} {
		w, _ := standardwebhooks.NewWebhook(s)
		if err := w.Verify(cb, c.Header); err != nil {
			t.Errorf("during the overlap: %v", err)
		}
	}

	status, body = b.do(t, "PATCH", "/v1/webhooks/"+ep.ID, keyHooks, map[string]any{"enabled": false, "batch_size": 20})
	if up := decode[hookView](t, body); status != http.StatusOK || up.Enabled || up.BatchSize != 20 {
		t.Errorf("patch: %d %s", status, body)
	}
	if status, _ = b.do(t, "DELETE", "/v1/webhooks/"+ep.ID, keyHooks, nil); status != http.StatusNoContent {
		t.Errorf("delete: %d", status)
	}
	if status, _ = b.do(t, "GET", "/v1/webhooks/"+ep.ID, keyHooks, nil); status != http.StatusNotFound {
		t.Errorf("get after delete: %d", status)
	}
}

func TestWebhooksAPIRefusesBadInput(t *testing.T) {
	t.Parallel()
	b := setupHooks(t)
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"event_types": []string{"*"}}, "url"},
		{map[string]any{"url": "ftp://x.example.com", "event_types": []string{"*"}}, "url"},
		{map[string]any{"url": "https://x.example.com", "event_types": []string{"message.sent"}}, "event_types"},
		{map[string]any{"url": "https://x.example.com", "event_types": "message.read"}, "event_types"},
		{map[string]any{"url": "https://x.example.com", "event_types": []string{"*"}, "batch_size": 51}, "batch_size"},
		{map[string]any{"url": "https://x.example.com", "event_types": []string{"*"}, "colour": "red"}, "colour"},
	} {
		status, body := b.do(t, "POST", "/v1/webhooks", keyHooks, c.body)
		if names := fieldNames(t, status, body); !slices.Contains(names, c.field) {
			t.Errorf("%v: fields %v, want %s", c.body, names, c.field)
		}
	}
	if _, body := b.do(t, "GET", "/v1/webhooks", keyHooks, nil); !strings.Contains(string(body), `"webhooks": []`) {
		t.Errorf("bad input stored an endpoint: %s", body)
	}
	for _, path := range []string{"/v1/webhooks/wh_nope", "/v1/webhooks/wh_aaaaaaaaaaaaaaaaaaaaaaaaaa/deliveries"} {
		if status, _ := b.do(t, "GET", path, keyHooks, nil); status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, status)
		}
	}
	if status, _ := b.do(t, "GET", "/v1/webhooks", keyNoHook, nil); status != http.StatusForbidden {
		t.Errorf("a key without the webhooks scope: %d, want 403", status)
	}
	status, body := b.do(t, "POST", "/v1/webhooks", keyHooks, map[string]any{"url": "https://x.example.com", "event_types": []string{"*"}})
	ep := decode[hookView](t, body)
	if status != http.StatusCreated {
		t.Fatal(status, string(body))
	}
	if status, body = b.do(t, "POST", "/v1/webhooks/"+ep.ID+"/rotate-secret", keyHooks, map[string]any{"overlap": "a day"}); !slices.Contains(fieldNames(t, status, body), "overlap") {
		t.Errorf("rotate with a bad overlap: %d %s", status, body)
	}
}

func TestBouncesAPI(t *testing.T) {
	t.Parallel()
	b := setupHooks(t)
	verp, _ := b.verp.ReturnPath("msg_abcdefghijklmnopqrstuvwxyz")
	status, body := b.do(t, "POST", "/v1/bounces", keyMTA, map[string]any{"verp": verp, "kind": "hard", "status": "5.1.1",
		"diagnostic": "550 5.1.1 <anna@example.net>: user unknown"})
	if status != http.StatusCreated {
		t.Fatalf("post: %d %s", status, body)
	}
	rep := decode[struct {
		ID      string
		Matched bool
	}](t, body)
	if !rep.Matched || len(b.eff.calls) != 1 || b.eff.calls[0].Diagnostic != "550 5.1.1 [address]: user unknown" {
		t.Errorf("report %s, effects %+v", body, b.eff.calls)
	}
	// A raw DSN posted as is.
	raw, err := os.ReadFile("../bounce/testdata/soft.eml")
	if err != nil {
		t.Fatal(err)
	}
	if status, body = b.do(t, "POST", "/v1/bounces", keyMTA, map[string]any{"verp": verp, "raw": string(raw)}); status != http.StatusCreated {
		t.Fatalf("post raw: %d %s", status, body)
	}
	if len(b.eff.calls) != 2 || b.eff.calls[1].Kind != bounce.Soft {
		t.Errorf("effects %+v", b.eff.calls)
	}
	if status, body = b.do(t, "POST", "/v1/bounces", keyMTA, map[string]any{"kind": "hard"}); !slices.Contains(fieldNames(t, status, body), "verp") {
		t.Errorf("post without verp: %d %s", status, body)
	}
	if status, _ = b.do(t, "POST", "/v1/bounces", keyHooks, map[string]any{"verp": verp, "kind": "hard"}); status != http.StatusForbidden {
		t.Errorf("a key without the bounces scope: %d", status)
	}
	// Reading a report needs the recipients scope, not the MTA's.
	if status, _ = b.do(t, "GET", "/v1/bounces/"+rep.ID, keyMTA, nil); status != http.StatusForbidden {
		t.Errorf("MTA key reads a report: %d", status)
	}
	status, body = b.do(t, "GET", "/v1/bounces/"+rep.ID, keyHooks, nil)
	if got := decode[struct {
		Kind      string `json:"kind"`
		MessageID string `json:"message_id"`
	}](t, body); status != http.StatusOK || got.Kind != "hard" || got.MessageID != "msg_abcdefghijklmnopqrstuvwxyz" {
		t.Errorf("get: %d %s", status, body)
	}
	if status, _ = b.do(t, "GET", "/v1/bounces/rpt_nope", keyHooks, nil); status != http.StatusNotFound {
		t.Errorf("unknown report: %d", status)
	}
}
