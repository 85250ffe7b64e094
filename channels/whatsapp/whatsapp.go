// Package whatsapp sends WhatsApp messages through Twilio's Messages API (see
// channels/twilio for credentials and error classification).
//
// Business-initiated WhatsApp messages must use a template approved by Meta:
// a Twilio Content SID (HX…) with variables. The template comes from the
// rendered message (Outbound.ContentSID) or from the configured mapping of
// message type and locale; a free-form body is sent only when no template
// exists and the configuration allows it (inside a 24-hour session window).
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
	// Templates maps "type:locale" or "type" to a Content SID (HX…).
	Templates map[string]string
	// FreeForm allows a plain body when no template is known.
	FreeForm bool
}

// ParseTemplates reads "type:locale=HX…" or "type=HX…" items.
func ParseTemplates(items []string) (map[string]string, error) {
	out := make(map[string]string, len(items))
	for _, it := range items {
		key, sid, ok := strings.Cut(it, "=")
		key, sid = strings.TrimSpace(key), strings.TrimSpace(sid)
		if !ok || key == "" || !strings.HasPrefix(sid, "HX") || len(sid) != 34 {
			return nil, fmt.Errorf("whatsapp template %q: want type:locale=HX… (a 34-character Content SID)", it)
		}
		out[key] = sid
	}
	return out, nil
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

// Send sends m to whatsapp:m.To, with a template when there is one.
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
	switch sid := s.template(m); {
	case sid != "":
		p.ContentSID, p.ContentVariables = sid, m.ContentVariables
	case s.cfg.FreeForm && m.Text != "":
		p.Body = m.Text
	default:
		return channels.Receipt{}, channels.Permanent(&channels.ProviderError{Provider: "twilio",
			Detail: fmt.Sprintf("no approved WhatsApp template for type %q locale %q", m.Type, m.Locale)})
	}
	return s.tw.Send(ctx, p)
}

func (s *Sender) template(m channels.Outbound) string {
	if m.ContentSID != "" {
		return m.ContentSID
	}
	if sid := s.cfg.Templates[m.Type+":"+m.Locale]; sid != "" {
		return sid
	}
	if lang, _, ok := strings.Cut(m.Locale, "-"); ok {
		if sid := s.cfg.Templates[m.Type+":"+lang]; sid != "" {
			return sid
		}
	}
	return s.cfg.Templates[m.Type]
}

// RateKey names the provider sender m goes out from, for per-sender rate limits.
func (s *Sender) RateKey(m channels.Outbound) string { return s.cfg.From.For(m.Class) }
