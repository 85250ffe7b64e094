package render

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/token"
)

// person is one recipient of the equality tests.
type person struct {
	name     string
	personal Personal
}

// testRecipients covers names present and missing, salutations, values the
// HTML escaper changes, values the text post-processing would change (which
// must be rendered in full), a non-string profile value, locales and message
// ids, each with and without consent to the use of usage data.
func testRecipients(dec policy.Decision) []person {
	profiles := []struct {
		name    string
		profile map[string]any
	}{
		{"full", map[string]any{"salutation": "Frau", "first_name": "Anna", "last_name": "Schmidt", "company": ""}},
		{"herr", map[string]any{"salutation": "Herr", "first_name": "Jonas", "last_name": "Becker", "company": "Becker GmbH"}},
		{"no names", map[string]any{"salutation": "", "first_name": "", "last_name": "", "company": ""}},
		{"nil profile", nil},
		{"first name only", map[string]any{"first_name": "Mia"}},
		{"divers", map[string]any{"salutation": "Divers", "first_name": "Kim", "last_name": "Lee"}},
		{"escaped", map[string]any{"salutation": "Frau", "first_name": `Zoë+"Luc"`, "last_name": `O'Brien & <Söhne>`}},
		{"umlauts", map[string]any{"salutation": "Herr", "first_name": "Jörg", "last_name": "Müller-Lüdenscheidt"}},
		{"inner space", map[string]any{"salutation": "Frau", "first_name": "Anna Maria", "last_name": "von der Heide"}},
		{"double space", map[string]any{"salutation": "Frau", "first_name": "Anna  Maria", "last_name": "Schmidt"}},
		{"trailing space", map[string]any{"salutation": "Herr", "first_name": "Jonas ", "last_name": " Becker"}},
		{"line break", map[string]any{"salutation": "Herr", "first_name": "Jonas", "last_name": "Becker\n\nBcc: x@example.com"}},
		{"nbsp", map[string]any{"first_name": "Jo\u00a0nas", "last_name": "Becker"}},
		{"dashes", map[string]any{"salutation": "Frau", "first_name": "-", "last_name": "--"}},
		{"body", map[string]any{"salutation": "Frau", "first_name": "body", "last_name": "Body"}},
		{"not a string", map[string]any{"salutation": "Frau", "first_name": 42, "last_name": "Schmidt"}},
		{"invalid utf-8", map[string]any{"first_name": "Jo\xffnas", "last_name": "Becker"}},
	}
	var noUsage []string
	for _, c := range dec.DataCategories {
		if c != policy.DataUsage && c != policy.DataTraffic {
			noUsage = append(noUsage, c)
		}
	}
	var out []person
	for i, pr := range profiles {
		for _, usage := range []bool{true, false} {
			d := dec
			if !usage {
				d.DataCategories = noUsage
			}
			locale := []string{"", "en", "de-AT", "fr", "de"}[i%5]
			id := fmt.Sprintf("cmp-1:C-%04d", i)
			if i%4 == 3 {
				id = ""
			}
			out = append(out, person{
				name: fmt.Sprintf("%s/usage=%v", pr.name, usage),
				personal: Personal{MessageID: id, Recipient: message.RecipientID(fmt.Sprintf("C-%04d", i)),
					RecipientLocale: locale, Profile: pr.profile, Decision: d},
			})
		}
	}
	return out
}

var sealedToken = regexp.MustCompile(`(unsubscribe|preferences)(/|%20)([A-Za-z0-9_-]{40,})`)

// unseal replaces each sealed token by what it holds (less its random
// nonce): two renderings of one recipient differ only in the nonces.
func unseal(t *testing.T, sealer *token.Sealer, s string) string {
	t.Helper()
	return sealedToken.ReplaceAllStringFunc(s, func(m string) string {
		g := sealedToken.FindStringSubmatch(m)
		tok, err := sealer.Open(g[3], token.Purpose(g[1]), testNow)
		if err != nil {
			t.Errorf("token %q does not open: %v", g[3], err)
			return m
		}
		return fmt.Sprintf("%s%s{%s|%s|%s|%s|%s}", g[1], g[2], tok.Purpose, tok.Recipient, tok.Scope, tok.Channel,
			tok.MessageID) + tok.Expires.Format(time.RFC3339)
	})
}

// sameContent fails t when want and got differ in anything but the nonces.
func sameContent(t *testing.T, sealer *token.Sealer, want, got Content) {
	t.Helper()
	norm := func(c Content) Content {
		c.Subject, c.Text, c.HTML = unseal(t, sealer, c.Subject), unseal(t, sealer, c.Text), unseal(t, sealer, c.HTML)
		c.UnsubscribeURL, c.UnsubscribeMailto = unseal(t, sealer, c.UnsubscribeURL), unseal(t, sealer, c.UnsubscribeMailto)
		if c.ContentVariables != nil {
			vars := maps.Clone(c.ContentVariables)
			for k, v := range vars {
				vars[k] = unseal(t, sealer, v)
			}
			c.ContentVariables = vars
		}
		if c.Rich != nil {
			rich := *c.Rich
			rich.Buttons = slices.Clone(rich.Buttons)
			for _, f := range rich.fields() {
				*f = unseal(t, sealer, *f)
			}
			c.Rich = &rich
		}
		return c
	}
	w, g := norm(want), norm(got)
	for _, f := range []struct{ name, w, g string }{
		{"subject", w.Subject, g.Subject}, {"text", w.Text, g.Text}, {"html", w.HTML, g.HTML},
		{"unsubscribe url", w.UnsubscribeURL, g.UnsubscribeURL}, {"mailto", w.UnsubscribeMailto, g.UnsubscribeMailto},
		{"list id", w.ListID, g.ListID}, {"locale", w.Locale, g.Locale}, {"content sid", w.ContentSID, g.ContentSID},
		{"sms encoding", w.SMSEncoding, g.SMSEncoding}, {"sms segments", fmt.Sprint(w.SMSSegments), fmt.Sprint(g.SMSSegments)},
		{"variables", fmt.Sprint(w.ContentVariables), fmt.Sprint(g.ContentVariables)},
		{"rich content", fmt.Sprintf("%+v", w.Rich), fmt.Sprintf("%+v", g.Rich)},
	} {
		if f.w != f.g {
			t.Errorf("%s differs:\n%s", f.name, diff(f.w, f.g))
		}
	}
}

// compare renders every recipient with Render and with one Prepared, twice
// (the second pass hits the variants the first one built), and requires
// the same content or the same error. It returns how many renderings took
// the prepared path.
func compare(t *testing.T, r *Renderer, sealer *token.Sealer, shared Shared, rcpts []person) (fast int) {
	t.Helper()
	p, err := r.Prepare(shared)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	for pass := range 2 {
		for _, rc := range rcpts {
			want, werr := r.Render(shared.Request(rc.personal))
			got, gerr := p.Render(rc.personal)
			if fmt.Sprint(werr) != fmt.Sprint(gerr) {
				t.Errorf("pass %d, %s: error %v, Render's %v", pass, rc.name, gerr, werr)
				continue
			}
			t.Run(fmt.Sprintf("pass%d/%s", pass, rc.name), func(t *testing.T) { sameContent(t, sealer, want, got) })
			if pass == 1 && prepared(p, rc.personal) {
				fast++
			}
		}
	}
	return fast
}

// prepared reports whether p splices per's content rather than rendering it in full.
func prepared(p *Prepared, per Personal) bool {
	if !per.Decision.Allowed || (per.Decision.OptOutNotice && per.Recipient == "") {
		return false
	}
	_, locale := p.r.pick(p.shared.Type, p.shared.Channel, p.shared.Locale, per.RecipientLocale)
	st := p.state.Load()
	key, ok := p.key(nil, locale, per, st)
	if !ok {
		return false
	}
	v := st.variants[string(key)]
	if v == nil || v.slow {
		return false
	}
	_, ok = p.fill(v, per)
	return ok
}

// TestPreparedMatchesRender is the golden equality test: for every type,
// channel and locale of the default templates and every test recipient,
// the prepared path gives what Render gives.
func TestPreparedMatchesRender(t *testing.T) {
	t.Parallel()
	r, cat, sealer := newTestRenderer(t, func(o *Options) {
		o.ContentSIDs = map[string]string{"messenger_offer": "HX00000000000000000000000000000001"}
	})
	combos := 0
	for _, sp := range cat.Types() {
		for _, ch := range sp.Channels {
			for _, l := range []string{"de", "en"} {
				combos++
				t.Run(fmt.Sprintf("%s.%s.%s", sp.Key, ch, l), func(t *testing.T) {
					t.Parallel()
					shared, personal := PreviewRequest(sp, ch, l, sample(t, r, sp.Key, l)).Split()
					rcpts := testRecipients(personal.Decision)
					fast := compare(t, r, sealer, shared, rcpts)
					// Everybody whose values the post-processing keeps is spliced.
					if fast < len(rcpts)/2 {
						t.Errorf("only %d of %d recipients took the prepared path", fast, len(rcpts))
					}
				})
			}
		}
	}
	if combos < 30 {
		t.Errorf("only %d type/channel/locale combinations", combos)
	}
}

// TestPreparedDataCategoryGuard: the shared data carries usage numbers; only
// the recipient whose decision allows usage data sees them, in either order
// and from one Prepared.
func TestPreparedDataCategoryGuard(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, nil)
	for _, ch := range []message.Channel{message.Email, message.SMS} {
		for _, typ := range []message.Type{"promo_offer", "customer_tip"} {
			sp := spec(t, cat, typ)
			if !slices.Contains(sp.Channels, ch) {
				continue
			}
			shared, with := PreviewRequest(sp, ch, "de", sample(t, r, typ, "de")).Split()
			if shared.Data[policy.DataUsage] == nil {
				t.Fatalf("%s sample has no usage data", typ)
			}
			without := with
			without.Decision.DataCategories = slices.DeleteFunc(slices.Clone(with.Decision.DataCategories),
				func(c string) bool { return c == policy.DataUsage || c == policy.DataTraffic })
			mark := strings.Replace(fmt.Sprint(shared.Data[policy.DataUsage]["data_used_gb"]), ".", ",", 1) + " GB"
			p, err := r.Prepare(shared)
			if err != nil {
				t.Fatal(err)
			}
			for i, per := range []Personal{without, with, without, with} {
				c, err := p.Render(per)
				if err != nil {
					t.Fatal(err)
				}
				allowed := i%2 == 1
				shown := strings.Contains(c.Text, mark) || strings.Contains(c.HTML, mark)
				if shown && !allowed {
					t.Errorf("%s/%s #%d: usage %q shown without the decision allowing it:\n%s", typ, ch, i, mark, c.Text)
				}
				if ch == message.Email && shown != allowed {
					t.Errorf("%s/%s #%d: usage shown = %v, want %v", typ, ch, i, shown, allowed)
				}
				if !prepared(p, per) {
					t.Errorf("%s/%s #%d took the full path", typ, ch, i)
				}
			}
		}
	}
}

// TestPreparedOverrides: operators' templates may use personal values in
// any way; whatever the prepared path cannot splice it renders in full (or
// traces with the value itself), so the output stays Render's. Cases marked
// spliced must also take the prepared path.
func TestPreparedOverrides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		text    string // de/promo_offer/email.txt.tmpl
		html    string // de/promo_offer/email.html.tmpl
		spliced bool
	}{
		{"plain", `Hallo {{.Data.contact.first_name}}!`, `<p>Hallo {{.Data.contact.first_name}}!</p>`, true},
		{"in an attribute", `{{.Data.contact.last_name}}`, `<p title="{{.Data.contact.first_name}} {{.Data.contact.last_name}}">x</p>`, true},
		{"with and index", `{{with .Data.contact.first_name}}Hi {{.}}{{end}} {{index .Data.contact "last_name"}}`, `{{with .Data.contact}}<b>{{.first_name}}</b>{{end}}`, true},
		{"or and not", `{{or .Data.contact.company "privat"}} {{if not .Data.contact.first_name}}anonym{{end}}`, `{{and .Data.contact.first_name .Data.contact.last_name}}`, true},
		{"range over contact", `{{range $k, $v := .Data.contact}}{{$k}}={{$v}};{{end}}`, `{{range .Data.contact}}<i>{{.}}</i>{{end}}`, true},
		{"message id", `Ref {{.MessageID}}{{if .MessageID}} (ok){{end}}`, `<p data-ref="{{.MessageID}}">{{.MessageID}}</p>`, true},
		{"print the map", `{{.Data.contact}}`, `{{.Data.contact}}`, true},
		{"comment", `x`, `<!-- {{.Data.contact.first_name}} --><p>x</p>`, true},
		{"title", `{{title .Data.contact.salutation}} {{.Data.contact.last_name}}`, `<p>{{title .Data.contact.salutation}}</p>`, true},
		{"printf", `{{printf "%-12s|" .Data.contact.first_name}}`, `<p>{{printf "%q" .Data.contact.last_name}}</p>`, false},
		{"print with a number", `{{print .Data.contact.first_name 1}}`, `<p>x</p>`, false},
		{"eq with a literal", `{{if eq .Data.contact.first_name "Anna"}}Anna!{{end}}`, `<p>x</p>`, false},
		{"eq of two fields", `{{if eq .Data.contact.first_name .Data.contact.last_name}}same{{end}}`, `<p>x</p>`, false},
		{"len", `{{len .Data.contact.last_name}}`, `<p>{{len .Data.contact}}</p>`, false},
		{"slice", `{{slice .Data.contact.last_name 0 1}}.`, `<p>x</p>`, false},
		{"html builtin", `{{html .Data.contact.last_name}}`, `<p>x</p>`, false},
		{"urlquery", `x`, `<a href="https://example.com/?n={{.Data.contact.first_name | urlquery}}">x</a>`, false},
		{"in a URL", `x`, `<a href="https://example.com/hallo/{{.Data.contact.first_name}}">x</a>`, false},
		{"URL start", `x`, `<a href="{{.Data.contact.first_name}}">x</a>`, false},
		{"script", `x`, `<script>var n = {{.Data.contact.first_name}};</script>`, false},
		{"style", `x`, `<p style="color: {{.Data.contact.first_name}}">x</p>`, false},
		{"unquoted attribute", `x`, `<p title={{.Data.contact.first_name}}>x</p>`, false},
		{"attribute name", `x`, `<p {{.Data.contact.first_name}}="1">x</p>`, false},
		{"method call", `{{.Data.contact.first_name.String}}`, `<p>x</p>`, false},
		{"paragraphs", `{{range paragraphs .Data.contact.last_name}}{{.}}{{end}}`, `<p>x</p>`, false},
		{"money of a name", `{{money .Data.contact.company}}`, `<p>x</p>`, false},
		{"root to a function", `{{printf "%v" .}}`, `<p>x</p>`, false},
		{"body tag", `x`, `<p>x</{{.Data.contact.first_name}}></p>`, true},
		{"signature", "x\n-{{.Data.contact.first_name}} \n\nSchluss", `<p>x</p>`, true},
	}
	rcpts := func(dec policy.Decision) []person {
		var out []person
		for i, pr := range []map[string]any{
			{"salutation": "Frau", "first_name": "Anna", "last_name": "Schmidt", "company": ""},
			{"salutation": "Herr", "first_name": "Anna", "last_name": "Anna", "company": "12.5"},
			{"salutation": "", "first_name": "", "last_name": "Nowak", "company": ""},
			{"salutation": "Frau", "first_name": "javascript:alert(1)", "last_name": "<b>x</b>", "company": "ACME"},
			{"salutation": "Herr", "first_name": "body", "last_name": "Ode", "company": ""},
			{"salutation": "Herr", "first_name": "-", "last_name": "Kurz", "company": ""},
			{"salutation": "Frau", "first_name": "Lena", "last_name": "Vogel", "company": ""},
		} {
			id := fmt.Sprintf("m-%d", i)
			if i == 2 {
				id = ""
			}
			out = append(out, person{name: fmt.Sprint(i), personal: Personal{MessageID: id,
				Recipient: message.RecipientID(fmt.Sprint("C-", i)), Profile: pr, Decision: dec}})
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			mustWrite(t, filepath.Join(dir, "de/promo_offer/email.txt.tmpl"), tt.text)
			mustWrite(t, filepath.Join(dir, "de/promo_offer/email.html.tmpl"), tt.html)
			mustWrite(t, filepath.Join(dir, "de/promo_offer/email.subject.tmpl"), "Angebot für {{.Data.contact.last_name}}")
			r, cat, sealer := newTestRenderer(t, func(o *Options) { o.OverrideDir = dir })
			shared, personal := PreviewRequest(spec(t, cat, "promo_offer"), message.Email, "de", sample(t, r, "promo_offer", "de")).Split()
			fast := compare(t, r, sealer, shared, rcpts(personal.Decision))
			if tt.spliced && fast == 0 {
				t.Errorf("no recipient took the prepared path")
			}
			t.Logf("%d recipients took the prepared path", fast)
		})
	}
}

func BenchmarkPreparedRender(b *testing.B) {
	r, cat, _ := newTestRenderer(b, nil)
	names := []string{"Anna", "Jonas", "Mia", "Lena", "Paul", "Jörg", "Zoë", "Kim"}
	for _, tc := range []struct {
		typ message.Type
		ch  message.Channel
	}{{"invoice", message.Email}, {"promo_offer", message.Email}, {"promo_offer", message.SMS}} {
		shared, personal := PreviewRequest(spec(b, cat, tc.typ), tc.ch, "de", sample(b, r, tc.typ, "de")).Split()
		people := make([]Personal, len(names))
		for i, n := range names {
			people[i] = personal
			people[i].MessageID, people[i].Recipient = fmt.Sprintf("cmp-1:C-%d", i), message.RecipientID(fmt.Sprint("C-", i))
			people[i].Profile = map[string]any{"salutation": []string{"Frau", "Herr"}[i%2], "first_name": n,
				"last_name": "Becker", "company": ""}
		}
		b.Run("Render/"+string(tc.typ)+"/"+string(tc.ch), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := r.Render(shared.Request(people[i%len(people)])); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run("Prepared/"+string(tc.typ)+"/"+string(tc.ch), func(b *testing.B) {
			p, err := r.Prepare(shared)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := p.Render(people[i%len(people)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// TestHTMLSpecialCoversTheEscaper: html/template leaves every rune outside
// htmlSpecial (and invalid UTF-8) as it is, so the prepared path may splice
// such values without running the escaper.
func TestHTMLSpecialCoversTheEscaper(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if utf8.ValidRune(r) && !strings.ContainsRune(htmlSpecial, r) {
			b.WriteRune(r)
		}
	}
	b.WriteString("\xff\xfe\xc3")
	in := b.String()
	r, _, _ := newTestRenderer(t, nil)
	var out strings.Builder
	if err := r.htmlEscaper.Execute(&out, in); err != nil {
		t.Fatal(err)
	}
	if out.String() != in {
		t.Fatalf("html/template changed a rune outside htmlSpecial:\n%s", diff(in, out.String()))
	}
	for _, c := range htmlSpecial {
		if got := r.escape(string(c), escapeTemplateHTML); got == string(c) {
			t.Errorf("%q is in htmlSpecial but comes out unchanged", c)
		}
	}
}
