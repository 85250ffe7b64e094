package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/config"
)

// TestSMTPSenders: senders per class and type load into Sender values;
// every malformed one names its setting.
func TestSMTPSenders(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (config.SMTP, error) {
		var c struct{ SMTP config.SMTP }
		err := config.Load(&c, func(k string) string { return env[k] }, nil)
		return c.SMTP, err
	}
	c, err := load(map[string]string{
		"HEROLD_SMTP_FROM": "news@example.com", "HEROLD_SMTP_REPLY_TO": "service@example.com",
		"HEROLD_SMTP_FROM_TRANSACTIONAL": "Herold Kundenservice <service@example.com>",
		"HEROLD_SMTP_FROM_MARKETING":     "angebote@example.com", "HEROLD_SMTP_REPLY_TO_MARKETING": "kein-reply@example.com",
		"HEROLD_SMTP_FROM_TYPES":     "invoice=Herold Rechnung <rechnung@example.com>, promo_offer = angebote@example.com",
		"HEROLD_SMTP_REPLY_TO_TYPES": "invoice=buchhaltung@example.com,survey=umfrage@example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	wantClasses := map[string]config.Sender{
		"transactional": {From: "service@example.com", FromName: "Herold Kundenservice"},
		"marketing":     {From: "angebote@example.com", ReplyTo: "kein-reply@example.com"},
	}
	if got := c.ClassSenders(); !reflect.DeepEqual(got, wantClasses) {
		t.Errorf("ClassSenders = %+v, want %+v", got, wantClasses)
	}
	wantTypes := map[string]config.Sender{
		"invoice":     {From: "rechnung@example.com", FromName: "Herold Rechnung", ReplyTo: "buchhaltung@example.com"},
		"promo_offer": {From: "angebote@example.com"},
		"survey":      {ReplyTo: "umfrage@example.com"},
	}
	if got := c.TypeSenders(); !reflect.DeepEqual(got, wantTypes) {
		t.Errorf("TypeSenders = %+v, want %+v", got, wantTypes)
	}
	if got := c.SenderTypes(); strings.Join(got, ",") != "invoice,promo_offer,survey" {
		t.Errorf("SenderTypes = %v", got)
	}
	for env, bad := range map[string]string{
		"HEROLD_SMTP_REPLY_TO":               "Service <service@example.com>",
		"HEROLD_SMTP_FROM_SERVICE":           "not an address",
		"HEROLD_SMTP_REPLY_TO_TRANSACTIONAL": "x",
		"HEROLD_SMTP_FROM_TYPES":             "invoice:rechnung@example.com",
		"HEROLD_SMTP_REPLY_TO_TYPES":         "invoice=a@example.com,invoice=b@example.com",
	} {
		_, err := load(map[string]string{env: bad})
		if err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s=%q: err = %v, want one naming %s", env, bad, err, env)
		}
	}
	if _, err := load(map[string]string{"HEROLD_SMTP_FROM_TYPES": "Invoice=rechnung@example.com"}); err == nil {
		t.Error("a type key with capitals was accepted")
	}
}
