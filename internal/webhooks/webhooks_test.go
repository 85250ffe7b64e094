package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/webhooks"
)

// ---- a receiver written from the specification, not from the library

// verifySpec checks a request as https://www.standardwebhooks.com describes
// it: HMAC-SHA256 over "id.timestamp.body" with the base64-decoded secret
// (without "whsec_"), base64, any one of the space-separated "v1,"
// signatures, and a timestamp within five minutes.
func verifySpec(secret string, hdr http.Header, body []byte, now time.Time) bool {
	id, ts, sigs := hdr.Get("webhook-id"), hdr.Get("webhook-timestamp"), hdr.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, s := range strings.Split(sigs, " ") {
		v, sig, ok := strings.Cut(s, ",")
		if ok && v == "v1" && subtle.ConstantTimeCompare([]byte(sig), []byte(want)) == 1 {
			return true
		}
	}
	return false
}

// The published test vector of the specification.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSpecReceiverAcceptsTheTestVector(t *testing.T) {
	t.Parallel()
	hdr := http.Header{}
	hdr.Set("webhook-id", vectorID)
	hdr.Set("webhook-timestamp", strconv.Itoa(vectorTS))
	hdr.Set("webhook-signature", vectorSig)
	if !verifySpec(vectorSecret, hdr, []byte(vectorBody), time.Unix(vectorTS, 0)) {
		t.Fatal("the spec receiver refuses the spec's own test vector")
	}
	if verifySpec(vectorSecret, hdr, []byte(`{"test": 2432232315}`), time.Unix(vectorTS, 0)) {
		t.Fatal("the spec receiver accepts an altered body")
	}
}

// ---- test bundle

type call struct {
	header http.Header
	body   []byte
	at     time.Time
}

type receiver struct {
	mu     sync.Mutex
	calls  []call
	answer func(n int) int // status for the n-th call (0-based)
	got    chan struct{}
	srv    *httptest.Server
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	r := &receiver{answer: answer, got: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.calls)
		r.calls = append(r.calls, call{header: req.Header.Clone(), body: b, at: time.Now()})
		r.mu.Unlock()
		code := http.StatusOK
		if r.answer != nil {
			code = r.answer(n)
		}
		w.WriteHeader(code)
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// wait blocks until the receiver has had n calls.
func (r *receiver) wait(t *testing.T, n int) []call {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for len(r.snapshot()) < n {
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("receiver got %d calls, want %d", len(r.snapshot()), n)
		}
	}
	return r.snapshot()
}

type bundle struct {
	hub    *webhooks.Hub
	rdb    redis.UniversalClient
	prefix string
	cfg    config.Webhooks
}

func testConfig(t *testing.T) config.Webhooks {
	return config.Webhooks{
		Queue: redistest.Queue(t, "webhooks"), Concurrency: 4, Timeout: 5 * time.Second, MaxAge: time.Hour,
		RetryBase: 10 * time.Millisecond, RetryMax: 40 * time.Millisecond, MaxBatch: 100,
		DefaultRate: 1000, MaxRate: 1000, MaxEndpoints: 5, AllowPrivate: true,
		Refresh: 100 * time.Millisecond, Poll: 20 * time.Millisecond, LogSize: 50, LogTTL: 2 * time.Hour,
		RotationOverlap: time.Hour,
	}
}

// setup starts a Hub with its pump and its asynq worker on a queue of this test's own.
func setup(t *testing.T, cfg config.Webhooks) *bundle {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	client := asynq.NewClientFromRedisClient(rdb)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	hub, err := webhooks.New(webhooks.Options{Redis: rdb, Prefix: prefix, Client: client, Config: cfg, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	scfg := hub.ServerConfig(nil)
	scfg.TaskCheckInterval = 10 * time.Millisecond
	scfg.DelayedTaskCheckInterval = 20 * time.Millisecond
	scfg.LogLevel = asynq.FatalLevel
	srv := asynq.NewServerFromRedisClient(rdb, scfg)
	mux := asynq.NewServeMux()
	hub.Register(mux)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Shutdown()
		_ = redistest.DeleteKeys(context.Background(), rdb, "asynq:{"+cfg.Queue+"}:*")
	})
	return &bundle{hub: hub, rdb: rdb, prefix: prefix, cfg: cfg}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func ptr[T any](v T) *T { return &v }

func (b *bundle) create(t *testing.T, url string, types []string, mod func(*webhooks.EndpointInput)) (webhooks.Endpoint, string) {
	t.Helper()
	in := webhooks.EndpointInput{URL: &url, EventTypes: &types}
	if mod != nil {
		mod(&in)
	}
	ep, secret, err := b.hub.Create(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return ep, secret
}

// waitState polls the delivery log until a delivery reaches state: the
// delivery log is the event that proves the worker is done with it.
func (b *bundle) waitState(t *testing.T, eid, state string) webhooks.Delivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ds, err := b.hub.Deliveries(t.Context(), eid, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.State == state {
				return d
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no delivery of %s reached %s", eid, state)
	return webhooks.Delivery{}
}

var at = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

var invoice = events.Message{ID: "msg_abcdefghijklmnopqrstuvwxyz", RecipientID: "c-1001", Type: "invoice", Channel: "email"}

// ---- end to end

func TestInvoiceDeliveredArrivesSignedWithIDsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(t))
	rcv := newReceiver(t, nil)
	ep, secret := b.create(t, rcv.srv.URL+"/hooks", []string{"message.delivered"}, nil)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q", secret)
	}
	// A type the endpoint did not ask for is not sent.
	if err := b.hub.Publish(t.Context(), events.Queued(at, invoice), events.Delivered(at, invoice, "contract")); err != nil {
		t.Fatal(err)
	}
	c := rcv.wait(t, 1)[0]

	lib, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := lib.Verify(c.body, c.header); err != nil {
		t.Errorf("Standard Webhooks library: %v", err)
	}
	if !verifySpec(secret, c.header, c.body, time.Now()) {
		t.Error("the receiver written from the spec refuses the signature")
	}
	if verifySpec(webhooks.NewSecret(), c.header, c.body, time.Now()) {
		t.Error("another secret verifies too")
	}
	var got events.Event
	if err := json.Unmarshal(c.body, &got); err != nil {
		t.Fatalf("body %s: %v", c.body, err)
	}
	if got.Type != events.MessageDelivered || got.Data.MessageID != invoice.ID || got.Data.RecipientID != "c-1001" || got.ID == "" {
		t.Errorf("event = %+v", got)
	}
	if strings.Contains(string(c.body), "@") || strings.Contains(string(c.body), "+49") {
		t.Errorf("body holds an address or number: %s", c.body)
	}
	if c.header.Get("Content-Type") != "application/json" || !strings.HasPrefix(c.header.Get("webhook-id"), "whd_") {
		t.Errorf("headers %v", c.header)
	}
	d := b.waitState(t, ep.ID, webhooks.StateDelivered)
	if d.ID != c.header.Get("webhook-id") || len(d.Events) != 1 || d.Events[0].Type != events.MessageDelivered ||
		len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 200 {
		t.Errorf("delivery log = %+v", d)
	}
	if n := len(rcv.snapshot()); n != 1 {
		t.Errorf("receiver got %d calls, want 1 (message.queued is not subscribed)", n)
	}
}

func TestRetriesUntilAcceptedThenNeverAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(t))
	rcv := newReceiver(t, func(n int) int {
		if n < 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	ep, secret := b.create(t, rcv.srv.URL, []string{"*"}, nil)
	if err := b.hub.Publish(t.Context(), events.Failed(at, invoice, "permanent")); err != nil {
		t.Fatal(err)
	}
	d := b.waitState(t, ep.ID, webhooks.StateDelivered)
	calls := rcv.snapshot()
	if len(calls) != 4 {
		t.Fatalf("receiver got %d calls, want 3 failures and 1 success", len(calls))
	}
	for i, c := range calls {
		if c.header.Get("webhook-id") != d.ID || string(c.body) != string(calls[0].body) {
			t.Errorf("call %d: webhook-id %s, want the same id and body on every retry", i, c.header.Get("webhook-id"))
		}
		if !verifySpec(secret, c.header, c.body, time.Now()) {
			t.Errorf("call %d: signature does not verify", i)
		}
	}
	var codes []int
	for _, a := range d.Attempts {
		codes = append(codes, a.StatusCode)
	}
	if got, want := jsonOf(codes), "[200,500,500,500]"; got != want {
		t.Errorf("attempt status codes (newest first) = %s, want %s", got, want)
	}
	if d.Attempts[1].Error != "status_500" {
		t.Errorf("failed attempt error = %q", d.Attempts[1].Error)
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestRotationSignsWithBothSecretsDuringTheOverlap(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(t))
	rcv := newReceiver(t, nil)
	ep, oldSecret := b.create(t, rcv.srv.URL, []string{"message.read"}, nil)

	_, newSecret, err := b.hub.RotateSecret(t.Context(), ep.ID, ptr(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if newSecret == oldSecret {
		t.Fatal("rotation kept the secret")
	}
	if err := b.hub.Publish(t.Context(), events.Read(at, invoice)); err != nil {
		t.Fatal(err)
	}
	c := rcv.wait(t, 1)[0]
	if n := len(strings.Split(c.header.Get("webhook-signature"), " ")); n != 2 {
		t.Errorf("webhook-signature has %d signatures during the overlap, want 2", n)
	}
	for name, s := range map[string]string{"old": oldSecret, "new": newSecret} {
		if !verifySpec(s, c.header, c.body, time.Now()) {
			t.Errorf("the %s secret does not verify during the overlap", name)
		}
		lib, _ := standardwebhooks.NewWebhook(s)
		if err := lib.Verify(c.body, c.header); err != nil {
			t.Errorf("library, %s secret: %v", name, err)
		}
	}

	// A rotation without overlap drops every older secret at once.
	_, newest, err := b.hub.RotateSecret(t.Context(), ep.ID, ptr(time.Duration(0)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.hub.Publish(t.Context(), events.Read(at, invoice)); err != nil {
		t.Fatal(err)
	}
	c = rcv.wait(t, 2)[1]
	if !verifySpec(newest, c.header, c.body, time.Now()) || verifySpec(newSecret, c.header, c.body, time.Now()) ||
		verifySpec(oldSecret, c.header, c.body, time.Now()) {
		t.Errorf("after a rotation without overlap only the newest secret may verify; header %q", c.header.Get("webhook-signature"))
	}
	got, _ := b.hub.Get(t.Context(), ep.ID)
	if len(got.Secrets) != 1 {
		t.Errorf("stored secrets = %d, want 1", len(got.Secrets))
	}
}

func TestGivesUpAfterMaxAgeAndReplays(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.MaxAge = 30 * time.Millisecond
	b := setup(t, cfg)
	var mu sync.Mutex
	healthy := false
	rcv := newReceiver(t, func(int) int {
		mu.Lock()
		defer mu.Unlock()
		if healthy {
			return http.StatusNoContent
		}
		return http.StatusBadGateway
	})
	ep, _ := b.create(t, rcv.srv.URL, []string{"*"}, nil)
	if err := b.hub.Publish(t.Context(), events.Erased(at, "c-1001")); err != nil {
		t.Fatal(err)
	}
	failed := b.waitState(t, ep.ID, webhooks.StateFailed)
	before := len(rcv.snapshot())
	if before < 2 || failed.Attempts[0].Error != "status_502" {
		t.Fatalf("calls %d, attempts %+v; want retries before giving up", before, failed.Attempts)
	}
	if _, err := b.hub.Replay(t.Context(), ep.ID, "whd_aaaaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("replay of an unknown delivery: %v", err)
	}
	mu.Lock()
	healthy = true
	mu.Unlock()
	if _, err := b.hub.Replay(t.Context(), ep.ID, failed.ID); err != nil {
		t.Fatal(err)
	}
	d := b.waitState(t, ep.ID, webhooks.StateDelivered)
	calls := rcv.snapshot()
	if len(calls) != before+1 || calls[len(calls)-1].header.Get("webhook-id") != failed.ID {
		t.Errorf("replay: %d calls after %d, last id %s; want one more with id %s", len(calls), before, calls[len(calls)-1].header.Get("webhook-id"), failed.ID)
	}
	if d.Replays != 1 || !d.Attempts[0].Replay || d.Attempts[0].StatusCode != http.StatusNoContent {
		t.Errorf("replayed delivery = %+v", d)
	}
	if _, err := b.hub.Replay(t.Context(), ep.ID, failed.ID); err != nil {
		t.Errorf("second replay of a delivered delivery: %v", err)
	}
}

func TestBatchesAreArraysOfAtMostBatchSize(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(t))
	rcv := newReceiver(t, nil)
	b.create(t, rcv.srv.URL, []string{"message.delivered"}, func(in *webhooks.EndpointInput) { in.BatchSize = ptr(10) })
	var evs []events.Event
	for i := range 25 {
		m := invoice
		m.ID = "msg_" + strconv.Itoa(i)
		evs = append(evs, events.Delivered(at, m, "contract"))
	}
	if err := b.hub.Publish(t.Context(), evs...); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for n := 1; len(seen) < 25; n++ {
		calls := rcv.wait(t, n)
		seen = map[string]int{}
		for _, c := range calls {
			var batch []events.Event
			if err := json.Unmarshal(c.body, &batch); err != nil {
				t.Fatalf("batch endpoint got a non-array body %s: %v", c.body, err)
			}
			if len(batch) == 0 || len(batch) > 10 {
				t.Errorf("batch of %d events, want 1..10", len(batch))
			}
			for _, e := range batch {
				seen[e.Data.MessageID]++
			}
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if n := len(rcv.snapshot()); n > 5 {
		t.Errorf("25 events took %d calls; batches of 10 need 3 (a few more if publishing raced the pump)", n)
	}
}

func TestRateLimitSpreadsCalls(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(t))
	rcv := newReceiver(t, nil)
	b.create(t, rcv.srv.URL, []string{"*"}, func(in *webhooks.EndpointInput) { in.RatePerSecond = ptr(4.0) })
	start := time.Now()
	for i := range 8 {
		m := invoice
		m.ID = "msg_" + strconv.Itoa(i)
		if err := b.hub.Publish(t.Context(), events.Read(at, m)); err != nil {
			t.Fatal(err)
		}
	}
	calls := rcv.wait(t, 8)
	// GCRA at 4/s with a burst of 4: the last 4 calls wait at least 1s in
	// total. A lower bound only, so a slow machine cannot make this fail.
	if el := calls[7].at.Sub(start); el < 900*time.Millisecond {
		t.Errorf("8 calls at 4/s took %s, want at least 1s", el)
	}
}

func TestDisabledAndDeletedEndpointsGetNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(t))
	rcv := newReceiver(t, nil)
	off, _ := b.create(t, rcv.srv.URL+"/off", []string{"*"}, func(in *webhooks.EndpointInput) { in.Enabled = ptr(false) })
	gone, _ := b.create(t, rcv.srv.URL+"/gone", []string{"*"}, nil)
	on, _ := b.create(t, rcv.srv.URL+"/on", []string{"*"}, nil)
	if err := b.hub.Delete(t.Context(), gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.hub.Publish(t.Context(), events.Read(at, invoice)); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, on.ID, webhooks.StateDelivered)
	for _, c := range rcv.snapshot() {
		if c.header.Get("webhook-id") == "" {
			t.Error("call without id")
		}
	}
	if n := len(rcv.snapshot()); n != 1 {
		t.Errorf("receiver got %d calls, want 1 (only the enabled endpoint)", n)
	}
	if ds, _ := b.hub.Deliveries(t.Context(), off.ID, 0); len(ds) != 0 {
		t.Errorf("disabled endpoint has deliveries %+v", ds)
	}
	if _, err := b.hub.Get(t.Context(), gone.ID); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("deleted endpoint: %v", err)
	}
	if n, _ := b.rdb.Exists(t.Context(), b.prefix+"{wh}:q:"+gone.ID).Result(); n != 0 {
		t.Error("deleted endpoint's outbox stayed")
	}
}

func TestPublishWithoutSubscriberWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(t))
	if err := b.hub.Publish(t.Context(), events.Delivered(at, invoice, "contract")); err != nil {
		t.Fatal(err)
	}
	b.create(t, "http://127.0.0.1:9/x", []string{"campaign.done"}, nil)
	if err := b.hub.Publish(t.Context(), events.Delivered(at, invoice, "contract")); err != nil {
		t.Fatal(err)
	}
	keys := redistest.Keys(t, b.rdb, b.prefix+"{wh}:q:*")
	due, _ := b.rdb.ZCard(t.Context(), b.prefix+"{wh}:due").Result()
	if len(keys) != 0 || due != 0 {
		t.Errorf("outboxes %v, due %d: events for nobody were written", keys, due)
	}
	// A bad event is refused as a whole once somebody listens.
	bad := events.Delivered(at, events.Message{ID: "msg_1", RecipientID: "anna@example.com"}, "")
	if err := b.hub.Publish(t.Context(), events.CampaignEvent(events.CampaignDone, at, "cmp_1", "promo_offer", nil), bad); err == nil {
		t.Error("an event with an address was accepted")
	}
	if keys = redistest.Keys(t, b.rdb, b.prefix+"{wh}:q:*"); len(keys) != 0 {
		t.Errorf("half of a refused call was queued: %v", keys)
	}
}

func TestEndpointValidationNamesTheField(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.AllowPrivate = false
	b := setup(t, cfg)
	cases := []struct {
		in    webhooks.EndpointInput
		field string
	}{
		{webhooks.EndpointInput{EventTypes: ptr([]string{"*"})}, "url"},
		{webhooks.EndpointInput{URL: ptr("https://hooks.example.com/x")}, "event_types"},
		{webhooks.EndpointInput{URL: ptr("https://hooks.example.com/x"), EventTypes: ptr([]string{"message.sent"})}, "event_types"},
		{webhooks.EndpointInput{URL: ptr("http://hooks.example.com/x"), EventTypes: ptr([]string{"*"})}, "url"},
		{webhooks.EndpointInput{URL: ptr("https://127.0.0.1/x"), EventTypes: ptr([]string{"*"})}, "url"},
		{webhooks.EndpointInput{URL: ptr("https://10.1.2.3/x"), EventTypes: ptr([]string{"*"})}, "url"},
		{webhooks.EndpointInput{URL: ptr("https://169.254.169.254/latest"), EventTypes: ptr([]string{"*"})}, "url"},
		{webhooks.EndpointInput{URL: ptr("https://[::1]/x"), EventTypes: ptr([]string{"*"})}, "url"},
		{webhooks.EndpointInput{URL: ptr("https://localhost/x"), EventTypes: ptr([]string{"*"})}, "url"},
		{webhooks.EndpointInput{URL: ptr("https://user:pw@hooks.example.com/x"), EventTypes: ptr([]string{"*"})}, "url"},
		{webhooks.EndpointInput{URL: ptr("https://hooks.example.com/x"), EventTypes: ptr([]string{"*"}), BatchSize: ptr(1000)}, "batch_size"},
		{webhooks.EndpointInput{URL: ptr("https://hooks.example.com/x"), EventTypes: ptr([]string{"*"}), RatePerSecond: ptr(-1.0)}, "rate_per_second"},
		{webhooks.EndpointInput{URL: ptr("https://hooks.example.com/x"), EventTypes: ptr([]string{"*"}), Secret: ptr("s3cret")}, "secret"},
	}
	for _, c := range cases {
		_, _, err := b.hub.Create(t.Context(), c.in)
		if inv, ok := invalid.As(err); !ok || inv.Fields[0].Field != c.field {
			t.Errorf("Create(%s) = %v, want an invalid.Error naming %s", jsonOf(c.in), err, c.field)
		}
	}
	if eps, _ := b.hub.List(t.Context()); len(eps) != 0 {
		t.Errorf("invalid inputs stored %d endpoints", len(eps))
	}
	ep, _, err := b.hub.Create(t.Context(), webhooks.EndpointInput{URL: ptr("https://hooks.example.com/herold"),
		EventTypes: ptr([]string{"message.failed", "message.delivered", "message.failed"}), Secret: ptr(vectorSecret)})
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(ep.EventTypes) != `["message.delivered","message.failed"]` || ep.BatchSize != 1 || !ep.Enabled {
		t.Errorf("created %+v", ep)
	}
	if _, err := b.hub.Update(t.Context(), ep.ID, webhooks.EndpointInput{URL: ptr("https://192.168.0.1/")}); err == nil {
		t.Error("update to a private address accepted")
	}
	up, err := b.hub.Update(t.Context(), ep.ID, webhooks.EndpointInput{Enabled: ptr(false), Description: ptr("billing")})
	if err != nil || up.Enabled || up.Description != "billing" || up.URL != ep.URL {
		t.Errorf("Update = %+v, %v", up, err)
	}
	for range 4 {
		if _, _, err := b.hub.Create(t.Context(), webhooks.EndpointInput{URL: ptr("https://hooks.example.com/"), EventTypes: ptr([]string{"*"})}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.hub.Create(t.Context(), webhooks.EndpointInput{URL: ptr("https://hooks.example.com/"), EventTypes: ptr([]string{"*"})}); !errors.Is(err, webhooks.ErrLimit) {
		t.Errorf("sixth endpoint with a limit of 5: %v", err)
	}
}

func TestPrivateTargetRefusedAtDialTime(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.AllowPrivate = false
	b := setup(t, cfg)
	rcv := newReceiver(t, nil)
	// The URL check refuses loopback names, so store an endpoint as an
	// operator would have before the rebinding: a public-looking name that
	// resolves to loopback. The dial-time check must stop it anyway.
	ep, _ := b.create(t, "https://hooks.example.com/x", []string{"*"}, nil)
	raw, _ := b.rdb.HGet(t.Context(), b.prefix+"{wh}:endpoints", ep.ID).Result()
	raw = strings.Replace(raw, "https://hooks.example.com/x", strings.Replace(rcv.srv.URL, "127.0.0.1", "localhost", 1), 1)
	b.rdb.HSet(t.Context(), b.prefix+"{wh}:endpoints", ep.ID, raw)
	b.rdb.Incr(t.Context(), b.prefix+"{wh}:version")
	if _, err := b.hub.List(t.Context()); err != nil { // reloads this process's cache
		t.Fatal(err)
	}
	if err := b.hub.Publish(t.Context(), events.Read(at, invoice)); err != nil {
		t.Fatal(err)
	}
	d := b.waitState(t, ep.ID, webhooks.StateRetrying)
	if d.Attempts[0].Error != "refused_private_address" {
		t.Errorf("attempt = %+v, want refused_private_address", d.Attempts[0])
	}
	if n := len(rcv.snapshot()); n != 0 {
		t.Errorf("the loopback receiver got %d calls", n)
	}
}

// ---- benchmarks: what Publish costs on the send path

func BenchmarkPublishNoSubscriber(b *testing.B) {
	bb := setupBench(b)
	ev := events.Delivered(at, invoice, "contract")
	ctx := context.Background()
	_ = bb.Publish(ctx, ev) // loads the (empty) endpoint list
	b.ReportAllocs()
	for b.Loop() {
		if err := bb.Publish(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublishOneSubscriber(b *testing.B) {
	hub := setupBench(b)
	url, types := "http://127.0.0.1:9/", []string{"message.delivered"}
	if _, _, err := hub.Create(context.Background(), webhooks.EndpointInput{URL: &url, EventTypes: &types, Enabled: ptr(false)}); err != nil {
		b.Fatal(err)
	}
	// Enabled but never pumped: the benchmark measures the write only.
	ctx := context.Background()
	eps, _ := hub.List(ctx)
	if _, err := hub.Update(ctx, eps[0].ID, webhooks.EndpointInput{Enabled: ptr(true)}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := hub.Publish(ctx, events.Delivered(at, invoice, "contract")); err != nil {
			b.Fatal(err)
		}
	}
}

func setupBench(b *testing.B) *webhooks.Hub {
	rdb, prefix := redistest.Client(b)
	cfg := config.Webhooks{Queue: "bench", MaxBatch: 100, DefaultRate: 10, MaxRate: 100, MaxEndpoints: 5, AllowPrivate: true,
		Timeout: time.Second, Refresh: time.Second, Poll: time.Second, LogSize: 10, LogTTL: time.Hour}
	hub, err := webhooks.New(webhooks.Options{Redis: rdb, Prefix: prefix, Client: asynq.NewClientFromRedisClient(rdb), Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	return hub
}
