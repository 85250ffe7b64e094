package render

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/token"
	"github.com/heroldhq/herold/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var tokenInURL = regexp.MustCompile(`(unsubscribe|preferences)(/|%20)[A-Za-z0-9_-]{40,}`)

// stable replaces the random sealed tokens so golden files do not change.
func stable(s string) string { return tokenInURL.ReplaceAllString(s, "${1}${2}TOKEN") }

func sample(t testing.TB, r *Renderer, typ message.Type, locale string) Sample {
	t.Helper()
	s, ok, err := r.Sample(typ, locale)
	if err != nil || !ok {
		t.Fatalf("sample %s/%s: ok=%v err=%v", typ, locale, ok, err)
	}
	return s
}

func spec(t testing.TB, cat *policy.Catalog, typ message.Type) policy.TypeSpec {
	t.Helper()
	s, ok := cat.Type(typ)
	if !ok {
		t.Fatalf("type %s not in catalog", typ)
	}
	return s
}

func golden(c Content) string {
	var b strings.Builder
	fmt.Fprintf(&b, "locale: %s\n", c.Locale)
	if c.Subject != "" {
		fmt.Fprintf(&b, "subject: %s\n", c.Subject)
	}
	if c.SMSEncoding != "" {
		fmt.Fprintf(&b, "sms: %s, %d segments\n", c.SMSEncoding, c.SMSSegments)
	}
	if c.ContentSID != "" {
		fmt.Fprintf(&b, "content_sid: %s\n", c.ContentSID)
	}
	for _, k := range sortedKeys(c.ContentVariables) {
		fmt.Fprintf(&b, "variable %s: %s\n", k, c.ContentVariables[k])
	}
	if rc := c.Rich; rc != nil {
		fmt.Fprintf(&b, "---- %s\n", rc.ContentType)
		for _, f := range []struct{ name, v string }{{"title", rc.Title}, {"subtitle", rc.Subtitle}, {"body", rc.Body}, {"media", rc.Media}} {
			if f.v != "" {
				fmt.Fprintf(&b, "%s: %s\n", f.name, f.v)
			}
		}
		for _, bt := range rc.Buttons {
			fmt.Fprintf(&b, "button %s %q: %s\n", bt.Type, bt.Title, bt.ID+bt.URL+bt.Phone)
		}
		if rc.Fallback != "" {
			fmt.Fprintf(&b, "---- twilio/text\n%s\n", rc.Fallback)
		}
	}
	if c.UnsubscribeURL != "" {
		fmt.Fprintf(&b, "list-unsubscribe: <%s>, <%s>\nlist-id: %s\n", c.UnsubscribeURL, c.UnsubscribeMailto, c.ListID)
	}
	fmt.Fprintf(&b, "---- text\n%s\n", c.Text)
	if c.HTML != "" {
		fmt.Fprintf(&b, "---- html\n%s\n", c.HTML)
	}
	return stable(b.String())
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range maps.Keys(m) {
		keys = append(keys, k)
	}
	for i := range keys { // tiny: insertion sort keeps this dependency-free
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// TestGolden renders every default template in both locales with its sample
// data and compares the result with testdata/<type>.<channel>.<locale>.golden.
func TestGolden(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, func(o *Options) {
		o.ContentSIDs = map[string]string{"messenger_offer": "HX00000000000000000000000000000001"}
	})
	n := 0
	for _, sp := range cat.Types() {
		for _, ch := range sp.Channels {
			for _, l := range []string{"de", "en"} {
				name := fmt.Sprintf("%s.%s.%s", sp.Key, ch, l)
				n++
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					c, err := r.Render(PreviewRequest(sp, ch, l, sample(t, r, sp.Key, l)))
					if err != nil {
						t.Fatalf("render: %v", err)
					}
					if c.Locale != l {
						t.Errorf("locale = %q, want %q", c.Locale, l)
					}
					got := golden(c)
					path := filepath.Join("testdata", name+".golden")
					if *update {
						if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
							t.Fatal(err)
						}
						return
					}
					want, err := os.ReadFile(path)
					if err != nil {
						t.Fatalf("%v (run go test -update)", err)
					}
					if got != string(want) {
						t.Errorf("%s differs from the golden file (go test -update to accept):\n%s", name, diff(string(want), got))
					}
				})
			}
		}
	}
	if n < 30 {
		t.Errorf("only %d type/channel/locale combinations rendered", n)
	}
}

func diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\nwant %q\ngot  %q", i+1, w, g)
		}
	}
	return ""
}

func TestMissingDataNamesTheKey(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, nil)
	invoice := spec(t, cat, "invoice")
	promo := spec(t, cat, "promo_offer")
	tests := []struct {
		name    string
		req     func() Request
		wantKey string
	}{
		{"field missing in a category", func() Request {
			req := PreviewRequest(invoice, message.Email, "de", sample(t, r, "invoice", "de"))
			inv := maps.Clone(req.Data["invoice"])
			delete(inv, "amount")
			req.Data = map[string]map[string]any{"invoice": inv}
			return req
		}, `"invoice.amount"`},
		{"category missing", func() Request {
			req := PreviewRequest(invoice, message.SMS, "en", sample(t, r, "invoice", "en"))
			req.Data = map[string]map[string]any{}
			return req
		}, `"invoice.period"`},
		{"category not allowed by the decision", func() Request {
			req := PreviewRequest(invoice, message.Email, "de", sample(t, r, "invoice", "de"))
			req.Decision.DataCategories = []string{"contact"}
			return req
		}, `"invoice.period"`},
		{"nested key inside with", func() Request {
			req := PreviewRequest(promo, message.Email, "de", sample(t, r, "promo_offer", "de"))
			req.Data = maps.Clone(req.Data)
			req.Data["usage"] = map[string]any{"period": "Oktober 2026"}
			return req
		}, `"usage.data_used_gb"`},
		{"nested key inside range", func() Request {
			nl := spec(t, cat, "newsletter")
			req := PreviewRequest(nl, message.Email, "en", sample(t, r, "newsletter", "en"))
			n := maps.Clone(req.Data["newsletter"])
			n["items"] = []any{map[string]any{"title": "t", "url": "https://example.com"}}
			req.Data = map[string]map[string]any{"newsletter": n}
			return req
		}, `"newsletter.items[].text"`},
		{"unusable value", func() Request {
			req := PreviewRequest(invoice, message.SMS, "de", sample(t, r, "invoice", "de"))
			inv := maps.Clone(req.Data["invoice"])
			inv["due_date"] = "next tuesday"
			req.Data = map[string]map[string]any{"invoice": inv}
			return req
		}, `"invoice.due_date"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := r.Render(tt.req())
			if !errors.Is(err, ErrMissingData) {
				t.Fatalf("err = %v, want ErrMissingData", err)
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("err = %q, want it to name %s", err, tt.wantKey)
			}
			if strings.Contains(err.Error(), "next tuesday") {
				t.Errorf("err = %q repeats the data value", err)
			}
		})
	}
}

func TestHTMLEscapesHostileData(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, nil)
	req := PreviewRequest(spec(t, cat, "customer_tip"), message.Email, "de", sample(t, r, "customer_tip", "de"))
	req.Profile = map[string]any{"salutation": "Frau", "last_name": `<script>alert("x")</script>`}
	req.Data = map[string]map[string]any{"tip": {
		"title": `<img src=x onerror=alert(1)>`, "text": "a <b>bold</b> claim", "url": "javascript:alert(1)"}}
	c, err := r.Render(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img src=x", "<b>bold", `href="javascript:`} {
		if strings.Contains(c.HTML, bad) {
			t.Errorf("HTML contains %q unescaped", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;", "&lt;img src=x onerror=alert(1)&gt;", "#ZgotmplZ"} {
		if !strings.Contains(c.HTML, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// The plain-text part is not HTML: it keeps the characters as they are.
	if !strings.Contains(c.Text, "<img src=x onerror=alert(1)>") {
		t.Errorf("text part changed the data: %q", c.Text)
	}
}

func TestSubjectCannotInjectHeaders(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, nil)
	for _, ticket := range []string{"T-1\r\nBcc: victim@example.com", "T-1\nBcc: victim@example.com", "T-1\rBcc:\tvictim@example.com", "T-1\u2028Bcc: victim@example.com"} {
		req := PreviewRequest(spec(t, cat, "service_reply"), message.Email, "de", sample(t, r, "service_reply", "de"))
		req.Data = map[string]map[string]any{"service": {"ticket": ticket, "answer": "ok"}}
		c, err := r.Render(req)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(c.Subject, "\r\n\t\u2028") {
			t.Errorf("subject %q keeps a line break", c.Subject)
		}
		if c.Subject != "Ihre Anfrage T-1 Bcc: victim@example.com" {
			t.Errorf("subject = %q, want it folded into one line", c.Subject)
		}
	}
}

// TestOptOutNotice: every type whose catalog entry requires the notice carries
// it on every channel, with working links for the recipient; the others never do.
func TestOptOutNotice(t *testing.T) {
	t.Parallel()
	r, cat, sealer := newTestRenderer(t, nil)
	for _, sp := range cat.Types() {
		for _, ch := range sp.Channels {
			for _, l := range []string{"de", "en"} {
				t.Run(fmt.Sprintf("%s/%s/%s", sp.Key, ch, l), func(t *testing.T) {
					t.Parallel()
					req := PreviewRequest(sp, ch, l, sample(t, r, sp.Key, l))
					req.Recipient, req.MessageID = "C-100042", "msg-1"
					c, err := r.Render(req)
					if err != nil {
						t.Fatal(err)
					}
					has := strings.Contains(c.Text, "https://herold.example.com/unsubscribe/")
					if has != sp.OptOutNotice {
						t.Fatalf("notice in text = %v, catalog opt_out_notice = %v:\n%s", has, sp.OptOutNotice, c.Text)
					}
					if !sp.OptOutNotice {
						if c.UnsubscribeURL != "" || c.ListID != "" || strings.Contains(c.HTML, "/unsubscribe/") {
							t.Errorf("transactional message carries unsubscribe fields: %+v", c)
						}
						return
					}
					raw := strings.Fields(c.Text[strings.LastIndex(c.Text, "/unsubscribe/")+len("/unsubscribe/"):])[0]
					tok, err := sealer.Open(raw, token.Unsubscribe, testNow)
					if err != nil {
						t.Fatalf("unsubscribe token: %v", err)
					}
					if tok.Recipient != "C-100042" || tok.Channel != string(ch) || tok.Scope == "" {
						t.Errorf("token = %+v", tok)
					}
					switch ch {
					case message.SMS:
						if !strings.Contains(c.Text, "STOP") {
							t.Errorf("SMS notice lacks STOP: %q", c.Text)
						}
					case message.Email:
						if c.UnsubscribeURL == "" || c.UnsubscribeMailto == "" || c.ListID == "" {
							t.Errorf("e-mail lacks List-Unsubscribe fields: %+v", c)
						}
						if !strings.Contains(c.HTML, "/unsubscribe/") || !strings.Contains(c.HTML, "/preferences/") {
							t.Errorf("HTML lacks the notice links")
						}
						free := map[string]string{"de": "jederzeit kostenlos", "en": "free of charge"}[l]
						if !strings.Contains(c.Text, free) || !strings.Contains(c.HTML, free) {
							t.Errorf("notice does not say %q", free)
						}
					}
				})
			}
		}
	}
}

func TestOptOutScope(t *testing.T) {
	t.Parallel()
	r, cat, sealer := newTestRenderer(t, nil)
	tests := []struct {
		typ   message.Type
		ch    message.Channel
		scope string
	}{
		{"promo_offer", message.Email, "advertising"},
		{"promo_offer", message.SMS, "advertising"},
		{"customer_tip", message.Email, "customer_tip"},
		{"newsletter", message.Email, "newsletter:news"},
		{"survey", message.SMS, "survey"},
		{"messenger_offer", message.WhatsApp, "advertising"},
	}
	for _, tt := range tests {
		req := PreviewRequest(spec(t, cat, tt.typ), tt.ch, "de", sample(t, r, tt.typ, "de"))
		c, err := r.Render(req)
		if err != nil {
			t.Fatal(err)
		}
		i := strings.LastIndex(c.Text, "/unsubscribe/")
		raw := strings.Fields(c.Text[i+len("/unsubscribe/"):])[0]
		tok, err := sealer.Open(raw, token.Unsubscribe, testNow)
		if err != nil || tok.Scope != tt.scope {
			t.Errorf("%s/%s: scope = %q (err %v), want %q", tt.typ, tt.ch, tok.Scope, err, tt.scope)
		}
	}
}

// TestNoticeSurvivesOverride: an override template cannot drop the notice.
func TestNoticeSurvivesOverride(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "de/promo_offer/sms.txt.tmpl"), "Angebot: {{.Data.offer.title}}")
	mustWrite(t, filepath.Join(dir, "de/promo_offer/email.html.tmpl"), "<p>{{.Data.offer.title}}</p>")
	r, cat, _ := newTestRenderer(t, func(o *Options) { o.OverrideDir = dir })
	sp := spec(t, cat, "promo_offer")
	c, err := r.Render(PreviewRequest(sp, message.SMS, "de", sample(t, r, "promo_offer", "de")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Text, "Angebot: Allnet Flat 40 GB\nAbbestellen: STOP an 80888 / Abmelden: https://herold.example.com/unsubscribe/") {
		t.Errorf("SMS = %q", c.Text)
	}
	c, err = r.Render(PreviewRequest(sp, message.Email, "de", sample(t, r, "promo_offer", "de")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.HTML, "jederzeit kostenlos widersprechen") {
		t.Errorf("HTML lost the notice: %s", c.HTML)
	}
}

func TestUsageDataNeedsConsent(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, nil)
	for _, typ := range []message.Type{"promo_offer", "customer_tip", "messenger_offer"} {
		sp := spec(t, cat, typ)
		for _, ch := range sp.Channels {
			req := PreviewRequest(sp, ch, "de", sample(t, r, typ, "de"))
			withConsent, err := r.Render(req)
			if err != nil {
				t.Fatal(err)
			}
			var noUsage []string
			for _, c := range sp.DataCategories {
				if c != policy.DataUsage && c != policy.DataTraffic {
					noUsage = append(noUsage, c)
				}
			}
			req.Decision.DataCategories = noUsage // what Decide allows without usage_data consent
			without, err := r.Render(req)
			if err != nil {
				t.Fatalf("%s/%s without usage: %v", typ, ch, err)
			}
			used := req.Data["usage"]["data_used_gb"]
			mark := strings.Replace(fmt.Sprint(used), ".", ",", 1) + " "
			if !strings.Contains(withConsent.Text, mark) && ch != message.SMS {
				t.Errorf("%s/%s: usage %q not shown with consent:\n%s", typ, ch, mark, withConsent.Text)
			}
			if strings.Contains(without.Text, mark) || strings.Contains(without.HTML, mark) || strings.Contains(without.Text, "genutzt") {
				t.Errorf("%s/%s: usage shown without consent:\n%s", typ, ch, without.Text)
			}
		}
	}
}

func TestLocaleResolution(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, nil)
	sp := spec(t, cat, "invoice")
	tests := []struct{ msg, rcpt, want string }{
		{"en", "de", "en"},
		{"", "en", "en"},
		{"", "", "de"},
		{"fr", "en", "en"},
		{"fr", "", "de"},
		{"en-GB", "", "en"},
		{"", "de-AT", "de"},
		{"xx-YY", "zz", "de"},
	}
	for _, tt := range tests {
		req := PreviewRequest(sp, message.Email, "", sample(t, r, "invoice", "de"))
		req.Locale, req.RecipientLocale = tt.msg, tt.rcpt
		c, err := r.Render(req)
		if err != nil {
			t.Fatal(err)
		}
		if c.Locale != tt.want {
			t.Errorf("message %q, recipient %q: locale %q, want %q", tt.msg, tt.rcpt, c.Locale, tt.want)
		}
	}
	// A locale that has only some templates falls back per type and channel.
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "fr/invoice/sms.txt.tmpl"), "Votre facture {{.Data.invoice.number}}")
	r2, _, _ := newTestRenderer(t, func(o *Options) { o.OverrideDir = dir })
	c, err := r2.Render(func() Request {
		req := PreviewRequest(sp, message.SMS, "fr", sample(t, r, "invoice", "de"))
		return req
	}())
	if err != nil || c.Locale != "fr" || c.Text != "Votre facture RE-2026-11-004711" {
		t.Errorf("fr sms = %+v, %v", c, err)
	}
	c, err = r2.Render(PreviewRequest(sp, message.Email, "fr", sample(t, r, "invoice", "de")))
	if err != nil || c.Locale != "de" {
		t.Errorf("fr e-mail (no template) = locale %q, %v; want de", c.Locale, err)
	}
}

func TestOverrideDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "de/invoice/email.subject.tmpl"), "Rechnung {{.Data.invoice.number}} von {{.Brand.Name}}")
	mustWrite(t, filepath.Join(dir, "de/partials.tmpl"), `{{define "greeting"}}Moin,{{end}}{{define "closing"}}Tschüss{{end}}{{define "team"}}Ihr {{.Brand.Name}}{{end}}{{define "help"}}Hilfe:{{end}}{{define "hello"}}Moin{{end}}`)
	r, cat, _ := newTestRenderer(t, func(o *Options) {
		o.OverrideDir = dir
		o.Brand = Brand{Name: "Nordlicht Mobil", Color: "#003366"}
	})
	c, err := r.Render(PreviewRequest(spec(t, cat, "invoice"), message.Email, "de", sample(t, r, "invoice", "de")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "Rechnung RE-2026-11-004711 von Nordlicht Mobil" {
		t.Errorf("subject = %q", c.Subject)
	}
	if !strings.HasPrefix(c.Text, "Moin,\n\nIhre Rechnung für November 2026 ist da.") || !strings.Contains(c.Text, "Tschüss\nIhr Nordlicht Mobil") {
		t.Errorf("text does not use the overridden partials:\n%s", c.Text)
	}
	if !strings.Contains(c.HTML, "Nordlicht Mobil") || !strings.Contains(c.HTML, "#003366") {
		t.Errorf("HTML does not carry the brand")
	}
	// The English templates are untouched.
	c, err = r.Render(PreviewRequest(spec(t, cat, "invoice"), message.Email, "en", sample(t, r, "invoice", "en")))
	if err != nil || c.Subject != "Your invoice RE-2026-11-004711 for November 2026" {
		t.Errorf("en subject = %q, %v", c.Subject, err)
	}

	bad := t.TempDir()
	mustWrite(t, filepath.Join(bad, "de/invoice/sms.txt.tmpl"), "{{.Data.invoice.number")
	mustWrite(t, filepath.Join(bad, "de/invoice/fax.txt.tmpl"), "x")
	_, err = New(Options{Catalog: cat, Sealer: r.sealer, PublicURL: "https://h.example.com", OverrideDir: bad})
	if err == nil || !strings.Contains(err.Error(), "de/invoice/sms.txt.tmpl") || !strings.Contains(err.Error(), "de/invoice/fax.txt.tmpl") {
		t.Errorf("New with broken overrides: %v, want both files named", err)
	}
	_, err = New(Options{Catalog: cat, Sealer: r.sealer, PublicURL: "https://h.example.com", OverrideDir: filepath.Join(bad, "nope")})
	if err == nil {
		t.Error("New with a missing override dir succeeded")
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	r, cat, sealer := newTestRenderer(t, nil)
	warnings, err := r.Check(cat)
	if err != nil {
		t.Fatalf("default templates: %v", err)
	}
	for _, w := range warnings {
		if !strings.Contains(w, "Content SID") {
			t.Errorf("unexpected warning on the default templates: %s", w)
		}
	}

	fsys := fstest.MapFS{}
	err = fs.WalkDir(templates.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "en/invoice/sms.txt.tmpl" {
			return err
		}
		b, err := fs.ReadFile(templates.FS(), p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := New(Options{FS: fsys, Catalog: cat, Sealer: sealer, PublicURL: "https://h.example.com", SMSMaxSegments: 1,
		ContentSIDs: map[string]string{"messenger_offer": "HX00000000000000000000000000000001"}})
	if err != nil {
		t.Fatal(err)
	}
	warnings, err = r2.Check(cat)
	if err == nil || !strings.Contains(err.Error(), "type invoice: channel sms: locale en") {
		t.Errorf("Check = %v, want the missing en invoice SMS named", err)
	}
	found := false
	for _, w := range warnings {
		if strings.Contains(w, "type promo_offer: sms: locale de") && strings.Contains(w, "more than 1") {
			found = true
		}
		if strings.Contains(w, "Content SID") {
			t.Errorf("warning despite a configured Content SID: %s", w)
		}
	}
	if !found {
		t.Errorf("no segment warning with SMSMaxSegments 1: %q", warnings)
	}
}

func TestNotAllowedIsRefused(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, nil)
	req := PreviewRequest(spec(t, cat, "promo_offer"), message.Email, "de", sample(t, r, "promo_offer", "de"))
	req.Decision.Allowed, req.Decision.Reason = false, policy.Objection
	if _, err := r.Render(req); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("err = %v, want ErrNotAllowed", err)
	}
	req = PreviewRequest(spec(t, cat, "invoice"), message.WhatsApp, "de", sample(t, r, "invoice", "de"))
	if _, err := r.Render(req); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("err = %v, want ErrNoTemplate", err)
	}
}

func TestWhatsAppContent(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, func(o *Options) {
		o.ContentSIDs = map[string]string{"messenger_offer": "HXaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "messenger_offer:en": "HXbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}
	})
	sp := spec(t, cat, "messenger_offer")
	de, err := r.Render(PreviewRequest(sp, message.WhatsApp, "de", sample(t, r, sp.Key, "de")))
	if err != nil {
		t.Fatal(err)
	}
	en, err := r.Render(PreviewRequest(sp, message.WhatsApp, "en", sample(t, r, sp.Key, "en")))
	if err != nil {
		t.Fatal(err)
	}
	if de.ContentSID != "HXaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" || en.ContentSID != "HXbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" {
		t.Errorf("content sids = %q, %q", de.ContentSID, en.ContentSID)
	}
	if de.ContentVariables["1"] != "Mia" || de.ContentVariables["3"] != "24,99 €" || !strings.Contains(de.ContentVariables["7"], "/unsubscribe/") {
		t.Errorf("variables = %v", de.ContentVariables)
	}
	req := PreviewRequest(sp, message.WhatsApp, "de", sample(t, r, sp.Key, "de"))
	req.Profile = nil
	c, err := r.Render(req)
	if err != nil || c.ContentVariables["1"] != "zusammen" {
		t.Errorf("without a first name: %v, %v", c.ContentVariables, err)
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkRender(b *testing.B) {
	r, cat, _ := newTestRenderer(b, nil)
	for _, tc := range []struct {
		typ message.Type
		ch  message.Channel
	}{{"invoice", message.Email}, {"promo_offer", message.Email}, {"promo_offer", message.SMS}} {
		req := PreviewRequest(spec(b, cat, tc.typ), tc.ch, "de", sample(b, r, tc.typ, "de"))
		b.Run(string(tc.typ)+"/"+string(tc.ch), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Render(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestListIDAndLinks: List-Id ends in the configured domain, else in the
// public host when that is a domain name; an IP address or a single label
// gives no List-Id (never "advertising.127.0.0.1"). UnsubscribeHTTPS says
// whether the links are https.
func TestListIDAndLinks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		public, domain, wantList string
		https                    bool
	}{
		{"https://herold.example.com", "", "advertising.herold.example.com", true},
		{"https://herold.example.com/", "lists.example.com", "advertising.lists.example.com", true},
		{"http://127.0.0.1:8080", "", "", false},
		{"http://[::1]:8080", "", "", false},
		{"http://localhost:8080", "", "", false},
		{"http://192.0.2.10", "Lists.Example.COM.", "advertising.lists.example.com", false},
	} {
		r, cat, _ := newTestRenderer(t, func(o *Options) { o.PublicURL, o.ListIDDomain = tt.public, tt.domain })
		c, err := r.Render(PreviewRequest(spec(t, cat, "promo_offer"), message.Email, "de", sample(t, r, "promo_offer", "de")))
		if err != nil {
			t.Fatal(err)
		}
		if c.ListID != tt.wantList {
			t.Errorf("%s, domain %q: List-Id %q, want %q", tt.public, tt.domain, c.ListID, tt.wantList)
		}
		if r.UnsubscribeHTTPS() != tt.https {
			t.Errorf("%s: UnsubscribeHTTPS = %v", tt.public, r.UnsubscribeHTTPS())
		}
	}
}
