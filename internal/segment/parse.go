package segment

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time_zone values validate the same on hosts without a zone database

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
)

// Field is the field name every Compile error is reported under.
const Field = "expression"

// Segment is a compiled, checked expression. It is immutable and safe for
// concurrent use.
type Segment struct {
	text  string
	root  node
	needs Needs
}

// Needs says what of a person the expression reads, so a scan loads no more.
type Needs struct {
	// Ledger: consent, list or reachable need the consent ledger.
	Ledger bool
	// Advertising: reachable on an advertising type needs the count of recent
	// advertising deliveries (the frequency cap).
	Advertising bool
}

// String returns the expression as given.
func (s *Segment) String() string { return s.text }

// Needs returns what the expression reads.
func (s *Segment) Needs() Needs { return s.needs }

// Compile parses text and checks it against cat. A bad expression is an
// *invalid.Error on field "expression" that names the bad part and its column.
func Compile(text string, cat *policy.Catalog) (*Segment, error) {
	var bad invalid.List
	seg, err := compile(text, cat)
	if err != nil {
		bad.Add(Field, "%v", err)
		return nil, bad.Err()
	}
	return seg, nil
}

func compile(text string, cat *policy.Catalog) (*Segment, error) {
	switch {
	case strings.TrimSpace(text) == "":
		return nil, fmt.Errorf("missing: write a condition such as kind = customer")
	case len(text) > maxExpression:
		return nil, fmt.Errorf("longer than %d bytes", maxExpression)
	}
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	p := &parser{src: text, toks: toks, cat: cat}
	root, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errAt(t, "unexpected %s: join conditions with and / or", t.describe())
	}
	return &Segment{text: text, root: root, needs: p.needs}, nil
}

type parser struct {
	src   string
	toks  []token
	i     int
	cat   *policy.Catalog
	needs Needs
}

// maxDepth bounds nesting, so a hostile expression cannot exhaust the stack.
const maxDepth = 64

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return posErr(p.src, t.pos, fmt.Sprintf(format, args...))
}

func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.kind == tWord && strings.EqualFold(t.text, w)
}

// expr := and { "or" and }
func (p *parser) expr(depth int) (node, error) {
	if depth > maxDepth {
		return nil, p.errAt(p.peek(), "nested deeper than %d", maxDepth)
	}
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.isWord("or") {
		p.next()
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

// and := unary { "and" unary }
func (p *parser) and(depth int) (node, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.isWord("and") {
		p.next()
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

// unary := "not" unary | "(" expr ")" | predicate
func (p *parser) unary(depth int) (node, error) {
	if depth > maxDepth {
		return nil, p.errAt(p.peek(), "nested deeper than %d", maxDepth)
	}
	t := p.peek()
	switch {
	case p.isWord("not"):
		p.next()
		n, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	case t.kind == tLParen:
		p.next()
		n, err := p.expr(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.errAt(c, "want ) to close the ( at column %d, found %s", col(p.src, t.pos), c.describe())
		}
		return n, nil
	case t.kind == tWord:
		return p.predicate()
	}
	return nil, p.errAt(t, "want a condition (a field such as kind, a function such as reachable(…), not or ( ), found %s", t.describe())
}

func col(src string, pos int) int { return posErr(src, pos, "").(*syntaxError).col }

// Function and field names.
const (
	fnReachable = "reachable"
	fnConsent   = "consent"
	fnList      = "list"
	fnExists    = "exists"
)

var fieldNames = []string{"id", "kind", "locale", "time_zone", "contract.state", "contract.started_at",
	"contract.ended_at", "created_at", "updated_at", "mobile.verified_at", "open_request", "email", "mobile",
	"attributes.<key>"}

func (p *parser) predicate() (node, error) {
	name := p.next()
	lower := strings.ToLower(name.text)
	if p.peek().kind == tLParen {
		switch lower {
		case fnReachable:
			return p.reachable(name)
		case fnConsent:
			return p.consentCall(name)
		case fnList:
			return p.listCall(name)
		case fnExists:
			p.next()
			ft := p.next()
			if ft.kind != tWord {
				return nil, p.errAt(ft, "exists( wants a field, found %s", ft.describe())
			}
			f, err := p.field(ft)
			if err != nil {
				return nil, err
			}
			if c := p.next(); c.kind != tRParen {
				return nil, p.errAt(c, "want ) after exists(%s, found %s", ft.text, c.describe())
			}
			return existsNode{f}, nil
		}
		return nil, p.errAt(name, "unknown function %q (want reachable(type, channel), consent(purpose, channel), list(name) or exists(field))", name.text)
	}
	f, err := p.field(name)
	if err != nil {
		return nil, err
	}
	return p.comparison(f, name)
}

// comparison reads what follows a field: an operator and a value, in or not
// in and a list, exists, or nothing for a boolean field.
func (p *parser) comparison(f field, at token) (node, error) {
	t := p.peek()
	switch {
	case t.kind == tOp:
		p.next()
		v, err := p.value(f, t.text)
		if err != nil {
			return nil, err
		}
		return cmpNode{f: f, op: t.text, v: v}, nil
	case p.isWord("in"):
		p.next()
		vs, err := p.list(f)
		if err != nil {
			return nil, err
		}
		return inNode{f: f, vs: vs}, nil
	case p.isWord("not") && p.i+1 < len(p.toks) && strings.EqualFold(p.toks[p.i+1].text, "in") && p.toks[p.i+1].kind == tWord:
		p.next()
		p.next()
		vs, err := p.list(f)
		if err != nil {
			return nil, err
		}
		return notNode{inNode{f: f, vs: vs}}, nil
	case p.isWord("exists"):
		p.next()
		return existsNode{f}, nil
	case f.kind == kBool:
		return cmpNode{f: f, op: "=", v: val{b: true, isBool: true}}, nil
	case f.kind == kPresence:
		return nil, p.errAt(t, "%s can only be tested with exists (%s exists, not exists(%s))", f.name, f.name, f.name)
	}
	return nil, p.errAt(t, "want =, !=, <, <=, >, >=, in, not in or exists after %s, found %s", at.text, t.describe())
}

// list reads [v, v, …] for field f.
func (p *parser) list(f field) ([]val, error) {
	open := p.next()
	if open.kind != tLBrack {
		return nil, p.errAt(open, "in wants a list such as [a, b], found %s", open.describe())
	}
	var vs []val
	for {
		if p.peek().kind == tRBrack && len(vs) == 0 {
			return nil, p.errAt(p.peek(), "an empty list: name at least one value")
		}
		v, err := p.value(f, "in")
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
		switch t := p.next(); t.kind {
		case tComma:
		case tRBrack:
			return vs, nil
		default:
			return nil, p.errAt(t, "want , or ] in the list, found %s", t.describe())
		}
	}
}

// value reads a value for field f under operator op and checks its type.
func (p *parser) value(f field, op string) (val, error) {
	t := p.next()
	if t.kind != tWord && t.kind != tString {
		return val{}, p.errAt(t, "want a value after %s, found %s", op, t.describe())
	}
	ordered := op == "<" || op == "<=" || op == ">" || op == ">="
	switch f.kind {
	case kEnum:
		if ordered {
			return val{}, p.errAt(t, "%s compares with = != or in, not %s", f.name, op)
		}
		if f.allowed != nil && !slices.Contains(f.allowed, t.text) {
			return val{}, p.errAt(t, "%s is %s, not %q", f.name, strings.Join(f.allowed, " or "), t.text)
		}
		if f.name == "time_zone" {
			if _, err := time.LoadLocation(t.text); err != nil || t.text == "Local" || t.text == "" {
				return val{}, p.errAt(t, "%q is not an IANA time zone such as Europe/Berlin", t.text)
			}
		}
		return val{s: t.text}, nil
	case kTime:
		tv, err := parseTimeValue(t.text)
		if err != nil {
			return val{}, p.errAt(t, "%s: %v", f.name, err)
		}
		return tv, nil
	case kBool:
		if ordered || op == "in" {
			return val{}, p.errAt(t, "%s is true or false: compare with = or !=", f.name)
		}
		switch strings.ToLower(t.text) {
		case "true":
			return val{b: true, isBool: true}, nil
		case "false":
			return val{isBool: true}, nil
		}
		return val{}, p.errAt(t, "%s is true or false, not %q", f.name, t.text)
	case kPresence:
		return val{}, p.errAt(t, "%s can only be tested with exists", f.name)
	case kAttr:
		v := attrValue(t)
		if ordered && !v.isNum {
			return val{}, p.errAt(t, "%s %s wants a number, not %q", f.name, op, t.text)
		}
		return v, nil
	}
	return val{}, p.errAt(t, "unexpected value %s", t.describe())
}

// attrValue reads an attribute value: a quoted string stays a string; a
// bare word is a number, a boolean or a string.
func attrValue(t token) val {
	if t.kind == tString {
		return val{s: t.text}
	}
	if n, err := strconv.ParseFloat(t.text, 64); err == nil {
		return val{s: t.text, num: n, isNum: true}
	}
	switch strings.ToLower(t.text) {
	case "true":
		return val{s: t.text, b: true, isBool: true}
	case "false":
		return val{s: t.text, isBool: true}
	}
	return val{s: t.text}
}

// parseTimeValue reads a date (midnight UTC), an RFC 3339 time, now, or
// now±N with a unit d (days), h (hours) or w (weeks).
func parseTimeValue(s string) (val, error) {
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "now"); ok {
		if rest == "" {
			return val{isTime: true, relNow: true}, nil
		}
		sign := time.Duration(1)
		switch rest[0] {
		case '-':
			sign = -1
		case '+':
		default:
			return val{}, fmt.Errorf("%q: write now, now-30d, now+12h or now-2w", s)
		}
		num, unit := rest[1:len(rest)-1], rest[len(rest)-1]
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n > 100_000 {
			return val{}, fmt.Errorf("%q: write now, now-30d, now+12h or now-2w", s)
		}
		var d time.Duration
		switch unit {
		case 'h':
			d = time.Hour
		case 'd':
			d = 24 * time.Hour
		case 'w':
			d = 7 * 24 * time.Hour
		default:
			return val{}, fmt.Errorf("%q: the unit is d (days), h (hours) or w (weeks)", s)
		}
		return val{isTime: true, relNow: true, rel: sign * time.Duration(n) * d}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return val{isTime: true, t: t}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return val{isTime: true, t: t.UTC()}, nil
	}
	return val{}, fmt.Errorf("%q is not a time: write 2026-01-31, \"2026-01-31T09:00:00Z\", now or now-30d", s)
}

// fieldKind is what a field holds.
type fieldKind uint8

const (
	kEnum     fieldKind = iota + 1 // a string, compared whole
	kTime                          // a time
	kBool                          // true or false
	kPresence                      // there or not
	kAttr                          // a custom attribute
)

// field is a resolved field name.
type field struct {
	name    string
	kind    fieldKind
	allowed []string // kEnum: the values it may have (nil: any)
	attr    string   // kAttr: the key
}

var contractStates = []string{"none", "active", "ended", "blocked"}

func (p *parser) field(t token) (field, error) {
	name := strings.ToLower(t.text)
	if key, ok := strings.CutPrefix(name, "attributes."); ok {
		if !recipient.ValidAttributeKey(t.text[len("attributes."):]) {
			return field{}, p.errAt(t, "%q is not a valid attribute key (lowercase a-z 0-9 _, starting with a letter)", t.text[len("attributes."):])
		}
		return field{name: t.text, kind: kAttr, attr: key}, nil
	}
	switch name {
	case "id", "time_zone":
		return field{name: name, kind: kEnum}, nil
	case "kind":
		return field{name: name, kind: kEnum, allowed: []string{string(policy.Customer), string(policy.Prospect)}}, nil
	case "locale":
		return field{name: name, kind: kEnum, allowed: []string{"de", "en"}}, nil
	case "contract.state":
		return field{name: name, kind: kEnum, allowed: contractStates}, nil
	case "contract.started_at", "contract.ended_at", "created_at", "updated_at", "mobile.verified_at":
		return field{name: name, kind: kTime}, nil
	case "open_request":
		return field{name: name, kind: kBool}, nil
	case "email", "mobile":
		return field{name: name, kind: kPresence}, nil
	case "and", "or", "not", "in", "exists":
		return field{}, p.errAt(t, "%q where a condition should start", t.text)
	}
	return field{}, p.errAt(t, "unknown field %q (want %s)", t.text, strings.Join(fieldNames, ", "))
}

// args reads "(" word { "," word } ")" with exactly n words.
func (p *parser) args(fn token, n int, usage string) ([]token, error) {
	p.next() // (
	var out []token
	for {
		t := p.next()
		if t.kind != tWord && t.kind != tString {
			return nil, p.errAt(t, "%s wants %s, found %s", fn.text, usage, t.describe())
		}
		out = append(out, t)
		c := p.next()
		if c.kind == tRParen {
			break
		}
		if c.kind != tComma {
			return nil, p.errAt(c, "want , or ) in %s(…), found %s", fn.text, c.describe())
		}
	}
	if len(out) != n {
		return nil, p.errAt(fn, "%s wants %s, got %d argument(s)", fn.text, usage, len(out))
	}
	return out, nil
}

func (p *parser) reachable(fn token) (node, error) {
	a, err := p.args(fn, 2, "(type, channel)")
	if err != nil {
		return nil, err
	}
	typ, ok := p.cat.Type(message.Type(a[0].text))
	if !ok {
		return nil, p.errAt(a[0], "unknown message type %q (known: %s)", a[0].text, typeList(p.cat))
	}
	ch := message.Channel(a[1].text)
	if !slices.Contains(typ.Channels, ch) {
		return nil, p.errAt(a[1], "type %s does not use channel %q (it uses %s)", typ.Key, a[1].text, channelList(typ.Channels))
	}
	if t := p.peek(); t.kind == tOp || p.isWord("in") {
		return nil, p.errAt(t, "reachable(…) is a condition of its own: use not reachable(…) for the opposite")
	}
	p.needs.Ledger = true
	if typ.Advertising {
		if capMax, _ := p.cat.FrequencyCap(); capMax > 0 {
			p.needs.Advertising = true
		}
	}
	return reachNode{typ: typ.Key, ch: ch}, nil
}

var consentStatuses = []string{"none", "granted", "withdrawn", "objected", "doi_pending"}

func (p *parser) consentCall(fn token) (node, error) {
	a, err := p.args(fn, 2, "(purpose, channel)")
	if err != nil {
		return nil, err
	}
	purpose := a[0].text
	if err := consent.ValidatePurpose(purpose); err != nil {
		return nil, p.errAt(a[0], "%v", err)
	}
	if list, ok := strings.CutPrefix(purpose, consent.NewsletterPrefix); ok {
		if err := p.knownList(a[0], list); err != nil {
			return nil, err
		}
	}
	ch := a[1].text
	if ch != consent.AllChannels {
		if _, err := message.ParseChannel(ch); err != nil {
			return nil, p.errAt(a[1], "%v or \"all\"", err)
		}
	}
	p.needs.Ledger = true
	states, err := p.states(fn, consentStatuses, "granted")
	if err != nil {
		return nil, err
	}
	return consentNode{purpose: purpose, ch: ch, states: states.vals, neg: states.neg}, nil
}

var listStates = []string{"confirmed", "pending", "withdrawn", "none"}

func (p *parser) listCall(fn token) (node, error) {
	a, err := p.args(fn, 1, "(name)")
	if err != nil {
		return nil, err
	}
	if err := p.knownList(a[0], a[0].text); err != nil {
		return nil, err
	}
	p.needs.Ledger = true
	states, err := p.states(fn, listStates, "confirmed")
	if err != nil {
		return nil, err
	}
	return listNode{list: a[0].text, states: states.vals, neg: states.neg}, nil
}

func (p *parser) knownList(t token, list string) error {
	all := catalogLists(p.cat)
	if !slices.Contains(all, list) {
		return p.errAt(t, "unknown newsletter list %q (the catalog has %s)", list, strings.Join(all, ", "))
	}
	return nil
}

type stateSet struct {
	vals []string
	neg  bool
}

// states reads the optional "= s", "!= s", "in [s, …]" or "not in […]" after
// a consent or list call; alone the call means "= def".
func (p *parser) states(fn token, allowed []string, def string) (stateSet, error) {
	one := func() (string, error) {
		t := p.next()
		if (t.kind != tWord && t.kind != tString) || !slices.Contains(allowed, t.text) {
			return "", p.errAt(t, "%s(…) is %s, not %s", fn.text, strings.Join(allowed, ", "), t.describe())
		}
		return t.text, nil
	}
	many := func(neg bool) (stateSet, error) {
		open := p.next()
		if open.kind != tLBrack {
			return stateSet{}, p.errAt(open, "in wants a list such as [%s], found %s", allowed[0], open.describe())
		}
		var out stateSet
		out.neg = neg
		for {
			s, err := one()
			if err != nil {
				return stateSet{}, err
			}
			out.vals = append(out.vals, s)
			switch t := p.next(); t.kind {
			case tComma:
			case tRBrack:
				return out, nil
			default:
				return stateSet{}, p.errAt(t, "want , or ] in the list, found %s", t.describe())
			}
		}
	}
	t := p.peek()
	switch {
	case t.kind == tOp && (t.text == "=" || t.text == "!="):
		p.next()
		s, err := one()
		return stateSet{vals: []string{s}, neg: t.text == "!="}, err
	case t.kind == tOp:
		return stateSet{}, p.errAt(t, "%s(…) compares with = != or in, not %s", fn.text, t.text)
	case p.isWord("in"):
		p.next()
		return many(false)
	case p.isWord("not") && p.i+1 < len(p.toks) && p.toks[p.i+1].kind == tWord && strings.EqualFold(p.toks[p.i+1].text, "in"):
		p.next()
		p.next()
		return many(true)
	}
	return stateSet{vals: []string{def}}, nil
}

func catalogLists(cat *policy.Catalog) []string {
	var out []string
	for _, t := range cat.Types() {
		for _, l := range t.Lists {
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out
}

func typeList(cat *policy.Catalog) string {
	var names []string
	for _, t := range cat.Types() {
		names = append(names, string(t.Key))
	}
	return strings.Join(names, ", ")
}

func channelList(chs []message.Channel) string {
	names := make([]string, len(chs))
	for i, c := range chs {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}
