// Package whatsapp sends WhatsApp messages through Twilio's Messages API (see
// channels/twilio for credentials and error classification).
//
// Business-initiated WhatsApp messages must use a template approved by Meta:
// a Twilio Content SID (HX…) with variables, which the renderer puts into
// Outbound.ContentSID and ContentVariables. Free text goes only when the
// caller says it may (Outbound.FreeForm: the person wrote within the last
// 24 hours and free-form messages are allowed; internal/delivery keeps that
// rule); anything else is refused, never sent.
package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/twilio"
)

// Config configures a Sender.
type Config struct {
	// From is the WhatsApp sender number (+E164, "whatsapp:" is added) or a
	// Messaging Service SID, by queue class.
	From twilio.From
}

// Sender sends WhatsApp messages. It is safe for concurrent use.
type Sender struct {
	tw  *twilio.Client
	cfg Config
	log *slog.Logger
}

// New returns a Sender over tw.
func New(tw *twilio.Client, cfg Config, log *slog.Logger) (*Sender, error) {
	if cfg.From.Empty() {
		return nil, errors.New("whatsapp: no sender configured")
	}
	return &Sender{tw: tw, cfg: cfg, log: log}, nil
}

// Send sends m to whatsapp:m.To: its approved template, or its text when
// m.FreeForm allows free text.
func (s *Sender) Send(ctx context.Context, m channels.Outbound) (channels.Receipt, error) {
	from := s.cfg.From.For(m.Class)
	if from == "" {
		return channels.Receipt{}, twilio.NoSender("whatsapp", m.Class)
	}
	if !twilio.ValidE164(m.To) {
		return channels.Receipt{}, twilio.InvalidNumber()
	}
	p := twilio.Params{To: "whatsapp:" + m.To}
	if twilio.IsServiceSID(from) {
		p.MessagingServiceSID = from
	} else {
		p.From = "whatsapp:" + strings.TrimPrefix(from, "whatsapp:")
	}
	switch {
	case m.ContentSID != "":
		p.ContentSID, p.ContentVariables = m.ContentSID, m.ContentVariables
	case m.FreeForm && m.Text != "":
		p.Body = m.Text
	default:
		return channels.Receipt{}, channels.Permanent(fmt.Errorf("%w: %w", channels.ErrNoTemplate, &channels.ProviderError{Provider: "twilio",
			Detail: fmt.Sprintf("no approved WhatsApp template for type %q locale %q", m.Type, m.Locale)}))
	}
	return s.tw.Send(ctx, p)
}

// RateKey names the provider sender m goes out from, for per-sender rate limits.
func (s *Sender) RateKey(m channels.Outbound) string { return s.cfg.From.For(m.Class) }
