// Package rcs sends RCS messages through Twilio's Messages API (see
// channels/twilio for credentials and error classification).
//
// With Outbound.SMSFallback (the decision allows SMS advertising too) the
// message goes through a Messaging Service that has an RCS sender: Twilio
// delivers RCS where the phone supports it and SMS elsewhere. Without it the
// message is addressed "rcs:+49…" and is never turned into an SMS, because
// that would be SMS advertising without consent. A fallback message for a
// class without a fallback service is sent RCS-only, the stricter way.
package rcs

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/twilio"
)

// Config configures a Sender.
type Config struct {
	// From is the RCS sender ("rcs:agent_id", or a Messaging Service SID whose
	// only sender is RCS) for RCS-only messages, by queue class.
	From twilio.From
	// FallbackService is a Messaging Service SID with an RCS sender and SMS
	// numbers, used when the message may fall back to SMS.
	FallbackService twilio.From
}

// Sender sends RCS messages. It is safe for concurrent use.
type Sender struct {
	tw  *twilio.Client
	cfg Config
	log *slog.Logger
}

// New returns a Sender over tw.
func New(tw *twilio.Client, cfg Config, log *slog.Logger) (*Sender, error) {
	if cfg.From.Empty() && cfg.FallbackService.Empty() {
		return nil, errors.New("rcs: no sender configured")
	}
	for _, sid := range []string{cfg.FallbackService.Transactional, cfg.FallbackService.Marketing} {
		if sid != "" && !twilio.IsServiceSID(sid) {
			return nil, errors.New("rcs: a fallback service must be a Messaging Service SID (MG…)")
		}
	}
	return &Sender{tw: tw, cfg: cfg, log: log}, nil
}

// Send sends m to m.To, with SMS fallback only when m.SMSFallback allows it.
func (s *Sender) Send(ctx context.Context, m channels.Outbound) (channels.Receipt, error) {
	if !twilio.ValidE164(m.To) {
		return channels.Receipt{}, twilio.InvalidNumber()
	}
	var p twilio.Params
	if svc := s.cfg.FallbackService.For(m.Class); m.SMSFallback && svc != "" {
		p = twilio.Params{To: m.To, MessagingServiceSID: svc}
	} else {
		from := s.cfg.From.For(m.Class)
		if from == "" {
			return channels.Receipt{}, twilio.NoSender("rcs", m.Class)
		}
		p = twilio.Params{To: "rcs:" + m.To}
		if twilio.IsServiceSID(from) {
			p.MessagingServiceSID = from
		} else {
			p.From = "rcs:" + strings.TrimPrefix(from, "rcs:")
		}
	}
	switch {
	case m.ContentSID != "":
		p.ContentSID, p.ContentVariables = m.ContentSID, m.ContentVariables
	case m.Text != "":
		p.Body = m.Text
	default:
		return channels.Receipt{}, channels.Permanent(errors.New("rcs: empty body"))
	}
	return s.tw.Send(ctx, p)
}

// RateKey names the provider sender m goes out from, for per-sender rate limits.
func (s *Sender) RateKey(m channels.Outbound) string {
	if svc := s.cfg.FallbackService.For(m.Class); m.SMSFallback && svc != "" {
		return svc
	}
	return s.cfg.From.For(m.Class)
}
