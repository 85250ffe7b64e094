package app

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/email"
	"github.com/heroldhq/herold/channels/outbox"
	"github.com/heroldhq/herold/channels/rcs"
	"github.com/heroldhq/herold/channels/sms"
	"github.com/heroldhq/herold/channels/twilio"
	"github.com/heroldhq/herold/channels/whatsapp"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/ratelimit"
)

// Senders is one channels.Sender per channel and what must be closed at
// shutdown.
type Senders struct {
	// ByChannel has one Sender for every channel.
	ByChannel map[message.Channel]channels.Sender
	// Outbox lists the channels that write to the outbox folder.
	Outbox []message.Channel
	// Email is the SMTP sender, when e-mail has a provider.
	Email   *email.Sender
	closers []func() error
}

// Close closes the senders that hold connections.
func (c *Senders) Close() error {
	var errs []error
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i]())
	}
	return errors.Join(errs...)
}

// senderOptions adjust BuildSenders.
type senderOptions struct {
	// returnPath gives each e-mail its VERP envelope sender when bounces
	// are processed (HEROLD_BOUNCE_DOMAIN).
	returnPath func(messageID string) (string, error)
	// For tests: trust these CAs for SMTP, talk to Twilio through this.
	smtpRootCAs     *x509.CertPool
	twilioTransport http.RoundTripper
}

// BuildSenders makes the senders from the configuration: one per channel,
// over the configured provider, or the outbox folder when the channel has no
// provider (said at start-up). With rdb (keys under cfg.Redis.KeyPrefix) a
// configured sending rate wraps the provider's sender in the shared rate
// limiter, so all worker processes together stay under it; with a nil rdb no
// rate is applied.
func BuildSenders(cfg config.Config, rdb redis.UniversalClient, log *slog.Logger, o senderOptions) (_ *Senders, err error) {
	c := &Senders{ByChannel: make(map[message.Channel]channels.Sender, 4)}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	var limiter *ratelimit.Limiter
	if rdb != nil {
		limiter = ratelimit.New(rdb, cfg.Redis.KeyPrefix, log)
	}
	limit := func(ch message.Channel, s channels.Sender, perSecond int) channels.Sender {
		if limiter == nil || perSecond <= 0 {
			return s
		}
		log.Info("channel rate limit", "channel", ch, "per_second", perSecond)
		return limiter.Wrap(s, ratelimit.Options{Channel: string(ch), Limit: redis_rate.PerSecond(perSecond)})
	}
	toOutbox := func(ch message.Channel, why string, extra ...outbox.Option) error {
		ob, err := outbox.New(cfg.Core.OutboxDir, ch, log, extra...) // it names the channel itself
		if err != nil {
			return err
		}
		log.Warn("channel has no provider: messages are written to the outbox folder, not sent",
			"channel", ch, "dir", ob.Dir(), "reason", why)
		c.ByChannel[ch] = ob
		c.Outbox = append(c.Outbox, ch)
		return nil
	}

	// ---- e-mail
	compose := email.ComposeConfig{
		From: cfg.SMTP.From, FromName: cmp.Or(cfg.SMTP.FromName, cfg.Brand.Name), ReplyTo: cfg.SMTP.ReplyTo,
		Classes: identities(cfg.SMTP.ClassSenders()), Types: identities(cfg.SMTP.TypeSenders()),
		UnsubscribeMailto: cfg.SMTP.UnsubscribeMailto,
		DKIMSelector:      cfg.SMTP.DKIMSelector, DKIMDomain: cfg.SMTP.DKIMDomain,
		ReturnPath: o.returnPath,
	}
	if cfg.SMTP.DKIMKeyFile != "" {
		if compose.DKIMKey, err = os.ReadFile(cfg.SMTP.DKIMKeyFile); err != nil {
			return nil, fmt.Errorf("HEROLD_SMTP_DKIM_KEY_FILE: %w", err)
		}
	}
	if cfg.SMTP.Host == "" {
		composer, err := email.NewComposer(compose)
		if err != nil {
			return nil, err
		}
		if err := toOutbox(message.Email, "HEROLD_SMTP_HOST is not set", outbox.WithComposer(composer)); err != nil {
			return nil, err
		}
	} else {
		s, err := email.New(email.Config{
			Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, TLS: email.TLSMode(cfg.SMTP.TLS),
			Username: cfg.SMTP.Username, Password: cfg.SMTP.Password, Auth: cfg.SMTP.Auth,
			PoolSize: cfg.SMTPPoolSize(), Timeout: cfg.SMTP.Timeout, IdleTimeout: cfg.SMTP.IdleTimeout,
			RootCAs: o.smtpRootCAs, ComposeConfig: compose,
		}, log.With("channel", message.Email))
		if err != nil {
			return nil, err
		}
		c.closers = append(c.closers, s.Close)
		c.Email = s
		c.ByChannel[message.Email] = limit(message.Email, s, cfg.SMTP.Rate)
		log.Info("channel ready", "channel", message.Email, "provider", "smtp", "host", cfg.SMTP.Host,
			"tls", cfg.SMTP.TLS, "pool_size", cfg.SMTPPoolSize(), "dkim", compose.DKIMKey != nil)
	}

	// ---- sms, whatsapp, rcs over Twilio
	tw := cfg.Twilio
	var client *twilio.Client
	if tw.Configured() {
		if client, err = twilio.New(twilio.Config{
			AccountSID: tw.AccountSID, AuthToken: tw.AuthToken, Timeout: tw.Timeout,
			StatusCallback: cfg.HTTP.PublicURL + twilio.StatusPath, Transport: o.twilioTransport,
		}); err != nil {
			return nil, err
		}
	}
	smsFrom := twilio.From{Transactional: tw.SMSFromTransactional, Marketing: tw.SMSFromMarketing}
	waFrom := twilio.From{Transactional: tw.WhatsAppFromTransactional, Marketing: tw.WhatsAppFromMarketing}
	rcsFrom := twilio.From{Transactional: tw.RCSFromTransactional, Marketing: tw.RCSFromMarketing}
	rcsFallback := twilio.From{Transactional: tw.RCSFallbackTransactional, Marketing: tw.RCSFallbackMarketing}
	phone := []struct {
		ch    message.Channel
		from  twilio.From
		extra twilio.From // RCS fallback services
		rate  int
		make  func(log *slog.Logger) (channels.Sender, error)
	}{
		{message.SMS, smsFrom, twilio.From{}, tw.SMSRate, func(log *slog.Logger) (channels.Sender, error) {
			return sms.New(client, sms.Config{From: smsFrom}, log)
		}},
		{message.WhatsApp, waFrom, twilio.From{}, tw.WhatsAppRate, func(log *slog.Logger) (channels.Sender, error) {
			// One setting for approved templates: the renderer fills ContentSID
			// from it, and the sender falls back to the same map.
			tpl, err := whatsapp.ParseTemplates(cfg.Templates.WhatsAppContent)
			if err != nil {
				return nil, fmt.Errorf("HEROLD_WHATSAPP_CONTENT_SIDS: %w", err)
			}
			return whatsapp.New(client, whatsapp.Config{From: waFrom, Templates: tpl, FreeForm: tw.WhatsAppFreeForm}, log)
		}},
		{message.RCS, rcsFrom, rcsFallback, tw.RCSRate, func(log *slog.Logger) (channels.Sender, error) {
			return rcs.New(client, rcs.Config{From: rcsFrom, FallbackService: rcsFallback}, log)
		}},
	}
	for _, p := range phone {
		switch {
		case client == nil:
			err = toOutbox(p.ch, "HEROLD_TWILIO_ACCOUNT_SID is not set")
		case p.from.Empty() && p.extra.Empty():
			err = toOutbox(p.ch, "no sender configured for this channel")
		default:
			var s channels.Sender
			if s, err = p.make(log.With("channel", p.ch)); err == nil {
				c.ByChannel[p.ch] = limit(p.ch, s, p.rate)
				log.Info("channel ready", "channel", p.ch, "provider", "twilio",
					"transactional_sender", p.from.Transactional != "" || p.extra.Transactional != "",
					"marketing_sender", p.from.Marketing != "" || p.extra.Marketing != "")
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// identities turns the configured senders into the composer's.
func identities(m map[string]config.Sender) map[string]email.Identity {
	out := make(map[string]email.Identity, len(m))
	for k, v := range m {
		out[k] = email.Identity(v)
	}
	return out
}
