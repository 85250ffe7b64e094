package config

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
)

// SMTP configures e-mail delivery over SMTP. Without a host, e-mail goes to
// the outbox folder (HEROLD_OUTBOX_DIR) instead.
type SMTP struct {
	Host                 string        `env:"HEROLD_SMTP_HOST" help:"SMTP server host name; empty: e-mail is written to the outbox folder"`
	Port                 int           `env:"HEROLD_SMTP_PORT" help:"SMTP port (default 587, or 465 with HEROLD_SMTP_TLS=implicit)"`
	TLS                  string        `env:"HEROLD_SMTP_TLS" default:"mandatory" help:"mandatory (STARTTLS required), opportunistic, implicit (TLS from the start, port 465) or off"`
	Username             string        `env:"HEROLD_SMTP_USERNAME" help:"SMTP AUTH user; empty: no AUTH"`
	Password             string        `env:"HEROLD_SMTP_PASSWORD" secret:"true" help:"SMTP AUTH password"`
	Auth                 string        `env:"HEROLD_SMTP_AUTH" default:"plain" help:"SMTP AUTH mechanism: plain or login (only sent over TLS)"`
	From                 string        `env:"HEROLD_SMTP_FROM" default:"herold@localhost" help:"sender address of e-mail that no class or type setting names another for"`
	FromName             string        `env:"HEROLD_SMTP_FROM_NAME" help:"sender display name (umlauts are fine); empty: HEROLD_BRAND_NAME"`
	ReplyTo              string        `env:"HEROLD_SMTP_REPLY_TO" help:"Reply-To address of every e-mail; empty: replies go to the sender"`
	FromTransactional    string        `env:"HEROLD_SMTP_FROM_TRANSACTIONAL" help:"sender of transactional e-mail (invoices, contract information), as address or Name <address>"`
	FromService          string        `env:"HEROLD_SMTP_FROM_SERVICE" help:"sender of service e-mail (replies to requests, tips), as address or Name <address>"`
	FromMarketing        string        `env:"HEROLD_SMTP_FROM_MARKETING" help:"sender of marketing e-mail (offers, newsletters, surveys), as address or Name <address>"`
	ReplyToTransactional string        `env:"HEROLD_SMTP_REPLY_TO_TRANSACTIONAL" help:"Reply-To of transactional e-mail"`
	ReplyToService       string        `env:"HEROLD_SMTP_REPLY_TO_SERVICE" help:"Reply-To of service e-mail"`
	ReplyToMarketing     string        `env:"HEROLD_SMTP_REPLY_TO_MARKETING" help:"Reply-To of marketing e-mail"`
	FromTypes            []string      `env:"HEROLD_SMTP_FROM_TYPES" help:"sender per message type, winning over its class: type=address or type=Name <address>, comma-separated (invoice=Rechnung <rechnung@example.com>)"`
	ReplyToTypes         []string      `env:"HEROLD_SMTP_REPLY_TO_TYPES" help:"Reply-To per message type: type=address, comma-separated"`
	PoolSize             int           `env:"HEROLD_SMTP_POOL_SIZE" default:"0" help:"open SMTP connections per worker process, reused across messages; 0: one per campaign send (HEROLD_CAMPAIGN_WORKERS × HEROLD_CAMPAIGN_SENDERS) plus 4 for single messages"`
	Timeout              time.Duration `env:"HEROLD_SMTP_TIMEOUT" default:"30s" help:"SMTP dial and command timeout"`
	IdleTimeout          time.Duration `env:"HEROLD_SMTP_IDLE_TIMEOUT" default:"30s" help:"an idle pooled connection older than this is replaced before use"`
	DKIMKeyFile          string        `env:"HEROLD_SMTP_DKIM_KEY_FILE" help:"PEM private key (RSA or Ed25519) for DKIM signing; empty: no DKIM"`
	DKIMSelector         string        `env:"HEROLD_SMTP_DKIM_SELECTOR" help:"DKIM selector (s=), required with a key"`
	DKIMDomain           string        `env:"HEROLD_SMTP_DKIM_DOMAIN" help:"DKIM signing domain (d=); default: the sender's domain"`
	UnsubscribeMailto    string        `env:"HEROLD_SMTP_UNSUBSCRIBE_MAILTO" help:"mailto address in List-Unsubscribe when the template names none"`
	Rate                 int           `env:"HEROLD_SMTP_RATE" help:"e-mails per second for all workers together (shared through Redis); 0: no limit"`
}

// Sender is who e-mail comes from. Its fields are those of email.Identity,
// so the one converts to the other.
type Sender struct {
	From     string
	FromName string
	ReplyTo  string
}

// ClassSenders returns the senders set per queue class (transactional,
// service, marketing); fields left empty fall back to HEROLD_SMTP_FROM,
// HEROLD_SMTP_FROM_NAME and HEROLD_SMTP_REPLY_TO.
func (s *SMTP) ClassSenders() map[string]Sender {
	out := map[string]Sender{}
	for class, v := range map[string][2]string{
		"transactional": {s.FromTransactional, s.ReplyToTransactional},
		"service":       {s.FromService, s.ReplyToService},
		"marketing":     {s.FromMarketing, s.ReplyToMarketing},
	} {
		if v[0] == "" && v[1] == "" {
			continue
		}
		snd := Sender{ReplyTo: v[1]}
		if v[0] != "" {
			a, _ := mail.ParseAddress(v[0]) // Validate checked it
			snd.From, snd.FromName = a.Address, a.Name
		}
		out[class] = snd
	}
	return out
}

// TypeSenders returns the senders set per message type; they win over the
// class of the type, and empty fields fall back to it.
func (s *SMTP) TypeSenders() map[string]Sender {
	out := map[string]Sender{}
	for _, e := range s.FromTypes {
		typ, addr, _ := strings.Cut(e, "=")
		a, _ := mail.ParseAddress(addr)
		snd := out[strings.TrimSpace(typ)]
		snd.From, snd.FromName = a.Address, a.Name
		out[strings.TrimSpace(typ)] = snd
	}
	for _, e := range s.ReplyToTypes {
		typ, addr, _ := strings.Cut(e, "=")
		snd := out[strings.TrimSpace(typ)]
		snd.ReplyTo = strings.TrimSpace(addr)
		out[strings.TrimSpace(typ)] = snd
	}
	return out
}

var typeKey = regexp.MustCompile(`^[a-z0-9_-]+$`)

// checkSenders reports every malformed sender setting.
func (s *SMTP) checkSenders() []string {
	var probs []string
	plain := func(env, v string) {
		if a, err := mail.ParseAddress(v); v != "" && (err != nil || a.Name != "" || a.Address != v) {
			probs = append(probs, fmt.Sprintf("%s: %q is not a plain address like service@example.com", env, v))
		}
	}
	named := func(env, v string) {
		if _, err := mail.ParseAddress(v); v != "" && err != nil {
			probs = append(probs, fmt.Sprintf("%s: %q is not an address or Name <address>", env, v))
		}
	}
	plain("HEROLD_SMTP_REPLY_TO", s.ReplyTo)
	named("HEROLD_SMTP_FROM_TRANSACTIONAL", s.FromTransactional)
	named("HEROLD_SMTP_FROM_SERVICE", s.FromService)
	named("HEROLD_SMTP_FROM_MARKETING", s.FromMarketing)
	plain("HEROLD_SMTP_REPLY_TO_TRANSACTIONAL", s.ReplyToTransactional)
	plain("HEROLD_SMTP_REPLY_TO_SERVICE", s.ReplyToService)
	plain("HEROLD_SMTP_REPLY_TO_MARKETING", s.ReplyToMarketing)
	for _, list := range []struct {
		env     string
		entries []string
		check   func(string, string)
	}{{"HEROLD_SMTP_FROM_TYPES", s.FromTypes, named}, {"HEROLD_SMTP_REPLY_TO_TYPES", s.ReplyToTypes, plain}} {
		seen := map[string]bool{}
		for _, e := range list.entries {
			typ, addr, ok := strings.Cut(e, "=")
			typ, addr = strings.TrimSpace(typ), strings.TrimSpace(addr)
			switch {
			case !ok || !typeKey.MatchString(typ) || addr == "":
				probs = append(probs, fmt.Sprintf("%s: %q is not type=address (names with commas are not possible here)", list.env, e))
			case seen[typ]:
				probs = append(probs, fmt.Sprintf("%s: type %s is named twice", list.env, typ))
			default:
				list.check(fmt.Sprintf("%s: type %s", list.env, typ), addr)
			}
			seen[typ] = true
		}
	}
	return probs
}

// SenderTypes returns the message types that have a sender setting, so that
// start-up can check them against the catalog.
func (s *SMTP) SenderTypes() []string {
	var out []string
	for typ := range s.TypeSenders() {
		out = append(out, typ)
	}
	slices.Sort(out)
	return out
}

// Validate checks the values that matter once a host is set.
func (s *SMTP) Validate() error {
	switch s.TLS {
	case "mandatory", "opportunistic", "implicit", "off":
	default:
		return fmt.Errorf("HEROLD_SMTP_TLS: %q is not mandatory, opportunistic, implicit or off", s.TLS)
	}
	switch s.Auth {
	case "plain", "login":
	default:
		return fmt.Errorf("HEROLD_SMTP_AUTH: %q is not plain or login", s.Auth)
	}
	if a, err := mail.ParseAddress(s.From); err != nil || a.Name != "" {
		return fmt.Errorf("HEROLD_SMTP_FROM: %q is not a plain address like news@example.com", s.From)
	}
	if s.Port < 0 || s.Port > 65535 {
		return fmt.Errorf("HEROLD_SMTP_PORT: %d is not a port", s.Port)
	}
	if s.PoolSize < 0 {
		return fmt.Errorf("HEROLD_SMTP_POOL_SIZE: must not be negative, got %d", s.PoolSize)
	}
	if s.Timeout <= 0 {
		return fmt.Errorf("HEROLD_SMTP_TIMEOUT: must be positive, got %s", s.Timeout)
	}
	if s.IdleTimeout < 0 {
		return fmt.Errorf("HEROLD_SMTP_IDLE_TIMEOUT: must not be negative, got %s", s.IdleTimeout)
	}
	if s.DKIMKeyFile != "" && s.DKIMSelector == "" {
		return fmt.Errorf("HEROLD_SMTP_DKIM_SELECTOR: required with HEROLD_SMTP_DKIM_KEY_FILE")
	}
	if s.Rate < 0 {
		return fmt.Errorf("HEROLD_SMTP_RATE: must not be negative, got %d", s.Rate)
	}
	if s.TLS == "off" && s.Username != "" && s.Host != "" && s.Host != "localhost" && s.Host != "127.0.0.1" && s.Host != "::1" {
		return fmt.Errorf("HEROLD_SMTP_TLS: off sends the password in clear text; AUTH needs TLS (except to localhost)")
	}
	if s.Host != "" && s.Password != "" && s.Username == "" {
		return fmt.Errorf("HEROLD_SMTP_USERNAME: required with HEROLD_SMTP_PASSWORD")
	}
	if probs := s.checkSenders(); len(probs) > 0 {
		return errors.New(strings.Join(probs, "; "))
	}
	return nil
}
