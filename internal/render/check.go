package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template/parse"

	"github.com/heroldhq/herold/internal/media"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// Sample is realistic data of one message type, for previews, golden tests
// and the segment check: templates/samples/<type>.json, or
// samples/<type>.<locale>.json where the wording of the data differs.
type Sample struct {
	Profile map[string]any            `json:"profile"`
	Data    map[string]map[string]any `json:"data"`
}

// Sample returns the sample data of type t for locale, or false when there is none.
func (r *Renderer) Sample(t message.Type, locale string) (Sample, bool, error) {
	for _, p := range []string{"samples/" + string(t) + "." + locale + ".json", "samples/" + string(t) + "." + lang(locale) + ".json", "samples/" + string(t) + ".json"} {
		b, ok := r.files[p]
		if !ok {
			continue
		}
		s, err := ParseSample(b)
		if err != nil {
			return Sample{}, false, fmt.Errorf("%s: %w", p, err)
		}
		return s, true, nil
	}
	return Sample{}, false, nil
}

// ParseSample reads sample data: {"profile": {…}, "data": {"<category>": {…}}}.
// Unknown top-level fields are errors, so a misspelt "data" is caught.
func ParseSample(b []byte) (Sample, error) {
	var s Sample
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber() // as the API decodes template data: numbers keep their digits
	if err := dec.Decode(&s); err != nil {
		return Sample{}, fmt.Errorf("sample data: %w", err)
	}
	return s, nil
}

// PreviewRequest builds the Request of a preview or check: the decision is
// synthesized as allowed on the type's first rule for ch, with the type's data
// categories and opt-out notice from the catalog.
func PreviewRequest(spec policy.TypeSpec, ch message.Channel, locale string, s Sample) Request {
	dec := policy.Decision{Allowed: true, Reason: policy.Allowed, DataCategories: spec.DataCategories,
		OptOutNotice: spec.OptOutNotice, Type: spec.Key, Channel: ch, Recipient: "preview",
		SMSFallback: ch == message.RCS && hasSMSFallback(spec)}
	if rules := spec.Rules(ch); len(rules) > 0 {
		dec.Basis = rules[0].Kind.Basis()
		dec.Rule = string(spec.Key) + "/" + string(ch) + "/" + string(rules[0].Kind)
	}
	return Request{MessageID: "preview", Type: spec.Key, Channel: ch, Locale: locale, Recipient: "preview",
		Profile: s.Profile, Data: s.Data, Decision: dec}
}

// Check verifies the templates of every type of cat, in every required
// locale, on every channel the type may use. Errors:
//   - a channel has no template;
//   - a WhatsApp type has no approved Content SID while WhatsApp delivers
//     through a provider (Options.Live) without free-form messages: outside
//     the 24-hour session window every such message would fail;
//   - a vars template uses a data category the type does not declare (it
//     could never fill that variable);
//   - a content file uses a variable the vars template does not fill, does
//     not show the opt-out link the type requires (for an RCS card that may
//     fall back to SMS: in its twilio/text body too), or its sample media URL
//     is one the provider refuses.
//
// Warnings: SMS longer than the configured number of segments, missing or
// unrenderable sample data, a Content SID set without a content file (the
// preview cannot show the card), and the missing Content SID of a channel
// that writes to the outbox.
func (r *Renderer) Check(cat *policy.Catalog) (warnings []string, err error) {
	var errs []error
	for _, spec := range cat.Types() {
		for _, ch := range spec.Channels {
			for _, l := range r.locales {
				s := r.sets[setKey{l, spec.Key, ch}]
				if s == nil {
					req, _ := channelParts(ch)
					errs = append(errs, fmt.Errorf("type %s: channel %s: locale %s: no template (want %s)", spec.Key, ch, l, partPath(l, spec.Key, req[0])))
					continue
				}
				where := fmt.Sprintf("type %s: %s: locale %s", spec.Key, ch, l)
				w, e := r.checkSet(spec, ch, l, s, where)
				warnings, errs = append(warnings, w...), append(errs, e...)
			}
		}
	}
	return warnings, errors.Join(errs...)
}

// checkSet checks the templates s of one type, channel and locale.
func (r *Renderer) checkSet(spec policy.TypeSpec, ch message.Channel, l string, s *set, where string) (warnings []string, errs []error) {
	sid := r.contentSID(ch, spec.Key, l, s)
	if cs, _ := ch.Spec(); cs.Session > 0 && sid == "" {
		msg := fmt.Sprintf("%s: no approved Content SID (set %s=%s:%s=HX… or sid: in %s): outside the %d-hour session window such a message fails with no_template or outside_session_window",
			where, sidSetting(ch), spec.Key, l, contentPath(l, spec.Key, ch), int(cs.Session.Hours()))
		if slices.Contains(r.live, ch) && !slices.Contains(r.freeForm, ch) {
			errs = append(errs, errors.New(msg))
		} else {
			warnings = append(warnings, msg)
		}
	}
	if sid != "" && s.layout == nil && (ch == message.WhatsApp || ch == message.RCS) {
		warnings = append(warnings, fmt.Sprintf("%s: Content SID %s has no content file (%s): previews cannot show what the phone shows", where, sid, contentPath(l, spec.Key, ch)))
	}
	if s.vars != nil {
		errs = append(errs, checkCategories(spec, s.vars, where)...)
	}
	if s.layout != nil && s.vars == nil {
		if vars := s.layout.variables(); len(vars) > 0 {
			errs = append(errs, fmt.Errorf("%s: %s uses {{%s}}, but there is no %s to fill it", where, s.layout.path, vars[0], partPath(l, spec.Key, string(ch)+".vars")))
		}
	}
	fallback := ch == message.RCS && hasSMSFallback(spec)
	if ch != message.SMS && !fallback && s.layout == nil {
		return warnings, errs
	}
	sample, ok, err := r.Sample(spec.Key, l)
	if err != nil {
		return append(warnings, fmt.Sprintf("type %s: %v", spec.Key, err)), errs
	}
	if !ok {
		return append(warnings, fmt.Sprintf("%s: no sample data (templates/samples/%s.json): SMS length and rich content not checked", where, spec.Key)), errs
	}
	c, err := r.Render(PreviewRequest(spec, ch, l, sample))
	switch {
	case err != nil && (errors.Is(err, errUnfilled) || errors.Is(err, media.ErrRefused)):
		return warnings, append(errs, fmt.Errorf("%s: %w", where, err))
	case err != nil:
		return append(warnings, fmt.Sprintf("%s: sample does not render: %v", where, err)), errs
	}
	if c.SMSSegments > r.maxSegments && (ch == message.SMS || fallback) {
		warnings = append(warnings, fmt.Sprintf("%s: sample renders as %d %s segments (%d characters), more than %d",
			where, c.SMSSegments, c.SMSEncoding, len([]rune(c.Text)), r.maxSegments))
	}
	if s.layout != nil && spec.OptOutNotice {
		link := r.optOutVariable(c.ContentVariables)
		switch {
		case link == "":
			errs = append(errs, fmt.Errorf("%s: the type needs an opt-out notice, but %s has no variables to carry its link", where, s.layout.path))
		case !s.layout.uses(link, ""):
			errs = append(errs, fmt.Errorf("%s: %s does not show the opt-out link {{%s}}: the approved template must", where, s.layout.path, link))
		case fallback && s.layout.rich.Fallback == "":
			errs = append(errs, fmt.Errorf("%s: %s has no twilio/text: where RCS falls back to SMS, the SMS must carry the opt-out link {{%s}}", where, s.layout.path, link))
		case fallback && !s.layout.uses(link, "fallback"):
			errs = append(errs, fmt.Errorf("%s: the twilio/text of %s does not show the opt-out link {{%s}}, and it is what an SMS fallback carries", where, s.layout.path, link))
		}
	}
	return warnings, errs
}

// optOutVariable names the variable that carries the unsubscribe link.
func (r *Renderer) optOutVariable(vars map[string]string) string {
	for k, v := range vars {
		if strings.HasPrefix(v, r.publicURL+"/unsubscribe/") {
			return k
		}
	}
	return ""
}

// sidSetting names the setting that maps a channel's Content SIDs.
func sidSetting(ch message.Channel) string {
	return "HEROLD_" + strings.ToUpper(string(ch)) + "_CONTENT_SIDS"
}

// checkCategories refuses a vars template that reads a data category the
// type does not declare: Herold could never fill that variable, since
// intake refuses such data and the guard would empty it.
func checkCategories(spec policy.TypeSpec, vars *textTemplate, where string) []error {
	used := map[string]bool{}
	seen := map[string]bool{}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			if len(n.Args) >= 3 {
				id, isIdent := n.Args[0].(*parse.IdentifierNode)
				f, isField := n.Args[1].(*parse.FieldNode)
				str, isString := n.Args[2].(*parse.StringNode)
				if isIdent && id.Ident == "index" && isField && slices.Equal(f.Ident, []string{"Data"}) && isString {
					used[str.Text] = true
				}
			}
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			if len(n.Ident) >= 2 && n.Ident[0] == "Data" {
				used[n.Ident[1]] = true
			}
		case *parse.VariableNode:
			if len(n.Ident) >= 3 && n.Ident[0] == "$" && n.Ident[1] == "Data" {
				used[n.Ident[2]] = true
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
			if t := vars.t.Lookup(n.Name); t != nil && t.Tree != nil && !seen[n.Name] {
				seen[n.Name] = true
				walk(t.Tree.Root)
			}
		}
	}
	if t := vars.t.Lookup(vars.entry); t != nil && t.Tree != nil {
		walk(t.Tree.Root)
	}
	var errs []error
	for _, c := range slices.Sorted(maps.Keys(used)) {
		if c != policy.DataContact && !slices.Contains(spec.DataCategories, c) {
			errs = append(errs, fmt.Errorf("%s: %s uses data category %q, which type %s does not declare (declared: %s): the variable could never be filled",
				where, vars.entry, c, spec.Key, strings.Join(spec.DataCategories, ", ")))
		}
	}
	return errs
}

func hasSMSFallback(spec policy.TypeSpec) bool {
	for _, rule := range spec.Rules(message.RCS) {
		if rule.SMSFallback != "" {
			return true
		}
	}
	return false
}
