package config

import (
	"fmt"
	"net/url"
	"strings"
)

// Brand is the company that speaks in every message and on every page: one
// name, one set of colours and one imprint for mails, SMS and the people's
// pages, so a person never meets two names for the same sender.
type Brand struct {
	Name       string `env:"HEROLD_BRAND_NAME" was:"HEROLD_PAGES_BRAND_NAME" default:"Herold Mobil" help:"brand named in mail headers and signatures, SMS and the title of every page; also the mail sender name unless HEROLD_SMTP_FROM_NAME is set"`
	URL        string `env:"HEROLD_BRAND_URL" default:"https://www.example.com" help:"brand web site linked in e-mail footers"`
	ServiceURL string `env:"HEROLD_BRAND_SERVICE_URL" default:"https://service.example.com" help:"customer portal linked in messages"`
	Support    string `env:"HEROLD_BRAND_SUPPORT" default:"0800 000 0000" help:"customer service phone shown in signatures"`
	Address    string `env:"HEROLD_BRAND_ADDRESS" default:"Herold Mobil GmbH · Musterstraße 1 · 10115 Berlin" help:"company name and postal address in every e-mail footer"`
	Imprint    string `env:"HEROLD_BRAND_IMPRINT" default:"Sitz Berlin · Amtsgericht Charlottenburg HRB 000000 B · Geschäftsführung: Erika Mustermann" help:"register and management line in every e-mail footer"`
	LogoURL    string `env:"HEROLD_BRAND_LOGO_URL" was:"HEROLD_PAGES_LOGO_URL" help:"logo image URL of the pages (https, or a path on Herold's host); its origin is added to the pages' CSP img-src"`
	Color      string `env:"HEROLD_BRAND_COLOR" was:"HEROLD_PAGES_COLOR_PRIMARY" default:"#0b5394" help:"brand colour (#rgb or #rrggbb): header of HTML e-mails, buttons and links of the pages; text on it is black or white, whichever contrasts more"`
	TextColor  string `env:"HEROLD_BRAND_TEXT_COLOR" was:"HEROLD_PAGES_COLOR_TEXT" default:"#1a1a1a" help:"body text colour of the pages (#rgb or #rrggbb)"`
	Background string `env:"HEROLD_BRAND_BACKGROUND_COLOR" was:"HEROLD_PAGES_COLOR_BACKGROUND" default:"#ffffff" help:"page background colour (#rgb or #rrggbb); must contrast 4.5:1 with the text colour"`
}

// Validate checks the name, links and colours, and writes every colour as
// #rrggbb, the form mail clients understand.
func (b *Brand) Validate() error {
	var probs []string
	if strings.TrimSpace(b.Name) == "" {
		probs = append(probs, "HEROLD_BRAND_NAME: must not be empty")
	}
	for _, l := range []struct{ env, v string }{{"HEROLD_BRAND_URL", b.URL}, {"HEROLD_BRAND_SERVICE_URL", b.ServiceURL}} {
		if u, err := url.Parse(l.v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			probs = append(probs, fmt.Sprintf("%s: %q is not an absolute http(s) URL", l.env, l.v))
		}
	}
	if b.LogoURL != "" {
		u, err := url.Parse(b.LogoURL)
		if err != nil || !(u.Scheme == "https" || u.Scheme == "http" || (u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/"))) {
			probs = append(probs, fmt.Sprintf("HEROLD_BRAND_LOGO_URL: %q is not an http(s) URL or an absolute path", b.LogoURL))
		}
	}
	colorsOK := true
	for _, c := range []struct {
		env string
		v   *string
	}{{"HEROLD_BRAND_COLOR", &b.Color}, {"HEROLD_BRAND_TEXT_COLOR", &b.TextColor}, {"HEROLD_BRAND_BACKGROUND_COLOR", &b.Background}} {
		if !hexColor.MatchString(*c.v) {
			probs = append(probs, fmt.Sprintf("%s: %q is not a #rgb or #rrggbb colour", c.env, *c.v))
			colorsOK = false
			continue
		}
		*c.v = longColor(*c.v)
	}
	if colorsOK {
		if r := ContrastRatio(b.TextColor, b.Background); r < 4.5 {
			probs = append(probs, fmt.Sprintf("HEROLD_BRAND_TEXT_COLOR on HEROLD_BRAND_BACKGROUND_COLOR: contrast %.1f:1 is below WCAG AA 4.5:1", r))
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%s", strings.Join(probs, "; "))
	}
	return nil
}

// longColor writes #rgb as #rrggbb and leaves #rrggbb as it is, in lower case.
func longColor(c string) string {
	c = strings.ToLower(c)
	if len(c) == 4 {
		return string([]byte{'#', c[1], c[1], c[2], c[2], c[3], c[3]})
	}
	return c
}
