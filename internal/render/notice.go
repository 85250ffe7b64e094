package render

import (
	"fmt"
	"html"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/token"
)

// optOut is the compliance notice of one message: its wording and links.
type optOut struct {
	scope       string // token scope: consent purpose, newsletter:<list> or type key
	unsubscribe string // {public}/unsubscribe/{token}
	preferences string // {public}/preferences/{token}; empty for SMS
	sentence    string // the right to object or withdraw, in the message's language
	rawToken    string
}

// scopeFor returns what an unsubscribe link of this message stops: the
// newsletter list, the consent purpose of the rule that allowed the message,
// or, for customer information sent on legitimate interest, the type itself.
func scopeFor(spec policy.TypeSpec, dec policy.Decision, data map[string]map[string]any) string {
	purpose := ""
	for _, ch := range spec.Channels {
		for _, rule := range spec.Rules(ch) {
			if dec.Rule == string(spec.Key)+"/"+string(ch)+"/"+string(rule.Kind) && ch == dec.Channel {
				purpose = rule.Purpose
			}
			if rule.Kind == policy.RuleLegitimateInterestActiveContract {
				return string(spec.Key) // objection to this kind of customer information
			}
		}
	}
	if purpose == "newsletter" || (purpose == "" && len(spec.Lists) > 0) {
		list := ""
		if nl := data[policy.DataNewsletter]; nl != nil {
			list, _ = nl["list"].(string)
		}
		if list == "" && len(spec.Lists) > 0 {
			list = spec.Lists[0]
		}
		if list != "" && consent.ValidatePurpose(consent.Newsletter(list)) == nil {
			return consent.Newsletter(list)
		}
		return "newsletter"
	}
	if purpose != "" {
		return purpose
	}
	return consent.Advertising
}

// phrase names what the person objects to, in the notice's language.
func phrase(scope, l string) string {
	de := l == "de"
	switch {
	case strings.HasPrefix(scope, consent.NewsletterPrefix) || scope == "newsletter":
		if de {
			return "den Empfang dieses Newsletters"
		}
		return "receiving this newsletter"
	case scope == consent.Survey:
		if de {
			return "Kundenbefragungen"
		}
		return "customer surveys"
	case scope == consent.Advertising:
		if de {
			return "Werbung"
		}
		return "advertising"
	default:
		if de {
			return "Tipps und Informationen zu Ihren Produkten"
		}
		return "tips and information about your products"
	}
}

// sentence is the right to object (legitimate interest) or to withdraw
// consent, each free of charge, as §7(3) no. 4 UWG and Art. 7(3), 21(4) GDPR
// require it to be stated clearly.
func sentence(basis policy.Basis, scope, l string) string {
	p := phrase(scope, l)
	if basis == policy.Consent {
		if l == "de" {
			return "Sie können Ihre Einwilligung in " + p + " jederzeit kostenlos und mit Wirkung für die Zukunft widerrufen."
		}
		return "You can withdraw your consent to " + p + " at any time, free of charge and with effect for the future."
	}
	if l == "de" {
		return "Sie können der Verwendung Ihrer Daten für " + p + " jederzeit kostenlos widersprechen; dabei entstehen Ihnen keine anderen als die Übermittlungskosten nach den Basistarifen."
	}
	return "You can object to the use of your data for " + p + " at any time, free of charge; you will incur no costs other than the transmission costs at the basic rates."
}

// noticeLang picks the wording: German for German locales, English otherwise.
func noticeLang(locale string) string {
	if lang(locale) == "de" {
		return "de"
	}
	return "en"
}

// links seals the unsubscribe and preference tokens for the recipient. SMS
// and RCS (which may fall back to SMS) get a lean unsubscribe token without
// the message id, and SMS no preference link, to keep the notice short.
func (r *Renderer) links(req Request, scope string, now time.Time) (optOut, error) {
	if req.Recipient == "" {
		return optOut{}, fmt.Errorf("%w: opt-out notice needs the recipient id", ErrMissingData)
	}
	exp := now.Add(r.linkTTL).UTC().Truncate(time.Second)
	unsub := token.Token{Purpose: token.Unsubscribe, Recipient: string(req.Recipient), Scope: scope,
		Channel: string(req.Channel), Expires: exp}
	if req.Channel != message.SMS && req.Channel != message.RCS {
		unsub.MessageID = req.MessageID
	}
	raw, err := r.sealer.Seal(unsub)
	if err != nil {
		return optOut{}, fmt.Errorf("seal unsubscribe token: %w", err)
	}
	o := optOut{scope: scope, unsubscribe: r.publicURL + "/unsubscribe/" + raw, rawToken: raw}
	if req.Channel != message.SMS {
		pref, err := r.sealer.Seal(token.Token{Purpose: token.Preferences, Recipient: string(req.Recipient),
			Channel: string(req.Channel), MessageID: req.MessageID, Expires: exp})
		if err != nil {
			return optOut{}, fmt.Errorf("seal preferences token: %w", err)
		}
		o.preferences = r.publicURL + "/preferences/" + pref
	}
	return o, nil
}

// noticeText is the plain-text notice of an e-mail.
func noticeText(o optOut, l string) string {
	if l == "de" {
		return o.sentence + "\nAbmelden mit einem Klick: " + o.unsubscribe + "\nAlle Einstellungen: " + o.preferences
	}
	return o.sentence + "\nUnsubscribe with one click: " + o.unsubscribe + "\nManage your preferences: " + o.preferences
}

// noticeHTML is the HTML notice of an e-mail, placed before </body>.
func noticeHTML(o optOut, l string) string {
	unsub, prefs := "Abmelden", "Alle Einstellungen"
	if l != "de" {
		unsub, prefs = "Unsubscribe", "Manage your preferences"
	}
	return `<div style="max-width:600px;margin:0 auto;padding:0 12px 32px;font-family:Arial,Helvetica,sans-serif;font-size:12px;line-height:1.5;color:#616e7c;text-align:center;">` +
		`<p style="margin:0 0 8px;">` + html.EscapeString(o.sentence) + `</p>` +
		`<p style="margin:0;"><a href="` + html.EscapeString(o.unsubscribe) + `" style="color:#616e7c;">` + unsub + `</a> · ` +
		`<a href="` + html.EscapeString(o.preferences) + `" style="color:#616e7c;">` + prefs + `</a></p></div>`
}

// noticeSMS is the short SMS form: "STOP an <nr> / Abmelden: <link>".
func (r *Renderer) noticeSMS(o optOut, l string) string {
	withLink := !r.smsOmitLink || r.smsStop == ""
	de := l == "de"
	switch {
	case r.smsStop != "" && withLink && de:
		return "Abbestellen: STOP an " + r.smsStop + " / Abmelden: " + o.unsubscribe
	case r.smsStop != "" && withLink:
		return "Opt out: STOP to " + r.smsStop + " / Unsubscribe: " + o.unsubscribe
	case r.smsStop != "" && de:
		return "Abbestellen: STOP an " + r.smsStop
	case r.smsStop != "":
		return "Opt out: reply STOP to " + r.smsStop
	case de:
		return "Abmelden: " + o.unsubscribe
	default:
		return "Unsubscribe: " + o.unsubscribe
	}
}

// noticeMessenger is the form for WhatsApp and RCS text.
func noticeMessenger(o optOut, l string) string {
	if l == "de" {
		return o.sentence + " Abmelden: " + o.unsubscribe
	}
	return o.sentence + " Unsubscribe: " + o.unsubscribe
}

var bodyClose = regexp.MustCompile(`(?i)</body\s*>`)

// appendHTML puts block before the last </body>, or at the end when there is none.
func appendHTML(doc, block string) string {
	locs := bodyClose.FindAllStringIndex(doc, -1)
	if len(locs) == 0 {
		return doc + "\n" + block + "\n"
	}
	at := locs[len(locs)-1][0]
	return doc[:at] + block + "\n" + doc[at:]
}

// listID returns a List-Id (RFC 2919) for scope under the list domain, e.g.
// "newsletter-news.lists.example.com"; "" when there is no list domain.
func (r *Renderer) listID(scope string) string {
	if r.listDomain == "" {
		return ""
	}
	label := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(scope))
	return label + "." + r.listDomain
}

// listDomain picks the domain List-Ids end in: the configured one, else the
// public URL's host when it is a domain name. An IP address or a single
// label (localhost) is no domain a mailbox provider can attribute a list
// to, so then there is no List-Id at all.
func listDomain(configured, publicURL string) string {
	if configured != "" {
		return strings.ToLower(strings.TrimSuffix(configured, "."))
	}
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if _, err := netip.ParseAddr(host); err == nil || !strings.Contains(host, ".") {
		return ""
	}
	return host
}
