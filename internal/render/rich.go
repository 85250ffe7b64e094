package render

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/heroldhq/herold/internal/message"
)

// Rich content: a WhatsApp or RCS message sent as a Twilio Content template
// (ContentSid and ContentVariables) shows a card, buttons or media on the
// phone. Herold never sends the layout itself — Twilio knows it by its SID —
// but it keeps a copy of it next to the type's templates, in
// <locale>/<type>/<channel>.content.yaml, so that
//
//   - `herold template preview` and POST /v1/preview show what the phone
//     shows, filled with the very variables the send path sends;
//   - start-up checks that every placeholder the layout uses is a variable
//     Herold fills, that the opt-out link reaches the phone, and that a
//     media URL has a form the provider accepts.
//
// The file is a Twilio Content resource as its API shows it (JSON is YAML,
// so the answer of GET https://content.twilio.com/v1/Content/HX… can be
// pasted), reduced to what Herold reads:
//
//	sid: HX…                       # optional; HEROLD_<CHANNEL>_CONTENT_SIDS names it too
//	types:
//	  twilio/card:
//	    title: "{{2}}"
//	    body: "…{{3}}…"
//	    media: ["https://cdn.example.com/{{7}}"]
//	    actions:
//	      - {type: URL, title: Angebot ansehen, url: "https://www.example.com/{{5}}"}
//	      - {type: QUICK_REPLY, title: Keine Angebote mehr, id: STOP}
//	  twilio/text:
//	    body: "…{{6}}"             # what Twilio sends where the card cannot be shown (SMS)
//
// The variables themselves come from <channel>.vars.tmpl, filled from the
// data categories the decision allows, like every other template.

// Rich is what the phone shows for a message sent with its Content SID.
type Rich struct {
	// ContentType is the Twilio content type shown: twilio/card,
	// twilio/call-to-action, twilio/quick-reply, twilio/media or twilio/text.
	ContentType string   `json:"content_type"`
	Title       string   `json:"title,omitempty"`
	Subtitle    string   `json:"subtitle,omitempty"`
	Body        string   `json:"body,omitempty"`
	Media       string   `json:"media,omitempty"` // URL of the image, video or document
	Buttons     []Button `json:"buttons,omitempty"`
	// Fallback is the template's twilio/text body: what Twilio sends where
	// the rich content cannot be shown (RCS falling back to SMS).
	Fallback string `json:"fallback,omitempty"`
}

// Button is one action of a rich message.
type Button struct {
	Type  string `json:"type"` // QUICK_REPLY, URL or PHONE_NUMBER (Twilio's names)
	Title string `json:"title"`
	ID    string `json:"id,omitempty"` // QUICK_REPLY: the payload the provider reports back
	URL   string `json:"url,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// Button types.
const (
	ButtonQuickReply = "QUICK_REPLY"
	ButtonURL        = "URL"
	ButtonPhone      = "PHONE_NUMBER"
)

// partContent is the rich content file of a channel (not a template).
const partContent = "content"

// contentPath is the rich content file of one type and channel in one locale.
func contentPath(locale string, t message.Type, ch message.Channel) string {
	return locale + "/" + string(t) + "/" + string(ch) + ".content.yaml"
}

var contentFilePath = regexp.MustCompile(`^([a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)/([a-z0-9_-]+)/(whatsapp|rcs)\.content\.yaml$`)

// contentFile is the part of a Twilio Content resource Herold reads; the
// other fields of the API's answer are accepted and ignored.
type contentFile struct {
	SID   string                 `yaml:"sid"`
	Types map[string]contentType `yaml:"types"`

	AccountSID   any `yaml:"account_sid"`
	FriendlyName any `yaml:"friendly_name"`
	Language     any `yaml:"language"`
	Variables    any `yaml:"variables"` // Twilio's sample values; Herold fills its own
	URL          any `yaml:"url"`
	DateCreated  any `yaml:"date_created"`
	DateUpdated  any `yaml:"date_updated"`
	Links        any `yaml:"links"`
}

type contentType struct {
	Title    string          `yaml:"title"`
	Subtitle string          `yaml:"subtitle"`
	Body     string          `yaml:"body"`
	Media    []string        `yaml:"media"`
	Actions  []contentAction `yaml:"actions"`
}

type contentAction struct {
	Type  string `yaml:"type"`
	Title string `yaml:"title"`
	ID    string `yaml:"id"`
	URL   string `yaml:"url"`
	Phone string `yaml:"phone"`
}

// Content types Herold can show, the most complex first: Twilio sends the
// most complex one the channel supports.
var richTypes = []string{"twilio/card", "twilio/call-to-action", "twilio/quick-reply", "twilio/media", "twilio/text"}

// layout is a parsed content file.
type layout struct {
	path string
	sid  string
	rich Rich // with the {{n}} placeholders of the approved template
}

var (
	sidPattern    = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)
	placeholder   = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)
	buttonPayload = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`) // an id an event may carry (events.Reply)
)

// Limits of the providers on what a template shows (Twilio Content API,
// WhatsApp and RCS): body 1,024 characters (1,600 for twilio/text), a
// button's text 25, at most 10 buttons.
const (
	maxBody        = 1024
	maxTextBody    = 1600
	maxButtonTitle = 25
	maxButtons     = 10
)

// parseLayout reads the content file at path.
func parseLayout(path string, b []byte) (*layout, error) {
	var f contentFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("content %s: %w", path, err)
	}
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if f.SID != "" && !sidPattern.MatchString(f.SID) {
		bad("sid %q is not HX and 32 hex digits", f.SID)
	}
	for name := range f.Types {
		if !slices.Contains(richTypes, name) {
			bad("types: %q is not one Herold shows (want %s)", name, strings.Join(richTypes, ", "))
		}
	}
	l := &layout{path: path, sid: f.SID}
	for _, name := range richTypes {
		t, ok := f.Types[name]
		if !ok {
			continue
		}
		if name == "twilio/text" {
			if t.Body == "" {
				bad("types: twilio/text: body is required")
			}
			if n := utf8.RuneCountInString(t.Body); n > maxTextBody {
				bad("types: twilio/text: body has %d characters, more than %d", n, maxTextBody)
			}
			if l.rich.ContentType == "" {
				l.rich = Rich{ContentType: name, Body: t.Body}
			} else {
				l.rich.Fallback = t.Body
			}
			continue
		}
		if l.rich.ContentType != "" {
			continue // Twilio shows the most complex type; the others are its own fallbacks
		}
		where := "types: " + name
		switch {
		case name == "twilio/card" && t.Title == "" && t.Body == "":
			bad("%s: a card needs a title or a body", where)
		case name != "twilio/card" && name != "twilio/media" && t.Body == "":
			bad("%s: body is required", where)
		case name == "twilio/media" && len(t.Media) == 0:
			bad("%s: media is required", where)
		}
		if n := utf8.RuneCountInString(t.Body); n > maxBody {
			bad("%s: body has %d characters, more than %d", where, n, maxBody)
		}
		if len(t.Media) > 1 {
			bad("%s: media: one URL at most", where)
		}
		if len(t.Actions) > maxButtons {
			bad("%s: actions: %d buttons, at most %d", where, len(t.Actions), maxButtons)
		}
		r := Rich{ContentType: name, Title: t.Title, Subtitle: t.Subtitle, Body: t.Body}
		if len(t.Media) > 0 {
			r.Media = t.Media[0]
		}
		for i, a := range t.Actions {
			at := fmt.Sprintf("%s: actions[%d]", where, i)
			if a.Title == "" {
				bad("%s: title is required", at)
			} else if n := utf8.RuneCountInString(a.Title); n > maxButtonTitle && !placeholder.MatchString(a.Title) {
				bad("%s: title has %d characters, more than %d", at, n, maxButtonTitle)
			}
			switch a.Type {
			case ButtonQuickReply:
				if !buttonPayload.MatchString(a.ID) {
					bad("%s: id %q: want 1-128 characters A-Z a-z 0-9 . _ : - (the payload the provider reports back)", at, a.ID)
				}
			case ButtonURL:
				if a.URL == "" {
					bad("%s: url is required", at)
				}
			case ButtonPhone:
				if a.Phone == "" {
					bad("%s: phone is required", at)
				}
			default:
				bad("%s: type %q: want %s, %s or %s", at, a.Type, ButtonQuickReply, ButtonURL, ButtonPhone)
			}
			r.Buttons = append(r.Buttons, Button(a))
		}
		l.rich = r
	}
	if l.rich.ContentType == "" && len(probs) == 0 {
		bad("types: none of %s", strings.Join(richTypes, ", "))
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("content %s: %s", path, strings.Join(probs, "; "))
	}
	return l, nil
}

// fields returns pointers to every text of r that may hold placeholders.
func (r *Rich) fields() []*string {
	out := []*string{&r.Title, &r.Subtitle, &r.Body, &r.Media, &r.Fallback}
	for i := range r.Buttons {
		b := &r.Buttons[i]
		out = append(out, &b.Title, &b.URL, &b.Phone)
	}
	return out
}

// variables returns the placeholders the layout uses, sorted.
func (l *layout) variables() []string {
	var names []string
	for _, f := range l.rich.fields() {
		for _, m := range placeholder.FindAllStringSubmatch(*f, -1) {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// uses reports whether any text of the layout holds placeholder name;
// in is "" for any text, or "fallback" for the twilio/text body only.
func (l *layout) uses(name, in string) bool {
	texts := l.rich.fields()
	if in == "fallback" {
		texts = []*string{&l.rich.Fallback}
	}
	for _, f := range texts {
		for _, m := range placeholder.FindAllStringSubmatch(*f, -1) {
			if m[1] == name {
				return true
			}
		}
	}
	return false
}

// errUnfilled: the layout uses a variable the vars template does not fill.
var errUnfilled = errors.New("not filled")

// fill returns the layout with every placeholder replaced by its variable,
// as Twilio fills the approved template. A placeholder without a variable
// is an ErrMissingData error naming it.
func (l *layout) fill(vars map[string]string) (Rich, error) {
	r := l.rich
	r.Buttons = slices.Clone(l.rich.Buttons)
	var missing []string
	for _, f := range r.fields() {
		*f = placeholder.ReplaceAllStringFunc(*f, func(p string) string {
			name := placeholder.FindStringSubmatch(p)[1]
			v, ok := vars[name]
			if !ok {
				missing = append(missing, name)
			}
			return v
		})
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return Rich{}, fmt.Errorf("%w: %s uses the variable {{%s}}, which the vars template does not fill: %w",
			ErrMissingData, l.path, strings.Join(slices.Compact(missing), "}}, {{"), errUnfilled)
	}
	return r, nil
}
