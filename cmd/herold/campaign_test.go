package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A campaign through the running server: create it with an inline audience
// of one unknown person, watch it finish with `herold campaign status`.
func TestServeCampaignAndStatusCommand(t *testing.T) {
	t.Parallel()
	key := "marketing-key-0123456789abcdef"
	tb := runCommand(t, commandEnv(t, "cmd", map[string]string{
		"HEROLD_API_KEYS":  "marketing:" + key + ":campaigns+send:class:marketing",
		"HEROLD_HASH_SALT": "e2e-salt-0123456789abcdef",
	}), "serve")

	code, body := tb.send(t, "POST", "/v1/campaigns", key,
		`{"name":"Winter","type":"promo_offer","channels":["email"],"data":{"offer":{"title":"Allnet Flat 40 GB","price":24.99,"valid_until":"2026-12-31","url":"https://www.example.com/angebot/allnet-40"}},"audience":["nobody-1"]}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, body)
	}
	id, _ := body["id"].(string)
	env := map[string]string{"HEROLD_URL": "http://" + tb.addr, "HEROLD_API_KEY": key}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _, err := runOnce(t, env, "campaign", "status", id, "--once")
		if err != nil {
			t.Fatalf("campaign status: %v", err)
		}
		if strings.Contains(out, " done ") {
			if !strings.Contains(out, "unknown_recipient") || !strings.Contains(out, "100.0%") {
				t.Errorf("status output:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign not done:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, err := runOnce(t, map[string]string{"HEROLD_URL": "http://" + tb.addr}, "campaign", "status", id); err == nil {
		t.Error("status without an API key succeeded")
	}
	out, _, err := runOnce(t, map[string]string{"HEROLD_URL": "http://" + tb.addr, "HEROLD_API_KEY": "wrong"}, "campaign", "status", id, "--once")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong key: %v %s", err, out)
	}
}
