// Package sms sends SMS through Twilio's Messages API (see channels/twilio
// for credentials and error classification).
//
// Transactional and marketing SMS come from different senders: a STOP to an
// offer blocks only the marketing sender at the provider, and invoices keep
// arriving. A marketing message without a marketing sender is refused, never
// sent from the transactional one.
package sms

import (
	"context"
	"errors"
	"log/slog"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/twilio"
)

// Config configures a Sender.
type Config struct {
	From twilio.From
}

// Sender sends SMS. It is safe for concurrent use.
type Sender struct {
	tw   *twilio.Client
	from twilio.From
	log  *slog.Logger
}

// New returns a Sender over tw.
func New(tw *twilio.Client, cfg Config, log *slog.Logger) (*Sender, error) {
	if cfg.From.Empty() {
		return nil, errors.New("sms: no sender configured")
	}
	if cfg.From.Marketing == "" {
		log.Warn("sms: no marketing sender configured; marketing SMS will be refused")
	}
	return &Sender{tw: tw, from: cfg.From, log: log}, nil
}

// Send sends m.Text to m.To (E.164).
func (s *Sender) Send(ctx context.Context, m channels.Outbound) (channels.Receipt, error) {
	from := s.from.For(m.Class)
	if from == "" {
		return channels.Receipt{}, twilio.NoSender("sms", m.Class)
	}
	if !twilio.ValidE164(m.To) {
		return channels.Receipt{}, twilio.InvalidNumber()
	}
	if m.Text == "" {
		return channels.Receipt{}, channels.Permanent(errors.New("sms: empty body"))
	}
	p := twilio.Params{To: m.To, Body: m.Text}
	p.Apply(from)
	return s.tw.Send(ctx, p)
}

// RateKey names the provider sender m goes out from, for per-sender rate limits.
func (s *Sender) RateKey(m channels.Outbound) string { return s.from.For(m.Class) }
