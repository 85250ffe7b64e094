package webhooks

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/redistest"
)

func TestSignMatchesTheSpecTestVector(t *testing.T) {
	t.Parallel()
	got, err := sign([]Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("sign = %q, want %q", got, want)
	}
	two, _ := sign([]Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, {Value: NewSecret()}}, "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if parts := strings.Split(two, " "); len(parts) != 2 || parts[0] != got {
		t.Errorf("two secrets sign as %q", two)
	}
	if _, err := sign(nil, "x", time.Now(), nil); err == nil {
		t.Error("signing without a secret succeeded")
	}
}

func TestDialGuardRefusesLoopbackByAddressAndByName(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer srv.Close()
	guarded := newHTTPClient(2*time.Second, false)
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		_, err := guarded.Get(u)
		if !errors.Is(err, ErrPrivateAddress) || errorClass(err) != "refused_private_address" {
			t.Errorf("GET %s: %v, want ErrPrivateAddress", u, err)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the guarded client reached the loopback server %d times", n)
	}
	open := newHTTPClient(2*time.Second, true)
	resp, err := open.Get(srv.URL)
	if err != nil {
		t.Fatalf("allow-private client: %v", err)
	}
	resp.Body.Close()
	if reached.Load() != 1 {
		t.Error("the allow-private client did not reach the server")
	}
}

func TestPublicIP(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1::": true,
		"127.0.0.1": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "::1": false, "fe80::1": false, "fd00::1": false, "::ffff:127.0.0.1": false,
		"224.0.0.1": false, "255.255.255.255": false, "64:ff9b::a00:1": false,
	} {
		if got := publicIP(mustAddr(t, s)); got != want {
			t.Errorf("publicIP(%s) = %v, want %v", s, got, want)
		}
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A crash between cutting a delivery and enqueueing its task leaves the
// delivery in the unsent set; the sweep enqueues it, once.
func TestSweepEnqueuesDeliveriesLeftUnsent(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	q := redistest.Queue(t, "sweep")
	t.Cleanup(func() { _ = asynq.NewInspectorFromRedisClient(rdb).DeleteQueue(q, true) })
	h, err := New(Options{Redis: rdb, Prefix: prefix, Client: asynq.NewClientFromRedisClient(rdb), Config: config.Webhooks{
		Queue: q, MaxBatch: 10, DefaultRate: 100, MaxRate: 100, MaxEndpoints: 5, AllowPrivate: true,
		Timeout: time.Second, Refresh: time.Second, Poll: time.Second, LogSize: 10, LogTTL: time.Hour,
	}})
	if err != nil {
		t.Fatal(err)
	}
	url, types := "http://127.0.0.1:9/", []string{"*"}
	ep, _, err := h.Create(t.Context(), EndpointInput{URL: &url, EventTypes: &types})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Publish(t.Context(), events.Erased(time.Now(), "c-1")); err != nil {
		t.Fatal(err)
	}
	// The cut as the pump does it, without the enqueue that follows.
	did := newID("whd_")
	n, err := cutScript.Run(t.Context(), rdb,
		[]string{h.endpointsKey(), h.dueKey(), h.outboxKey(ep.ID), h.deliveryKey(did), h.logKey(ep.ID), h.unsentKey()},
		ep.ID, did, 1, time.Now().UnixMilli(), 3600, 10, "0").Int()
	if err != nil || n != 1 {
		t.Fatalf("cut: %d, %v", n, err)
	}
	if err := h.sweepUnsent(t.Context(), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := h.sweepUnsent(t.Context(), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(q, did)
	if err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("task of the swept delivery: %+v, %v", info, err)
	}
	if left, _ := rdb.ZCard(t.Context(), h.unsentKey()).Result(); left != 0 {
		t.Errorf("%d deliveries still unsent", left)
	}
	if due, _ := rdb.ZCard(t.Context(), h.dueKey()).Result(); due != 0 {
		t.Errorf("endpoint still due with an empty outbox")
	}
}
