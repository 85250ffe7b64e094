package render

import (
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// Shared is what every recipient of one message of a campaign or batch has
// in common: the type, the channel, the message's locale and its data.
type Shared struct {
	Type    message.Type
	Channel message.Channel
	Locale  string // the message's locale; may be empty
	Data    map[string]map[string]any
}

// Personal is what belongs to one recipient of a prepared message.
type Personal struct {
	MessageID       string
	Recipient       message.RecipientID
	RecipientLocale string
	Profile         map[string]any // salutation, first_name, last_name, company
	Decision        policy.Decision
}

// Request joins s and p into the Request that Render takes.
func (s Shared) Request(p Personal) Request {
	return Request{MessageID: p.MessageID, Type: s.Type, Channel: s.Channel, Locale: s.Locale,
		RecipientLocale: p.RecipientLocale, Recipient: p.Recipient, Profile: p.Profile, Data: s.Data,
		Decision: p.Decision}
}

// Split is the inverse of Shared.Request.
func (req Request) Split() (Shared, Personal) {
	return Shared{Type: req.Type, Channel: req.Channel, Locale: req.Locale, Data: req.Data},
		Personal{MessageID: req.MessageID, Recipient: req.Recipient, RecipientLocale: req.RecipientLocale,
			Profile: req.Profile, Decision: req.Decision}
}

// maxVariants bounds the variants one Prepared keeps; recipients beyond it
// are rendered in full. Real campaigns need a handful: per locale, per set
// of allowed data categories, per salutation and per pattern of empty
// profile fields.
const maxVariants = 256

// Prepared is a message compiled for many recipients: its templates are run
// once per variant (the same locale, data categories, notice and the same
// profile fields present) with placeholders for the personal values, and
// each recipient's content is spliced from the static pieces and the
// recipient's values, escaped as the templates would have escaped them.
//
// Prepared.Render returns what Renderer.Render returns for the same
// recipient, byte for byte (the sealed tokens differ, as they do between two
// calls of Render: each has its own nonce). Whatever a variant cannot prove
// it splices exactly — a template that compares, formats or measures a
// personal value, a value the text post-processing would change (line
// breaks, doubled spaces), an escaping context other than HTML text and
// attributes — is rendered in full for that recipient.
//
// A Prepared is safe for concurrent use.
type Prepared struct {
	r      *Renderer
	shared Shared
	spec   policy.TypeSpec
	cats   []string // categories the shared data carries, sorted, without contact
	marks  marks

	mu    sync.Mutex // serialises tracing
	state atomic.Pointer[prepState]
}

// prepState is replaced, never changed, so Render reads it without a lock.
type prepState struct {
	byValue  map[string]bool // personal fields traced with their value, not a placeholder
	variants map[string]*variant
}

// Prepare compiles the shared part of a message. It fails only when every
// recipient would fail the same way (a type not in the catalog, no template
// for the type and channel in any locale); errors that depend on the
// recipient come from Render, as Renderer.Render returns them.
func (r *Renderer) Prepare(s Shared) (*Prepared, error) {
	where := fmt.Sprintf("render %s/%s", s.Type, s.Channel)
	spec, ok := r.catalog.Type(s.Type)
	if !ok {
		return nil, fmt.Errorf("%s: %w: type not in the catalog", where, ErrNoTemplate)
	}
	found := false
	for k := range r.sets {
		found = found || (k.typ == s.Type && k.ch == s.Channel)
	}
	if !found {
		return nil, fmt.Errorf("%s: %w in any locale", where, ErrNoTemplate)
	}
	p := &Prepared{r: r, shared: s, spec: spec, marks: newMarks()}
	for c, d := range s.Data {
		if d != nil && c != policy.DataContact {
			p.cats = append(p.cats, c)
		}
	}
	slices.Sort(p.cats)
	byValue := map[string]bool{}
	if h, ok := r.hints.Load(hintKey{s.Type, s.Channel}); ok {
		maps.Copy(byValue, h.(map[string]bool))
	}
	p.state.Store(&prepState{byValue: byValue, variants: map[string]*variant{}})
	return p, nil
}

// hintKey names the templates whose by-value fields a Renderer remembers,
// so that the next Prepare of the same type and channel need not find out again.
type hintKey struct {
	typ message.Type
	ch  message.Channel
}

// Render renders the prepared message for one recipient.
func (p *Prepared) Render(per Personal) (Content, error) {
	dec := per.Decision
	if !dec.Allowed || (dec.OptOutNotice && per.Recipient == "") {
		return p.full(per) // the errors of Render
	}
	s, locale := p.r.pick(p.shared.Type, p.shared.Channel, p.shared.Locale, per.RecipientLocale)
	if s == nil {
		return p.full(per)
	}
	var buf [256]byte
	st := p.state.Load()
	key, ok := p.key(buf[:0], locale, per, st)
	if !ok {
		return p.full(per)
	}
	v := st.variants[string(key)]
	if v == nil {
		v = p.build(per, locale, s)
	}
	if v.slow {
		return p.full(per)
	}
	c, ok := p.fill(v, per)
	if !ok {
		return p.full(per)
	}
	return c, nil
}

// full renders one recipient without the prepared pieces.
func (p *Prepared) full(per Personal) (Content, error) {
	return p.r.Render(p.shared.Request(per))
}

// msgIDField is the by-value name of the message id: profile keys are data
// keys and never start with a NUL.
const msgIDField = "\x00message_id"

// key is the variant of a recipient: everything that can change the
// templates' control flow or the notice. false: render this one in full.
func (p *Prepared) key(b []byte, locale string, per Personal, st *prepState) ([]byte, bool) {
	b = append(b, locale...)
	b = append(b, 0)
	for _, c := range p.cats {
		if slices.Contains(per.Decision.DataCategories, c) {
			b = append(b, '1')
		} else {
			b = append(b, '0')
		}
	}
	b = append(b, 0)
	if dec := per.Decision; dec.OptOutNotice {
		b = append(b, 'n')
		b = append(b, dec.Basis...)
		b = append(b, 0)
		b = append(b, dec.Rule...)
		b = append(b, 0)
		b = append(b, dec.Channel...)
	}
	if per.Decision.SMSFallback {
		b = append(b, 'f') // the notice, and the media limits of a rich card
	}
	b = append(b, 0)
	switch {
	case per.MessageID == "":
		b = append(b, '-')
	case st.byValue[msgIDField]:
		b = append(b, '=')
		b = append(b, per.MessageID...)
	default:
		b = append(b, '+')
	}
	var stack [8]string
	keys, ok := profileKeys(stack[:0], per.Profile)
	if !ok {
		return nil, false
	}
	for _, k := range keys {
		b = append(b, 0)
		b = append(b, k...)
		if st.byValue[k] {
			b = append(b, '=')
			b = append(b, per.Profile[k].(string)...)
		}
	}
	return b, true
}

// profileKeys returns, sorted, the profile keys whose values reach the
// templates (guard skips nil and ""); false when one is not a string.
func profileKeys(keys []string, profile map[string]any) ([]string, bool) {
	for k, v := range profile {
		if v == nil || v == "" {
			continue
		}
		if _, ok := v.(string); !ok {
			return nil, false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, true
}

// build traces the variant of per, learning which fields the templates use
// by value on the way.
func (p *Prepared) build(per Personal, locale string, s *set) *variant {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 8 {
		st := p.state.Load()
		key, ok := p.key(nil, locale, per, st)
		if !ok {
			return slowVariant
		}
		if v := st.variants[string(key)]; v != nil {
			return v
		}
		v, flagged := p.trace(per, locale, s, st.byValue)
		if len(flagged) > 0 {
			byValue := maps.Clone(st.byValue)
			for _, f := range flagged {
				byValue[f] = true
			}
			// Keys now carry the values of these fields: the old ones are unreachable.
			p.state.Store(&prepState{byValue: byValue, variants: map[string]*variant{}})
			p.r.hints.Store(hintKey{p.shared.Type, p.shared.Channel}, byValue)
			continue
		}
		if len(st.variants) >= maxVariants {
			return slowVariant
		}
		variants := maps.Clone(st.variants)
		variants[string(key)] = v
		p.state.Store(&prepState{byValue: st.byValue, variants: variants})
		return v
	}
	return slowVariant
}

// marks delimit the placeholders of one Prepared. They are letters and
// digits only, which no escaper changes, with a random part no data holds.
type marks struct{ open, close string }

func newMarks() marks {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return marks{open: "Zq" + string(b) + "Y", close: "Y" + string(b) + "qZ"}
}

// placeholder is what a personal value is traced as: the marks around the
// hole number and the probe, whose escaping tells the context.
func (m marks) placeholder(hole int) string {
	return fmt.Sprintf("%s%03d%s%s", m.open, hole, probe, m.close)
}

// Holes of a variant: the links, the message id, then the profile fields.
const (
	holeUnsubscribe = 0
	holePreferences = 1
	holeMessageID   = 2
	holeFields      = 3
)

// piece is a literal followed by a hole (none when hole < 0).
type piece struct {
	lit   string
	hole  int16
	class escapeClass
}

type varPieces struct {
	name   string
	pieces []piece
}

// variant is the compiled content of one kind of recipient.
type variant struct {
	slow      bool     // render these recipients in full
	fields    []string // profile keys of holes holeFields…
	used      []int16  // personal holes that occur in the content
	htmlHoles []int16  // personal holes in the HTML, for the </body> check
	scope     string   // token scope, when there is a notice
	notice    bool
	email     bool
	sms       bool // SMS or RCS: segments are counted on the final text
	static    Content
	layout    *layout // rich content, filled from the spliced variables
	subject   []piece
	text      []piece
	html      []piece
	unsub     []piece
	vars      []varPieces
}

var slowVariant = &variant{slow: true}

// fill splices the content of one recipient; false: render it in full.
func (p *Prepared) fill(v *variant, per Personal) (Content, bool) {
	var stack [holeFields + 5]string
	vals := stack[:0]
	if n := holeFields + len(v.fields); n > len(stack) {
		vals = make([]string, 0, n)
	}
	vals = append(vals, "", "", per.MessageID)
	for _, k := range v.fields {
		s, _ := per.Profile[k].(string) // key checked that it is one
		vals = append(vals, s)
	}
	for _, h := range v.used {
		if !inert(vals[h]) {
			return Content{}, false
		}
	}
	for _, h := range v.htmlHoles {
		if inBodyTag(p.r.escape(vals[h], escapeTemplateHTML)) {
			return Content{}, false
		}
	}
	var notice optOut
	if v.notice {
		var err error
		req := Request{Recipient: per.Recipient, Channel: p.shared.Channel, MessageID: per.MessageID}
		if notice, err = p.r.links(req, v.scope, p.r.now()); err != nil {
			return Content{}, false
		}
		vals[holeUnsubscribe], vals[holePreferences] = notice.unsubscribe, notice.preferences
	}
	c := v.static
	c.Subject = p.r.assemble(v.subject, vals)
	c.Text = p.r.assemble(v.text, vals)
	c.HTML = p.r.assemble(v.html, vals)
	c.UnsubscribeURL = p.r.assemble(v.unsub, vals)
	if v.email && v.notice {
		c.UnsubscribeMailto = p.r.unsubscribeMailto(notice.rawToken)
	}
	if v.vars != nil {
		c.ContentVariables = make(map[string]string, len(v.vars))
		for _, vp := range v.vars {
			c.ContentVariables[vp.name] = p.r.assemble(vp.pieces, vals)
		}
	}
	if v.layout != nil {
		rich, err := p.r.rich(v.layout, p.shared.Channel, per.Decision.SMSFallback, c.ContentVariables)
		if err != nil {
			return Content{}, false // Render reports it
		}
		c.Rich = rich
	}
	if v.sms {
		c.SMSEncoding, c.SMSSegments = SMSInfo(c.Text)
	}
	return c, true
}

// assemble joins pieces with the escaped values of their holes.
func (r *Renderer) assemble(pieces []piece, vals []string) string {
	switch len(pieces) {
	case 0:
		return ""
	case 1:
		if pieces[0].hole < 0 {
			return pieces[0].lit
		}
	}
	n := 0
	for _, pc := range pieces {
		n += len(pc.lit)
		if pc.hole >= 0 {
			n += len(vals[pc.hole]) + 16
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, pc := range pieces {
		b.WriteString(pc.lit)
		if pc.hole >= 0 {
			b.WriteString(r.escape(vals[pc.hole], pc.class))
		}
	}
	return b.String()
}
