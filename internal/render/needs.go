package render

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/template/parse"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// Needs knows which template data the templates of every type, channel and
// locale need, so that intake can refuse a message lacking it (a 400 naming
// each field) instead of accepting it and failing in the worker. It is read
// from the templates' parse trees once, at start-up; Missing only walks the
// data. It is immutable and safe for concurrent use.
//
// A data path is needed when a template reads it outside any {{if}}: in an
// action, as an argument of money, num or date (which then want a number or
// a date), or as what a {{with}} or {{range}} looks at. Inside {{with P}} or
// {{range P}} the paths read from "." are needed when P is present and not
// empty (for every element of a list). {{if}} branches and index lookups are
// optional: the renderer reads them without failing. The contact category
// comes from the recipient's profile and is never needed from the producer.
type Needs struct {
	sets    map[setKey][]need
	locales map[setKey][]string // (type, channel) → locales with templates; locale field unused
	def     string
}

// need is one data path from the root of .Data: segments such as
// ["newsletter", "items", "[]", "title"] ("[]": every element of a list).
type need struct {
	path []string
	// gate is how many leading segments must be present and not empty for
	// the need to apply: the {{with}} or {{range}} around the read.
	gate int
	kind string // "number", "date", "list" or "" (any value but null)
}

// Problem is one field that a message's data lacks or holds in a form the
// templates cannot use.
type Problem struct {
	Field   string // e.g. "data.offer.title"
	Message string
}

// Needs reads what every template set of r needs. Templates that do not
// parse were refused by New already, so an error here means the same.
func (r *Renderer) Needs() (*Needs, error) {
	n := &Needs{sets: map[setKey][]need{}, locales: map[setKey][]string{}, def: r.defaultLocale}
	for _, t := range r.catalog.Types() {
		for _, ch := range t.Channels {
			for _, l := range r.available {
				if !r.Has(t.Key, ch, l) {
					continue
				}
				needs, err := r.setNeeds(l, t.Key, ch)
				if err != nil {
					return nil, err
				}
				n.sets[setKey{l, t.Key, ch}] = needs
				k := setKey{"", t.Key, ch}
				n.locales[k] = append(n.locales[k], l)
			}
		}
	}
	return n, nil
}

// setNeeds collects the needs of every part of one template set, following
// the layout and the partials it calls.
func (r *Renderer) setNeeds(locale string, t message.Type, ch message.Channel) ([]need, error) {
	req, opt := channelParts(ch)
	pname, pbody := r.partials(locale)
	var out []need
	for _, part := range slices.Concat(req, opt) {
		path := partPath(locale, t, part)
		body, ok := r.files[path]
		if !ok {
			continue
		}
		trees := map[string]*parse.Tree{}
		add := func(name string, src []byte) error {
			tr := parse.New(name)
			tr.Mode = parse.SkipFuncCheck
			if _, err := tr.Parse(string(src), "{{", "}}", trees); err != nil {
				return fmt.Errorf("template %s: %w", name, err)
			}
			return nil
		}
		if pbody != nil {
			if err := add(pname, pbody); err != nil {
				return nil, err
			}
		}
		if err := add(path, body); err != nil {
			return nil, err
		}
		entry := path
		layout := map[string]string{partEmail: layoutText, partHTML: layoutHTML}[part]
		if lb, ok := r.files[layout]; ok && ch == message.Email {
			if err := add(layout, lb); err != nil {
				return nil, err
			}
			trees["body"] = trees[path]
			entry = "layout"
		}
		w := &needWalker{trees: trees}
		if tr := trees[entry]; tr != nil && tr.Root != nil {
			w.list(tr.Root, scope{}, 0)
		}
		for _, nd := range w.out {
			if !slices.ContainsFunc(out, nd.same) {
				out = append(out, nd)
			}
		}
	}
	return out, nil
}

func (nd need) same(o need) bool {
	return nd.gate == o.gate && nd.kind == o.kind && slices.Equal(nd.path, o.path)
}

// scope is what "." stands for: a data path (nil: the view root, where
// .Data starts), or unknown (a variable, a function's result).
type scope struct {
	path    []string
	gate    int
	unknown bool
	data    bool // "." is inside .Data (path is meaningful)
}

type needWalker struct {
	trees map[string]*parse.Tree
	out   []need
	depth int
}

const maxTemplateDepth = 20 // {{template}} calls followed; the layout and partials need 2

func (w *needWalker) list(l *parse.ListNode, sc scope, optional int) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		w.node(n, sc, optional)
	}
}

// node walks one node; optional > 0 inside {{if}} branches and else lists,
// where nothing is needed.
func (w *needWalker) node(n parse.Node, sc scope, optional int) {
	switch n := n.(type) {
	case *parse.ActionNode:
		w.pipe(n.Pipe, sc, optional, "")
	case *parse.IfNode:
		w.pipe(n.Pipe, sc, optional, "")
		w.list(n.List, sc, optional+1)
		w.list(n.ElseList, sc, optional+1)
	case *parse.WithNode:
		inner, ok := w.pipe(n.Pipe, sc, optional, "")
		if ok {
			inner.gate = len(inner.path) // the body runs only when the value is there and not empty
			w.list(n.List, inner, optional)
		} else {
			w.list(n.List, scope{unknown: true}, optional)
		}
		w.list(n.ElseList, sc, optional+1)
	case *parse.RangeNode:
		inner, ok := w.pipe(n.Pipe, sc, optional, "list")
		if ok && len(n.Pipe.Decl) == 0 {
			inner.path = append(slices.Clone(inner.path), "[]")
			inner.gate = len(inner.path)
			w.list(n.List, inner, optional)
		} else {
			w.list(n.List, scope{unknown: true}, optional)
		}
		w.list(n.ElseList, sc, optional+1)
	case *parse.TemplateNode:
		t := w.trees[n.Name]
		if t == nil || t.Root == nil || w.depth >= maxTemplateDepth {
			return
		}
		inner := scope{unknown: true}
		if n.Pipe == nil {
			inner = scope{}
		} else if s, ok := w.pipe(n.Pipe, sc, optional, ""); ok {
			inner = s
		}
		w.depth++
		w.list(t.Root, inner, optional)
		w.depth--
	}
}

// pipe walks a pipeline and returns the scope its value is when it is a
// plain data path (for {{with}} and {{range}}); kind is what a plain path
// must hold.
func (w *needWalker) pipe(p *parse.PipeNode, sc scope, optional int, kind string) (scope, bool) {
	if p == nil {
		return scope{}, false
	}
	var res scope
	ok := false
	alone := len(p.Cmds) == 1
	for _, c := range p.Cmds {
		k := kind
		if !alone {
			k = ""
		}
		res, ok = w.command(c, sc, optional, k, alone)
	}
	if len(p.Cmds) != 1 || len(p.Decl) > 0 {
		return scope{}, false
	}
	return res, ok
}

// command walks one command of a pipeline. alone: the command is the whole
// pipeline, so its value is what the pipeline yields.
func (w *needWalker) command(c *parse.CommandNode, sc scope, optional int, kind string, alone bool) (scope, bool) {
	if len(c.Args) == 0 {
		return scope{}, false
	}
	if id, ok := c.Args[0].(*parse.IdentifierNode); ok {
		argKind := ""
		switch id.Ident {
		case "money", "num":
			argKind = "number"
		case "date":
			argKind = "date"
		case "index":
			// index X "k": X is read, k may be missing; the result is X.k, optional.
			if len(c.Args) >= 3 {
				if s, ok := w.arg(c.Args[1], sc, optional, ""); ok && s.data {
					if k, ok := c.Args[2].(*parse.StringNode); ok {
						s.path = append(slices.Clone(s.path), k.Text)
						s.gate = len(s.path)
						return s, alone
					}
				}
			}
			for _, a := range c.Args[1:] {
				w.arg(a, sc, optional, "")
			}
			return scope{}, false
		}
		for i, a := range c.Args[1:] {
			k := ""
			if i == 0 {
				k = argKind
			}
			w.arg(a, sc, optional, k)
		}
		return scope{}, false
	}
	if len(c.Args) == 1 {
		s, ok := w.arg(c.Args[0], sc, optional, kind)
		return s, ok && alone
	}
	for _, a := range c.Args {
		w.arg(a, sc, optional, "")
	}
	return scope{}, false
}

// arg walks one argument; a data path is recorded as needed (unless
// optional) and returned as a scope.
func (w *needWalker) arg(a parse.Node, sc scope, optional int, kind string) (scope, bool) {
	var base scope
	var idents []string
	switch a := a.(type) {
	case *parse.FieldNode:
		base, idents = sc, a.Ident
	case *parse.VariableNode:
		if len(a.Ident) == 0 || a.Ident[0] != "$" {
			return scope{}, false // a named variable: what it holds is not traced
		}
		base, idents = scope{}, a.Ident[1:]
	case *parse.DotNode:
		if !sc.data {
			return sc, !sc.unknown // the view root: {{template "body" .}}
		}
		base = sc
	case *parse.PipeNode:
		w.pipe(a, sc, optional, "")
		return scope{}, false
	case *parse.ChainNode:
		if p, ok := a.Node.(*parse.PipeNode); ok {
			w.pipe(p, sc, optional, "")
		}
		return scope{}, false
	default:
		return scope{}, false
	}
	if base.unknown {
		return scope{}, false
	}
	s := base
	if !s.data {
		// At the view root: only .Data.<category>… is template data.
		if len(idents) < 1 || idents[0] != "Data" {
			return scope{}, false
		}
		s = scope{data: true}
		idents = idents[1:]
	}
	s.path = append(slices.Clone(s.path), idents...)
	if len(s.path) == 0 {
		return scope{}, false // .Data itself
	}
	if s.path[0] == policy.DataContact {
		return scope{}, false // filled from the profile
	}
	// .Data.<category> always exists (the guard puts every category there),
	// so reading the category itself needs nothing; a field under it does.
	if optional == 0 && (len(s.path) > 1 || kind != "") && len(s.path) > s.gate {
		w.out = append(w.out, need{path: s.path, gate: s.gate, kind: kind})
	}
	return s, true
}

// Missing returns the problems of data for a message of type t that may go
// out on any of chans (its order of preference: every channel a fallback
// may take) in locale ("": the recipient's, so every locale with templates
// counts). Fields are named from the body: "data.offer.title". Sorted by field.
func (n *Needs) Missing(t message.Type, chans []message.Channel, locale string, data map[string]map[string]any) []Problem {
	byField := map[string]Problem{}
	wheres := map[string][]string{}
	for _, ch := range chans {
		for _, l := range n.pickLocales(t, ch, locale) {
			for _, nd := range n.sets[setKey{l, t, ch}] {
				for _, p := range nd.check(data) {
					if _, ok := byField[p.Field]; !ok {
						byField[p.Field] = p
					}
					if !slices.Contains(wheres[p.Field], string(ch)) {
						wheres[p.Field] = append(wheres[p.Field], string(ch))
					}
				}
			}
		}
	}
	out := make([]Problem, 0, len(byField))
	for _, f := range slices.Sorted(maps.Keys(byField)) {
		p := byField[f]
		p.Message += fmt.Sprintf(" (read by the %s template on %s)", t, strings.Join(wheres[f], " and "))
		out = append(out, p)
	}
	return out
}

// pickLocales are the locales whose templates may render a message in
// locale, as Render picks them: the locale or its language if it has
// templates for the type and channel, else any (the recipient's decides).
func (n *Needs) pickLocales(t message.Type, ch message.Channel, locale string) []string {
	have := n.locales[setKey{"", t, ch}]
	for _, l := range []string{locale, lang(locale)} {
		if l != "" && slices.Contains(have, l) {
			return []string{l}
		}
	}
	return have
}

// check walks data along the need's path.
func (nd need) check(data map[string]map[string]any) []Problem {
	cat := data[nd.path[0]] // nil when absent: every field under it is then missing
	if nd.gate > 0 && len(cat) == 0 {
		return nil
	}
	var out []Problem
	nd.walk(cat, 1, "data."+nd.path[0], &out)
	return out
}

func (nd need) walk(cur any, i int, field string, out *[]Problem) {
	gated := i < nd.gate
	if i == len(nd.path) {
		if p, bad := nd.kindProblem(cur); bad {
			*out = append(*out, Problem{Field: field, Message: p})
		}
		return
	}
	seg := nd.path[i]
	if seg == "[]" {
		list, ok := cur.([]any)
		switch {
		case ok:
			for j, e := range list {
				nd.walk(e, i+1, field+"["+strconv.Itoa(j)+"]", out)
			}
		case !gated:
			*out = append(*out, Problem{Field: field, Message: "must be a list"})
		}
		return
	}
	m, ok := cur.(map[string]any) // a nil map too: its fields are missing
	if !ok {
		if !gated {
			*out = append(*out, Problem{Field: field, Message: "must be a JSON object"})
		}
		return
	}
	v, present := m[seg]
	field += "." + seg
	switch {
	case gated && (!present || !truthy(v)):
		return // the {{with}} or {{range}} around the read is skipped
	case !present || v == nil:
		*out = append(*out, Problem{Field: field, Message: "missing"})
		return
	}
	nd.walk(v, i+1, field, out)
}

func (nd need) kindProblem(v any) (string, bool) {
	switch nd.kind {
	case "number":
		if _, err := decimalOf(v); err != nil {
			return "must be a number", true
		}
	case "date":
		if _, err := dateOf(v); err != nil {
			return "must be a date as YYYY-MM-DD or RFC 3339", true
		}
	case "list":
		if _, ok := v.([]any); !ok {
			return "must be a list", true
		}
	}
	return "", false
}

// truthy is text/template's truth for decoded JSON: {{with}} and {{range}}
// skip false, 0, "", null and empty lists and objects. A json.Number is a
// string to the template, so only "" is false.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		return x != ""
	case float64:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}
