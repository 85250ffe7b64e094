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
