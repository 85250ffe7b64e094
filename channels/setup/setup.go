// Package setup builds Herold's senders from its configuration: one
// channels.Sender per channel, over the configured provider, rate-limited
// through Redis when a rate is set, or the outbox folder when the channel has
// no provider. It says at start-up which channel goes where.
package setup

import (
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

// Channels is the set of senders and what must be closed at shutdown.
type Channels struct {
	// Senders has one Sender for every channel.
	Senders map[message.Channel]channels.Sender
	// Outbox lists the channels that write to the outbox folder.
	Outbox []message.Channel
	// Email is the SMTP sender, when e-mail has a provider.
	Email   *email.Sender
	closers []func() error
}

// Close closes the senders that hold connections.
func (c *Channels) Close() error {
	var errs []error
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i]())
	}
	return errors.Join(errs...)
}

// Option adjusts Build, for tests.
type Option func(*options)

type options struct {
	smtpRootCAs     *x509.CertPool
	twilioTransport http.RoundTripper
}

// WithSMTPRootCAs verifies the SMTP server's certificate against pool.
func WithSMTPRootCAs(pool *x509.CertPool) Option { return func(o *options) { o.smtpRootCAs = pool } }

// WithTwilioTransport sends Twilio's API calls through rt.
func WithTwilioTransport(rt http.RoundTripper) Option {
	return func(o *options) { o.twilioTransport = rt }
}

// Build makes the senders. rdb (with the key prefix cfg.Redis.KeyPrefix)
// carries the rate limits; with a nil rdb no rate is applied.
func Build(cfg config.Config, rdb redis.UniversalClient, log *slog.Logger, opts ...Option) (_ *Channels, err error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	c := &Channels{Senders: make(map[message.Channel]channels.Sender, 4)}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	var limiter *ratelimit.Limiter
	if rdb != nil {
		limiter = ratelimit.New(rdb, cfg.Redis.KeyPrefix, log.With("component", "ratelimit"))
	}
	limit := func(ch message.Channel, s channels.Sender, perSecond int) channels.Sender {
		if limiter == nil || perSecond <= 0 {
			return s
		}
		log.Info("channel rate limit", "channel", ch, "per_second", perSecond)
		return limiter.Wrap(s, ratelimit.Options{Channel: string(ch), Limit: redis_rate.PerSecond(perSecond)})
	}
	toOutbox := func(ch message.Channel, why string, extra ...outbox.Option) error {
		ob, err := outbox.New(cfg.Core.OutboxDir, ch, log.With("component", "outbox", "channel", ch), extra...)
		if err != nil {
			return err
		}
		log.Warn("channel has no provider: messages are written to the outbox folder, not sent",
			"channel", ch, "dir", ob.Dir(), "reason", why)
		c.Senders[ch] = ob
		c.Outbox = append(c.Outbox, ch)
		return nil
	}

	// ---- e-mail
	compose := email.ComposeConfig{
		From: cfg.SMTP.From, FromName: cfg.SMTP.FromName, UnsubscribeMailto: cfg.SMTP.UnsubscribeMailto,
		DKIMSelector: cfg.SMTP.DKIMSelector, DKIMDomain: cfg.SMTP.DKIMDomain,
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
			PoolSize: cfg.SMTP.PoolSize, Timeout: cfg.SMTP.Timeout, IdleTimeout: cfg.SMTP.IdleTimeout,
			RootCAs: o.smtpRootCAs, ComposeConfig: compose,
		}, log.With("component", "smtp"))
		if err != nil {
			return nil, err
		}
		c.closers = append(c.closers, s.Close)
		c.Email = s
		c.Senders[message.Email] = limit(message.Email, s, cfg.SMTP.Rate)
		log.Info("channel ready", "channel", message.Email, "provider", "smtp", "host", cfg.SMTP.Host,
			"tls", cfg.SMTP.TLS, "pool_size", cfg.SMTP.PoolSize, "dkim", compose.DKIMKey != nil)
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
	phone := []struct {
		ch    message.Channel
		from  twilio.From
		extra twilio.From // RCS fallback services
		rate  int
		make  func() (channels.Sender, error)
	}{
		{message.SMS, twilio.From{Transactional: tw.SMSFromTransactional, Marketing: tw.SMSFromMarketing}, twilio.From{}, tw.SMSRate,
			func() (channels.Sender, error) {
				return sms.New(client, sms.Config{From: twilio.From{Transactional: tw.SMSFromTransactional, Marketing: tw.SMSFromMarketing}}, log.With("channel", "sms"))
			}},
		{message.WhatsApp, twilio.From{Transactional: tw.WhatsAppFromTransactional, Marketing: tw.WhatsAppFromMarketing}, twilio.From{}, tw.WhatsAppRate,
			func() (channels.Sender, error) {
				// One setting for approved templates: the renderer fills ContentSID
				// from it, and the sender falls back to the same map.
				tpl, err := whatsapp.ParseTemplates(cfg.Templates.WhatsAppContent)
				if err != nil {
					return nil, fmt.Errorf("HEROLD_WHATSAPP_CONTENT_SIDS: %w", err)
				}
				return whatsapp.New(client, whatsapp.Config{
					From:      twilio.From{Transactional: tw.WhatsAppFromTransactional, Marketing: tw.WhatsAppFromMarketing},
					Templates: tpl, FreeForm: tw.WhatsAppFreeForm,
				}, log.With("channel", "whatsapp"))
			}},
		{message.RCS, twilio.From{Transactional: tw.RCSFromTransactional, Marketing: tw.RCSFromMarketing},
			twilio.From{Transactional: tw.RCSFallbackTransactional, Marketing: tw.RCSFallbackMarketing}, tw.RCSRate,
			func() (channels.Sender, error) {
				return rcs.New(client, rcs.Config{
					From:            twilio.From{Transactional: tw.RCSFromTransactional, Marketing: tw.RCSFromMarketing},
					FallbackService: twilio.From{Transactional: tw.RCSFallbackTransactional, Marketing: tw.RCSFallbackMarketing},
				}, log.With("channel", "rcs"))
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
			if s, err = p.make(); err == nil {
				c.Senders[p.ch] = limit(p.ch, s, p.rate)
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
