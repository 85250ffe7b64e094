package app

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"

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
	smsFrom, waFrom, rcsFrom, rcsFallback := phoneSenders(tw)
	live := LiveChannels(cfg)
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
			// Approved templates come from the renderer (ContentSID); when
			// free text may go instead is delivery's rule (Outbound.FreeForm).
			return whatsapp.New(client, whatsapp.Config{From: waFrom}, log)
		}},
		{message.RCS, rcsFrom, rcsFallback, tw.RCSRate, func(log *slog.Logger) (channels.Sender, error) {
			return rcs.New(client, rcs.Config{From: rcsFrom, FallbackService: rcsFallback}, log)
		}},
	}
	for _, p := range phone {
		switch {
		case client == nil:
			err = toOutbox(p.ch, "HEROLD_TWILIO_ACCOUNT_SID is not set")
		case !slices.Contains(live, p.ch):
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

// phoneSenders are the configured Twilio senders of SMS, WhatsApp and RCS
// (RCS-only, and the Messaging Services RCS may fall back to SMS through).
func phoneSenders(tw config.Twilio) (sms, whatsapp, rcs, rcsFallback twilio.From) {
	return twilio.From{Transactional: tw.SMSFromTransactional, Marketing: tw.SMSFromMarketing},
		twilio.From{Transactional: tw.WhatsAppFromTransactional, Marketing: tw.WhatsAppFromMarketing},
		twilio.From{Transactional: tw.RCSFromTransactional, Marketing: tw.RCSFromMarketing},
		twilio.From{Transactional: tw.RCSFallbackTransactional, Marketing: tw.RCSFallbackMarketing}
}

// LiveChannels lists the channels that deliver through a provider; the
// others write to the outbox folder (BuildSenders decides by it).
func LiveChannels(cfg config.Config) []message.Channel {
	var live []message.Channel
	if cfg.SMTP.Host != "" {
		live = append(live, message.Email)
	}
	if !cfg.Twilio.Configured() {
		return live
	}
	sms, wa, rcs, rcsFallback := phoneSenders(cfg.Twilio)
	for _, p := range []struct {
		ch message.Channel
		ok bool
	}{{message.SMS, !sms.Empty()}, {message.WhatsApp, !wa.Empty()}, {message.RCS, !rcs.Empty() || !rcsFallback.Empty()}} {
		if p.ok {
			live = append(live, p.ch)
		}
	}
	return live
}

// identities turns the configured senders into the composer's.
func identities(m map[string]config.Sender) map[string]email.Identity {
	out := make(map[string]email.Identity, len(m))
	for k, v := range m {
		out[k] = email.Identity(v)
	}
	return out
}
