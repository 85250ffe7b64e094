package policy

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
)

//go:embed catalog.yaml
var defaultCatalog []byte

// DefaultCatalog returns the embedded default catalog (catalog.yaml) as YAML.
// It returns a copy, so callers cannot change the embedded bytes. Parse it
// with ParseCatalog like any other catalog: there is no panicking shortcut.
func DefaultCatalog() []byte { return bytes.Clone(defaultCatalog) }

// RuleKind is one legal-basis rule the code enforces. The set is closed: the
// catalog chooses and configures rules, it cannot invent new ones, so a
// catalog edit can never create a legal basis the code does not know.
type RuleKind string

// The rule kinds. Each maps to exactly one Basis.
const (
	// RuleContract: Art. 6(1)(b) GDPR. The contract is active or ended less
	// than the blocking period ago.
	RuleContract RuleKind = "contract"
	// RuleContractOrOpenRequest: Art. 6(1)(b) GDPR, including steps at the
	// person's request before a contract: a customer as for RuleContract, or
	// anybody with an open request (hotline, contact form, chat).
	RuleContractOrOpenRequest RuleKind = "contract_or_open_request"
	// RuleLegitimateInterestExistingCustomer: Art. 6(1)(f) GDPR with §7(3)
	// UWG: e-mail advertising for own products to a customer with an active
	// contract whose address was collected in a sale with the objection
	// notice, who has not objected; every message carries the opt-out notice.
	RuleLegitimateInterestExistingCustomer RuleKind = "legitimate_interest_existing_customer"
	// RuleLegitimateInterestActiveContract: Art. 6(1)(f) GDPR, information
	// about the customer's own products while the contract is active, treated
	// like §7(3) UWG (objection stops it, opt-out notice in every message)
	// because German courts read "advertising" broadly.
	RuleLegitimateInterestActiveContract RuleKind = "legitimate_interest_active_contract"
	// RuleConsent: Art. 6(1)(a) GDPR. A consent in force for the rule's
	// purpose on the channel, optionally confirmed by double opt-in, given
	// for that very channel, with a verified number.
	RuleConsent RuleKind = "consent"
	// RuleDoubleOptInRequest: the confirmation mail of a double opt-in. The
	// person asked for it a moment ago (Art. 6(1)(b): a step at their
	// request), and Art. 7(1) GDPR requires proof of consent, which the
	// confirmation creates. Allowed only while a signup is pending and not
	// older than the unconfirmed-signup retention.
	RuleDoubleOptInRequest RuleKind = "double_opt_in_request"
)

// Basis returns the legal basis a rule of kind k grants.
func (k RuleKind) Basis() Basis {
	switch k {
	case RuleContract, RuleContractOrOpenRequest, RuleDoubleOptInRequest:
		return Contract
	case RuleLegitimateInterestExistingCustomer, RuleLegitimateInterestActiveContract:
		return LegitimateInterest
	case RuleConsent:
		return Consent
	}
	return ""
}

// Consent purposes a consent rule may name. "newsletter" stands for
// "newsletter:<list>", the list coming from Facts.List.
const (
	purposeAdvertising = consent.Advertising
	purposeSurvey      = consent.Survey
	purposeNewsletter  = "newsletter"
)

// The data categories templates may use. contact is always allowed; usage
// and traffic only with the usage_data consent.
const (
	DataContact    = "contact"
	DataContract   = "contract"
	DataInvoice    = "invoice"
	DataTip        = "tip"
	DataOffer      = "offer"
	DataNewsletter = "newsletter"
	DataSurvey     = "survey"
	DataDOI        = "doi"
	DataService    = "service"
	DataUsage      = "usage"
	DataTraffic    = "traffic"
)

// DataCategories returns every known data category in a stable order.
func DataCategories() []string {
	return []string{DataContact, DataContract, DataInvoice, DataTip, DataOffer, DataNewsletter,
		DataSurvey, DataDOI, DataService, DataUsage, DataTraffic}
}

// Rule is one legal-basis alternative for a type on a channel. A channel may
// list several; the first that holds decides.
type Rule struct {
	Kind RuleKind
	// Purpose is the consent purpose (advertising, survey, newsletter) for
	// consent and double opt-in rules.
	Purpose string
	// DoubleOptIn: only a consent confirmed by double opt-in counts.
	DoubleOptIn bool
	// ExplicitChannel: only a grant for this very channel counts, not one for
	// "all" channels (explicit consent for messengers, Art. 6(1)(a)).
	ExplicitChannel bool
	// VerifiedNumber: the phone number must be verified (e.g. an SMS code), because
	// a web or e-mail double opt-in does not prove who holds a number.
	VerifiedNumber bool
	// SMSFallback names the type whose SMS rule must also allow the message
	// before an RCS message may fall back to SMS.
	SMSFallback message.Type
	// Law is the citation shown in the catalog table.
	Law string
}

// id returns the rule id recorded in decisions, e.g. "promo_offer/email/consent".
func (r Rule) id(t message.Type, ch message.Channel) string {
	return string(t) + "/" + string(ch) + "/" + string(r.Kind)
}

// TypeSpec is one message type of the catalog.
type TypeSpec struct {
	Key            message.Type
	Purpose        string
	Class          message.Class
	Channels       []message.Channel // catalog order: the preferred channel first
	DataCategories []string
	// OptOutNotice: every message must carry a clear, free opt-out notice
	// (§7(3) no. 4 UWG, Art. 21(4) GDPR).
	OptOutNotice bool
	// Advertising: direct marketing. An Art. 21 objection stops it, it ends
	// with the contract for former customers, and it counts toward the
	// frequency cap.
	Advertising bool
	Retention   time.Duration // nominal: a year counts 365 days, a month 30
	Lists       []string      // newsletter lists, the default first
	// Attributes are the recipient's custom attributes a template of the
	// type may show (see attributes.go); the renderer hides all others.
	Attributes []string
	// Notice is what the privacy notice says of the type in words; zero
	// when the catalog has none (see Catalog.NoticeGaps).
	Notice TypeNotice

	retention       string
	retentionPeriod period
	rules           map[message.Channel][]Rule
}

// Rules returns the legal-basis alternatives for channel ch in catalog order,
// or nil when the type may not use ch.
func (t TypeSpec) Rules(ch message.Channel) []Rule { return slices.Clone(t.rules[ch]) }

func (t TypeSpec) clone() TypeSpec {
	t.Channels = slices.Clone(t.Channels)
	t.DataCategories = slices.Clone(t.DataCategories)
	t.Lists = slices.Clone(t.Lists)
	t.Attributes = slices.Clone(t.Attributes)
	return t // rules is never mutated after parsing; Rules hands out copies
}

// Catalog is a parsed, validated message catalog. It is immutable and safe
// for concurrent use.
type Catalog struct {
	version     string
	blocking    period
	capMax      int
	capWindow   period
	unconfirmed period
	quiet       []QuietRule
	types       []TypeSpec
	index       map[message.Type]int
	notice      Notice
}

// Version returns the catalog's version; every decision records it.
func (c *Catalog) Version() string { return c.version }

// Types returns every type in catalog order.
func (c *Catalog) Types() []TypeSpec {
	out := make([]TypeSpec, len(c.types))
	for i, t := range c.types {
		out[i] = t.clone()
	}
	return out
}

// Type returns the type with key k.
func (c *Catalog) Type(k message.Type) (TypeSpec, bool) {
	if c == nil {
		return TypeSpec{}, false
	}
	i, ok := c.index[k]
	if !ok {
		return TypeSpec{}, false
	}
	return c.types[i].clone(), true
}

// BlockingPeriod returns the blocking period as a nominal duration (a month
// counts 30 days, so the default 3 months is 90 days). Decide itself uses
// calendar months; see BlockedFrom.
func (c *Catalog) BlockingPeriod() time.Duration { return c.blocking.nominal() }

// BlockedFrom returns the first instant at which a person whose contract
// ended at end is blocked: the start of the day after the blocking period
// ends, counted as §§187(1), 188(2),(3) BGB count it ("drei Monate nach dem
// jeweiligen Vertragsende"). A contract that ended on 25 August is blocked
// from 26 November 00:00, one that ended on 30 November from 1 March (the
// period ends with the last day of February), in end's location.
func (c *Catalog) BlockedFrom(end time.Time) time.Time { return c.blocking.endAfter(end) }

// FrequencyCap returns the most advertising messages one person may get
// within window. max 0 means no cap.
func (c *Catalog) FrequencyCap() (max int, window time.Duration) {
	return c.capMax, c.capWindow.nominal()
}

// FrequencyWindowStart returns the start of the frequency window ending at
// now, in calendar terms; count advertising deliveries after it.
func (c *Catalog) FrequencyWindowStart(now time.Time) time.Time { return c.capWindow.subFrom(now) }

// FrequencyCountSince is the moment from which advertising deliveries must be
// counted for a decision at now: FrequencyWindowStart, or zero when the
// catalog sets no cap and nothing needs counting.
func (c *Catalog) FrequencyCountSince(now time.Time) time.Time {
	if c.capMax <= 0 {
		return time.Time{}
	}
	return c.FrequencyWindowStart(now)
}

// ConfirmBy returns the instant from which a double opt-in signup made at
// signup can no longer be confirmed: the signup plus the unconfirmed-signup
// retention in calendar terms. A doi_confirm at or after it creates no
// consent (Decide: no_consent, evidence confirmed_after_window).
func (c *Catalog) ConfirmBy(signup time.Time) time.Time { return c.unconfirmed.addTo(signup) }

// UnconfirmedSignupRetention returns how long an unconfirmed double opt-in
// signup is kept before it must be deleted (nominal duration). The privacy
// notice promises that unconfirmed signups are deleted automatically.
func (c *Catalog) UnconfirmedSignupRetention() time.Duration { return c.unconfirmed.nominal() }

// ---- parsing

// The YAML shapes. Decoding is strict (KnownFields): a misspelt field is an
// error, never silently ignored, because an ignored "double_opt_in" would
// quietly weaken the rules.
type rawCatalog struct {
	Version                    string     `yaml:"version"`
	BlockingPeriod             string     `yaml:"blocking_period"`
	FrequencyCap               *rawCap    `yaml:"frequency_cap"`
	UnconfirmedSignupRetention string     `yaml:"unconfirmed_signup_retention"`
	QuietHours                 []rawQuiet `yaml:"quiet_hours"`
	Notice                     *rawNotice `yaml:"notice"`
	Types                      []rawType  `yaml:"types"`
}

type rawCap struct {
	Max    int    `yaml:"max"`
	Window string `yaml:"window"`
}

type rawType struct {
	Key            string               `yaml:"key"`
	Purpose        string               `yaml:"purpose"`
	Class          string               `yaml:"class"`
	Advertising    bool                 `yaml:"advertising"`
	OptOutNotice   bool                 `yaml:"opt_out_notice"`
	Channels       []string             `yaml:"channels"`
	Basis          map[string][]rawRule `yaml:"basis"`
	DataCategories []string             `yaml:"data_categories"`
	Retention      string               `yaml:"retention"`
	Lists          []string             `yaml:"lists"`
	Attributes     []string             `yaml:"attributes"`
	Notice         *rawTypeNotice       `yaml:"notice"`
}

type rawRule struct {
	Rule            string `yaml:"rule"`
	Purpose         string `yaml:"purpose"`
	DoubleOptIn     bool   `yaml:"double_opt_in"`
	ExplicitChannel bool   `yaml:"explicit_channel"`
	VerifiedNumber  bool   `yaml:"verified_number"`
	SMSFallback     string `yaml:"sms_fallback"`
	Law             string `yaml:"law"`
}

var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// located collects problems, each prefixed with where it is.
type located struct{ errs []error }

func (l *located) add(where, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
}

// ParseCatalog parses and validates a catalog. It reports every problem it
// finds, each naming its place ("type promo_offer: channel fax: unknown
// channel"), joined with errors.Join. It never panics.
func ParseCatalog(b []byte) (cat *Catalog, err error) {
	raw, yamlErrs, err := decodeCatalog(b)
	if err != nil {
		return nil, err
	}
	// Field errors of the strict decoder (unknown or mistyped fields) are
	// reported together with the rule problems, so one run lists them all.
	l := located{errs: yamlErrs}
	c := &Catalog{version: strings.TrimSpace(raw.Version), index: make(map[message.Type]int)}
	if c.version == "" {
		l.add("catalog", "version: missing (every decision records the catalog version as proof)")
	}

	// Blocking: "nach drei Monaten nach dem jeweiligen Vertragsende erfolgt
	// eine Sperrung" — 3 months unless the catalog says otherwise.
	c.blocking = period{months: 3, text: "3 months"}
	if raw.BlockingPeriod != "" {
		if p, perr := parsePeriod(raw.BlockingPeriod); perr != nil {
			l.add("catalog", "blocking_period: %v", perr)
		} else if p.zero() {
			l.add("catalog", "blocking_period: must be longer than zero")
		} else {
			c.blocking = p
		}
	}
	if fc := raw.FrequencyCap; fc != nil {
		switch {
		case fc.Max < 0:
			l.add("catalog", "frequency_cap: max: must not be negative")
		case fc.Window == "":
			l.add("catalog", "frequency_cap: window: missing (e.g. \"7 days\")")
		default:
			if p, perr := parsePeriod(fc.Window); perr != nil {
				l.add("catalog", "frequency_cap: window: %v", perr)
			} else if p.zero() {
				l.add("catalog", "frequency_cap: window: must be longer than zero")
			} else {
				c.capMax, c.capWindow = fc.Max, p
			}
		}
	}
	c.unconfirmed = period{days: 30, text: "30 days"}
	if raw.UnconfirmedSignupRetention != "" {
		if p, perr := parsePeriod(raw.UnconfirmedSignupRetention); perr != nil {
			l.add("catalog", "unconfirmed_signup_retention: %v", perr)
		} else if p.zero() {
			l.add("catalog", "unconfirmed_signup_retention: must be longer than zero")
		} else {
			c.unconfirmed = p
		}
	}
	if len(raw.Types) == 0 {
		l.add("catalog", "types: none defined")
	}
	c.notice = parseNotice(&l, raw.Notice)

	// First pass: keys, so that sms_fallback can name a type defined later.
	keys := make(map[string]int)
	for i, rt := range raw.Types {
		if keyPattern.MatchString(rt.Key) {
			if _, dup := keys[rt.Key]; !dup {
				keys[rt.Key] = i
			}
		}
	}
	for i, rt := range raw.Types {
		where := "type " + rt.Key
		switch {
		case rt.Key == "":
			where = fmt.Sprintf("type #%d", i+1)
			l.add(where, "key: missing")
		case !keyPattern.MatchString(rt.Key):
			where = fmt.Sprintf("type #%d", i+1)
			l.add(where, "key: %q is not a valid type key (lowercase a-z 0-9 _, starting with a letter, at most 64)", rt.Key)
		case keys[rt.Key] != i:
			l.add(where, "key: duplicate type (first defined as type #%d)", keys[rt.Key]+1)
		}
		spec := parseType(&l, where, rt, raw.Types, keys)
		spec.Notice = parseTypeNotice(&l, where, rt.Notice, c.notice)
		if keyPattern.MatchString(rt.Key) && keys[rt.Key] == i {
			c.index[spec.Key] = len(c.types)
			c.types = append(c.types, spec)
		}
	}
	c.parseQuiet(&l, raw.QuietHours)
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return c, nil
}

// decodeCatalog runs the strict YAML decoder. The recover is a last line of
// defence: a YAML library bug on hostile input must become an error, not
// take down `herold catalog check` or the server.
//
// Field errors (unknown field, wrong type) come back as fieldErrs with raw
// filled as far as possible; a document that is not YAML at all is err.
func decodeCatalog(b []byte) (raw rawCatalog, fieldErrs []error, err error) {
	defer func() {
		if r := recover(); r != nil {
			raw, fieldErrs, err = rawCatalog{}, nil, fmt.Errorf("catalog: yaml: cannot parse: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if derr := dec.Decode(&raw); derr != nil {
		var te *yaml.TypeError
		switch {
		case errors.Is(derr, io.EOF):
			return raw, nil, errors.New("catalog: empty document")
		case errors.As(derr, &te):
			for _, e := range te.Errors {
				fieldErrs = append(fieldErrs, fmt.Errorf("catalog: yaml: %s", friendlyYAML(e)))
			}
		default:
			return raw, nil, fmt.Errorf("catalog: %w", derr)
		}
	}
	var extra any
	if derr := dec.Decode(&extra); !errors.Is(derr, io.EOF) {
		fieldErrs = append(fieldErrs, errors.New("catalog: more than one YAML document (want exactly one)"))
	}
	return raw, fieldErrs, nil
}

// friendlyYAML replaces Go type names in yaml errors with the catalog's words.
func friendlyYAML(s string) string {
	return strings.NewReplacer(
		"in type policy.rawCatalog", "at the top level",
		"in type policy.rawType", "in a type",
		"in type policy.rawRule", "in a basis rule",
		"in type policy.rawCap", "in frequency_cap",
		"in type policy.rawQuiet", "in quiet_hours",
		"in type policy.rawNotice", "in notice",
		"in type policy.rawTypeNotice", "in a type's notice",
		"in type policy.Text", "in a text (want de and en)",
	).Replace(s)
}

func parseType(l *located, where string, rt rawType, all []rawType, keys map[string]int) TypeSpec {
	spec := TypeSpec{
		Key:          message.Type(rt.Key),
		Purpose:      strings.TrimSpace(rt.Purpose),
		OptOutNotice: rt.OptOutNotice,
		Advertising:  rt.Advertising,
		rules:        make(map[message.Channel][]Rule),
	}
	if spec.Purpose == "" {
		l.add(where, "purpose: missing (Art. 5(1)(b) GDPR: every processing has a stated purpose)")
	}
	if rt.Class == "" {
		l.add(where, "class: missing (want transactional, service or marketing)")
	} else if cl, err := message.ParseClass(rt.Class); err != nil {
		l.add(where, "class: %v", err)
	} else {
		spec.Class = cl
	}
	if spec.Class == message.Marketing && !rt.Advertising {
		l.add(where, "advertising: a marketing type is advertising (objection, frequency cap); set advertising: true")
	}
	if rt.Advertising && spec.Class == message.Transactional {
		l.add(where, "class: an advertising type must not be transactional: it would overtake invoices and slip advertising into them (BGH VI ZR 225/17)")
	}
	if (rt.Advertising || spec.Class == message.Marketing) && !rt.OptOutNotice {
		l.add(where, "opt_out_notice: a marketing type must carry the opt-out notice (§7(3) no. 4 UWG, Art. 21(4) GDPR)")
	}
	if rt.Retention == "" {
		l.add(where, "retention: missing (Art. 13(2)(a) GDPR: state how long it is kept)")
	} else if p, err := parsePeriod(rt.Retention); err != nil {
		l.add(where, "retention: %v", err)
	} else {
		spec.Retention, spec.retention, spec.retentionPeriod = p.nominal(), p.String(), p
	}

	seenCat := make(map[string]bool)
	for _, dc := range rt.DataCategories {
		switch {
		case !slices.Contains(DataCategories(), dc):
			l.add(where, "data_categories: unknown data category %q (want one of %s)", dc, strings.Join(DataCategories(), ", "))
		case seenCat[dc]:
			l.add(where, "data_categories: %q listed twice", dc)
		default:
			seenCat[dc] = true
			spec.DataCategories = append(spec.DataCategories, dc)
		}
	}
	if len(rt.DataCategories) == 0 {
		l.add(where, "data_categories: none listed (at least contact)")
	}

	spec.Attributes = parseAttributes(l, where, rt.Attributes)

	seenList := make(map[string]bool)
	for _, name := range rt.Lists {
		switch {
		case consent.ValidatePurpose(consent.Newsletter(name)) != nil || name == "":
			l.add(where, "lists: %q is not a valid list name (lowercase a-z 0-9 _ -)", name)
		case seenList[name]:
			l.add(where, "lists: %q listed twice", name)
		default:
			seenList[name] = true
			spec.Lists = append(spec.Lists, name)
		}
	}

	if len(rt.Channels) == 0 {
		l.add(where, "channels: none listed")
	}
	seenCh := make(map[string]bool)
	for _, name := range rt.Channels {
		cw := where + ": channel " + name
		ch, err := message.ParseChannel(name)
		switch {
		case err != nil:
			l.add(cw, "unknown channel (want %s)", message.ChannelList())
			continue
		case seenCh[name]:
			l.add(cw, "listed twice")
			continue
		}
		seenCh[name] = true
		spec.Channels = append(spec.Channels, ch)
		rules, ok := rt.Basis[name]
		if !ok || len(rules) == 0 {
			l.add(cw, "no legal basis (add basis: %s: [...]; Art. 6(1) GDPR: no processing without one)", name)
			continue
		}
		for j, rr := range rules {
			if r, ok := parseRule(l, fmt.Sprintf("%s: basis #%d", cw, j+1), rr, ch, rt, all, keys); ok {
				spec.rules[ch] = append(spec.rules[ch], r)
			}
		}
	}
	extra := make([]string, 0)
	for name := range rt.Basis {
		if !slices.Contains(rt.Channels, name) {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		l.add(where+": basis "+name, "a basis for a channel the type does not list in channels")
	}

	hasNewsletter := false
	for _, rs := range rt.Basis {
		for _, rr := range rs {
			hasNewsletter = hasNewsletter || rr.Purpose == purposeNewsletter
		}
	}
	if hasNewsletter && len(rt.Lists) == 0 && rt.Advertising {
		l.add(where, "lists: a newsletter type needs at least one list")
	}
	if !hasNewsletter && len(rt.Lists) > 0 {
		l.add(where, "lists: only a type with a newsletter rule has lists")
	}
	return spec
}

func parseRule(l *located, where string, rr rawRule, ch message.Channel, rt rawType, all []rawType, keys map[string]int) (Rule, bool) {
	r := Rule{
		Kind:            RuleKind(rr.Rule),
		Purpose:         rr.Purpose,
		DoubleOptIn:     rr.DoubleOptIn,
		ExplicitChannel: rr.ExplicitChannel,
		VerifiedNumber:  rr.VerifiedNumber,
		SMSFallback:     message.Type(rr.SMSFallback),
		Law:             strings.TrimSpace(rr.Law),
	}
	before := len(l.errs)
	if rr.Rule == "" {
		l.add(where, "rule: missing (want %s)", ruleKindList())
		return r, false
	}
	if r.Kind.Basis() == "" {
		l.add(where, "rule: unknown rule %q (want %s)", rr.Rule, ruleKindList())
		return r, false
	}
	where += " (" + rr.Rule + ")"
	switch r.Kind {
	case RuleConsent:
		switch rr.Purpose {
		case "":
			l.add(where, "purpose: a consent rule needs the consent purpose (advertising, survey or newsletter)")
		case purposeAdvertising, purposeSurvey:
		case purposeNewsletter:
			if !rr.DoubleOptIn {
				l.add(where, "double_opt_in: a newsletter consent must be confirmed by double opt-in")
			}
		default:
			l.add(where, "purpose: unknown consent purpose %q (want advertising, survey or newsletter)", rr.Purpose)
		}
	case RuleDoubleOptInRequest:
		if rr.Purpose != purposeNewsletter {
			l.add(where, "purpose: a double opt-in request confirms a newsletter signup: want purpose: newsletter")
		}
		if ch != message.Email {
			l.add(where, "rule: the double opt-in confirmation goes to the e-mail address that signed up")
		}
	default:
		if rr.Purpose != "" {
			l.add(where, "purpose: only consent and double opt-in rules name a consent purpose")
		}
	}
	if r.Kind != RuleConsent {
		if rr.DoubleOptIn {
			l.add(where, "double_opt_in: only a consent rule can require double opt-in")
		}
		if rr.ExplicitChannel {
			l.add(where, "explicit_channel: only a consent rule can require a grant for this channel")
		}
		if rr.VerifiedNumber {
			l.add(where, "verified_number: only a consent rule can require a verified number")
		}
	}
	if rr.VerifiedNumber && !ch.Phone() {
		l.add(where, "verified_number: only channels that deliver to a mobile number (%s) have a number to verify", channelNames(message.ChannelsOf(message.MobileNumber)))
	}
	if spec, _ := ch.Spec(); spec.Verified && r.Kind == RuleConsent && !rr.VerifiedNumber {
		// The channel registry says who holds the number must be proven:
		// a catalog cannot forget it.
		l.add(where, "verified_number: consent on %s counts only for a verified number; set verified_number: true", ch)
	}
	switch r.Kind {
	case RuleLegitimateInterestExistingCustomer, RuleLegitimateInterestActiveContract:
		if ch != message.Email {
			l.add(where, "rule: legitimate interest covers e-mail only; §7(2) and (3) UWG: sms and messengers need consent")
		}
		if !rt.Advertising {
			l.add(where, "rule: legitimate interest is the ground for own-product advertising; mark the type advertising: true")
		}
	case RuleContract, RuleContractOrOpenRequest:
		if rt.Advertising {
			l.add(where, "rule: advertising cannot rest on the contract (Art. 6(1)(b) covers only what the contract needs)")
		}
	}
	if rr.SMSFallback != "" {
		switch i, ok := keys[rr.SMSFallback]; {
		case ch != message.RCS:
			l.add(where, "sms_fallback: only rcs falls back to sms")
		case !ok:
			l.add(where, "sms_fallback: unknown type %q", rr.SMSFallback)
		case !slices.Contains(all[i].Channels, string(message.SMS)):
			l.add(where, "sms_fallback: type %q has no sms channel", rr.SMSFallback)
		}
	}
	return r, len(l.errs) == before
}

func channelNames(chs []message.Channel) string {
	names := make([]string, len(chs))
	for i, c := range chs {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

func ruleKindList() string {
	return strings.Join([]string{string(RuleContract), string(RuleContractOrOpenRequest),
		string(RuleLegitimateInterestExistingCustomer), string(RuleLegitimateInterestActiveContract),
		string(RuleConsent), string(RuleDoubleOptInRequest)}, ", ")
}
