package config

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Templates configures rendering: where templates come from, the locales they
// must cover, and the opt-out links the renderer adds to advertising (the
// brand in every header and footer is the Brand section).
type Templates struct {
	Dir               string        `env:"HEROLD_TEMPLATES_DIR" help:"folder whose templates override or add to the embedded ones (same layout as templates/)"`
	DefaultLocale     string        `env:"HEROLD_DEFAULT_LOCALE" default:"de" help:"locale used when neither the message nor the recipient names one that has templates"`
	Locales           []string      `env:"HEROLD_LOCALES" default:"de,en" help:"locales every message type must have templates for (checked at start-up and by catalog check)"`
	SMSMaxSegments    int           `env:"HEROLD_SMS_MAX_SEGMENTS" default:"3" help:"catalog check warns when a default SMS renders into more segments than this"`
	SMSStopNumber     string        `env:"HEROLD_SMS_STOP_NUMBER" help:"number or short code that takes STOP replies, named in the SMS opt-out notice"`
	SMSOptOutLink     bool          `env:"HEROLD_SMS_OPTOUT_LINK" default:"true" help:"add the unsubscribe link to the SMS opt-out notice (always added when no STOP number is set)"`
	LinkTTL           time.Duration `env:"HEROLD_LINK_TTL" default:"8760h" help:"how long unsubscribe and preference links in messages stay valid"`
	UnsubscribeMailto string        `env:"HEROLD_UNSUBSCRIBE_MAILTO" help:"address for the mailto: List-Unsubscribe header (RFC 2369); empty: https one-click only"`
	ListIDDomain      string        `env:"HEROLD_LIST_ID_DOMAIN" help:"domain of the List-Id header of advertising and newsletters, e.g. lists.example.com (default: the public URL's host, unless that is an IP address)"`
	WhatsAppContent   []string      `env:"HEROLD_WHATSAPP_CONTENT_SIDS" help:"approved WhatsApp templates (Twilio Content SIDs) as type=HX… or type:locale=HX…, comma-separated; type:locale wins over the sid of the locale's whatsapp.content.yaml, which wins over type"`
	RCSContent        []string      `env:"HEROLD_RCS_CONTENT_SIDS" help:"Twilio Content SIDs of RCS rich cards as type=HX… or type:locale=HX…, comma-separated, chosen like HEROLD_WHATSAPP_CONTENT_SIDS; a type without one goes as plain text"`
}

var (
	localePattern = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$`)
	sidPattern    = regexp.MustCompile(`^[a-z0-9_-]+(:[a-z]{2,3}(-[A-Za-z0-9]{2,8})?)?=HX[0-9a-fA-F]{32}$`)
)

// Validate checks locales, limits and the WhatsApp and RCS content maps.
func (t *Templates) Validate() error {
	var probs []string
	if !localePattern.MatchString(t.DefaultLocale) {
		probs = append(probs, fmt.Sprintf("HEROLD_DEFAULT_LOCALE: %q is not a locale such as de or en", t.DefaultLocale))
	}
	for _, l := range t.Locales {
		if !localePattern.MatchString(l) {
			probs = append(probs, fmt.Sprintf("HEROLD_LOCALES: %q is not a locale such as de or en", l))
		}
	}
	if !slices.Contains(t.Locales, t.DefaultLocale) {
		t.Locales = append(t.Locales, t.DefaultLocale)
	}
	if t.SMSMaxSegments < 1 || t.SMSMaxSegments > 10 {
		probs = append(probs, fmt.Sprintf("HEROLD_SMS_MAX_SEGMENTS: want 1 to 10, got %d", t.SMSMaxSegments))
	}
	if t.LinkTTL < time.Hour {
		probs = append(probs, fmt.Sprintf("HEROLD_LINK_TTL: %s is shorter than an hour", t.LinkTTL))
	}
	if t.UnsubscribeMailto != "" {
		if a, err := mail.ParseAddress(t.UnsubscribeMailto); err != nil || a.Name != "" {
			probs = append(probs, fmt.Sprintf("HEROLD_UNSUBSCRIBE_MAILTO: %q is not a bare e-mail address", t.UnsubscribeMailto))
		}
	}
	if t.ListIDDomain != "" && (len(t.ListIDDomain) > 253 || !domainPattern.MatchString(strings.ToLower(t.ListIDDomain))) {
		probs = append(probs, fmt.Sprintf("HEROLD_LIST_ID_DOMAIN: %q is not a domain name such as lists.example.com", t.ListIDDomain))
	}
	for _, set := range []struct {
		name  string
		items []string
	}{{"HEROLD_WHATSAPP_CONTENT_SIDS", t.WhatsAppContent}, {"HEROLD_RCS_CONTENT_SIDS", t.RCSContent}} {
		for _, s := range set.items {
			if !sidPattern.MatchString(s) {
				probs = append(probs, fmt.Sprintf("%s: %q is not type=HX… or type:locale=HX… (HX and 32 hex digits)", set.name, s))
			}
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%s", strings.Join(probs, "; "))
	}
	return nil
}

// ContentSIDs returns the WhatsApp content map as "type" or "type:locale" → ContentSid.
func (t *Templates) ContentSIDs() map[string]string { return sidMap(t.WhatsAppContent) }

// RCSContentSIDs returns the RCS content map as "type" or "type:locale" → ContentSid.
func (t *Templates) RCSContentSIDs() map[string]string { return sidMap(t.RCSContent) }

func sidMap(items []string) map[string]string {
	m := make(map[string]string, len(items))
	for _, s := range items {
		if k, v, ok := strings.Cut(s, "="); ok {
			m[k] = v
		}
	}
	return m
}
