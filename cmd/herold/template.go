package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/media"
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
	Twilio    config.Twilio // which channels deliver through Twilio: their templates are required
}

// config is the part of the configuration the renderer is built from.
func (s *templateSettings) config() config.Config {
	return config.Config{HTTP: s.HTTP, Core: s.Core, Brand: s.Brand, Templates: s.Templates, Twilio: s.Twilio}
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
	r, err := app.NewRenderer(s.config(), cat, sealer, warn)
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
	_, err = app.NewRenderer(s.config(), cat, sealer, func(w string) {
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
func templateCommand(ctx context.Context, inv *invocation, args []string) error {
	if len(args) == 0 || args[0] != "preview" { // `herold template --help`: see helpArgs
		return usageErrorf("herold template: want `herold template preview --type T --channel C`")
	}
	fs := flag.NewFlagSet("herold template preview", flag.ContinueOnError)
	typ := fs.String("type", "", "message type, e.g. invoice (required)")
	channel := fs.String("channel", "", "email, sms, whatsapp or rcs (default: the type's first channel)")
	locale := fs.String("locale", "", "locale, e.g. de or en (default: HEROLD_DEFAULT_LOCALE)")
	data := fs.String("data", "", `JSON file {"profile": {...}, "data": {"<category>": {...}}} (default: the type's sample data)`)
	htmlOut := fs.String("html", "", "write the HTML part of an e-mail to this file")
	probe := fs.Bool("probe-media", false, "ask the server of a WhatsApp or RCS card's media URL (HEAD) whether the provider would take the file: type and size")
	var settings templateSettings
	config.RegisterFlags(&settings.Brand, fs)
	config.RegisterFlags(&settings.Templates, fs)
	about := "Renders a message type on one channel exactly as Herold would send it, with the\n" +
		"opt-out notice the catalog requires, and prints subject, text, headers and SMS\n" +
		"segments; for WhatsApp and RCS also the Content SID, its variables and what the\n" +
		"phone shows (card title, body, media, buttons, SMS fallback). Templates come from\n" +
		"the binary and HEROLD_TEMPLATES_DIR; the catalog from HEROLD_CATALOG. Nothing is\n" +
		"sent or stored."
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
	return preview(ctx, inv.stdout, r, cat, previewArgs{typ: *typ, channel: *channel, locale: *locale, data: *data, html: *htmlOut, probe: *probe})
}

type previewArgs struct {
	typ, channel, locale, data, html string
	probe                            bool // HEAD the media URL of a rich card
}

// preview renders one message and prints it.
func preview(ctx context.Context, w io.Writer, r *render.Renderer, cat *policy.Catalog, a previewArgs) error {
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
	req := render.PreviewRequest(spec, ch, locale, sample)
	c, err := r.Render(req)
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
	if ch == message.WhatsApp || ch == message.RCS {
		switch {
		case c.ContentSID != "":
			fmt.Fprintf(w, "ContentSid: %s\n", c.ContentSID)
		case c.Rich != nil:
			fmt.Fprintf(w, "ContentSid: none (HEROLD_%s_CONTENT_SIDS, or sid: in the content file): the text at the end goes instead\n",
				strings.ToUpper(string(ch)))
		}
		if ch == message.RCS {
			route := "RCS only (rcs: address, never as SMS)"
			if req.Decision.SMSFallback {
				route = "RCS with SMS fallback (Messaging Service), as a decision that allows SMS advertising too"
			}
			fmt.Fprintf(w, "Route:    %s\n", route)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.ContentVariables)) {
		fmt.Fprintf(w, "Variable %s: %s\n", k, c.ContentVariables[k])
	}
	if c.Rich != nil {
		if err := printRich(ctx, w, ch, req.Decision.SMSFallback, *c.Rich, a.probe); err != nil {
			return err
		}
		label := "Text (sent instead when there is no Content SID):"
		if ch == message.WhatsApp {
			label = "Text (without a Content SID: only inside the person's 24-hour window, with HEROLD_WHATSAPP_FREE_FORM):"
		}
		fmt.Fprintf(w, "\n%s\n%s\n", label, c.Text)
	} else {
		fmt.Fprintf(w, "\n%s\n", c.Text)
	}
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

// printRich prints what the phone shows of a rich message; with probe it
// asks the media URL's server what the provider would find there.
func printRich(ctx context.Context, w io.Writer, ch message.Channel, smsFallback bool, rc render.Rich, probe bool) error {
	fmt.Fprintf(w, "\nOn the phone (%s):\n", rc.ContentType)
	for _, f := range []struct{ name, v string }{{"Title", rc.Title}, {"Subtitle", rc.Subtitle}, {"Body", rc.Body}} {
		if f.v != "" {
			fmt.Fprintf(w, "  %-8s  %s\n", f.name+":", indent(f.v, 12))
		}
	}
	if rc.Media != "" {
		fallback := smsFallback && ch == message.RCS
		t, err := media.Check(ch, rc.Media, fallback)
		if err != nil {
			return err
		}
		about := fmt.Sprintf("%s by its name, at most %d MB", t.MIME, t.MaxBytes>>20)
		if probe {
			info, err := media.Probe(ctx, nil, ch, rc.Media, fallback)
			if err != nil {
				return err
			}
			about = fmt.Sprintf("%s, %s, checked", info.MIME, size(info.Bytes))
		}
		fmt.Fprintf(w, "  %-8s  %s (%s)\n", "Media:", rc.Media, about)
	}
	for _, b := range rc.Buttons {
		switch b.Type {
		case render.ButtonQuickReply:
			fmt.Fprintf(w, "  %-8s  [%s] replies %s\n", "Button:", b.Title, b.ID)
		case render.ButtonURL:
			fmt.Fprintf(w, "  %-8s  [%s] opens %s\n", "Button:", b.Title, b.URL)
		default:
			fmt.Fprintf(w, "  %-8s  [%s] calls %s\n", "Button:", b.Title, b.Phone)
		}
	}
	if rc.Fallback != "" {
		fmt.Fprintf(w, "Fallback (twilio/text, as SMS where the phone cannot show the card):\n  %s\n", indent(rc.Fallback, 2))
	}
	return nil
}

// indent continues a multi-line value at column col.
func indent(s string, col int) string {
	return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", col))
}

// size is a byte count for people.
func size(n int64) string {
	switch {
	case n < 0:
		return "size not given"
	case n < 1<<20:
		return fmt.Sprintf("%d kB", (n+512)>>10)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
}
