package policy

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
)

// Decide applies the catalog to the facts of one message on one channel at
// f.Now. It never returns an error and never panics: anything it cannot prove
// is a denial with a Reason (deny by default). A nil catalog denies every
// message as unknown_type.
//
// The checks run in the fixed order of Precedence. The recipient-wide ones
// (suppressed, blocked, no contact point) stop at the first that applies.
// A channel may list several legal-basis rules (promo_offer by e-mail:
// legitimate interest, else consent); the first rule that holds decides.
// When none holds, every rule's most specific failure is compared and the
// earliest in Precedence is reported, so the answer does not depend on the
// order of rules in the catalog.
func Decide(cat *Catalog, f Facts) Decision {
	d := Decision{Reason: UnknownType, DecidedAt: f.Now, Type: f.Type, Channel: f.Channel}
	if f.Recipient != nil {
		d.Recipient = f.Recipient.ID
	}
	if cat == nil {
		return d
	}
	d.CatalogVersion = cat.version
	i, ok := cat.index[f.Type]
	if !ok {
		return d
	}
	t := &cat.types[i]
	rules := t.rules[f.Channel]
	if len(rules) == 0 {
		d.Reason = ChannelNotAllowed
		return d
	}
	r := f.Recipient
	if r == nil {
		d.Reason = UnknownRecipient
		return d
	}
	cs := cat.contractOf(r, f.Now)
	d.Evidence = cs.evidence(r)
	if r.Suppressed {
		// Erased person, hard bounce or provider STOP: the contact point is
		// on the suppression list, whatever the legal basis.
		d.Reason = Suppressed
		d.Evidence = append(d.Evidence, "suppressed:"+string(f.Channel))
		return d
	}
	if cs.state == contractBlocked {
		// Sperrung three months after contract end: no purpose without
		// another ground remains, and the catalog grants none after it.
		d.Reason = Blocked
		d.Evidence = append(d.Evidence, "blocked_from:"+stamp(cat.BlockedFrom(r.ContractEnd)))
		return d
	}
	if f.Channel == message.Email && !r.HasEmail || f.Channel.Phone() && !r.HasPhone {
		d.Reason = NoContactPoint
		return d
	}

	var best verdict
	for _, rule := range rules {
		v := cat.evaluate(t, rule, f, cs)
		if v.reason == Allowed {
			return cat.allow(d, t, rule, v, f)
		}
		if best.reason == "" || rank(v.reason) < rank(best.reason) {
			best = v
		}
	}
	d.Reason, d.Rule = best.reason, best.rule
	d.Evidence = append(d.Evidence, best.evidence...)
	return d
}

// allow fills an allowed decision, then applies the frequency cap, which
// comes last in Precedence: it only matters for a message that may go out.
func (c *Catalog) allow(d Decision, t *TypeSpec, rule Rule, v verdict, f Facts) Decision {
	d.Rule = v.rule
	d.Evidence = append(d.Evidence, v.evidence...)
	if t.Advertising && c.capMax > 0 && f.RecentAdvertising >= c.capMax {
		d.Reason = FrequencyCap
		d.Evidence = append(d.Evidence, "recent_advertising:"+strconv.Itoa(f.RecentAdvertising)+"/"+
			strconv.Itoa(c.capMax)+" in "+strings.ReplaceAll(c.capWindow.String(), " ", "_"))
		return d
	}
	d.Allowed, d.Reason, d.Basis = true, Allowed, rule.Kind.Basis()
	d.OptOutNotice = t.OptOutNotice
	// Usage and traffic data only "wenn hier gleichzeitig auch zugestimmt
	// wurde": the usage_data consent must be in force as well.
	usage, usageKey, _ := lookup(f.Consent, consent.UsageData, f.Channel, false)
	d.DataCategories = make([]string, 0, len(t.DataCategories))
	for _, cat := range t.DataCategories {
		if (cat == DataUsage || cat == DataTraffic) && usage.Status != consent.Granted {
			continue
		}
		d.DataCategories = append(d.DataCategories, cat)
	}
	if usage.Status == consent.Granted && (slices.Contains(t.DataCategories, DataUsage) || slices.Contains(t.DataCategories, DataTraffic)) {
		d.Evidence = append(d.Evidence, ref("consent", usageKey, usage))
	}
	if f.Channel == message.RCS && rule.SMSFallback != "" {
		// RCS may fall back to SMS only if advertising by SMS is allowed for
		// this person too; the fallback type has no fallback of its own
		// (ParseCatalog allows sms_fallback on rcs only), so this recursion
		// is one level deep. The same message is not counted twice.
		fb := Decide(c, Facts{Type: rule.SMSFallback, Channel: message.SMS, Now: f.Now,
			Recipient: f.Recipient, Consent: f.Consent, List: f.List, Local: f.Local})
		d.SMSFallback = fb.Allowed && fb.NotBefore.IsZero()
	}
	// Quiet hours come after the legal check: a message the law forbids is
	// suppressed now, not held until morning and suppressed then.
	if at, q, held := c.notBefore(t, f.Channel, f.Now, f.Local, f.Quiet); held {
		d.NotBefore, d.Hold = at, HoldQuietHours
		zone := "UTC"
		if f.Local != nil {
			zone = f.Local.String()
		}
		d.Evidence = append(d.Evidence, "quiet_hours:"+q.Window.String()+"@"+zone)
	}
	return d
}

// verdict is the outcome of one rule: Allowed or its most specific failure.
type verdict struct {
	reason   Reason
	rule     string
	evidence []string
}

// evaluate checks one rule. Its checks run in Precedence order and it
// returns at the first failure, which is therefore the rule's most specific.
func (c *Catalog) evaluate(t *TypeSpec, rule Rule, f Facts, cs contractState) verdict {
	r := f.Recipient
	v := verdict{rule: rule.id(t.Key, f.Channel)}
	result := func(reason Reason, evidence ...string) verdict {
		v.reason, v.evidence = reason, evidence
		return v
	}

	// The consent entry the rule relies on, if it is a consent rule.
	var ce consent.Entry
	var ceKey consent.Key
	if rule.Kind == RuleConsent {
		purpose := rule.Purpose
		if purpose == purposeNewsletter {
			list := f.List
			if list == "" && len(t.Lists) > 0 {
				list = t.Lists[0]
			}
			if !slices.Contains(t.Lists, list) {
				// No consent can exist for a list the catalog does not know.
				return result(NoConsent, "list:"+list+":unknown")
			}
			purpose = consent.Newsletter(list)
		}
		ce, ceKey, _ = lookup(f.Consent, purpose, f.Channel, rule.ExplicitChannel)
	}

	if rule.VerifiedNumber && (r.PhoneVerifiedAt.IsZero() || r.PhoneVerifiedAt.After(f.Now)) {
		// A web or e-mail double opt-in does not prove who holds a number.
		return result(UnverifiedContact, "phone:unverified")
	}

	if t.Advertising {
		// Art. 21(2),(3) GDPR: an objection to direct marketing is absolute,
		// for the type, the channel or all channels, from its timestamp on.
		if e, k, ok := lookup(f.Consent, string(t.Key), f.Channel, false); ok && e.Status == consent.Objected {
			return result(Objection, ref("objection", k, e))
		}
		if e, k, ok := lookup(f.Consent, purposeAdvertising, f.Channel, false); ok && e.Status == consent.Objected {
			// The newest declaration decides: a consent to this very purpose
			// given after the objection (say a newsletter double opt-in)
			// is a new decision of the person and counts.
			newer := rule.Kind == RuleConsent && ce.Status == consent.Granted && ce.Since.After(e.Since)
			if !newer {
				return result(Objection, ref("objection", k, e))
			}
		}
	}

	switch rule.Kind {
	case RuleContract:
		if cs.state == contractNone {
			return result(NoContract)
		}
		return result(Allowed)

	case RuleContractOrOpenRequest:
		if cs.state != contractNone {
			return result(Allowed)
		}
		if r.OpenRequest {
			return result(Allowed, "open_request")
		}
		return result(NoOpenRequest)

	case RuleLegitimateInterestExistingCustomer, RuleLegitimateInterestActiveContract:
		// A withdrawn advertising consent is at least an objection to
		// advertising on that channel (§7(3) no. 3 UWG): it ends the
		// legitimate-interest route too.
		if e, k, ok := lookup(f.Consent, purposeAdvertising, f.Channel, false); ok && e.Status == consent.Withdrawn {
			return result(ConsentWithdrawn, ref("withdrawal", k, e))
		}
		switch cs.state {
		case contractEnded:
			return result(ContractEnded)
		case contractNone:
			return result(NoContract)
		}
		if rule.Kind == RuleLegitimateInterestExistingCustomer {
			// §7(3) no. 1 UWG: the address was obtained in connection with a
			// sale, with the objection notice (no. 4). Without it only consent
			// remains.
			if !r.EmailFromSale {
				return result(NoConsent, "email_from_sale:false")
			}
			return result(Allowed, "email_from_sale")
		}
		return result(Allowed)

	case RuleConsent:
		switch ce.Status {
		case consent.Objected:
			return result(Objection, ref("objection", ceKey, ce))
		case consent.Withdrawn:
			// Art. 7(3) GDPR: effective from its timestamp, never retroactive.
			return result(ConsentWithdrawn, ref("withdrawal", ceKey, ce))
		}
		if t.Advertising && cs.state == contractEnded {
			// "Die Zusendung endet ... spätestens mit dem Ende Ihres
			// Vertrags": even a consent ends with the contract.
			return result(ContractEnded)
		}
		switch {
		case ce.Status == consent.DOIPending:
			return result(DOIPending, ref("doi_request", ceKey, ce))
		case ce.Status != consent.Granted:
			return result(NoConsent)
		case rule.DoubleOptIn && !ce.DOIConfirmed:
			// A grant without confirmation does not prove that the address
			// holder signed up (Art. 7(1) GDPR burden of proof).
			return result(NoConsent, ref("consent", ceKey, ce)+":not_double_opt_in")
		}
		if rule.VerifiedNumber {
			return result(Allowed, ref("consent", ceKey, ce), "phone:verified")
		}
		return result(Allowed, ref("consent", ceKey, ce))

	case RuleDoubleOptInRequest:
		e, k, ok := c.pendingSignup(t, f)
		if !ok {
			return result(NoOpenRequest)
		}
		return result(Allowed, ref("doi_request", k, e), "list:"+strings.TrimPrefix(k.Purpose, consent.NewsletterPrefix))
	}
	return result(NoConsent) // unreachable for a parsed catalog; deny by default
}

// pendingSignup finds the newsletter signup a confirmation mail is for: the
// list of f.List, or else the newest pending one. A signup older than the
// unconfirmed-signup retention is due for deletion and no longer counts.
func (c *Catalog) pendingSignup(t *TypeSpec, f Facts) (consent.Entry, consent.Key, bool) {
	pending := func(e consent.Entry) bool {
		return e.Status == consent.DOIPending && f.Now.Before(c.unconfirmed.addTo(e.Since))
	}
	if f.List != "" {
		if len(t.Lists) > 0 && !slices.Contains(t.Lists, f.List) {
			return consent.Entry{}, consent.Key{}, false
		}
		e, k, ok := lookup(f.Consent, consent.Newsletter(f.List), f.Channel, false)
		return e, k, ok && pending(e)
	}
	var (
		best    consent.Entry
		bestKey consent.Key
		found   bool
	)
	for key := range f.Consent.Entries {
		if !strings.HasPrefix(key.Purpose, consent.NewsletterPrefix) {
			continue
		}
		list := strings.TrimPrefix(key.Purpose, consent.NewsletterPrefix)
		if len(t.Lists) > 0 && !slices.Contains(t.Lists, list) {
			continue
		}
		e, k, ok := lookup(f.Consent, key.Purpose, f.Channel, false)
		if !ok || !pending(e) {
			continue
		}
		// Newest first; ties by purpose so the answer is deterministic.
		if !found || e.Since.After(best.Since) || e.Since.Equal(best.Since) && k.Purpose < bestKey.Purpose {
			best, bestKey, found = e, k, true
		}
	}
	return best, bestKey, found
}

// lookup returns the entry governing purpose on ch and the key it is stored
// under, with consent.State.Lookup's rule: the newer of the channel's own
// entry and the "all" entry (the channel's own on a tie). With explicit, a
// grant or signup for "all" channels does not count for ch (messengers need
// consent for that very channel), but a withdrawal or objection for "all"
// still does.
func lookup(s consent.State, purpose string, ch message.Channel, explicit bool) (consent.Entry, consent.Key, bool) {
	ownKey := consent.Key{Purpose: purpose, Channel: string(ch)}
	allKey := consent.Key{Purpose: purpose, Channel: consent.AllChannels}
	own, okOwn := s.Entries[ownKey]
	all, okAll := s.Entries[allKey]
	if okAll && (!okOwn || all.Since.After(own.Since)) {
		if !explicit || all.Status == consent.Withdrawn || all.Status == consent.Objected {
			return all, allKey, true
		}
	}
	return own, ownKey, okOwn
}

// ref names the ledger event an entry came from, for the decision's evidence.
func ref(prefix string, k consent.Key, e consent.Entry) string {
	if e.EventID != "" {
		return prefix + ":" + e.EventID
	}
	return prefix + ":" + k.Purpose + "/" + k.Channel + "@" + stamp(e.Since)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// The contract states a recipient can be in at a given moment.
const (
	contractNone    = iota // never had a contract: a prospect
	contractActive         // running (or signed and about to start)
	contractEnded          // ended less than the blocking period ago
	contractBlocked        // ended the blocking period ago or longer
)

type contractState struct {
	state int
	end   time.Time
}

// contractOf classifies the recipient's contract at now. A contract has
// ended when its end is at or before now; it is blocked from end plus the
// blocking period on (calendar months, see BlockedFrom). A customer without
// recorded contract dates counts as active: the producer vouches for the
// customer relationship, and contract messages are what such a customer
// needs.
func (c *Catalog) contractOf(r *Recipient, now time.Time) contractState {
	switch {
	case !r.ContractEnd.IsZero() && !r.ContractEnd.After(now):
		if !now.Before(c.blocking.addTo(r.ContractEnd)) {
			return contractState{state: contractBlocked, end: r.ContractEnd}
		}
		return contractState{state: contractEnded, end: r.ContractEnd}
	case !r.ContractStart.IsZero() || !r.ContractEnd.IsZero() || r.Kind == Customer:
		return contractState{state: contractActive}
	}
	return contractState{state: contractNone}
}

// evidence describes the contract state as proof, then the store's own note.
func (cs contractState) evidence(r *Recipient) []string {
	ev := make([]string, 0, 5) // contract, store note, and what a rule adds
	switch cs.state {
	case contractActive:
		ev = append(ev, "contract:active")
	case contractEnded, contractBlocked:
		ev = append(ev, "contract:ended:"+stamp(cs.end))
	default:
		ev = append(ev, "contract:none")
	}
	if r.ContractEvidence != "" {
		ev = append(ev, r.ContractEvidence)
	}
	return ev
}

// rank is a reason's place in Precedence; lower is more specific.
func rank(r Reason) int {
	for i, p := range Precedence() {
		if p == r {
			return i
		}
	}
	return len(Precedence())
}
