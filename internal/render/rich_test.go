package render

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/media"
	"github.com/heroldhq/herold/internal/message"
)

const testSID = "HX0123456789abcdef0123456789abcdef"

// TestRichCard: the card the phone shows is the approved layout filled with
// the very variables the send path sends, with the SID from the setting.
func TestRichCard(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, func(o *Options) { o.RCSContentSIDs = map[string]string{"messenger_offer:de": testSID} })
	sp := spec(t, cat, "messenger_offer")
	c, err := r.Render(PreviewRequest(sp, message.RCS, "de", sample(t, r, sp.Key, "de")))
	if err != nil {
		t.Fatal(err)
	}
	if c.ContentSID != testSID || c.Rich == nil || c.Rich.ContentType != "twilio/card" {
		t.Fatalf("content sid %q, rich %+v", c.ContentSID, c.Rich)
	}
	if c.Rich.Media != "https://www.example.com/"+c.ContentVariables["6"] || !strings.Contains(c.Rich.Title, c.ContentVariables["2"]) {
		t.Errorf("card %+v not filled from the variables %v", c.Rich, c.ContentVariables)
	}
	if link := c.ContentVariables["7"]; !strings.Contains(link, "/unsubscribe/") || !strings.Contains(c.Rich.Body, link) || !strings.Contains(c.Rich.Fallback, link) {
		t.Errorf("opt-out link %q missing from the card body or its SMS fallback: %+v", link, c.Rich)
	}
	if len(c.Rich.Buttons) != 2 || c.Rich.Buttons[1].Type != ButtonQuickReply || c.Rich.Buttons[1].ID != "STOP" {
		t.Errorf("buttons = %+v, want the URL button and the STOP quick reply", c.Rich.Buttons)
	}
	// en has no SID in the setting: the card is still shown, but goes as text.
	en, err := r.Render(PreviewRequest(sp, message.RCS, "en", sample(t, r, sp.Key, "en")))
	if err != nil || en.ContentSID != "" || en.Rich == nil {
		t.Errorf("en: sid %q, rich %v, %v", en.ContentSID, en.Rich, err)
	}
}

// TestContentSIDPrecedence: type:locale setting > sid of the locale's file > type setting.
func TestContentSIDPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const fileSID, typeSID, localeSID = "HXaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "HXbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "HXcccccccccccccccccccccccccccccccc"
	mustWrite(t, filepath.Join(dir, "en/messenger_offer/whatsapp.content.yaml"),
		"sid: "+fileSID+"\ntypes:\n  twilio/text:\n    body: \"Hi {{1}}: {{5}} / {{7}}.\"\n")
	for _, tt := range []struct {
		name string
		sids map[string]string
		want map[string]string // locale → sid
	}{
		{"type only", map[string]string{"messenger_offer": typeSID}, map[string]string{"de": typeSID, "en": fileSID}},
		{"type and locale", map[string]string{"messenger_offer": typeSID, "messenger_offer:en": localeSID}, map[string]string{"de": typeSID, "en": localeSID}},
		{"none", nil, map[string]string{"de": "", "en": fileSID}},
	} {
		r, cat, _ := newTestRenderer(t, func(o *Options) { o.OverrideDir, o.ContentSIDs = dir, tt.sids })
		sp := spec(t, cat, "messenger_offer")
		for l, want := range tt.want {
			c, err := r.Render(PreviewRequest(sp, message.WhatsApp, l, sample(t, r, sp.Key, l)))
			if err != nil {
				t.Fatal(err)
			}
			if c.ContentSID != want {
				t.Errorf("%s: %s: sid %q, want %q", tt.name, l, c.ContentSID, want)
			}
		}
	}
}

// TestRichMediaRefused: a media URL the provider would refuse fails the
// message with the reason, never a card with a broken image.
func TestRichMediaRefused(t *testing.T) {
	t.Parallel()
	r, cat, _ := newTestRenderer(t, nil)
	sp := spec(t, cat, "messenger_offer")
	for _, tt := range []struct {
		ch    message.Channel
		image string
	}{{message.WhatsApp, "bilder/angebot.gif"}, {message.WhatsApp, "bilder/angebot"}, {message.RCS, "bilder/angebot.webp"}} {
		s := sample(t, r, sp.Key, "de")
		s.Data["offer"]["image"] = tt.image
		_, err := r.Render(PreviewRequest(sp, tt.ch, "de", s))
		if !errors.Is(err, media.ErrRefused) || !strings.Contains(err.Error(), tt.image) {
			t.Errorf("%s with %s: %v, want the media refused and named", tt.ch, tt.image, err)
		}
	}
	s := sample(t, r, sp.Key, "de")
	s.Data["offer"]["image"] = "bilder/angebot.gif"
	if _, err := r.Render(PreviewRequest(sp, message.RCS, "de", s)); err != nil {
		t.Errorf("a GIF on RCS: %v, want it accepted", err)
	}
}

// TestCheckRichContent: start-up names the template whose variables the
// type cannot fill, the layout that misses the opt-out link or a variable,
// and the WhatsApp type without an approved template on a live channel.
func TestCheckRichContent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		files map[string]string
		opts  func(*Options)
		want  string // in the error; "" for none
		warn  string // in a warning
	}{
		{name: "defaults, outbox", want: "", warn: "whatsapp: locale de: no approved Content SID"},
		{name: "live whatsapp without a template", opts: func(o *Options) { o.Live = []message.Channel{message.WhatsApp} },
			want: "type messenger_offer: whatsapp: locale de: no approved Content SID"},
		{name: "live whatsapp with free-form messages", opts: func(o *Options) {
			o.Live, o.FreeForm = []message.Channel{message.WhatsApp}, []message.Channel{message.WhatsApp}
		}, warn: "no approved Content SID"},
		{name: "live whatsapp with templates", opts: func(o *Options) {
			o.Live, o.ContentSIDs = []message.Channel{message.WhatsApp}, map[string]string{"messenger_offer": testSID}
		}},
		{name: "undeclared category", files: map[string]string{
			"de/messenger_offer/whatsapp.vars.tmpl": "1={{.Data.contact.first_name}}\n2={{with .Data.invoice}}{{.number}}{{end}}\n3=x\n4=x\n5=x\n6={{.Data.offer.image}}\n",
		}, want: `whatsapp.vars.tmpl uses data category "invoice", which type messenger_offer does not declare`},
		{name: "undeclared category by index", files: map[string]string{
			"de/messenger_offer/rcs.vars.tmpl": "1=a\n2={{index .Data \"survey\"}}\n3=x\n4=x\n5=x\n6={{.Data.offer.image}}\n",
		}, want: `rcs.vars.tmpl uses data category "survey"`},
		{name: "unfilled variable", files: map[string]string{
			"de/messenger_offer/whatsapp.content.yaml": "types:\n  twilio/card:\n    title: \"{{2}} {{9}}\"\n    body: \"{{7}}.\"\n",
		}, want: "whatsapp.content.yaml uses the variable {{9}}"},
		{name: "no opt-out link", files: map[string]string{
			"en/messenger_offer/whatsapp.content.yaml": "types:\n  twilio/card:\n    title: \"{{2}} for {{3}}\"\n    body: \"See {{5}}.\"\n",
		}, want: "en/messenger_offer/whatsapp.content.yaml does not show the opt-out link {{7}}"},
		{name: "rcs card without sms fallback text", files: map[string]string{
			"de/messenger_offer/rcs.content.yaml": "types:\n  twilio/card:\n    title: \"{{2}}\"\n    body: \"Abmelden: {{7}}\"\n",
		}, want: "has no twilio/text: where RCS falls back to SMS"},
		{name: "sms fallback text without the link", files: map[string]string{
			"de/messenger_offer/rcs.content.yaml": "types:\n  twilio/card:\n    title: \"{{2}}\"\n    body: \"Abmelden: {{7}}\"\n  twilio/text:\n    body: \"{{2}}: {{5}}\"\n",
		}, want: "the twilio/text of de/messenger_offer/rcs.content.yaml does not show the opt-out link {{7}}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for p, c := range tt.files {
				mustWrite(t, filepath.Join(dir, p), c)
			}
			r, cat, _ := newTestRenderer(t, func(o *Options) {
				o.OverrideDir = dir
				if tt.opts != nil {
					tt.opts(o)
				}
			})
			warnings, err := r.Check(cat)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check: %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Check: %v, want an error with %q", err, tt.want)
			}
			if tt.warn != "" && !strings.Contains(strings.Join(warnings, "\n"), tt.warn) {
				t.Errorf("warnings %q, want one with %q", warnings, tt.warn)
			}
		})
	}
}

// TestContentFileRefused: a content file Twilio would not accept, or that
// Herold could not show, stops New with the file and the field named.
func TestContentFileRefused(t *testing.T) {
	t.Parallel()
	_, cat, sealer := newTestRenderer(t, nil)
	for _, tt := range []struct{ body, want string }{
		{"types:\n  twilio/card:\n    title: x\n    actions:\n      - {type: QUICK_REPLY, title: Nein danke, id: \"nein danke\"}\n", `actions[0]: id "nein danke"`},
		{"types:\n  twilio/card:\n    title: x\n    actions:\n      - {type: URL, title: Ansehen}\n", "actions[0]: url is required"},
		{"types:\n  twilio/card:\n    title: x\n    actions:\n      - {type: QUICK_REPLY, title: Keine weiteren Angebote mehr bitte, id: STOP}\n", "more than 25"},
		{"types:\n  twilio/carousel:\n    body: x\n", `"twilio/carousel" is not one Herold shows`},
		{"sid: HX1\ntypes:\n  twilio/text:\n    body: x\n", `sid "HX1"`},
		{"types:\n  twilio/text:\n    bdy: x\n", "field bdy not found"},
		{"types: {}\n", "types: none of"},
	} {
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, "de/messenger_offer/rcs.content.yaml"), tt.body)
		_, err := New(Options{Catalog: cat, Sealer: sealer, PublicURL: "https://h.example.com", OverrideDir: dir})
		if err == nil || !strings.Contains(err.Error(), "de/messenger_offer/rcs.content.yaml") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: New = %v, want the file and %q", tt.body, err, tt.want)
		}
	}
}
