package config

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // time zones validate the same on hosts without a zoneinfo database

	"go.yaml.in/yaml/v3"
)

// Pages configures the people's pages: newsletter sign-up with double opt-in,
// the preference centre and one-click unsubscribe.
type Pages struct {
	ImprintURL     string        `env:"HEROLD_PAGES_IMPRINT_URL" help:"imprint (Impressum) link in the footer of every page"`
	PrivacyURL     string        `env:"HEROLD_PAGES_PRIVACY_URL" help:"privacy notice link in the footer of every page and next to each consent text"`
	DefaultLocale  string        `env:"HEROLD_PAGES_DEFAULT_LOCALE" default:"de" help:"page language when the browser asks for neither de nor en"`
	TimeZone       string        `env:"HEROLD_PAGES_TIME_ZONE" default:"Europe/Berlin" help:"IANA time zone of times shown on the pages (the brand's country) when the person's profile names none"`
	ListsFile      string        `env:"HEROLD_PAGES_LISTS_FILE" help:"YAML file of the newsletter lists offered, with title and consent text per locale (default: one list \"news\")"`
	DOITTL         time.Duration `env:"HEROLD_PAGES_DOI_TTL" default:"48h" help:"how long a double opt-in confirmation link works"`
	Unconfirmed    time.Duration `env:"HEROLD_PAGES_UNCONFIRMED_RETENTION" default:"48h" help:"unconfirmed sign-ups (prospects with nothing but a doi_request) are deleted after this time"`
	PruneEvery     time.Duration `env:"HEROLD_PAGES_PRUNE_EVERY" default:"15m" help:"how often the scheduler deletes expired unconfirmed sign-ups"`
	PreferencesTTL time.Duration `env:"HEROLD_PAGES_PREFERENCES_TTL" default:"24h" help:"lifetime of the preference-centre link shown after a confirmation or unsubscribe"`
	RatePerIP      int           `env:"HEROLD_PAGES_RATE_PER_IP" default:"20" help:"sign-ups accepted per client IP address per rate window"`
	RatePerAddress int           `env:"HEROLD_PAGES_RATE_PER_ADDRESS" default:"3" help:"sign-ups accepted per e-mail address per rate window (limits confirmation mails to one mailbox)"`
	RateWindow     time.Duration `env:"HEROLD_PAGES_RATE_WINDOW" default:"1h" help:"window of the sign-up rate limits"`
	TrustProxy     bool          `env:"HEROLD_PAGES_TRUST_PROXY" default:"false" help:"take the client IP from the last X-Forwarded-For entry (only behind a proxy that sets it)"`

	// Lists are the newsletter lists offered, from ListsFile or the default.
	// Validate fills them.
	Lists []NewsletterList `yaml:"-"`
}

// NewsletterList is one newsletter a person can sign up for. Title and
// Consent are keyed by locale ("de", "en"); Consent is the exact text the
// sign-up page shows and the ledger stores. "{brand}" in either is replaced
// by the brand name.
type NewsletterList struct {
	Key     string            `yaml:"key"`
	Title   map[string]string `yaml:"title"`
	Consent map[string]string `yaml:"consent"`
}

// pageLocales are the languages the pages speak.
var pageLocales = [...]string{"de", "en"}

var (
	hexColor = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)
	listKey  = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
)

// DefaultNewsletterLists is offered when HEROLD_PAGES_LISTS_FILE is empty.
func DefaultNewsletterLists() []NewsletterList {
	return []NewsletterList{{
		Key:   "news",
		Title: map[string]string{"de": "Neuigkeiten von {brand}", "en": "News from {brand}"},
		Consent: map[string]string{
			"de": "Ja, ich möchte den E-Mail-Newsletter von {brand} mit Informationen zu Produkten, Angeboten und Neuigkeiten erhalten. " +
				"Dafür werden meine E-Mail-Adresse und, falls angegeben, mein Name auf Grundlage meiner Einwilligung (Art. 6 Abs. 1 lit. a DSGVO) verarbeitet. " +
				"Ich kann meine Einwilligung jederzeit mit Wirkung für die Zukunft widerrufen, zum Beispiel über den Abmeldelink in jeder E-Mail oder im Präferenzzentrum.",
			"en": "Yes, I want to receive the e-mail newsletter of {brand} with information on products, offers and news. " +
				"For this, my e-mail address and, if given, my name are processed on the basis of my consent (Art. 6(1)(a) GDPR). " +
				"I can withdraw my consent at any time with effect for the future, for example through the unsubscribe link in every e-mail or in the preference centre.",
		},
	}}
}

// ParseNewsletterLists reads the YAML of HEROLD_PAGES_LISTS_FILE:
//
//	lists:
//	  - key: press
//	    title: {de: Presse-Newsletter, en: Press newsletter}
//	    consent: {de: "Ja, ich möchte …", en: "Yes, I want …"}
//
// Every problem is reported, each naming the list and field.
func ParseNewsletterLists(b []byte) ([]NewsletterList, error) {
	var doc struct {
		Lists []NewsletterList `yaml:"lists"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("newsletter lists: %w", err)
	}
	if len(doc.Lists) == 0 {
		return nil, fmt.Errorf("newsletter lists: no lists: want lists: [{key, title, consent}]")
	}
	var probs []string
	seen := map[string]bool{}
	for i, l := range doc.Lists {
		name := fmt.Sprintf("list %d", i+1)
		if l.Key != "" {
			name = "list " + l.Key
		}
		if !listKey.MatchString(l.Key) {
			probs = append(probs, name+": key: want 1-64 of a-z 0-9 _ -")
		}
		if seen[l.Key] {
			probs = append(probs, name+": key: duplicate")
		}
		seen[l.Key] = true
		for _, loc := range pageLocales {
			if strings.TrimSpace(l.Title[loc]) == "" {
				probs = append(probs, fmt.Sprintf("%s: title: missing %q", name, loc))
			}
			if strings.TrimSpace(l.Consent[loc]) == "" {
				probs = append(probs, fmt.Sprintf("%s: consent: missing %q", name, loc))
			}
		}
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("newsletter lists: %s", strings.Join(probs, "; "))
	}
	return doc.Lists, nil
}

// Validate checks links, durations and limits, and loads the
// newsletter lists (from HEROLD_PAGES_LISTS_FILE or the default).
func (p *Pages) Validate() error {
	var probs []string
	for _, l := range []struct{ env, v string }{
		{"HEROLD_PAGES_IMPRINT_URL", p.ImprintURL},
		{"HEROLD_PAGES_PRIVACY_URL", p.PrivacyURL},
	} {
		if l.v == "" {
			continue
		}
		u, err := url.Parse(l.v)
		if err != nil || !(u.Scheme == "https" || u.Scheme == "http" || (u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/"))) {
			probs = append(probs, fmt.Sprintf("%s: %q is not an http(s) URL or an absolute path", l.env, l.v))
		}
	}
	if _, err := time.LoadLocation(p.TimeZone); err != nil || p.TimeZone == "" {
		probs = append(probs, fmt.Sprintf("HEROLD_PAGES_TIME_ZONE: %q is not an IANA time zone such as Europe/Berlin", p.TimeZone))
	}
	if p.DefaultLocale != "de" && p.DefaultLocale != "en" {
		probs = append(probs, fmt.Sprintf("HEROLD_PAGES_DEFAULT_LOCALE: %q is not de or en", p.DefaultLocale))
	}
	for _, d := range []struct {
		env string
		v   time.Duration
	}{
		{"HEROLD_PAGES_DOI_TTL", p.DOITTL},
		{"HEROLD_PAGES_UNCONFIRMED_RETENTION", p.Unconfirmed},
		{"HEROLD_PAGES_PRUNE_EVERY", p.PruneEvery},
		{"HEROLD_PAGES_PREFERENCES_TTL", p.PreferencesTTL},
		{"HEROLD_PAGES_RATE_WINDOW", p.RateWindow},
	} {
		if d.v < time.Second {
			probs = append(probs, fmt.Sprintf("%s: must be at least 1s, got %s", d.env, d.v))
		}
	}
	if p.Unconfirmed < p.DOITTL {
		probs = append(probs, fmt.Sprintf("HEROLD_PAGES_UNCONFIRMED_RETENTION: %s is shorter than HEROLD_PAGES_DOI_TTL %s: sign-ups would be deleted while their link still works", p.Unconfirmed, p.DOITTL))
	}
	if p.RatePerIP < 1 {
		probs = append(probs, fmt.Sprintf("HEROLD_PAGES_RATE_PER_IP: must be at least 1, got %d", p.RatePerIP))
	}
	if p.RatePerAddress < 1 {
		probs = append(probs, fmt.Sprintf("HEROLD_PAGES_RATE_PER_ADDRESS: must be at least 1, got %d", p.RatePerAddress))
	}
	if p.ListsFile != "" {
		b, err := os.ReadFile(p.ListsFile)
		if err != nil {
			probs = append(probs, fmt.Sprintf("HEROLD_PAGES_LISTS_FILE: %v", err))
		} else if lists, err := ParseNewsletterLists(b); err != nil {
			probs = append(probs, "HEROLD_PAGES_LISTS_FILE: "+err.Error())
		} else {
			p.Lists = lists
		}
	} else {
		p.Lists = DefaultNewsletterLists()
	}
	if len(probs) > 0 {
		return fmt.Errorf("%s", strings.Join(probs, "; "))
	}
	return nil
}

// Warnings lists what a German site must show on every page but this
// configuration lacks: the imprint (§ 5 DDG) and the privacy notice (Art.
// 13 GDPR, also next to every consent text). The pages work without them,
// so they are warnings for the start-up log, not errors.
func (p Pages) Warnings() []string {
	var w []string
	if p.ImprintURL == "" {
		w = append(w, "HEROLD_PAGES_IMPRINT_URL is not set: the people's pages show no imprint link, which a German site must have (§ 5 DDG)")
	}
	if p.PrivacyURL == "" {
		w = append(w, "HEROLD_PAGES_PRIVACY_URL is not set: the people's pages and consent texts link no privacy notice (Art. 13 GDPR); /privacy/communication shows only the communication section")
	}
	return w
}

// ContrastRatio is the WCAG 2 contrast ratio of two #rgb/#rrggbb colours
// (1 to 21); an unparsable colour counts as black.
func ContrastRatio(a, b string) float64 {
	la, lb := RelativeLuminance(a), RelativeLuminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// RelativeLuminance is the WCAG 2 relative luminance of a #rgb/#rrggbb colour.
func RelativeLuminance(hex string) float64 {
	if !hexColor.MatchString(hex) {
		return 0
	}
	h := hex[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	var rgb [3]float64
	for i := range rgb {
		var v int
		fmt.Sscanf(h[2*i:2*i+2], "%02x", &v)
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		rgb[i] = c
	}
	return 0.2126*rgb[0] + 0.7152*rgb[1] + 0.0722*rgb[2]
}
