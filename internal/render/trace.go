package render

import (
	"fmt"
	"html"
	htemplate "html/template"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	ttemplate "text/template"
	"unicode"
	"unicode/utf8"

	"github.com/heroldhq/herold/internal/message"
)

// probe follows the hole number in a placeholder. What an escaper makes of
// it tells which escaper ran: these characters come out differently from
// html/template in text and attributes, from html.EscapeString, from
// unquoted attributes (the space), URLs, JavaScript and CSS.
const probe = `<'"&+ >`

// escapeClass is how a hole's value is escaped: what the context did to the probe.
type escapeClass uint8

const (
	escapeNone         escapeClass = iota // text templates
	escapeTemplateHTML                    // html/template in HTML text, quoted attributes, RCDATA
	escapeStdHTML                         // html.EscapeString (the notice's links)
)

// slot is a personal value while a variant is traced. It prints as its
// placeholder and counts each time it is printed, so that a value that
// vanished (an escaper that filters it) is noticed. It prints through
// fmt.Formatter, not fmt.Stringer: a template could call String as a
// method, which it cannot do on the string the slot stands for. It is true
// like every non-empty string, and not comparable, so eq on two slots fails
// instead of comparing placeholders.
type slot struct {
	t    *tracer
	hole int
	text string
	_    []byte
}

func (s slot) Format(f fmt.State, _ rune) {
	s.t.calls++
	io.WriteString(f, s.text) //nolint:errcheck // fmt's buffer
}

// MarshalJSON is how the JavaScript escaper reads a value, bypassing fmt:
// a slot in a script cannot be spliced.
func (s slot) MarshalJSON() ([]byte, error) {
	s.t.opaque = true
	return []byte(`""`), nil
}

// tracer collects what one trace saw.
type tracer struct {
	calls   int      // slots printed
	opaque  bool     // a slot was read other than by printing
	flagged []string // fields a function got: they must be traced by value
	fields  []string // hole - holeFields → profile key
}

func (t *tracer) flag(hole int) {
	name := msgIDField
	if hole >= holeFields {
		name = t.fields[hole-holeFields]
	}
	if !slices.Contains(t.flagged, name) {
		t.flagged = append(t.flagged, name)
	}
}

// traceFuncs are the template functions of a trace: the same functions,
// each of which flags the personal values it is given, since what a
// function returns for a placeholder says nothing about what it returns for
// the value. The printing builtins are replaced by the functions they are
// (fmt.Sprint…, the escapers), watched the same way; the other builtins
// fail on a slot, which renders the variant in full.
func traceFuncs(locale string) map[string]any {
	fm := funcs(locale)
	for name, f := range fm {
		fm[name] = watch(f)
	}
	for name, f := range map[string]any{"print": fmt.Sprint, "printf": fmt.Sprintf, "println": fmt.Sprintln,
		"html": ttemplate.HTMLEscaper, "js": ttemplate.JSEscaper, "urlquery": ttemplate.URLQueryEscaper} {
		fm[name] = watch(f)
	}
	return fm
}

// watch wraps f in a function of the same type that flags every slot found
// in its arguments before calling f.
func watch(f any) any {
	fv := reflect.ValueOf(f)
	return reflect.MakeFunc(fv.Type(), func(args []reflect.Value) []reflect.Value {
		for _, a := range args {
			flagSlots(a, 0)
		}
		if fv.Type().IsVariadic() {
			return fv.CallSlice(args)
		}
		return fv.Call(args)
	}).Interface()
}

var slotType = reflect.TypeFor[slot]()

// flagSlots flags the slots in v and in what v holds (the view, the data maps).
func flagSlots(v reflect.Value, depth int) {
	if !v.IsValid() || depth > 8 {
		return
	}
	if v.Type() == slotType {
		s := v.Interface().(slot)
		s.t.flag(s.hole)
		return
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			flagSlots(v.Elem(), depth+1)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			flagSlots(it.Value(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			flagSlots(v.Index(i), depth+1)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				flagSlots(v.Field(i), depth+1)
			}
		}
	}
}

// traceSet returns the set of k parsed with the trace functions.
func (r *Renderer) traceSet(k setKey, s *set) *set {
	if ts, ok := r.traced.Load(k); ok {
		return ts.(*set)
	}
	ts, err := r.build(k, s.parts, traceFuncs(k.locale))
	if err != nil {
		return nil // parsed once already, so this does not happen; then render in full
	}
	actual, _ := r.traced.LoadOrStore(k, ts)
	return actual.(*set)
}

// trace runs Render's own assembly once for the variant of per with
// placeholders, and cuts the result into pieces. flagged lists fields that
// must be traced by value first.
func (p *Prepared) trace(per Personal, locale string, s *set, byValue map[string]bool) (v *variant, flagged []string) {
	k := setKey{locale, p.shared.Type, p.shared.Channel}
	ts := p.r.traceSet(k, s)
	if ts == nil {
		return slowVariant, nil
	}
	tr := &tracer{}
	keys, ok := profileKeys(nil, per.Profile)
	if !ok {
		return slowVariant, nil
	}
	profile := make(map[string]any, len(keys))
	for _, key := range keys {
		if byValue[key] {
			profile[key] = per.Profile[key]
			continue
		}
		hole := holeFields + len(tr.fields)
		tr.fields = append(tr.fields, key)
		profile[key] = slot{t: tr, hole: hole, text: p.marks.placeholder(hole)}
	}
	var msgID any = per.MessageID
	if per.MessageID != "" && !byValue[msgIDField] {
		msgID = slot{t: tr, hole: holeMessageID, text: p.marks.placeholder(holeMessageID)}
	}
	req := p.shared.Request(per)
	req.Profile = profile
	view := &view{Data: p.r.guard(req, p.spec), Brand: p.r.brand, Locale: locale, Type: string(req.Type),
		Channel: string(req.Channel), MessageID: msgID}
	var notice optOut
	if per.Decision.OptOutNotice {
		notice.scope = scopeFor(p.spec, per.Decision, view.Data)
		notice.unsubscribe = p.marks.placeholder(holeUnsubscribe)
		if req.Channel != message.SMS {
			notice.preferences = p.marks.placeholder(holePreferences)
		}
		notice.sentence = sentence(per.Decision.Basis, notice.scope, noticeLang(locale))
	}
	c, err := p.r.content("", req, ts, locale, view, notice)
	if len(tr.flagged) > 0 {
		return nil, tr.flagged
	}
	if err != nil {
		return slowVariant, nil // the error depends on this kind of recipient: Render reports it
	}

	v = &variant{fields: tr.fields, scope: notice.scope, notice: per.Decision.OptOutNotice,
		email: req.Channel == message.Email, sms: req.Channel == message.SMS || req.Channel == message.RCS,
		static: Content{Locale: c.Locale, ContentSID: c.ContentSID, ListID: c.ListID}, layout: ts.layout}
	count := 0
	cut := func(s string, isHTML bool) []piece {
		pieces, personal, ok := p.cut(s)
		if !ok {
			v.slow = true
		}
		count += len(personal)
		for _, h := range personal {
			if !slices.Contains(v.used, h) {
				v.used = append(v.used, h)
			}
			if isHTML && !slices.Contains(v.htmlHoles, h) {
				v.htmlHoles = append(v.htmlHoles, h)
			}
		}
		return pieces
	}
	v.subject = cut(c.Subject, false)
	v.text = cut(c.Text, false)
	v.html = cut(c.HTML, true)
	v.unsub = cut(c.UnsubscribeURL, false)
	if c.ContentVariables != nil {
		v.vars = []varPieces{}
		for _, name := range slices.Sorted(maps.Keys(c.ContentVariables)) {
			v.vars = append(v.vars, varPieces{name: name, pieces: cut(c.ContentVariables[name], false)})
		}
	}
	if v.slow || tr.opaque || count != tr.calls {
		return slowVariant, nil
	}
	return v, nil
}

// cut splits traced output at its placeholders. personal lists the holes
// of personal values found (links excluded: they come from the notice, not
// from templates); ok is false when a placeholder is broken or escaped in
// a way that cannot be spliced.
func (p *Prepared) cut(s string) (pieces []piece, personal []int16, ok bool) {
	m := p.marks
	for {
		i := strings.Index(s, m.open)
		if i < 0 {
			if s != "" || len(pieces) == 0 {
				pieces = append(pieces, piece{lit: s, hole: -1})
			}
			return pieces, personal, true
		}
		lit, rest := s[:i], s[i+len(m.open):]
		if len(rest) < 3 {
			return nil, nil, false
		}
		hole, err := strconv.Atoi(rest[:3])
		if err != nil || hole < 0 || hole > 999 {
			return nil, nil, false
		}
		rest = rest[3:]
		j := strings.Index(rest, m.close)
		if j < 0 {
			return nil, nil, false
		}
		class, known := p.r.classOf(rest[:j])
		if !known {
			return nil, nil, false
		}
		pieces = append(pieces, piece{lit: lit, hole: int16(hole), class: class})
		if hole >= holeMessageID {
			personal = append(personal, int16(hole))
		}
		s = rest[j+len(m.close):]
	}
}

// classOf names the escaper that turned the probe into esc.
func (r *Renderer) classOf(esc string) (escapeClass, bool) {
	switch esc {
	case probe:
		return escapeNone, true
	case r.probeHTML:
		return escapeTemplateHTML, true
	case html.EscapeString(probe):
		return escapeStdHTML, true
	}
	return 0, false
}

// escape escapes a value as its class does.
func (r *Renderer) escape(s string, c escapeClass) string {
	switch c {
	case escapeTemplateHTML:
		if !strings.ContainsAny(s, htmlSpecial) {
			return s
		}
		var b strings.Builder
		if err := r.htmlEscaper.Execute(&b, s); err != nil {
			return "" // a template of "{{.}}" on a string does not fail
		}
		return b.String()
	case escapeStdHTML:
		return html.EscapeString(s)
	}
	return s
}

// htmlSpecial are the bytes html/template changes in a string printed into
// HTML text or a quoted attribute (TestHTMLSpecialCoversTheEscaper checks
// it against html/template for every rune); strings without them come out
// unchanged, strings with them are escaped by html/template itself.
const htmlSpecial = "\x00\"&'+<>"

// newHTMLEscaper returns html/template escaping its dot in HTML text, and
// what it makes of the probe. The probe must come out differently from
// every other class, or a value could be spliced unescaped.
func newHTMLEscaper() (*htemplate.Template, string, error) {
	t, err := htemplate.New("escape").Parse("{{.}}")
	if err != nil {
		return nil, "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, probe); err != nil {
		return nil, "", err
	}
	if b.String() == probe || b.String() == html.EscapeString(probe) {
		return nil, "", fmt.Errorf("render: html/template escapes %q as %q, which does not tell the contexts apart", probe, b.String())
	}
	return t, b.String(), nil
}

// inert reports whether a value passes the text post-processing of Render
// (tidy, cleanSubject, the placement of the notice) exactly as its
// placeholder does: valid UTF-8 without control characters or line breaks;
// spaces only single and inside, never another kind of space (cleanSubject
// would fold it); and not made of dashes and spaces alone (it could turn a
// line into the "-- " signature separator the notice goes above).
func inert(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	space, dashes := true, true // space: the previous rune was a space (or the start)
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			return false
		case unicode.IsSpace(r):
			if r != ' ' || space {
				return false
			}
			space = true
		default:
			space = false
			dashes = dashes && r == '-'
		}
	}
	return !space && !dashes
}

// inBodyTag reports whether an escaped value could be part of a "</body>"
// tag that the notice would be placed before: the tag's '<' and '>' are
// never in an escaped value, so the value would lie inside the tag.
func inBodyTag(esc string) bool {
	return strings.Contains("/body", strings.ToLower(esc))
}
