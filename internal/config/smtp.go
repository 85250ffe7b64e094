package config

import (
	"fmt"
	"net/mail"
	"time"
)

// SMTP configures e-mail delivery over SMTP. Without a host, e-mail goes to
// the outbox folder (HEROLD_OUTBOX_DIR) instead.
type SMTP struct {
	Host              string        `env:"HEROLD_SMTP_HOST" help:"SMTP server host name; empty: e-mail is written to the outbox folder"`
	Port              int           `env:"HEROLD_SMTP_PORT" help:"SMTP port (default 587, or 465 with HEROLD_SMTP_TLS=implicit)"`
	TLS               string        `env:"HEROLD_SMTP_TLS" default:"mandatory" help:"mandatory (STARTTLS required), opportunistic, implicit (TLS from the start, port 465) or off"`
	Username          string        `env:"HEROLD_SMTP_USERNAME" help:"SMTP AUTH user; empty: no AUTH"`
	Password          string        `env:"HEROLD_SMTP_PASSWORD" secret:"true" help:"SMTP AUTH password"`
	Auth              string        `env:"HEROLD_SMTP_AUTH" default:"plain" help:"SMTP AUTH mechanism: plain or login (only sent over TLS)"`
	From              string        `env:"HEROLD_SMTP_FROM" default:"herold@localhost" help:"sender address of every e-mail"`
	FromName          string        `env:"HEROLD_SMTP_FROM_NAME" help:"sender display name (umlauts are fine); empty: HEROLD_BRAND_NAME"`
	PoolSize          int           `env:"HEROLD_SMTP_POOL_SIZE" default:"4" help:"open SMTP connections per worker process, reused across messages"`
	Timeout           time.Duration `env:"HEROLD_SMTP_TIMEOUT" default:"30s" help:"SMTP dial and command timeout"`
	IdleTimeout       time.Duration `env:"HEROLD_SMTP_IDLE_TIMEOUT" default:"30s" help:"an idle pooled connection older than this is replaced before use"`
	DKIMKeyFile       string        `env:"HEROLD_SMTP_DKIM_KEY_FILE" help:"PEM private key (RSA or Ed25519) for DKIM signing; empty: no DKIM"`
	DKIMSelector      string        `env:"HEROLD_SMTP_DKIM_SELECTOR" help:"DKIM selector (s=), required with a key"`
	DKIMDomain        string        `env:"HEROLD_SMTP_DKIM_DOMAIN" help:"DKIM signing domain (d=); default: the sender's domain"`
	UnsubscribeMailto string        `env:"HEROLD_SMTP_UNSUBSCRIBE_MAILTO" help:"mailto address in List-Unsubscribe when the template names none"`
	Rate              int           `env:"HEROLD_SMTP_RATE" help:"e-mails per second for all workers together (shared through Redis); 0: no limit"`
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
	if s.PoolSize < 1 {
		return fmt.Errorf("HEROLD_SMTP_POOL_SIZE: must be at least 1, got %d", s.PoolSize)
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
	return nil
}
