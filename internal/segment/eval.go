package segment

import (
	"slices"
	"strconv"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
)

// Env is what evaluation needs besides the person.
type Env struct {
	// Now is the moment the segment is evaluated at: consent is folded at
	// Now, contract states and relative times (now-30d) are taken at Now.
	Now     time.Time
	Catalog *policy.Catalog
	// Reachable answers reachable(type, channel): whether the policy allows
	// the message to the person at now. Callers pass the delivery core's
	// decision (delivery.Deliverer.Decide), so a segment and a delivery never
	// disagree. Nil: nobody is reachable.
	Reachable func(t message.Type, ch message.Channel, snap recipient.Snapshot, now time.Time) bool
}

// Match reports whether the person of snap is in the segment at env.Now.
// A snapshot that was not found (unknown or erased) never matches.
func (s *Segment) Match(snap recipient.Snapshot, env *Env) bool {
	if !snap.Found {
		return false
	}
	r := rec{snap: &snap, env: env}
	return s.root.match(&r)
}

// rec is one person under evaluation; the ledger is folded once, on first use.
type rec struct {
	snap   *recipient.Snapshot
	env    *Env
	folded bool
	state  consent.State
}

func (r *rec) consent() consent.State {
	if !r.folded {
		r.state, r.folded = consent.Fold(r.snap.Events, r.env.Now), true
	}
	return r.state
}

type node interface{ match(r *rec) bool }

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ n node }

func (n andNode) match(r *rec) bool { return n.l.match(r) && n.r.match(r) }
func (n orNode) match(r *rec) bool  { return n.l.match(r) || n.r.match(r) }
func (n notNode) match(r *rec) bool { return !n.n.match(r) }

// val is a literal of the expression.
type val struct {
	s      string
	num    float64
	isNum  bool
	b      bool
	isBool bool
	// times: t, or now + rel when relNow
	isTime bool
	t      time.Time
	relNow bool
	rel    time.Duration
}

func (v val) time(now time.Time) time.Time {
	if v.relNow {
		return now.Add(v.rel)
	}
	return v.t
}

type cmpNode struct {
	f  field
	op string
	v  val
}

type inNode struct {
	f  field
	vs []val
}

type existsNode struct{ f field }

func (n existsNode) match(r *rec) bool {
	switch n.f.kind {
	case kEnum:
		_, ok := enumOf(r, n.f.name)
		return ok
	case kTime:
		_, ok := timeOf(r, n.f.name)
		return ok
	case kBool:
		return true
	case kPresence:
		rc := r.snap.Recipient
		if n.f.name == "email" {
			return len(rc.Emails) > 0
		}
		return rc.Mobile != nil && rc.Mobile.Number != ""
	case kAttr:
		_, ok := r.snap.Recipient.Attributes[n.f.attr]
		return ok
	}
	return false
}

func (n cmpNode) match(r *rec) bool {
	if n.op == "!=" {
		return !cmpNode{f: n.f, op: "=", v: n.v}.match(r)
	}
	switch n.f.kind {
	case kEnum:
		s, ok := enumOf(r, n.f.name)
		return ok && s == n.v.s // only = reaches here (the parser allows no ordering)
	case kTime:
		t, ok := timeOf(r, n.f.name)
		return ok && ordered(n.op, t.Compare(n.v.time(r.env.Now)))
	case kBool:
		return r.snap.Recipient.OpenRequest == n.v.b
	case kAttr:
		for _, item := range r.snap.Recipient.Attributes.Values(n.f.attr) {
			if attrCompare(item, n.op, n.v) {
				return true
			}
		}
	}
	return false
}

func (n inNode) match(r *rec) bool {
	for _, v := range n.vs {
		if (cmpNode{f: n.f, op: "=", v: v}).match(r) {
			return true
		}
	}
	return false
}

// ordered applies a comparison operator to the result of a Compare.
func ordered(op string, c int) bool {
	switch op {
	case "=":
		return c == 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

// attrCompare compares one attribute item with a literal: = by type (a
// number equals a numeric string with the same value), orderings on numbers.
func attrCompare(item any, op string, v val) bool {
	num, isNum := attrNumber(item)
	if op != "=" {
		return isNum && v.isNum && ordered(op, cmpFloat(num, v.num))
	}
	switch x := item.(type) {
	case string:
		return x == v.s || (isNum && v.isNum && num == v.num)
	case float64:
		return v.isNum && x == v.num
	case bool:
		return v.isBool && x == v.b
	}
	return false
}

func attrNumber(item any) (float64, bool) {
	switch x := item.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// enumOf reads a string field; false when the person has none.
func enumOf(r *rec, name string) (string, bool) {
	rc := &r.snap.Recipient
	switch name {
	case "id":
		return string(rc.ID), true
	case "kind":
		return string(rc.Kind), rc.Kind != ""
	case "locale":
		return rc.Locale, rc.Locale != ""
	case "time_zone":
		return rc.TimeZone, rc.TimeZone != ""
	case "contract.state":
		return ContractState(rc.Contract, r.env.Now, r.env.Catalog), true
	}
	return "", false
}

// timeOf reads a time field; false when the person has none.
func timeOf(r *rec, name string) (time.Time, bool) {
	rc := &r.snap.Recipient
	var t time.Time
	switch name {
	case "contract.started_at":
		if rc.Contract != nil {
			t = rc.Contract.StartedAt
		}
	case "contract.ended_at":
		if rc.Contract != nil {
			t = rc.Contract.EndedAt
		}
	case "created_at":
		t = rc.CreatedAt
	case "updated_at":
		t = rc.UpdatedAt
	case "mobile.verified_at":
		if rc.Mobile != nil {
			t = rc.Mobile.VerifiedAt
		}
	}
	return t, !t.IsZero()
}

// ContractState is the state of contract c at now: none (never had one),
// active, ended, or blocked (ended and the catalog's blocking period over:
// Catalog.BlockedFrom, the day the policy blocks the person from).
func ContractState(c *recipient.Contract, now time.Time, cat *policy.Catalog) string {
	switch {
	case c == nil || c.StartedAt.IsZero():
		return "none"
	case c.EndedAt.IsZero() || c.EndedAt.After(now):
		return "active"
	case cat != nil && !now.Before(cat.BlockedFrom(c.EndedAt)):
		return "blocked"
	}
	return "ended"
}

type reachNode struct {
	typ message.Type
	ch  message.Channel
}

func (n reachNode) match(r *rec) bool {
	return r.env.Reachable != nil && r.env.Reachable(n.typ, n.ch, *r.snap, r.env.Now)
}

type consentNode struct {
	purpose, ch string
	states      []string
	neg         bool
}

func (n consentNode) match(r *rec) bool {
	st := ConsentStatus(r.consent().Lookup(n.purpose, message.Channel(n.ch)))
	return slices.Contains(n.states, st) != n.neg
}

// ConsentStatus names the status of a consent entry as segments do:
// none, granted, withdrawn, objected or doi_pending.
func ConsentStatus(e consent.Entry) string {
	if e.Status == consent.None {
		return "none"
	}
	return string(e.Status)
}

type listNode struct {
	list   string
	states []string
	neg    bool
}

func (n listNode) match(r *rec) bool {
	st, _ := ListState(r.consent(), n.list, r.env.Now, r.env.Catalog)
	return slices.Contains(n.states, st) != n.neg
}

// The states of a person on a newsletter list.
const (
	ListConfirmed = "confirmed" // signed up and confirmed by double opt-in within the window
	ListPending   = "pending"   // signed up, not confirmed, the confirmation window still open
	ListWithdrawn = "withdrawn" // withdrew or objected
	ListNone      = "none"      // anything else: never signed up, or the signup expired
)

// ListState is the person's state on newsletter list at now, by the rules
// the policy applies to newsletters (a confirmation counts only within the
// catalog's unconfirmed_signup_retention of its signup), with the ledger
// entry it rests on.
func ListState(st consent.State, list string, now time.Time, cat *policy.Catalog) (string, consent.Entry) {
	e := st.Lookup(consent.Newsletter(list), message.Email)
	switch e.Status {
	case consent.Granted:
		if e.DOIConfirmed && (cat == nil || e.Since.Before(cat.ConfirmBy(e.RequestedAt))) {
			return ListConfirmed, e
		}
	case consent.DOIPending:
		if cat == nil || now.Before(cat.ConfirmBy(e.Since)) {
			return ListPending, e
		}
	case consent.Withdrawn, consent.Objected:
		return ListWithdrawn, e
	}
	return ListNone, e
}
