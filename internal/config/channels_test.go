package config_test

import (
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/config"
)

// TestChannelSettings: each bad channel setting stops loading with an error
// that names it; good ones load.
func TestChannelSettings(t *testing.T) {
	t.Parallel()
	const sid = "AC0123456789abcdef0123456789abcdef"
	good := map[string]string{
		"HEROLD_SMTP_HOST": "smtp.example.org", "HEROLD_SMTP_USERNAME": "u", "HEROLD_SMTP_PASSWORD": "p",
		"HEROLD_TWILIO_ACCOUNT_SID": sid, "HEROLD_TWILIO_AUTH_TOKEN": "abc123",
		"HEROLD_SMS_FROM_TRANSACTIONAL": "+4930123456", "HEROLD_SMS_FROM_MARKETING": "MG0123456789abcdef0123456789abcdef",
		"HEROLD_WHATSAPP_FROM_MARKETING": "whatsapp:+4930555000",
		"HEROLD_WHATSAPP_CONTENT_SIDS":   "messenger_offer:de=HX0123456789abcdef0123456789abcdef",
		"HEROLD_RCS_FROM_MARKETING":      "rcs:herold_agent", "HEROLD_RCS_MESSAGING_SERVICE_MARKETING": "MG0123456789abcdef0123456789abcdef",
		"HEROLD_SMS_RATE": "10",
	}
	load := func(over map[string]string) error {
		env := map[string]string{}
		for k, v := range good {
			env[k] = v
		}
		for k, v := range over {
			env[k] = v
		}
		var cfg config.Config
		return config.Load(&cfg, func(k string) string { return env[k] }, nil)
	}
	if err := load(nil); err != nil {
		t.Fatalf("good settings: %v", err)
	}
	for env, bad := range map[string]string{
		"HEROLD_SMTP_TLS":                        "sometimes",
		"HEROLD_SMTP_FROM":                       "Herold <news@example.org>",
		"HEROLD_SMTP_POOL_SIZE":                  "-1",
		"HEROLD_SMTP_AUTH":                       "cram-md5",
		"HEROLD_TWILIO_ACCOUNT_SID":              "AC123",
		"HEROLD_TWILIO_AUTH_TOKEN":               "with space",
		"HEROLD_SMS_FROM_MARKETING":              "+4930123456", // same as transactional
		"HEROLD_WHATSAPP_FROM_MARKETING":         "Herold",
		"HEROLD_WHATSAPP_CONTENT_SIDS":           "messenger_offer:de=HX1",
		"HEROLD_RCS_FROM_MARKETING":              "herold_agent",
		"HEROLD_RCS_MESSAGING_SERVICE_MARKETING": "+4930123456",
		"HEROLD_SMS_RATE":                        "-1",
	} {
		err := load(map[string]string{env: bad})
		if err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s=%q: err = %v, want one naming %s", env, bad, err, env)
		}
	}
	if err := load(map[string]string{"HEROLD_SMTP_TLS": "off"}); err == nil || !strings.Contains(err.Error(), "HEROLD_SMTP_TLS") {
		t.Errorf("AUTH over plain text to a remote host: err = %v", err)
	}
	if err := load(map[string]string{"HEROLD_SMTP_TLS": "off", "HEROLD_SMTP_HOST": "localhost"}); err != nil {
		t.Errorf("AUTH over plain text to localhost: %v", err)
	}
}
