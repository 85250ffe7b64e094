package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/token"
)

// templateSettings are the sections a template tool reads from the environment.
type templateSettings struct {
	HTTP      config.HTTP
	Core      config.Core
	Brand     config.Brand
	Templates config.Templates
}

// loadTemplateTool reads the settings, the catalog and a token secret (the
// configured one, else a throwaway one: preview links are never used) and
// builds the renderer.
// Flags registered on fs for the Templates settings (e.g. --templates-dir) win.
func loadTemplateTool(inv *invocation, s *templateSettings, fs *flag.FlagSet, warn func(string)) (*render.Renderer, *policy.Catalog, error) {
	if err := config.Load(s, inv.getenv, fs); err != nil {
		return nil, nil, err
	}
	cat, err := app.LoadCatalog(s.Core.Catalog)
	if err != nil {
		return nil, nil, err
	}
	secret := s.Core.TokenSecret
	if secret == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		secret = hex.EncodeToString(b)
	}
	sealer, err := token.NewSealer(secret)
	if err != nil {
		return nil, nil, fmt.Errorf("HEROLD_TOKEN_SECRET: %w", err)
	}
	r, err := app.NewRenderer(config.Config{HTTP: s.HTTP, Core: s.Core, Brand: s.Brand, Templates: s.Templates}, cat, sealer, warn)
	return r, cat, err
}

// checkTemplates is the templates part of `herold catalog check`: every type
// of cat has a template for every channel and locale; SMS lengths are within
// HEROLD_SMS_MAX_SEGMENTS. Warnings are printed; missing templates fail.
func checkTemplates(inv *invocation, cat *policy.Catalog) error {
	var s templateSettings
	if err := config.Load(&s, inv.getenv, nil); err != nil {
		return err
	}
	sealer, err := token.NewSealer(strings.Repeat("catalog-check-only", 2))
	if err != nil {
		return err
	}
	n := 0
	_, err = app.NewRenderer(config.Config{HTTP: s.HTTP, Core: s.Core, Brand: s.Brand, Templates: s.Templates}, cat, sealer, func(w string) {
		n++
		fmt.Fprintln(inv.stdout, "warning: template", w)
	})
	if err != nil {
		fmt.Fprintln(inv.stderr, err)
		return &exitError{code: 1, err: errors.New("templates are incomplete")}
	}
	fmt.Fprintf(inv.stdout, "templates are complete for locales %s (%d warnings)\n", strings.Join(s.Templates.Locales, ", "), n)
	return nil
}

// templateCommand is `herold template preview …`.
func templateCommand(_ context.Context, inv *invocation, args []string) error {
	if len(args) == 0 || args[0] != "preview" { // `herold template --help`: see helpArgs
		return usageErrorf("herold template: want `herold template preview --type T --channel C`")
	}
	fs := flag.NewFlagSet("herold template preview", flag.ContinueOnError)
	typ := fs.String("type", "", "message type, e.g. invoice (required)")
	channel := fs.String("channel", "", "email, sms, whatsapp or rcs (default: the type's first channel)")
	locale := fs.String("locale", "", "locale, e.g. de or en (default: HEROLD_DEFAULT_LOCALE)")
	data := fs.String("data", "", `JSON file {"profile": {...}, "data": {"<category>": {...}}} (default: the type's sample data)`)
	htmlOut := fs.String("html", "", "write the HTML part of an e-mail to this file")
	var settings templateSettings
	config.RegisterFlags(&settings.Brand, fs)
	config.RegisterFlags(&settings.Templates, fs)
	about := "Renders a message type on one channel exactly as Herold would send it, with the\n" +
		"opt-out notice the catalog requires, and prints subject, text, headers and SMS\n" +
		"segments. Templates come from the binary and HEROLD_TEMPLATES_DIR; the catalog\n" +
		"from HEROLD_CATALOG. Nothing is sent or stored."
	if err := parseFlags(fs, inv, args[1:], about, ""); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("herold template preview: unexpected argument %q", fs.Arg(0))
	}
	if *typ == "" {
		return usageErrorf("herold template preview: --type is required")
	}
	r, cat, err := loadTemplateTool(inv, &settings, fs, func(string) {})
	if err != nil {
		return err
	}
	return preview(inv.stdout, r, cat, previewArgs{typ: *typ, channel: *channel, locale: *locale, data: *data, html: *htmlOut})
}

type previewArgs struct{ typ, channel, locale, data, html string }

// preview renders one message and prints it.
func preview(w io.Writer, r *render.Renderer, cat *policy.Catalog, a previewArgs) error {
	spec, ok := cat.Type(message.Type(a.typ))
	if !ok {
		var known []string
		for _, t := range cat.Types() {
			known = append(known, string(t.Key))
		}
		return usageErrorf("unknown message type %q (known: %s)", a.typ, strings.Join(known, ", "))
	}
	ch := spec.Channels[0]
	if a.channel != "" {
		var err error
		if ch, err = message.ParseChannel(a.channel); err != nil {
			return usageErrorf("--channel: %v", err)
		}
		if !slices.Contains(spec.Channels, ch) {
			return usageErrorf("--channel: type %s may not use %s (allowed: %v)", spec.Key, ch, spec.Channels)
		}
	}
	locale := a.locale
	if locale == "" {
		locale = r.DefaultLocale()
	} else if !slices.Contains(r.Locales(), locale) {
		return usageErrorf("--locale: no templates for %q (have %s)", locale, strings.Join(r.Locales(), ", "))
	}
	var sample render.Sample
	if a.data != "" {
		b, err := os.ReadFile(a.data)
		if err != nil {
			return fmt.Errorf("--data: %w", err)
		}
		if sample, err = render.ParseSample(b); err != nil {
			return fmt.Errorf("--data %s: %w", a.data, err)
		}
	} else {
		var err error
		if sample, ok, err = r.Sample(spec.Key, locale); err != nil {
			return err
		} else if !ok {
			return usageErrorf("type %s has no sample data: pass --data FILE", spec.Key)
		}
	}
	c, err := r.Render(render.PreviewRequest(spec, ch, locale, sample))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Type:     %s\nChannel:  %s\nLocale:   %s\n", spec.Key, ch, c.Locale)
	if c.Subject != "" {
		fmt.Fprintf(w, "Subject:  %s\n", c.Subject)
	}
	if c.UnsubscribeURL != "" {
		fmt.Fprintf(w, "List-Unsubscribe: <%s>", c.UnsubscribeURL)
		if c.UnsubscribeMailto != "" {
			fmt.Fprintf(w, ", <%s>", c.UnsubscribeMailto)
		}
		fmt.Fprintf(w, "\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\nList-Id:  <%s>\n", c.ListID)
	}
	if c.SMSEncoding != "" {
		fmt.Fprintf(w, "SMS:      %s, %d segments, %d characters\n", c.SMSEncoding, c.SMSSegments, len([]rune(c.Text)))
	}
	if c.ContentSID != "" {
		fmt.Fprintf(w, "ContentSid: %s\n", c.ContentSID)
	}
	if len(c.ContentVariables) > 0 {
		keys := make([]string, 0, len(c.ContentVariables))
		for k := range c.ContentVariables {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "Variable %s: %s\n", k, c.ContentVariables[k])
		}
	}
	fmt.Fprintf(w, "\n%s\n", c.Text)
	if a.html != "" {
		if c.HTML == "" {
			return usageErrorf("--html: channel %s has no HTML part", ch)
		}
		if err := os.WriteFile(a.html, []byte(c.HTML), 0o644); err != nil {
			return fmt.Errorf("--html: %w", err)
		}
		fmt.Fprintf(w, "\nHTML written to %s\n", a.html)
	}
	return nil
}
