// Package render turns a message type, its data and the policy decision into
// the content of one channel: e-mail subject, text and HTML; SMS text with its
// encoding and segment count; WhatsApp content variables with a text fallback;
// RCS text.
//
// Templates come from the embedded default set (package templates) and an
// optional override folder. HTML is rendered with html/template (contextual
// escaping on), everything else with text/template, both with
// missingkey=error: a template that needs data the message did not carry
// fails with an error wrapping ErrMissingData that names the key, never with
// a hole in a sent message.
//
// Two compliance rules are enforced here, outside the templates, so that no
// template can break them:
//
//   - The data-category guard: a template sees only the data categories the
//     decision allows (plus contact). Categories it may not see are present
//     but empty, so templates branch on them with {{with .Data.usage}}.
//   - The opt-out notice: when the decision requires it, the renderer appends
//     the right to object or withdraw, free of charge, with sealed unsubscribe
//     and preference-centre links (a short form on SMS), and sets the
//     List-Unsubscribe fields of e-mail.
//
// Every error Render returns is permanent: rendering is deterministic, so the
// same message fails the same way on every attempt.
package render

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	htemplate "html/template"
	"io/fs"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/media"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/token"
	"github.com/heroldhq/herold/templates"
)

// Errors of Render. All of them are permanent.
var (
	// ErrMissingData: the template needs data the message did not carry (or
	// carried in an unusable form); the error names the key, e.g. "invoice.amount".
	ErrMissingData = errors.New("missing template data")
	// ErrNoTemplate: no template exists for the type and channel in any locale.
	ErrNoTemplate = errors.New("no template")
	// ErrNotAllowed: the decision does not allow the message.
	ErrNotAllowed = errors.New("decision does not allow the message")
)

// Brand is what headers, signatures and footers show.
type Brand struct {
	Name       string // "Herold Mobil"
	URL        string // web site
	ServiceURL string // customer portal
	Support    string // service phone number
	Address    string // company name and postal address
	Imprint    string // register and management line
	Color      string // #rrggbb, HTML header and buttons
}

// Options configure a Renderer. Catalog, Sealer and PublicURL are required.
type Options struct {
	FS          fs.FS  // default templates; nil: templates.FS()
	OverrideDir string // HEROLD_TEMPLATES_DIR: files here replace or add to FS
	Catalog     *policy.Catalog
	Sealer      *token.Sealer
	PublicURL   string // links: {PublicURL}/unsubscribe/{token}, {PublicURL}/preferences/{token}
	// ListIDDomain is the domain of List-Id headers ("lists.example.com");
	// empty: the public URL's host, unless that is an IP address or a single
	// label, in which case e-mail carries no List-Id.
	ListIDDomain string

	DefaultLocale     string   // "de" when empty
	Locales           []string // locales Check requires; default: de, en and DefaultLocale
	Brand             Brand
	UnsubscribeMailto string        // List-Unsubscribe mailto address; empty: none
	LinkTTL           time.Duration // validity of opt-out links; default one year
	SMSMaxSegments    int           // Check warns above this; default 3
	SMSStopNumber     string        // number for STOP replies in the SMS notice
	SMSOmitLink       bool          // leave the link out of the SMS notice when SMSStopNumber is set
	// ContentSIDs and RCSContentSIDs name the approved Twilio Content
	// templates of WhatsApp and RCS by "type:locale" or "type"
	// (HEROLD_WHATSAPP_CONTENT_SIDS, HEROLD_RCS_CONTENT_SIDS). A
	// "type:locale" entry wins over the sid of the locale's content file,
	// which wins over a "type" entry.
	ContentSIDs    map[string]string
	RCSContentSIDs map[string]string
	// Live lists the channels that deliver through a provider, not the
	// outbox folder. Check refuses a type that needs an approved template on
	// a live channel (WhatsApp outside the session window) and has none,
	// unless FreeForm lists the channel.
	Live     []message.Channel
	FreeForm []message.Channel
	Now      func() time.Time // default time.Now
}

// OptionsFromConfig fills the Options that come from the Templates and Brand
// settings; the caller adds Catalog, Sealer and PublicURL.
func OptionsFromConfig(c config.Templates, b config.Brand) Options {
	return Options{
		OverrideDir:       c.Dir,
		DefaultLocale:     c.DefaultLocale,
		Locales:           slices.Clone(c.Locales),
		UnsubscribeMailto: c.UnsubscribeMailto,
		ListIDDomain:      c.ListIDDomain,
		LinkTTL:           c.LinkTTL,
		SMSMaxSegments:    c.SMSMaxSegments,
		SMSStopNumber:     c.SMSStopNumber,
		SMSOmitLink:       !c.SMSOptOutLink,
		ContentSIDs:       c.ContentSIDs(),
		RCSContentSIDs:    c.RCSContentSIDs(),
		Brand: Brand{Name: b.Name, URL: b.URL, ServiceURL: b.ServiceURL, Support: b.Support,
			Address: b.Address, Imprint: b.Imprint, Color: b.Color},
	}
}

// Request is one message to render for one channel.
type Request struct {
	MessageID       string
	Type            message.Type
	Channel         message.Channel
	Locale          string // the message's locale; may be empty
	RecipientLocale string // the recipient's locale; may be empty
	Recipient       message.RecipientID
	// Profile is the contact category: salutation, first_name, last_name, company.
	Profile map[string]any
	// Data holds the message's template data by category ("invoice", "usage", …).
	Data     map[string]map[string]any
	Decision policy.Decision
}

// Content is the rendered message, ready for channels.Outbound.
type Content struct {
	Subject          string            `json:"subject,omitempty"`
	Text             string            `json:"text"`
	HTML             string            `json:"html,omitempty"`
	Locale           string            `json:"locale"`
	SMSEncoding      string            `json:"sms_encoding,omitempty"`
	SMSSegments      int               `json:"sms_segments,omitempty"`
	ContentSID       string            `json:"content_sid,omitempty"`
	ContentVariables map[string]string `json:"content_variables,omitempty"`
	// Rich is what the phone shows when the message goes with its Content
	// SID (WhatsApp, RCS), from the type's content file; nil without one.
	Rich              *Rich  `json:"rich,omitempty"`
	UnsubscribeURL    string `json:"unsubscribe_url,omitempty"`
	UnsubscribeMailto string `json:"unsubscribe_mailto,omitempty"`
	ListID            string `json:"list_id,omitempty"`
}

// view is the value every template executes on.
type view struct {
	Data    map[string]map[string]any
	Brand   Brand
	Locale  string
	Type    string
	Channel string
	// MessageID is any, not string, so that a Prepared can trace it with a
	// placeholder; templates see no difference (text/template looks through
	// interfaces).
	MessageID any
}

// Renderer renders messages. It is safe for concurrent use: after New it
// only fills caches (the templates of traces and what they learnt).
type Renderer struct {
	sets          map[setKey]*set
	files         map[string][]byte
	locales       []string // required by Check
	available     []string // locales with at least one template
	defaultLocale string
	catalog       *policy.Catalog
	sealer        *token.Sealer
	publicURL     string
	listDomain    string
	brand         Brand
	mailto        string
	linkTTL       time.Duration
	maxSegments   int
	smsStop       string
	smsOmitLink   bool
	contentSIDs   map[message.Channel]map[string]string
	live          []message.Channel
	freeForm      []message.Channel
	categories    []string
	now           func() time.Time

	htmlEscaper *htemplate.Template // html/template's escaping of a string in HTML text
	probeHTML   string              // what it makes of the probe
	traced      sync.Map            // setKey → *set parsed with the trace functions
	hints       sync.Map            // hintKey → map[string]bool: fields traced by value
}

// New loads and parses every template, so that a syntax error stops start-up.
func New(opts Options) (*Renderer, error) {
	if opts.Catalog == nil {
		return nil, errors.New("render: no catalog")
	}
	if opts.Sealer == nil {
		return nil, errors.New("render: no token sealer")
	}
	u, err := url.Parse(opts.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("render: public URL %q is not an absolute http(s) URL", opts.PublicURL)
	}
	r := &Renderer{
		defaultLocale: cmp.Or(opts.DefaultLocale, "de"),
		catalog:       opts.Catalog,
		sealer:        opts.Sealer,
		publicURL:     strings.TrimRight(opts.PublicURL, "/"),
		listDomain:    listDomain(opts.ListIDDomain, opts.PublicURL),
		brand:         opts.Brand,
		mailto:        opts.UnsubscribeMailto,
		linkTTL:       cmp.Or(opts.LinkTTL, 365*24*time.Hour),
		maxSegments:   cmp.Or(opts.SMSMaxSegments, 3),
		smsStop:       opts.SMSStopNumber,
		smsOmitLink:   opts.SMSOmitLink,
		contentSIDs: map[message.Channel]map[string]string{message.WhatsApp: maps.Clone(opts.ContentSIDs),
			message.RCS: maps.Clone(opts.RCSContentSIDs)},
		live:     slices.Clone(opts.Live),
		freeForm: slices.Clone(opts.FreeForm),
		now:      opts.Now,
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.htmlEscaper, r.probeHTML, err = newHTMLEscaper(); err != nil {
		return nil, err
	}
	if r.brand.Name == "" {
		r.brand = defaultBrand()
	}
	r.locales = slices.Clone(opts.Locales)
	if len(r.locales) == 0 {
		r.locales = []string{"de", "en"}
	}
	if !slices.Contains(r.locales, r.defaultLocale) {
		r.locales = append(r.locales, r.defaultLocale)
	}
	cats := policy.DataCategories()
	for _, t := range opts.Catalog.Types() {
		cats = append(cats, t.DataCategories...)
	}
	slices.Sort(cats)
	r.categories = slices.Compact(cats)

	fsys := opts.FS
	if fsys == nil {
		fsys = templates.FS()
	}
	if r.files, err = loadFiles(fsys, opts.OverrideDir); err != nil {
		return nil, err
	}
	if err := r.parse(); err != nil {
		return nil, err
	}
	return r, nil
}

// defaultBrand matches the defaults of config.Templates.
func defaultBrand() Brand {
	return Brand{Name: "Herold Mobil", URL: "https://www.example.com", ServiceURL: "https://service.example.com",
		Support: "0800 000 0000", Address: "Herold Mobil GmbH · Musterstraße 1 · 10115 Berlin",
		Imprint: "Sitz Berlin · Amtsgericht Charlottenburg HRB 000000 B · Geschäftsführung: Erika Mustermann",
		Color:   "#0b5394"}
}

// UnsubscribeHTTPS reports whether the unsubscribe links in messages are
// https: Gmail and Yahoo honour one-click unsubscribe (RFC 8058) only then.
func (r *Renderer) UnsubscribeHTTPS() bool { return strings.HasPrefix(r.publicURL, "https://") }

// ListIDDomain returns the domain List-Ids end in, or "" when e-mail
// carries no List-Id (see Options.ListIDDomain).
func (r *Renderer) ListIDDomain() string { return r.listDomain }

// Locales returns the locales that have templates, sorted.
func (r *Renderer) Locales() []string { return slices.Clone(r.available) }

// DefaultLocale returns the locale used when no other has templates.
func (r *Renderer) DefaultLocale() string { return r.defaultLocale }

// Has reports whether a template for type t on channel ch exists in locale.
func (r *Renderer) Has(t message.Type, ch message.Channel, locale string) bool {
	_, ok := r.sets[setKey{locale, t, ch}]
	return ok
}

// Render renders req for its channel.
func (r *Renderer) Render(req Request) (Content, error) {
	where := fmt.Sprintf("render %s/%s", req.Type, req.Channel)
	if !req.Decision.Allowed {
		return Content{}, fmt.Errorf("%s: %w (reason %s)", where, ErrNotAllowed, req.Decision.Reason)
	}
	spec, ok := r.catalog.Type(req.Type)
	if !ok {
		return Content{}, fmt.Errorf("%s: %w: type not in the catalog", where, ErrNoTemplate)
	}
	s, locale := r.pick(req.Type, req.Channel, req.Locale, req.RecipientLocale)
	if s == nil {
		return Content{}, fmt.Errorf("%s: %w in any locale", where, ErrNoTemplate)
	}
	v := &view{Data: r.guard(req, spec), Brand: r.brand, Locale: locale, Type: string(req.Type),
		Channel: string(req.Channel), MessageID: req.MessageID}
	var notice optOut
	if req.Decision.OptOutNotice {
		scope := scopeFor(spec, req.Decision, v.Data)
		var err error
		if notice, err = r.links(req, scope, r.now()); err != nil {
			return Content{}, fmt.Errorf("%s: %w", where, err)
		}
		notice.sentence = sentence(req.Decision.Basis, scope, noticeLang(locale))
	}
	return r.content(where, req, s, locale, v, notice)
}

// content executes the templates of s on v and assembles the channel's
// content around them, with notice when the decision requires one. A
// Prepared runs this very code once per variant with placeholders for the
// personal values, which is what makes its output the same as Render's.
func (r *Renderer) content(where string, req Request, s *set, locale string, v *view, notice optOut) (Content, error) {
	c := Content{Locale: locale}
	l := noticeLang(locale)
	text, err := r.execText(s.text, v)
	if err != nil {
		return Content{}, fmt.Errorf("%s/%s: %w", where, locale, err)
	}
	switch req.Channel {
	case message.Email:
		subj, err := r.execText(s.subject, v)
		if err != nil {
			return Content{}, fmt.Errorf("%s/%s: %w", where, locale, err)
		}
		if c.Subject = cleanSubject(subj); c.Subject == "" {
			return Content{}, fmt.Errorf("%s/%s: %w: the subject is empty", where, locale, ErrMissingData)
		}
		c.Text = text
		if s.html != nil {
			var b bytes.Buffer
			if err := s.html.ExecuteTemplate(&b, s.htmlEntry, v); err != nil {
				return Content{}, fmt.Errorf("%s/%s: %w", where, locale, r.execError(err))
			}
			c.HTML = b.String()
		}
		if req.Decision.OptOutNotice {
			c.Text = appendText(c.Text, noticeText(notice, l))
			if c.HTML != "" {
				c.HTML = appendHTML(c.HTML, noticeHTML(notice, l))
			}
			c.UnsubscribeURL = notice.unsubscribe
			c.UnsubscribeMailto = r.unsubscribeMailto(notice.rawToken)
			c.ListID = r.listID(notice.scope)
		}
	case message.SMS:
		c.Text = text
		if req.Decision.OptOutNotice {
			c.Text += "\n" + r.noticeSMS(notice, l)
		}
	case message.WhatsApp, message.RCS:
		c.Text = text
		switch {
		case !req.Decision.OptOutNotice:
		case req.Channel == message.RCS && req.Decision.SMSFallback:
			c.Text += "\n" + r.noticeSMS(notice, l) // the same text may go out as SMS
		default:
			c.Text += "\n\n" + noticeMessenger(notice, l)
		}
		if s.vars != nil {
			out, err := r.execText(*s.vars, v)
			if err != nil {
				return Content{}, fmt.Errorf("%s/%s: %w", where, locale, err)
			}
			vars, err := parseVars(out)
			if err != nil {
				return Content{}, fmt.Errorf("%s/%s: %w", where, locale, err)
			}
			if req.Decision.OptOutNotice {
				vars[nextVar(vars)] = notice.unsubscribe
			}
			c.ContentVariables = vars
		}
		if s.layout != nil {
			rich, err := r.rich(s.layout, req.Channel, req.Decision.SMSFallback, c.ContentVariables)
			if err != nil {
				return Content{}, fmt.Errorf("%s/%s: %w", where, locale, err)
			}
			c.Rich = rich
		}
		c.ContentSID = r.contentSID(req.Channel, req.Type, locale, s)
	default:
		return Content{}, fmt.Errorf("%s: %w: unknown channel", where, ErrNoTemplate)
	}
	if req.Channel == message.SMS || req.Channel == message.RCS {
		c.SMSEncoding, c.SMSSegments = SMSInfo(c.Text)
	}
	return c, nil
}

// rich fills a layout with the message's variables and checks its media
// URL as the provider would (internal/media): a refused URL fails the
// message, never reaches the provider.
func (r *Renderer) rich(l *layout, ch message.Channel, smsFallback bool, vars map[string]string) (*Rich, error) {
	rich, err := l.fill(vars)
	if err != nil {
		return nil, err
	}
	if rich.Media != "" {
		if _, err := media.Check(ch, rich.Media, smsFallback && ch == message.RCS); err != nil {
			return nil, fmt.Errorf("%s: %w", l.path, err)
		}
	}
	return &rich, nil
}

// contentSID is the approved template of type t on channel ch in locale,
// whose templates s are: the "type:locale" setting, else the sid of the
// locale's content file, else the "type" setting; "" without one.
func (r *Renderer) contentSID(ch message.Channel, t message.Type, locale string, s *set) string {
	m := r.contentSIDs[ch]
	sid := m[string(t)+":"+locale]
	if sid == "" && s.layout != nil {
		sid = s.layout.sid
	}
	return cmp.Or(sid, m[string(t)])
}

// unsubscribeMailto is the mailto: List-Unsubscribe target carrying the
// sealed token in its subject, or "" without a configured address.
func (r *Renderer) unsubscribeMailto(rawToken string) string {
	if r.mailto == "" {
		return ""
	}
	return "mailto:" + r.mailto + "?subject=" + url.PathEscape("unsubscribe "+rawToken)
}

// pick resolves the locale: the message's, else the recipient's, else the
// default; each also as its language alone ("de-AT" → "de").
func (r *Renderer) pick(t message.Type, ch message.Channel, msgLocale, rcptLocale string) (*set, string) {
	for _, l := range [...]string{msgLocale, lang(msgLocale), rcptLocale, lang(rcptLocale), r.defaultLocale} {
		if l == "" {
			continue
		}
		if s, ok := r.sets[setKey{l, t, ch}]; ok {
			return s, l
		}
	}
	return nil, ""
}

// guard builds the template data: every known category is present, but only
// the ones the decision allows carry data; contact comes from the profile.
func (r *Renderer) guard(req Request, spec policy.TypeSpec) map[string]map[string]any {
	data := make(map[string]map[string]any, len(r.categories)+len(req.Data))
	for _, c := range r.categories {
		data[c] = nil
	}
	for c := range req.Data {
		data[c] = nil
	}
	for _, c := range req.Decision.DataCategories {
		if c != policy.DataContact && req.Data[c] != nil {
			data[c] = req.Data[c]
		}
	}
	contact := map[string]any{"salutation": "", "first_name": "", "last_name": "", "company": ""}
	maps.Copy(contact, req.Data[policy.DataContact])
	for k, v := range req.Profile {
		if v != nil && v != "" && k != recipient.ProfileAttributes {
			contact[k] = v
		}
	}
	data[policy.DataContact] = contact
	data[DataAttributes] = attributeData(spec, req.Profile)
	return data
}

// cleanSubject folds a subject into one line: CR, LF, tabs and other control
// characters become single spaces, so no data can inject a header.
func cleanSubject(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// appendText puts the notice before the last signature separator ("-- "
// line), which many mail clients fold away, or at the end when there is none.
func appendText(text, notice string) string {
	if i := strings.LastIndex(text, "\n-- \n"); i >= 0 {
		return strings.TrimRight(text[:i], "\n") + "\n\n" + notice + "\n" + text[i:]
	}
	return text + "\n\n" + notice
}

var varLine = regexp.MustCompile(`^([A-Za-z0-9_]+)=(.*)$`)

// parseVars reads the output of a whatsapp.vars template: one "key=value"
// line per variable.
func parseVars(out string) (map[string]string, error) {
	vars := map[string]string{}
	for line := range strings.SplitSeq(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m := varLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%w: whatsapp variable line is not key=value", ErrMissingData)
		}
		val := strings.TrimSpace(m[2])
		if val == "" {
			return nil, fmt.Errorf("%w: whatsapp variable %s is empty", ErrMissingData, m[1])
		}
		vars[m[1]] = val
	}
	return vars, nil
}

// nextVar returns the number after the highest numeric variable: the
// approved template's last placeholder takes the opt-out link.
func nextVar(vars map[string]string) string {
	max := 0
	for k := range vars {
		if n, err := strconv.Atoi(k); err == nil && n > max {
			max = n
		}
	}
	return strconv.Itoa(max + 1)
}
