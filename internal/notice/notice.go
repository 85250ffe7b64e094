// Package notice renders, from a message catalog, the communication section
// of a privacy notice (Art. 13, 14 GDPR) and the matching entries of the
// record of processing activities (Art. 30 GDPR), in German or English, as
// Markdown or HTML.
//
// What the policy enforces is derived from the catalog's rules, so the
// notice cannot promise other than what Herold does: the legal basis of each
// channel (from the rule kinds and their options), the channels, the data
// (from the data categories the renderer may use), the end of advertising
// with the contract, the blocking period and the grounds that stand against
// it, and the rights to object and withdraw. The catalog adds in words only
// what the code cannot know: each type's purpose and why it is kept as long
// as it is (with the period filled in from the catalog), the sections, how
// to withdraw, the recipients and the safeguards.
//
// The package is pure: it reads nothing but the catalog it is given.
package notice

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// Format is an output format.
type Format string

// The output formats.
const (
	Markdown Format = "md"
	HTML     Format = "html"
)

// Options choose language and format.
type Options struct {
	Lang   string // "de" or "en"
	Format Format // Markdown (default) or HTML
	// OmitTitle leaves out the document's own heading, for a page that
	// shows it as its title.
	OmitTitle bool
}

func (o Options) check() error {
	var probs []string
	if o.Lang != "de" && o.Lang != "en" {
		probs = append(probs, fmt.Sprintf("locale %q: want de or en", o.Lang))
	}
	if o.Format != "" && o.Format != Markdown && o.Format != HTML {
		probs = append(probs, fmt.Sprintf("format %q: want md or html", o.Format))
	}
	if len(probs) > 0 {
		return errors.New(strings.Join(probs, "; "))
	}
	return nil
}

// Write renders the communication section of the privacy notice for cat.
// It fails, naming each gap, when the catalog lacks notice texts.
func Write(w io.Writer, cat *policy.Catalog, opts Options) error {
	d, err := build(cat, opts, false)
	if err != nil {
		return err
	}
	return render(w, d, opts)
}

// WriteRecord renders the entries of the record of processing activities
// (Art. 30(1) GDPR) for the message types of cat.
func WriteRecord(w io.Writer, cat *policy.Catalog, opts Options) error {
	d, err := build(cat, opts, true)
	if err != nil {
		return err
	}
	return render(w, d, opts)
}

// Title is the heading of the notice section in lang.
func Title(lang string) string { return tr(lang, "title") }

// ---- the document

type document struct {
	Lang     string
	Title    string
	Intro    []string
	Sections []section
	Closing  []string
}

type section struct {
	ID, Title string
	Entries   []entry
}

type entry struct {
	ID, Title string
	Fields    []field
}

type field struct {
	Label string
	Paras []string
	Items []string
}

func build(cat *policy.Catalog, opts Options, record bool) (document, error) {
	if err := opts.check(); err != nil {
		return document{}, err
	}
	if cat == nil {
		return document{}, errors.New("no catalog")
	}
	if gaps := cat.NoticeGaps(); len(gaps) > 0 {
		return document{}, fmt.Errorf("the catalog cannot render the notice: %s", strings.Join(gaps, "; "))
	}
	lang := opts.Lang
	n := cat.Notice()
	d := document{Lang: lang, Title: tr(lang, "title")}
	if record {
		d.Title = tr(lang, "record.title")
		d.Intro = []string{tr(lang, "record.intro", cat.Version()), tr(lang, "record.words")}
	} else {
		d.Intro = []string{tr(lang, "intro")}
	}
	types := cat.Types()
	for _, s := range n.Sections {
		sec := section{ID: "s-" + s.Key, Title: s.Title.In(lang)}
		for _, t := range types {
			if t.Notice.Section != s.Key {
				continue
			}
			sec.Entries = append(sec.Entries, describe(cat, n, t, lang, record))
		}
		if len(sec.Entries) > 0 {
			d.Sections = append(d.Sections, sec)
		}
	}
	if record {
		var items []string
		for _, s := range n.Safeguards {
			items = append(items, s.In(lang))
		}
		items = append(items, tr(lang, "record.safeguard.policy"))
		d.Sections = append(d.Sections, section{ID: "s-safeguards", Title: tr(lang, "record.safeguards"),
			Entries: []entry{{ID: "safeguards", Fields: []field{{Items: items}}}}})
		return d, nil
	}
	d.Closing = append(d.Closing, tr(lang, "closing.withdraw", n.Withdrawal.In(lang)))
	if max, window := cat.FrequencyCapWords(lang, true); max > 0 {
		d.Closing = append(d.Closing, tr(lang, "closing.cap", max, window))
	}
	d.Closing = append(d.Closing, tr(lang, "closing.version", cat.Version()))
	return d, nil
}

// describe is one message type's entry: what the notice says of it, and in
// the record also the data subjects, recipients and transfers.
func describe(cat *policy.Catalog, n policy.Notice, t policy.TypeSpec, lang string, record bool) entry {
	e := entry{ID: "t-" + string(t.Key), Title: t.Notice.Title.In(lang)}
	add := func(label string, paras []string, items []string) {
		if len(paras) > 0 || len(items) > 0 {
			e.Fields = append(e.Fields, field{Label: tr(lang, label), Paras: paras, Items: items})
		}
	}
	if record {
		add("label.type", []string{string(t.Key)}, nil)
	}
	add("label.purpose", []string{cat.Expand(t.Key, lang, t.Notice.Purpose.In(lang))}, nil)
	basis, basisItems := legalBasis(t, lang)
	add("label.basis", basis, basisItems)
	add("label.channels", channels(t, lang), nil)
	if record {
		add("label.subjects", nil, subjects(t, lang))
	}
	add("label.data", nil, data(t, lang))
	add("label.storage", storage(cat, t, lang), nil)
	recipients, transfers := recipientsOf(n, t, lang, record)
	add("label.recipients", nil, recipients)
	if record {
		if len(transfers) == 0 {
			transfers = []string{tr(lang, "record.no_transfer")}
		}
		add("label.transfers", nil, transfers)
	} else {
		add("label.rights", rights(t, lang), nil)
	}
	return e
}

// legalBasis states each channel's rules; channels whose rules read the same
// share one item, and a type whose channels all read the same gets one
// paragraph without channel names.
func legalBasis(t policy.TypeSpec, lang string) ([]string, []string) {
	type group struct {
		chans []message.Channel
		text  string
	}
	var groups []group
	for _, ch := range t.Channels {
		var parts []string
		for _, r := range t.Rules(ch) {
			parts = append(parts, ruleText(t, r, lang))
		}
		text := strings.Join(parts, tr(lang, "basis.otherwise"))
		if i := slices.IndexFunc(groups, func(g group) bool { return g.text == text }); i >= 0 {
			groups[i].chans = append(groups[i].chans, ch)
			continue
		}
		groups = append(groups, group{chans: []message.Channel{ch}, text: text})
	}
	if len(groups) == 1 {
		return []string{sentence(groups[0].text)}, nil
	}
	var items []string
	for _, g := range groups {
		items = append(items, via(g.chans, lang)+": "+g.text+".")
	}
	return nil, items
}

// ruleText is what one rule grants, in words.
func ruleText(t policy.TypeSpec, r policy.Rule, lang string) string {
	switch r.Kind {
	case policy.RuleContract:
		return tr(lang, "basis.contract")
	case policy.RuleContractOrOpenRequest:
		return tr(lang, "basis.contract_or_open_request")
	case policy.RuleLegitimateInterestExistingCustomer:
		return tr(lang, "basis.li_existing_customer")
	case policy.RuleLegitimateInterestActiveContract:
		return tr(lang, "basis.li_active_contract")
	case policy.RuleDoubleOptInRequest:
		return tr(lang, "basis.doi_request")
	}
	s := tr(lang, "basis.consent")
	if r.DoubleOptIn {
		s += tr(lang, "basis.consent.doi")
	}
	if r.ExplicitChannel {
		s += tr(lang, "basis.consent.explicit")
	}
	if r.VerifiedNumber {
		s += tr(lang, "basis.consent.verified")
	}
	return s
}

func channels(t policy.TypeSpec, lang string) []string {
	var names []string
	for _, ch := range t.Channels {
		names = append(names, tr(lang, "channel."+string(ch)))
	}
	out := []string{sentence(strings.Join(names, ", "))}
	for _, ch := range t.Channels {
		for _, r := range t.Rules(ch) {
			if r.SMSFallback != "" {
				out = append(out, tr(lang, "channels.sms_fallback"))
			}
		}
	}
	return out
}

// data lists the personal data the type's messages may use: the contact
// category and the contact point of each channel, then the categories of
// the catalog that are personal data (offer and tip texts are not).
func data(t policy.TypeSpec, lang string) []string {
	var items []string
	has := func(c string) bool { return slices.Contains(t.DataCategories, c) }
	if has(policy.DataContact) {
		items = append(items, tr(lang, "data.contact"))
	}
	if slices.Contains(t.Channels, message.Email) {
		items = append(items, tr(lang, "data.email"))
	}
	if slices.ContainsFunc(t.Channels, message.Channel.Phone) {
		verified := false
		for _, ch := range t.Channels {
			verified = verified || slices.ContainsFunc(t.Rules(ch), func(r policy.Rule) bool { return r.VerifiedNumber })
		}
		if verified {
			items = append(items, tr(lang, "data.phone_verified"))
		} else {
			items = append(items, tr(lang, "data.phone"))
		}
	}
	for _, c := range []string{policy.DataContract, policy.DataInvoice, policy.DataService, policy.DataNewsletter, policy.DataSurvey, policy.DataDOI} {
		if has(c) {
			items = append(items, tr(lang, "data."+c))
		}
	}
	switch {
	case has(policy.DataUsage) && has(policy.DataTraffic):
		items = append(items, tr(lang, "data.usage_traffic"))
	case has(policy.DataUsage):
		items = append(items, tr(lang, "data.usage"))
	case has(policy.DataTraffic):
		items = append(items, tr(lang, "data.traffic"))
	}
	for i, it := range items {
		items[i] = capitalize(it)
	}
	return items
}

// ruleKinds reports which kinds of rules the type has on any channel.
func ruleKinds(t policy.TypeSpec) map[policy.RuleKind]bool {
	kinds := map[policy.RuleKind]bool{}
	for _, ch := range t.Channels {
		for _, r := range t.Rules(ch) {
			kinds[r.Kind] = true
		}
	}
	return kinds
}

// storage is the type's retention text, then what Decide enforces: the end
// of advertising with the contract, and the blocking with the grounds that
// stand against it.
func storage(cat *policy.Catalog, t policy.TypeSpec, lang string) []string {
	kinds := ruleKinds(t)
	out := []string{cat.Expand(t.Key, lang, t.Notice.Retention.In(lang))}
	if t.Advertising {
		out = append(out, tr(lang, "storage.advertising_ends"))
		if kinds[policy.RuleConsent] {
			out = append(out, tr(lang, "storage.consent_after_end"))
		}
	}
	if kinds[policy.RuleContract] || kinds[policy.RuleContractOrOpenRequest] ||
		kinds[policy.RuleLegitimateInterestExistingCustomer] || kinds[policy.RuleLegitimateInterestActiveContract] {
		s := cat.Expand(t.Key, lang, tr(lang, "storage.blocking"))
		var grounds []string
		if kinds[policy.RuleContractOrOpenRequest] {
			grounds = append(grounds, tr(lang, "ground.open_request"))
		}
		if kinds[policy.RuleConsent] {
			grounds = append(grounds, tr(lang, "ground.consent"))
		}
		if len(grounds) > 0 {
			s += " " + tr(lang, "storage.grounds", strings.Join(grounds, tr(lang, "or")))
		}
		out = append(out, s)
	}
	return out
}

// rights says how the person stops the messages of the type.
func rights(t policy.TypeSpec, lang string) []string {
	var out []string
	if t.Advertising {
		s := tr(lang, "rights.object")
		if t.OptOutNotice {
			s += " " + tr(lang, "rights.opt_out_notice")
		}
		out = append(out, s)
	} else {
		out = append(out, tr(lang, "rights.not_advertising"))
	}
	if ruleKinds(t)[policy.RuleConsent] {
		out = append(out, tr(lang, "rights.withdraw"))
	}
	return out
}

// subjects are the categories of data subjects (Art. 30(1)(c)) the rules
// reach.
func subjects(t policy.TypeSpec, lang string) []string {
	var out []string
	addOnce := func(key string) {
		if s := capitalize(tr(lang, key)); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, ch := range t.Channels {
		for _, r := range t.Rules(ch) {
			switch r.Kind {
			case policy.RuleContract:
				addOnce("subjects.customers")
			case policy.RuleContractOrOpenRequest:
				addOnce("subjects.customers")
				addOnce("subjects.open_request")
			case policy.RuleLegitimateInterestExistingCustomer, policy.RuleLegitimateInterestActiveContract:
				addOnce("subjects.active_customers")
			case policy.RuleConsent:
				if r.Purpose == "newsletter" {
					addOnce("subjects.subscribers")
				} else {
					addOnce("subjects.consented")
				}
			case policy.RuleDoubleOptInRequest:
				addOnce("subjects.signups")
			}
		}
	}
	return out
}

// recipientsOf lists the recipients serving the type's channels and their
// third-country transfers; the notice names a transfer with its recipient,
// the record in a field of its own.
func recipientsOf(n policy.Notice, t policy.TypeSpec, lang string, record bool) (recipients, transfers []string) {
	for _, r := range n.Recipients {
		if !slices.ContainsFunc(r.Channels, func(ch message.Channel) bool { return slices.Contains(t.Channels, ch) }) {
			continue
		}
		item := r.Name.In(lang) + ": " + r.Role.In(lang)
		if tx := r.Transfer.In(lang); tx != "" {
			transfers = append(transfers, r.Name.In(lang)+": "+tx+".")
			if !record {
				item += tr(lang, "recipient.transfer", tx)
			}
		}
		recipients = append(recipients, item+".")
	}
	return recipients, transfers
}

// via names a group of channels: "Per E-Mail und SMS", "By e-mail and SMS".
func via(chans []message.Channel, lang string) string {
	var names []string
	for _, ch := range chans {
		names = append(names, tr(lang, "channel."+string(ch)))
	}
	list := names[0]
	if len(names) > 1 {
		list = strings.Join(names[:len(names)-1], ", ") + tr(lang, "and") + names[len(names)-1]
	}
	return tr(lang, "via", list)
}

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	s = capitalize(s)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// capitalize upper-cases the first letter of s.
func capitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[size:]
}
