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
// The checks run in the fixed order of Precedence. A channel may list
// several legal-basis rules (promo_offer by e-mail: legitimate interest, else
// consent); the first rule that holds decides. When none holds, every rule's
// most specific failure is compared and the earliest in Precedence is
// reported, so the answer does not depend on the order of rules in the
// catalog.
//
// Suppression and blocking are recipient-wide, but not always final: a
// ground that arose after them can stand against them (see lifts and the
// blocked cases in evaluate). When no rule holds, a suppressed or blocked
// recipient is denied as suppressed or blocked, whatever the rules failed on.
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
	if r.Suppressed && len(r.Suppressions) == 0 {
		// Suppressed without a recorded reason and time: nothing can be
		// shown to have arisen after it, so nothing lifts it.
		d.Reason = Suppressed
		d.Evidence = append(d.Evidence, "suppressed:"+string(f.Channel))
		return d
	}
	blocked := cs.state == contractBlocked
	noContact := f.Channel == message.Email && !r.HasEmail || f.Channel.Phone() && !r.HasPhone
	if noContact && !blocked && !r.Suppressed {
		d.Reason = NoContactPoint
		return d
	}

	var best verdict
	for _, rule := range rules {
		v := cat.evaluate(t, rule, f, cs)
		if v.reason == Allowed && r.Suppressed {
			v = liftSuppression(v, r.Suppressions)
		}
		if v.reason != Allowed {
			if best.reason == "" || rank(v.reason) < rank(best.reason) {
				best = v
			}
			continue
		}
		if noContact {
			// Only a blocked recipient gets here: a new ground, but no
			// address or number to use it on.
			d.Reason = NoContactPoint
			return d
		}
		d = cat.allow(d, t, rule, v, f)
		if blocked && d.Allowed {
			d = keepBlockedData(d, cat.BlockedFrom(r.ContractEnd), v.ground)
		}
		return d
	}
	switch {
	case r.Suppressed:
		// Erased person, hard bounce or provider STOP, and no ground that
		// arose after it: the contact point stays on the suppression list.
		d.Reason = Suppressed
		d.Evidence = append(d.Evidence, "suppressed:"+string(f.Channel))
		for _, s := range r.Suppressions {
			d.Evidence = append(d.Evidence, "suppression:"+s.Reason+"@"+stamp(s.At))
		}
		return d
	case blocked:
		// Sperrung after the blocking period, "wenn keine weiteren Gründe
		// dem entgegenstehen": no rule found such a ground.
		d.Reason = Blocked
		d.Evidence = append(d.Evidence, "blocked_from:"+stamp(cat.BlockedFrom(r.ContractEnd)))
		return d
	}
	d.Reason, d.Rule = best.reason, best.rule
	d.Evidence = append(d.Evidence, best.evidence...)
	return d
}

// The grounds an allowed rule rests on, named in evidence. Each can stand
// against a suppression or the blocking only if it arose after it.
const (
	groundContract    = "contract_start" // the contract (its start is when it arose)
	groundOpenRequest = "open_request"   // an open request (no time: the store keeps a flag)
	groundConsent     = "consent"        // a consent in force (given at Since)
	groundSignup      = "signup"         // a pending newsletter signup (the confirmation mail)
)

// Suppression reasons that lifts knows; the store records them.
const (
	SuppressionErased       = "erased"        // Art. 17 GDPR erasure
	SuppressionHardBounce   = "hard_bounce"   // the mailbox or number does not exist
	SuppressionProviderStop = "provider_stop" // STOP or block reported by the provider
)

// lifts reports whether the ground of an allowed verdict v stands against
// suppression s. A suppression exists so that stale data (an old import, a
// backup, a producer's cached profile) cannot resurrect contact; a ground
// that demonstrably arose after it is not stale, so:
//
//   - erased: a contract started after the erasure (contract messages, and
//     advertising on legitimate interest, which rests on that contract), a
//     consent given after it, or a newsletter signup made after it (its
//     confirmation mail) is a new ground for exactly what it covers. The
//     erasure removed the old data; it was never a ban on a new relationship.
//   - provider_stop: the person's own declaration on that channel ("STOP",
//     a WhatsApp block), like an objection: only a newer declaration of the
//     person on that very channel lifts it, i.e. a consent for this channel
//     (not one for "all") given after it. A contract does not: the person
//     said stop, and the provider keeps blocking the sender until the person
//     sends START, so a contract message would fail there anyway.
//   - hard_bounce: a fact about the mailbox or number, not a legal question.
//     Neither a contract nor a consent shows that the address accepts mail
//     again, and mailing dead addresses harms delivery for everybody. It is
//     never lifted here; the way back is a new address (or the operator
//     removing the entry).
//   - any other reason, and any ground without a time (an open request):
//     never lifted (deny by default).
func lifts(s Suppression, v verdict) bool {
	if v.since.IsZero() || !v.since.After(s.At) {
		return false
	}
	switch s.Reason {
	case SuppressionErased:
		return v.ground == groundContract || v.ground == groundConsent || v.ground == groundSignup
	case SuppressionProviderStop:
		return v.ground == groundConsent && v.ownChannel
	}
	return false
}

// liftSuppression keeps an allowed verdict only if its ground lifts every
// suppression of the contact point, recording each lift as evidence;
// otherwise the rule is denied as suppressed.
func liftSuppression(v verdict, sups []Suppression) verdict {
	for _, s := range sups {
		if !lifts(s, v) {
			return verdict{reason: Suppressed, rule: v.rule}
		}
	}
	for _, s := range sups {
		v.evidence = append(v.evidence, "suppression_lifted:"+s.Reason+"@"+stamp(s.At)+":by:"+v.ground+"@"+stamp(v.since))
	}
	return v
}

// keepBlockedData narrows an allowed decision for a blocked recipient: the
// new ground (an open request, a consent or signup after the contract
// ended) covers the message, but the old contract's data stay blocked, so
// templates get neither contract nor invoice data nor usage and traffic data.
func keepBlockedData(d Decision, from time.Time, ground string) Decision {
	d.DataCategories = slices.DeleteFunc(d.DataCategories, func(c string) bool {
		return c == DataContract || c == DataInvoice || c == DataUsage || c == DataTraffic
	})
	d.Evidence = append(d.Evidence, "blocked_from:"+stamp(from), "new_ground:"+ground, "contract_data:blocked")
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
	// What an allowed rule rests on (a ground* constant), since when (zero:
	// unknown), and whether a consent was given for this very channel.
	ground     string
	since      time.Time
	ownChannel bool
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
	grant := func(ground string, since time.Time, evidence ...string) verdict {
		v.ground, v.since = ground, since
		return result(Allowed, evidence...)
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
		switch cs.state {
		case contractNone:
			return result(NoContract)
		case contractBlocked:
			return result(Blocked)
		}
		return grant(groundContract, r.ContractStart)

	case RuleContractOrOpenRequest:
		if cs.state == contractActive || cs.state == contractEnded {
			return grant(groundContract, r.ContractStart)
		}
		if r.OpenRequest {
			// Answering a request is a ground of its own (Art. 6(1)(b):
			// steps at the person's request), and one of the "weiteren
			// Gründe" that stand against the blocking: a former customer who
			// calls the hotline gets the answer a stranger would get.
			return grant(groundOpenRequest, time.Time{}, "open_request")
		}
		if cs.state == contractBlocked {
			return result(Blocked)
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
		case contractBlocked:
			return result(Blocked)
		case contractNone:
			if rule.Kind == RuleLegitimateInterestExistingCustomer {
				// §7(3) UWG is an exception for existing customers only:
				// what a prospect lacks is consent, as does a customer whose
				// address was not collected in a sale.
				return result(NoConsent)
			}
			return result(NoContract)
		}
		if r.ContractStart.IsZero() {
			// Deny by default: the producer's word "customer" is enough for
			// contract messages, but advertising without consent needs the
			// contract it rests on on record, or it would run indefinitely.
			return result(NoContract, "contract_start:missing")
		}
		if rule.Kind == RuleLegitimateInterestExistingCustomer {
			// §7(3) no. 1 UWG: the address was obtained in connection with a
			// sale, with the objection notice (no. 4). Without it only consent
			// remains.
			if !r.EmailFromSale {
				return result(NoConsent, "email_from_sale:false")
			}
			return grant(groundContract, r.ContractStart, "email_from_sale")
		}
		return grant(groundContract, r.ContractStart)

	case RuleConsent:
		switch ce.Status {
		case consent.Objected:
			return result(Objection, ref("objection", ceKey, ce))
		case consent.Withdrawn:
			// Art. 7(3) GDPR: effective from its timestamp, never retroactive.
			return result(ConsentWithdrawn, ref("withdrawal", ceKey, ce))
		}
		// A consent (or signup) given after the contract ended is a new
		// decision of the person, not one of the contract's: it neither ends
		// with that contract nor falls under its blocking (Art. 6(1)(a)).
		fromContract := !ce.Since.After(cs.end)
		switch {
		case cs.state == contractBlocked && fromContract:
			return result(Blocked)
		case t.Advertising && cs.state == contractEnded && fromContract:
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
		case rule.DoubleOptIn && !ce.Since.Before(c.ConfirmBy(ce.RequestedAt)):
			// Confirmed after the signup was due for deletion ("Sofern Sie
			// Ihre Anmeldung nicht bestätigen, wird Ihre Anmeldung
			// automatisch gelöscht"): however it got into the ledger, a late
			// click proves no consent to a signup that no longer exists.
			return result(NoConsent, ref("consent", ceKey, ce)+":confirmed_after_window")
		}
		v.ownChannel = ceKey.Channel == string(f.Channel)
		ev := []string{ref("consent", ceKey, ce)}
		if cs.state == contractEnded || cs.state == contractBlocked {
			ev = append(ev, "consent_after_contract_end")
		}
		if rule.VerifiedNumber {
			ev = append(ev, "phone:verified")
		}
		return grant(groundConsent, ce.Since, ev...)

	case RuleDoubleOptInRequest:
		e, k, ok := c.pendingSignup(t, f)
		if !ok {
			return result(NoOpenRequest)
		}
		if cs.state == contractBlocked && !e.Since.After(cs.end) {
			return result(Blocked)
		}
		return grant(groundSignup, e.Since, ref("doi_request", k, e), "list:"+strings.TrimPrefix(k.Purpose, consent.NewsletterPrefix))
	}
	return result(NoConsent) // unreachable for a parsed catalog; deny by default
}

// pendingSignup finds the newsletter signup a confirmation mail is for: the
// list of f.List, or else the newest pending one. A signup older than the
// unconfirmed-signup retention is due for deletion and no longer counts.
func (c *Catalog) pendingSignup(t *TypeSpec, f Facts) (consent.Entry, consent.Key, bool) {
	pending := func(e consent.Entry) bool {
		return e.Status == consent.DOIPending && f.Now.Before(c.ConfirmBy(e.Since))
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
// ended when its end is at or before now; it is blocked from the end of the
// blocking period on (§188 BGB, see BlockedFrom). A customer without
// recorded contract dates counts as active for contract messages: the
// producer vouches for the customer relationship, and contract messages are
// what such a customer needs. Advertising on legitimate interest needs the
// recorded start (see evaluate).
func (c *Catalog) contractOf(r *Recipient, now time.Time) contractState {
	switch {
	case !r.ContractEnd.IsZero() && !r.ContractEnd.After(now):
		if !now.Before(c.BlockedFrom(r.ContractEnd)) {
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
