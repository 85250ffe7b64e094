package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/heroldhq/herold/internal/message"
)

// The catalog is also the source of the communication section of the
// privacy notice and of the record of processing activities (Art. 13, 30
// GDPR): the facts the policy enforces (legal bases, channels, data
// categories, periods) are rendered from the catalog itself, and only what
// the code cannot know is written in words here: each type's purpose, why it
// is kept as long as it is, and the notice's sections, recipients and
// safeguards. Texts name periods by placeholder ({retention}, {blocking},
// {unconfirmed}), so the period a person reads is the one Decide applies.

// Text is a text in the languages the notice is written in.
type Text struct {
	DE string `yaml:"de"`
	EN string `yaml:"en"`
}

// In returns the text in lang ("de" or "en"); any other lang gets English.
func (t Text) In(lang string) string {
	if lang == "de" {
		return t.DE
	}
	return t.EN
}

func (t Text) empty() bool { return strings.TrimSpace(t.DE) == "" && strings.TrimSpace(t.EN) == "" }

// TypeNotice is what the privacy notice says of one message type beyond what
// the rules already say.
type TypeNotice struct {
	Section   string // key of a Notice section
	Title     Text   // heading, e.g. "Rechnungen"
	Purpose   Text   // the purpose in words (Art. 13(1)(c) GDPR)
	Retention Text   // how long and why, naming the period by placeholder (Art. 13(2)(a))
}

// Notice holds the catalog-wide parts of the notice and the record.
type Notice struct {
	Sections   []NoticeSection
	Withdrawal Text // how to withdraw or object, e.g. "über den Abmeldelink …"
	Recipients []NoticeRecipient
	Safeguards []Text // technical and organisational measures (Art. 30(1)(g), 32 GDPR)
}

// NoticeSection groups types under one heading of the notice.
type NoticeSection struct {
	Key   string
	Title Text
}

// NoticeRecipient is a recipient of personal data (Art. 13(1)(e), 30(1)(d)
// GDPR), such as the SMS provider, for the channels it serves.
type NoticeRecipient struct {
	Name     Text
	Role     Text
	Channels []message.Channel
	Transfer Text // transfer to a third country and its safeguard (Art. 13(1)(f), 30(1)(e)); empty: none
}

// Notice returns the catalog-wide notice parts (a copy).
func (c *Catalog) Notice() Notice {
	n := c.notice
	n.Sections = slices.Clone(n.Sections)
	n.Safeguards = slices.Clone(n.Safeguards)
	n.Recipients = slices.Clone(n.Recipients)
	for i := range n.Recipients {
		n.Recipients[i].Channels = slices.Clone(n.Recipients[i].Channels)
	}
	return n
}

// placeholder matches {name} in notice texts.
var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

// The placeholders notice texts may use, and those that name a period.
var placeholders = []string{"{retention}", "{retention_dat}", "{blocking}", "{blocking_dat}", "{unconfirmed}", "{unconfirmed_dat}"}

// Expand fills the placeholders of a notice text in lang for type k:
// {retention} is k's retention, {blocking} the blocking period, {unconfirmed}
// the unconfirmed-signup retention, each as words ("3 Monate", "10 years");
// the _dat forms are the German dative ("nach 3 Monaten"), the same in
// English. Unknown placeholders stay as they are (ParseCatalog refuses them).
func (c *Catalog) Expand(k message.Type, lang, s string) string {
	var retention period
	if i, ok := c.index[k]; ok {
		retention = c.types[i].retentionPeriod
	}
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		switch m {
		case "{retention}":
			return retention.words(lang, false)
		case "{retention_dat}":
			return retention.words(lang, true)
		case "{blocking}":
			return c.blocking.words(lang, false)
		case "{blocking_dat}":
			return c.blocking.words(lang, true)
		case "{unconfirmed}":
			return c.unconfirmed.words(lang, false)
		case "{unconfirmed_dat}":
			return c.unconfirmed.words(lang, true)
		}
		return m
	})
}

// FrequencyCapWords returns the frequency cap as the notice states it: the
// number and the window in words ("7 Tagen" with dative); max 0: no cap.
func (c *Catalog) FrequencyCapWords(lang string, dative bool) (max int, window string) {
	return c.capMax, c.capWindow.words(lang, dative)
}

// words writes the period for people: "3 Monate" (dative "3 Monaten"),
// "10 Jahre", "30 Tage"; in English "3 months".
func (p period) words(lang string, dative bool) string {
	n, unit := p.days, "day"
	switch {
	case p.years != 0:
		n, unit = p.years, "year"
	case p.months != 0:
		n, unit = p.months, "month"
	case p.days%7 == 0 && p.days != 0 && strings.Contains(p.text, "week"):
		n, unit = p.days/7, "week"
	}
	if lang != "de" {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.Itoa(n) + " " + unit + "s"
	}
	forms := map[string][3]string{ // singular, plural, dative plural
		"day":   {"Tag", "Tage", "Tagen"},
		"week":  {"Woche", "Wochen", "Wochen"},
		"month": {"Monat", "Monate", "Monaten"},
		"year":  {"Jahr", "Jahre", "Jahren"},
	}[unit]
	switch {
	case n == 1:
		return "1 " + forms[0]
	case dative:
		return strconv.Itoa(n) + " " + forms[2]
	default:
		return strconv.Itoa(n) + " " + forms[1]
	}
}

// ---- parsing

type rawNotice struct {
	Sections []struct {
		Key   string `yaml:"key"`
		Title Text   `yaml:"title"`
	} `yaml:"sections"`
	Withdrawal Text `yaml:"withdrawal"`
	Recipients []struct {
		Name     Text     `yaml:"name"`
		Role     Text     `yaml:"role"`
		Channels []string `yaml:"channels"`
		Transfer Text     `yaml:"transfer"`
	} `yaml:"recipients"`
	Safeguards []Text `yaml:"safeguards"`
}

type rawTypeNotice struct {
	Section   string `yaml:"section"`
	Title     Text   `yaml:"title"`
	Purpose   Text   `yaml:"purpose"`
	Retention Text   `yaml:"retention"`
}

// checkText reports a text missing in a language or using an unknown
// placeholder; with needPeriod, it must name a period by placeholder.
func checkText(l *located, where, field string, t Text, needPeriod bool) {
	for _, lt := range []struct{ lang, s string }{{"de", t.DE}, {"en", t.EN}} {
		if strings.TrimSpace(lt.s) == "" {
			l.add(where, "%s: %s: missing (the notice is written in de and en)", field, lt.lang)
			continue
		}
		for _, m := range placeholder.FindAllString(lt.s, -1) {
			if !slices.Contains(placeholders, m) {
				l.add(where, "%s: %s: unknown placeholder %s (want one of %s)", field, lt.lang, m, strings.Join(placeholders, " "))
			}
		}
		if needPeriod && !slices.ContainsFunc(placeholders, func(p string) bool { return strings.Contains(lt.s, p) }) {
			l.add(where, "%s: %s: name the period by placeholder ({retention}, {retention_dat}, …), so the notice states the period that is enforced", field, lt.lang)
		}
	}
}

func parseNotice(l *located, raw *rawNotice) Notice {
	var n Notice
	if raw == nil {
		return n
	}
	seen := map[string]bool{}
	for i, s := range raw.Sections {
		where := fmt.Sprintf("catalog: notice: section #%d", i+1)
		switch {
		case !keyPattern.MatchString(s.Key):
			l.add(where, "key: %q is not a valid key (lowercase a-z 0-9 _)", s.Key)
		case seen[s.Key]:
			l.add(where, "key: %q listed twice", s.Key)
		}
		seen[s.Key] = true
		checkText(l, where, "title", s.Title, false)
		n.Sections = append(n.Sections, NoticeSection{Key: s.Key, Title: s.Title})
	}
	if len(raw.Sections) == 0 {
		l.add("catalog: notice", "sections: none listed")
	}
	checkText(l, "catalog: notice", "withdrawal", raw.Withdrawal, false)
	n.Withdrawal = raw.Withdrawal
	for i, r := range raw.Recipients {
		where := fmt.Sprintf("catalog: notice: recipient #%d", i+1)
		checkText(l, where, "name", r.Name, false)
		checkText(l, where, "role", r.Role, false)
		if !r.Transfer.empty() {
			checkText(l, where, "transfer", r.Transfer, false)
		}
		nr := NoticeRecipient{Name: r.Name, Role: r.Role, Transfer: r.Transfer}
		for _, name := range r.Channels {
			ch, err := message.ParseChannel(name)
			if err != nil {
				l.add(where, "channels: unknown channel %q (want email, sms, whatsapp or rcs)", name)
				continue
			}
			nr.Channels = append(nr.Channels, ch)
		}
		if len(r.Channels) == 0 {
			l.add(where, "channels: none listed (the channels whose messages it processes)")
		}
		n.Recipients = append(n.Recipients, nr)
	}
	for i, s := range raw.Safeguards {
		checkText(l, fmt.Sprintf("catalog: notice: safeguard #%d", i+1), "text", s, false)
	}
	n.Safeguards = raw.Safeguards
	return n
}

// parseTypeNotice checks a type's notice texts against the catalog's
// sections. A type without one is valid for deciding; the notice and the
// record refuse to render it (see NoticeGaps).
func parseTypeNotice(l *located, where string, raw *rawTypeNotice, n Notice) TypeNotice {
	if raw == nil {
		return TypeNotice{}
	}
	where += ": notice"
	if !slices.ContainsFunc(n.Sections, func(s NoticeSection) bool { return s.Key == raw.Section }) {
		l.add(where, "section: %q is not one of the catalog's notice sections", raw.Section)
	}
	checkText(l, where, "title", raw.Title, false)
	checkText(l, where, "purpose", raw.Purpose, false)
	checkText(l, where, "retention", raw.Retention, true)
	return TypeNotice{Section: raw.Section, Title: raw.Title, Purpose: raw.Purpose, Retention: raw.Retention}
}

// NoticeGaps lists what the catalog lacks for rendering the privacy notice
// and the record: the catalog-wide notice part, and each type without its
// notice texts. Empty means both can be rendered.
func (c *Catalog) NoticeGaps() []string {
	var gaps []string
	if len(c.notice.Sections) == 0 {
		gaps = append(gaps, "catalog: notice: missing (sections, withdrawal, recipients, safeguards)")
	}
	for _, t := range c.types {
		if t.Notice.Section == "" {
			gaps = append(gaps, "type "+string(t.Key)+": notice: missing (section, title, purpose, retention)")
		}
	}
	return gaps
}
