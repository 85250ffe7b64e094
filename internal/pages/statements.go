package pages

import (
	"fmt"
	"strings"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
)

// Statements are the texts a person agrees to or declares on these pages,
// recorded word for word in the ledger (consent.Event.Text, versioned by
// textVersion). Each is one complete sentence (or two) in the first person
// that says who may do what on which channel, built from the clauses below
// so that German and English stay grammatical for every purpose and
// channel. testdata/statements.golden prints every one of them for review:
// change a clause only together with that file.

// statementKind is what a statement declares.
type statementKind int

const (
	stmtGrant    statementKind = iota // consent given in the preference centre
	stmtWithdraw                      // consent withdrawn (preference centre, unsubscribe link)
	stmtObject                        // objection, Art. 21 GDPR (preference centre, unsubscribe link)
	stmtUndo                          // an unsubscribe taken back: the earlier consent again
)

// clauses are the parts of the statements, by key: {de, en}.
var clauses = map[string][2]string{
	// What a consent to a purpose allows, as a clause after "dass" / "to".
	"consent.advertising": {"dass %[1]s mir %[2]s Angebote zu eigenen Produkten und Services schickt", "to %[1]s sending me offers for its own products and services %[2]s"},
	"consent.survey":      {"dass %[1]s mich %[2]s zu Kundenzufriedenheits- und Meinungsumfragen einlädt", "to %[1]s inviting me %[2]s to customer satisfaction and opinion surveys"},
	"consent.usage_data":  {"dass %[1]s meine Verkehrs- und Nutzungsdaten verwendet, um mir %[2]s passende Angebote zu machen", "to %[1]s using my traffic and usage data to make me suitable offers %[2]s"},
	"consent.usage_all":   {"dass %[1]s meine Verkehrs- und Nutzungsdaten verwendet, um mir passende Angebote zu machen", "to %[1]s using my traffic and usage data to make me suitable offers"},

	"grant":           {"Ja, ich willige ein, %s. Ich kann diese Einwilligung jederzeit mit Wirkung für die Zukunft widerrufen.", "Yes, I consent %s. I can withdraw this consent at any time with effect for the future."},
	"withdraw":        {"Ich widerrufe meine Einwilligung, %s.", "I withdraw my consent %s."},
	"undo":            {"Ich nehme meine Abmeldung zurück und willige wieder ein, %s. Ich kann diese Einwilligung jederzeit mit Wirkung für die Zukunft widerrufen.", "I take back my unsubscription and consent again %s. I can withdraw this consent at any time with effect for the future."},
	"object.ads":      {"Ich möchte von %[1]s %[2]s keine Werbung mehr erhalten und widerspreche der Verwendung meiner Daten für Werbung (Art. 21 DSGVO).", "I no longer want to receive advertising from %[1]s %[2]s and object to the use of my data for advertising (Art. 21 GDPR)."},
	"object.type":     {"Ich möchte von %[1]s %[2]s keine Nachrichten der Art „%[3]s“ mehr erhalten und widerspreche der Verwendung meiner Daten dafür (Art. 21 DSGVO).", "I no longer want to receive messages of the kind “%[3]s” from %[1]s %[2]s and object to the use of my data for them (Art. 21 GDPR)."},
	"object.ads.all":  {"Ich möchte von %[1]s auf keinem Kanal mehr Werbung erhalten und widerspreche der Verwendung meiner Daten für Werbung (Art. 21 DSGVO).", "I no longer want to receive advertising from %[1]s on any channel and object to the use of my data for advertising (Art. 21 GDPR)."},
	"object.type.all": {"Ich möchte von %[1]s auf keinem Kanal mehr Nachrichten der Art „%[3]s“ erhalten und widerspreche der Verwendung meiner Daten dafür (Art. 21 DSGVO).", "I no longer want to receive messages of the kind “%[3]s” from %[1]s on any channel and object to the use of my data for them (Art. 21 GDPR)."},
	"lift.type":       {"Ich nehme meinen Widerspruch zurück: %[1]s darf mir %[2]s wieder Nachrichten der Art „%[3]s“ schicken.", "I take back my objection: %[1]s may send me messages of the kind “%[3]s” %[2]s again."},
	"undo.type":       {"Ich nehme meine Abmeldung zurück: %[1]s darf mir %[2]s wieder Nachrichten der Art „%[3]s“ schicken.", "I take back my unsubscription: %[1]s may send me messages of the kind “%[3]s” %[2]s again."},
	"withdraw.nl":     {"Ich bestelle den Newsletter „%s“ ab und widerrufe meine Einwilligung, ihn per E-Mail zu erhalten.", "I unsubscribe from the newsletter “%s” and withdraw my consent to receiving it by e-mail."},
	"undo.nl":         {"Ich nehme meine Abmeldung zurück und möchte den Newsletter „%s“ wieder per E-Mail erhalten.", "I take back my unsubscription and want to receive the newsletter “%s” by e-mail again."},
	"all_ads":         {"Ich möchte von %s auf keinem Kanal mehr Werbung erhalten: Ich widerspreche jeder Verwendung meiner Daten für Werbung (Art. 21 DSGVO) und widerrufe meine Einwilligungen in Newsletter und Umfragen.", "I no longer want to receive advertising from %s on any channel: I object to any use of my data for advertising (Art. 21 GDPR) and withdraw my consent to newsletters and surveys."},
	"confirm":         {"Ich bestätige meine Anmeldung zum Newsletter „%s“ und möchte ihn per E-Mail erhalten.", "I confirm my sign-up to the newsletter “%s” and want to receive it by e-mail."},
	"via.email":       {"per E-Mail", "by e-mail"},
	"via.sms":         {"per SMS", "by SMS"},
	"via.whatsapp":    {"über WhatsApp", "on WhatsApp"},
	"via.rcs":         {"über RCS", "via RCS"},
	"via.all":         {"auf allen Kanälen", "on every channel"},
}

func clause(l Locale, key string) string {
	c := clauses[key]
	if l.Tag == de {
		return c[0]
	}
	return c[1]
}

// via names a channel as the statements use it: "per E-Mail", "über WhatsApp".
func via(l Locale, ch string) string {
	if _, ok := clauses["via."+ch]; !ok {
		ch = consent.AllChannels
	}
	return clause(l, "via."+ch)
}

// statement is the exact text recorded when a person takes action kind on
// purpose and channel (a message.Channel or "all").
func (p *Pages) statement(l Locale, kind statementKind, purpose, channel string) string {
	brand := p.brand.Name
	ch := via(l, channel)
	if list, ok := strings.CutPrefix(purpose, consent.NewsletterPrefix); ok {
		title := p.listTitle(list, l)
		switch kind {
		case stmtUndo:
			return fmt.Sprintf(clause(l, "undo.nl"), title)
		case stmtGrant:
			// A newsletter is granted by double opt-in with the list's own text.
			if nl, ok := p.lists[list]; ok {
				return p.consentText(nl, l)
			}
			return fmt.Sprintf(clause(l, "confirm"), title)
		default: // a newsletter is withdrawn, never objected to
			return fmt.Sprintf(clause(l, "withdraw.nl"), title)
		}
	}
	var what string
	switch purpose {
	case consent.Advertising, consent.Survey:
		what = fmt.Sprintf(clause(l, "consent."+purpose), brand, ch)
	case consent.UsageData:
		what = fmt.Sprintf(clause(l, "consent.usage_data"), brand, ch)
		if channel == consent.AllChannels || !message.Channel(channel).Valid() {
			what = fmt.Sprintf(clause(l, "consent.usage_all"), brand)
		}
	default: // a message type: only objections and their lifting
		title := p.typeTitle(message.Type(purpose), l)
		switch kind {
		case stmtObject, stmtWithdraw:
			return fmt.Sprintf(clause(l, objectKey("object.type", channel)), brand, ch, title)
		case stmtUndo:
			return fmt.Sprintf(clause(l, "undo.type"), brand, ch, title)
		default:
			return fmt.Sprintf(clause(l, "lift.type"), brand, ch, title)
		}
	}
	switch kind {
	case stmtObject:
		return fmt.Sprintf(clause(l, objectKey("object.ads", channel)), brand, ch)
	case stmtWithdraw:
		return fmt.Sprintf(clause(l, "withdraw"), what)
	case stmtUndo:
		return fmt.Sprintf(clause(l, "undo"), what)
	default:
		return fmt.Sprintf(clause(l, "grant"), what)
	}
}

// objectKey picks the wording of an objection: on all channels it reads
// "auf keinem Kanal mehr" / "on any channel", not "on every channel".
func objectKey(key, channel string) string {
	if _, ok := clauses["via."+channel]; !ok || channel == consent.AllChannels {
		return key + ".all"
	}
	return key
}

// allAdsStatement is the objection to all advertising at once.
func (p *Pages) allAdsStatement(l Locale) string {
	return fmt.Sprintf(clause(l, "all_ads"), p.brand.Name)
}

// confirmStatement is the double opt-in confirmation of list.
func (p *Pages) confirmStatement(l Locale, list string) string {
	return fmt.Sprintf(clause(l, "confirm"), p.listTitle(list, l))
}

// typeTitle names a message type for people: the catalog's notice title,
// else its key.
func (p *Pages) typeTitle(t message.Type, l Locale) string {
	if p.catalog != nil {
		if spec, ok := p.catalog.Type(t); ok {
			if s := spec.Notice.Title.In(l.Tag); s != "" {
				return s
			}
		}
	}
	return string(t)
}

// recordable is one text the pages can record, for review.
type recordable struct {
	Where, Kind, Purpose, Channel, Text string
}

// recordableTexts lists every text the pages can write into the ledger in
// l: the sign-up and confirmation of each list, each change the preference
// centre offers, the objection to all advertising, and what the unsubscribe
// link and its undo record for each scope a message can carry.
func (p *Pages) recordableTexts(l Locale) []recordable {
	var out []recordable
	add := func(where string, kind consent.Kind, purpose, ch, text string) {
		out = append(out, recordable{Where: where, Kind: string(kind), Purpose: purpose, Channel: ch, Text: text})
	}
	email := string(message.Email)
	phones := []string{string(message.SMS), string(message.WhatsApp), string(message.RCS)}
	for _, nl := range p.cfg.Lists {
		purpose := consent.Newsletter(nl.Key)
		add("subscribe, preferences", consent.DOIRequest, purpose, email, p.consentText(nl, l))
		add("confirm", consent.DOIConfirm, purpose, email, p.confirmStatement(l, nl.Key))
		add("preferences, unsubscribe", consent.Withdraw, purpose, email, p.statement(l, stmtWithdraw, purpose, email))
		add("unsubscribe undo", consent.Grant, purpose, email, p.statement(l, stmtUndo, purpose, email))
	}
	all := append([]string{email}, phones...)
	for _, ch := range all {
		add("preferences", consent.Grant, consent.Advertising, ch, p.statement(l, stmtGrant, consent.Advertising, ch))
	}
	for _, ch := range append(all, consent.AllChannels) {
		add("preferences, unsubscribe", consent.Object, consent.Advertising, ch, p.statement(l, stmtObject, consent.Advertising, ch))
		add("unsubscribe undo", consent.Grant, consent.Advertising, ch, p.statement(l, stmtUndo, consent.Advertising, ch))
	}
	for _, ch := range []string{email, string(message.SMS)} {
		add("preferences", consent.Grant, consent.Survey, ch, p.statement(l, stmtGrant, consent.Survey, ch))
	}
	for _, purpose := range []string{consent.Survey, consent.UsageData} {
		for _, ch := range append(all, consent.AllChannels) {
			add("preferences, unsubscribe", consent.Withdraw, purpose, ch, p.statement(l, stmtWithdraw, purpose, ch))
			add("unsubscribe undo", consent.Grant, purpose, ch, p.statement(l, stmtUndo, purpose, ch))
		}
	}
	add("preferences", consent.Grant, consent.UsageData, consent.AllChannels, p.statement(l, stmtGrant, consent.UsageData, consent.AllChannels))
	add("preferences", consent.Object, consent.Advertising, consent.AllChannels, p.allAdsStatement(l))
	if p.catalog != nil {
		for _, t := range p.catalog.Types() {
			// Objections name advertising types; survey is a consent
			// purpose of its own (listed above), not a type here.
			if !t.Advertising || t.Key == consent.Survey {
				continue
			}
			chans := []string{consent.AllChannels}
			for _, ch := range t.Channels {
				chans = append(chans, string(ch))
			}
			for _, ch := range chans {
				add("preferences, unsubscribe", consent.Object, string(t.Key), ch, p.statement(l, stmtObject, string(t.Key), ch))
				add("preferences", consent.Grant, string(t.Key), ch, p.statement(l, stmtGrant, string(t.Key), ch))
				add("unsubscribe undo", consent.Grant, string(t.Key), ch, p.statement(l, stmtUndo, string(t.Key), ch))
			}
		}
	}
	return out
}
