package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Twilio configures SMS, WhatsApp and RCS over Twilio. A channel without an
// account or without a sender goes to the outbox folder (HEROLD_OUTBOX_DIR).
//
// Senders are per queue class: transactional and service messages come from
// the *_TRANSACTIONAL sender, marketing only from the *_MARKETING sender (it
// never falls back), so a STOP to an offer does not block invoices. Each
// sender is a number (+E164), an alphanumeric sender ID, an RCS agent
// ("rcs:…") or a Messaging Service SID (MG…).
type Twilio struct {
	AccountSID string        `env:"HEROLD_TWILIO_ACCOUNT_SID" help:"Twilio account SID (AC…); empty: SMS, WhatsApp and RCS go to the outbox folder"`
	AuthToken  string        `env:"HEROLD_TWILIO_AUTH_TOKEN" secret:"true" help:"Twilio auth token: API calls and webhook signatures"`
	Timeout    time.Duration `env:"HEROLD_TWILIO_TIMEOUT" default:"10s" help:"timeout of one Twilio API call"`

	SMSFromTransactional string `env:"HEROLD_SMS_FROM_TRANSACTIONAL" help:"SMS sender for transactional and service messages: number, alphanumeric ID or Messaging Service SID (MG…)"`
	SMSFromMarketing     string `env:"HEROLD_SMS_FROM_MARKETING" help:"SMS sender for marketing messages (never the transactional one; empty: marketing SMS are refused)"`
	SMSRate              int    `env:"HEROLD_SMS_RATE" help:"SMS per second per sender, for all workers together (shared through Redis); 0: no limit"`

	WhatsAppFromTransactional string `env:"HEROLD_WHATSAPP_FROM_TRANSACTIONAL" help:"WhatsApp sender (+E164 or MG…) for transactional and service messages"`
	WhatsAppFromMarketing     string `env:"HEROLD_WHATSAPP_FROM_MARKETING" help:"WhatsApp sender (+E164 or MG…) for marketing messages"`
	WhatsAppFreeForm          bool   `env:"HEROLD_WHATSAPP_FREE_FORM" default:"false" help:"allow free-form WhatsApp bodies when no template exists (only inside a 24-hour session)"`
	WhatsAppRate              int    `env:"HEROLD_WHATSAPP_RATE" help:"WhatsApp messages per second per sender; 0: no limit"`

	RCSFromTransactional     string `env:"HEROLD_RCS_FROM_TRANSACTIONAL" help:"RCS sender (rcs:agent or MG…) for RCS-only transactional and service messages"`
	RCSFromMarketing         string `env:"HEROLD_RCS_FROM_MARKETING" help:"RCS sender (rcs:agent or MG…) for RCS-only marketing messages"`
	RCSFallbackTransactional string `env:"HEROLD_RCS_MESSAGING_SERVICE_TRANSACTIONAL" help:"Messaging Service (MG…) with an RCS sender and SMS numbers, for transactional messages that may fall back to SMS"`
	RCSFallbackMarketing     string `env:"HEROLD_RCS_MESSAGING_SERVICE_MARKETING" help:"Messaging Service (MG…) with an RCS sender and SMS numbers, for marketing messages whose decision allows SMS too"`
	RCSRate                  int    `env:"HEROLD_RCS_RATE" help:"RCS messages per second per sender; 0: no limit"`
}

var (
	twilioAccountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	twilioServiceSID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	twilioE164       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	twilioAlnumID    = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	twilioToken      = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// Validate checks credentials and the form of every sender.
func (t *Twilio) Validate() error {
	if t.AccountSID != "" || t.AuthToken != "" {
		if !twilioAccountSID.MatchString(t.AccountSID) {
			return fmt.Errorf("HEROLD_TWILIO_ACCOUNT_SID: must be AC followed by 32 hex digits")
		}
		if !twilioToken.MatchString(t.AuthToken) {
			return fmt.Errorf("HEROLD_TWILIO_AUTH_TOKEN: must be set (alphanumeric) with HEROLD_TWILIO_ACCOUNT_SID")
		}
	}
	if t.Timeout <= 0 {
		return fmt.Errorf("HEROLD_TWILIO_TIMEOUT: must be positive, got %s", t.Timeout)
	}
	for _, s := range []struct {
		env, v string
		ok     func(string) bool
	}{
		{"HEROLD_SMS_FROM_TRANSACTIONAL", t.SMSFromTransactional, smsSender},
		{"HEROLD_SMS_FROM_MARKETING", t.SMSFromMarketing, smsSender},
		{"HEROLD_WHATSAPP_FROM_TRANSACTIONAL", t.WhatsAppFromTransactional, numberOrService("whatsapp:")},
		{"HEROLD_WHATSAPP_FROM_MARKETING", t.WhatsAppFromMarketing, numberOrService("whatsapp:")},
		{"HEROLD_RCS_FROM_TRANSACTIONAL", t.RCSFromTransactional, rcsSender},
		{"HEROLD_RCS_FROM_MARKETING", t.RCSFromMarketing, rcsSender},
		{"HEROLD_RCS_MESSAGING_SERVICE_TRANSACTIONAL", t.RCSFallbackTransactional, twilioServiceSID.MatchString},
		{"HEROLD_RCS_MESSAGING_SERVICE_MARKETING", t.RCSFallbackMarketing, twilioServiceSID.MatchString},
	} {
		if s.v != "" && !s.ok(s.v) {
			return fmt.Errorf("%s: %q is not a valid sender", s.env, s.v)
		}
	}
	if t.SMSFromTransactional != "" && t.SMSFromTransactional == t.SMSFromMarketing {
		return fmt.Errorf("HEROLD_SMS_FROM_MARKETING: must differ from HEROLD_SMS_FROM_TRANSACTIONAL, so a STOP to an offer does not block invoices")
	}
	for env, r := range map[string]int{"HEROLD_SMS_RATE": t.SMSRate, "HEROLD_WHATSAPP_RATE": t.WhatsAppRate, "HEROLD_RCS_RATE": t.RCSRate} {
		if r < 0 {
			return fmt.Errorf("%s: must not be negative, got %d", env, r)
		}
	}
	return nil
}

// Configured reports whether API credentials are set.
func (t *Twilio) Configured() bool { return t.AccountSID != "" }

func smsSender(s string) bool {
	return twilioE164.MatchString(s) || twilioServiceSID.MatchString(s) || twilioAlnumID.MatchString(s) && !strings.HasPrefix(s, " ")
}

func numberOrService(prefix string) func(string) bool {
	return func(s string) bool {
		return twilioE164.MatchString(strings.TrimPrefix(s, prefix)) || twilioServiceSID.MatchString(s)
	}
}

func rcsSender(s string) bool {
	return (strings.HasPrefix(s, "rcs:") && len(s) > 4 && !strings.ContainsAny(s, " \t")) || twilioServiceSID.MatchString(s)
}
