package config_test

import (
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/config"
)

func TestDebugAddrLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env     map[string]string
		wantErr string
	}{
		{env: nil},
		{env: map[string]string{"HEROLD_DEBUG_ADDR": "127.0.0.1:6060"}},
		{env: map[string]string{"HEROLD_DEBUG_ADDR": "[::1]:6060"}},
		{env: map[string]string{"HEROLD_DEBUG_ADDR": "localhost:0"}},
		{env: map[string]string{"HEROLD_DEBUG_ADDR": ":6060"}, wantErr: "HEROLD_DEBUG_ADDR: \":6060\" is not a loopback address"},
		{env: map[string]string{"HEROLD_DEBUG_ADDR": "0.0.0.0:6060"}, wantErr: "HEROLD_DEBUG_ALLOW_REMOTE=true"},
		{env: map[string]string{"HEROLD_DEBUG_ADDR": "10.0.0.5:6060"}, wantErr: "is not a loopback address"},
		{env: map[string]string{"HEROLD_DEBUG_ADDR": "10.0.0.5:6060", "HEROLD_DEBUG_ALLOW_REMOTE": "true"}},
		{env: map[string]string{"HEROLD_DEBUG_ADDR": "6060"}, wantErr: "HEROLD_DEBUG_ADDR: \"6060\" is not host:port"},
	} {
		cfg, err := load(t, tc.env)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: error %v, want one containing %q", tc.env, err, tc.wantErr)
		case err == nil && cfg.Debug.Addr != tc.env["HEROLD_DEBUG_ADDR"]:
			t.Errorf("%v: Debug.Addr = %q", tc.env, cfg.Debug.Addr)
		}
	}
}

func TestSetBySettingName(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := config.Set(&cfg, "HEROLD_SMTP_POOL_SIZE", "12"); err != nil || cfg.SMTP.PoolSize != 12 {
		t.Errorf("Set pool size: %v, PoolSize %d", err, cfg.SMTP.PoolSize)
	}
	if err := config.Set(&cfg, "HEROLD_SMTP_POOL_SIZE", "many"); err == nil || !strings.Contains(err.Error(), "HEROLD_SMTP_POOL_SIZE") {
		t.Errorf("Set a bad value: %v, want an error naming the variable", err)
	}
	if err := config.Set(&cfg, "HEROLD_NO_SUCH", "1"); err == nil {
		t.Error("Set an unknown variable: no error")
	}
}

// The SMTP pool follows the campaign's sends unless set: every send has a
// connection, and single messages have four of their own.
func TestSMTPPoolSizedWithTheCampaignSends(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want int
	}{
		{nil, 2*8 + 4},
		{map[string]string{"HEROLD_CAMPAIGN_WORKERS": "3", "HEROLD_CAMPAIGN_SENDERS": "10"}, 34},
		{map[string]string{"HEROLD_SMTP_POOL_SIZE": "6", "HEROLD_CAMPAIGN_SENDERS": "10"}, 6},
	} {
		cfg, err := load(t, tc.env)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.SMTPPoolSize(); got != tc.want {
			t.Errorf("%v: SMTPPoolSize() = %d, want %d", tc.env, got, tc.want)
		}
	}
}
