package policy_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// validCatalog is a small valid catalog that the parse cases break one way each.
const validCatalog = `version: "t1"
blocking_period: 3 months
frequency_cap:
  max: 4
  window: 7 days
types:
  - key: promo_offer
    purpose: Advertising own products
    class: marketing
    advertising: true
    opt_out_notice: true
    channels: [email, sms]
    basis:
      email:
        - rule: legitimate_interest_existing_customer
        - rule: consent
          purpose: advertising
      sms:
        - rule: consent
          purpose: advertising
    data_categories: [contact, offer]
    retention: 3 months
  - key: newsletter
    purpose: Newsletter
    class: marketing
    advertising: true
    opt_out_notice: true
    channels: [email]
    basis:
      email:
        - rule: consent
          purpose: newsletter
          double_opt_in: true
    lists: [news]
    data_categories: [contact, newsletter]
    retention: 3 months
  - key: invoice
    purpose: Invoices
    class: transactional
    channels: [email]
    basis:
      email:
        - rule: contract
    data_categories: [contact, invoice]
    retention: 10 years
  - key: messenger_offer
    purpose: Offers on messengers
    class: marketing
    advertising: true
    opt_out_notice: true
    channels: [rcs]
    basis:
      rcs:
        - rule: consent
          purpose: advertising
          explicit_channel: true
          verified_number: true
          sms_fallback: promo_offer
    data_categories: [contact, offer]
    retention: 3 months
`

// noticeBlock is a catalog-wide notice, put before "types:".
const noticeBlock = `notice:
  sections:
    - key: contract
      title: {de: Vertrag, en: Contract}
  withdrawal:
    de: Widerruf
    en: How to withdraw
types:
`

// typeNotice is a type's notice in section, with retention text ret.
func typeNotice(section, ret string) string {
	return "    notice:\n      section: " + section + "\n      title: {de: Titel, en: Title}\n      purpose: {de: Zweck, en: Purpose}\n" +
		"      retention: {de: \"" + ret + "\", en: \"" + ret + "\"}\n"
}

func TestParseCatalogValid(t *testing.T) {
	t.Parallel()
	cat, err := policy.ParseCatalog([]byte(validCatalog))
	if err != nil {
		t.Fatalf("valid catalog rejected: %v", err)
	}
	if got := cat.Version(); got != "t1" {
		t.Errorf("Version() = %q, want t1", got)
	}
}

// TestParseCatalogProblems breaks the valid catalog one way per case and
// checks that the error names the problem and where it is.
func TestParseCatalogProblems(t *testing.T) {
	t.Parallel()
	type edit struct{ old, new string }
	tests := []struct {
		name  string
		edits []edit
		raw   string // used instead of edits when set
		want  []string
	}{
		{name: "missing version", edits: []edit{{`version: "t1"` + "\n", ""}},
			want: []string{"catalog: version: missing"}},
		{name: "unknown channel", edits: []edit{{"channels: [email, sms]", "channels: [email, sms, fax]"}},
			want: []string{"type promo_offer: channel fax: unknown channel"}},
		{name: "duplicate channel", edits: []edit{{"channels: [email, sms]", "channels: [email, sms, email]"}},
			want: []string{"type promo_offer: channel email: listed twice"}},
		{name: "channel without legal basis", edits: []edit{{"channels: [email, sms]", "channels: [email, sms, whatsapp]"}},
			want: []string{"type promo_offer: channel whatsapp: no legal basis"}},
		{name: "channel with an empty basis list", edits: []edit{{"      sms:\n        - rule: consent\n          purpose: advertising\n", "      sms: []\n"}},
			want: []string{"type promo_offer: channel sms: no legal basis"}},
		{name: "basis for a channel not in the type", edits: []edit{{"channels: [email, sms]", "channels: [email]"}},
			want: []string{"type promo_offer: basis sms: a basis for a channel the type does not list in channels"}},
		{name: "marketing type without opt-out notice", edits: []edit{{"    opt_out_notice: true\n    channels: [email, sms]", "    opt_out_notice: false\n    channels: [email, sms]"}},
			want: []string{"type promo_offer: opt_out_notice: a marketing type must carry the opt-out notice"}},
		{name: "unknown data category", edits: []edit{{"data_categories: [contact, offer]", "data_categories: [contact, offer, salary]"}},
			want: []string{`type promo_offer: data_categories: unknown data category "salary"`}},
		{name: "duplicate data category", edits: []edit{{"data_categories: [contact, offer]", "data_categories: [contact, offer, offer]"}},
			want: []string{`type promo_offer: data_categories: "offer" listed twice`}},
		{name: "no data categories", edits: []edit{{"data_categories: [contact, invoice]", "data_categories: []"}},
			want: []string{"type invoice: data_categories: none listed"}},
		{name: "unknown class", edits: []edit{{"class: transactional", "class: bulk"}},
			want: []string{`type invoice: class: unknown queue class "bulk"`}},
		{name: "missing class", edits: []edit{{"    class: transactional\n", ""}},
			want: []string{"type invoice: class: missing"}},
		{name: "duplicate type", edits: []edit{{"key: invoice", "key: promo_offer"}},
			want: []string{"type promo_offer: key: duplicate type (first defined as type #1)"}},
		{name: "missing key", edits: []edit{{"  - key: invoice\n", "  - key: \"\"\n"}},
			want: []string{"type #3: key: missing"}},
		{name: "invalid key", edits: []edit{{"key: invoice", "key: Invoice!"}},
			want: []string{`type #3: key: "Invoice!" is not a valid type key`}},
		{name: "missing purpose", edits: []edit{{"    purpose: Invoices\n", ""}},
			want: []string{"type invoice: purpose: missing"}},
		{name: "missing retention", edits: []edit{{"    retention: 10 years\n", ""}},
			want: []string{"type invoice: retention: missing"}},
		{name: "bad retention", edits: []edit{{"retention: 10 years", "retention: forever"}},
			want: []string{`type invoice: retention: "forever": want a number and a unit`}},
		{name: "consent without purpose", edits: []edit{{"      sms:\n        - rule: consent\n          purpose: advertising\n", "      sms:\n        - rule: consent\n"}},
			want: []string{"type promo_offer: channel sms: basis #1 (consent): purpose: a consent rule needs the consent purpose"}},
		{name: "unknown consent purpose", edits: []edit{{"      sms:\n        - rule: consent\n          purpose: advertising\n", "      sms:\n        - rule: consent\n          purpose: gossip\n"}},
			want: []string{`type promo_offer: channel sms: basis #1 (consent): purpose: unknown consent purpose "gossip"`}},
		{name: "newsletter without double opt-in", edits: []edit{{"          double_opt_in: true\n", ""}},
			want: []string{"type newsletter: channel email: basis #1 (consent): double_opt_in: a newsletter consent must be confirmed by double opt-in"}},
		{name: "newsletter without lists", edits: []edit{{"    lists: [news]\n", ""}},
			want: []string{"type newsletter: lists: a newsletter type needs at least one list"}},
		{name: "lists on a type without newsletter", edits: []edit{{"    data_categories: [contact, invoice]\n", "    data_categories: [contact, invoice]\n    lists: [news]\n"}},
			want: []string{"type invoice: lists: only a type with a newsletter rule has lists"}},
		{name: "invalid list name", edits: []edit{{"lists: [news]", "lists: [News Letter]"}},
			want: []string{`type newsletter: lists: "News Letter" is not a valid list name`}},
		{name: "unknown rule", edits: []edit{{"        - rule: contract\n", "        - rule: vibes\n"}},
			want: []string{`type invoice: channel email: basis #1: rule: unknown rule "vibes"`}},
		{name: "missing rule", edits: []edit{{"        - rule: contract\n", "        - law: Art. 6(1)(b)\n"}},
			want: []string{"type invoice: channel email: basis #1: rule: missing"}},
		{name: "legitimate interest on sms", edits: []edit{{"      sms:\n        - rule: consent\n          purpose: advertising\n", "      sms:\n        - rule: legitimate_interest_existing_customer\n"}},
			want: []string{"type promo_offer: channel sms: basis #1 (legitimate_interest_existing_customer): rule: legitimate interest covers e-mail only"}},
		{name: "legitimate interest for a non-advertising type", edits: []edit{{"        - rule: contract\n", "        - rule: legitimate_interest_active_contract\n"}},
			want: []string{"type invoice: channel email: basis #1 (legitimate_interest_active_contract): rule: legitimate interest is the ground for own-product advertising"}},
		{name: "advertising on the contract", edits: []edit{{"        - rule: legitimate_interest_existing_customer\n", "        - rule: contract\n"}},
			want: []string{"type promo_offer: channel email: basis #1 (contract): rule: advertising cannot rest on the contract"}},
		{name: "purpose on a contract rule", edits: []edit{{"        - rule: contract\n", "        - rule: contract\n          purpose: advertising\n"}},
			want: []string{"type invoice: channel email: basis #1 (contract): purpose: only consent and double opt-in rules name a consent purpose"}},
		{name: "double opt-in on a contract rule", edits: []edit{{"        - rule: contract\n", "        - rule: contract\n          double_opt_in: true\n          explicit_channel: true\n"}},
			want: []string{"type invoice: channel email: basis #1 (contract): double_opt_in: only a consent rule", "explicit_channel: only a consent rule"}},
		{name: "verified number on email", edits: []edit{{"        - rule: consent\n          purpose: advertising\n      sms:", "        - rule: consent\n          purpose: advertising\n          verified_number: true\n      sms:"}},
			want: []string{"type promo_offer: channel email: basis #2 (consent): verified_number: only channels that deliver to a mobile number (sms, whatsapp, rcs)"}},
		{name: "messenger consent without a verified number", edits: []edit{{"          explicit_channel: true\n          verified_number: true\n", "          explicit_channel: true\n"}},
			want: []string{"type messenger_offer: channel rcs: basis #1 (consent): verified_number: consent on rcs counts only for a verified number"}},
		{name: "sms fallback to an unknown type", edits: []edit{{"sms_fallback: promo_offer", "sms_fallback: flyer"}},
			want: []string{`type messenger_offer: channel rcs: basis #1 (consent): sms_fallback: unknown type "flyer"`}},
		{name: "sms fallback to a type without sms", edits: []edit{{"sms_fallback: promo_offer", "sms_fallback: newsletter"}},
			want: []string{`sms_fallback: type "newsletter" has no sms channel`}},
		{name: "sms fallback on email", edits: []edit{{"        - rule: consent\n          purpose: advertising\n      sms:", "        - rule: consent\n          purpose: advertising\n          sms_fallback: promo_offer\n      sms:"}},
			want: []string{"type promo_offer: channel email: basis #2 (consent): sms_fallback: only rcs falls back to sms"}},
		{name: "double opt-in request on sms", edits: []edit{{"        - rule: contract\n", "        - rule: double_opt_in_request\n          purpose: survey\n"}, {"key: invoice", "key: doi_sms"}, {"channels: [email]\n    basis:\n      email:\n        - rule: double", "channels: [sms]\n    basis:\n      sms:\n        - rule: double"}},
			want: []string{"type doi_sms: channel sms: basis #1 (double_opt_in_request): purpose: a double opt-in request confirms a newsletter signup", "rule: the double opt-in confirmation goes to the e-mail address"}},
		{name: "marketing type not marked advertising", edits: []edit{{"key: promo_offer\n    purpose: Advertising own products\n    class: marketing\n    advertising: true", "key: promo_offer\n    purpose: Advertising own products\n    class: marketing\n    advertising: false"}},
			want: []string{"type promo_offer: advertising: a marketing type is advertising"}},
		{name: "advertising in the transactional queue", edits: []edit{{"    class: transactional\n", "    class: transactional\n    advertising: true\n    opt_out_notice: true\n"}},
			want: []string{"type invoice: class: an advertising type must not be transactional"}},
		{name: "bad blocking period", edits: []edit{{"blocking_period: 3 months", "blocking_period: 3 fortnights"}},
			want: []string{`catalog: blocking_period: "3 fortnights": unknown unit "fortnights"`}},
		{name: "zero blocking period", edits: []edit{{"blocking_period: 3 months", "blocking_period: 0 days"}},
			want: []string{"catalog: blocking_period: must be longer than zero"}},
		{name: "negative frequency cap", edits: []edit{{"max: 4", "max: -1"}},
			want: []string{"catalog: frequency_cap: max: must not be negative"}},
		{name: "frequency cap without window", edits: []edit{{"  window: 7 days\n", ""}},
			want: []string{"catalog: frequency_cap: window: missing"}},
		{name: "bad unconfirmed signup retention", edits: []edit{{"blocking_period: 3 months\n", "blocking_period: 3 months\nunconfirmed_signup_retention: soon\n"}},
			want: []string{`catalog: unconfirmed_signup_retention: "soon"`}},
		{name: "unknown field is not ignored", edits: []edit{{"    purpose: Invoices\n", "    purpose: Invoices\n    purpse: typo\n"}},
			want: []string{"catalog: yaml: line", "field purpse not found in a type"}},
		{name: "misspelt rule option is not ignored", edits: []edit{{"          double_opt_in: true\n", "          double_optin: true\n"}},
			want: []string{"field double_optin not found in a basis rule", "double_opt_in: a newsletter consent must be confirmed"}},
		{name: "wrong field type", edits: []edit{{"advertising: true\n    opt_out_notice: true\n    channels: [email, sms]", "advertising: yes please\n    opt_out_notice: true\n    channels: [email, sms]"}},
			want: []string{"catalog: yaml: line"}},
		{name: "duplicate channel in basis mapping", edits: []edit{{"      sms:\n        - rule: consent\n          purpose: advertising\n", "      sms:\n        - rule: consent\n          purpose: advertising\n      sms:\n        - rule: consent\n          purpose: advertising\n"}},
			want: []string{`mapping key "sms" already defined`}},
		{name: "no types", raw: "version: x\ntypes: []\n", want: []string{"catalog: types: none defined"}},
		{name: "empty document", raw: "", want: []string{"catalog: empty document"}},
		{name: "not YAML", raw: "version: [unclosed\n", want: []string{"catalog: yaml:"}},
		{name: "two documents", edits: []edit{{"retention: 10 years\n", "retention: 10 years\n---\nversion: again\n"}},
			want: []string{"catalog: more than one YAML document"}},
		{name: "notice: a type names an unknown section", edits: []edit{{"types:\n", noticeBlock}, {"    retention: 10 years\n", "    retention: 10 years\n" + typeNotice("billing", "{retention}")}},
			want: []string{`type invoice: notice: section: "billing" is not one of the catalog's notice sections`}},
		{name: "notice: a text lacks a language", edits: []edit{{"types:\n", strings.Replace(noticeBlock, "    en: How to withdraw\n", "", 1)}},
			want: []string{"catalog: notice: withdrawal: en: missing"}},
		{name: "notice: unknown placeholder", edits: []edit{{"types:\n", noticeBlock}, {"    retention: 10 years\n", "    retention: 10 years\n" + typeNotice("contract", "{retension}")}},
			want: []string{"type invoice: notice: retention: de: unknown placeholder {retension}"}},
		{name: "notice: retention without its period", edits: []edit{{"types:\n", noticeBlock}, {"    retention: 10 years\n", "    retention: 10 years\n" + typeNotice("contract", "zehn Jahre")}},
			want: []string{"type invoice: notice: retention: de: name the period by placeholder"}},
		{name: "notice: unknown field", edits: []edit{{"types:\n", strings.Replace(noticeBlock, "  withdrawal:", "  widerruf: x\n  withdrawal:", 1)}},
			want: []string{"catalog: yaml: line"}},
		{name: "every problem at once", edits: []edit{{`version: "t1"` + "\n", ""}, {"channels: [email, sms]", "channels: [email, sms, fax]"}, {"class: transactional", "class: bulk"}, {"data_categories: [contact, offer]", "data_categories: [contact, gossip]"}},
			want: []string{"catalog: version: missing", "type promo_offer: channel fax: unknown channel", `type invoice: class: unknown queue class "bulk"`, `type promo_offer: data_categories: unknown data category "gossip"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := tt.raw
			if tt.raw == "" && tt.edits != nil {
				src = validCatalog
				for _, e := range tt.edits {
					if !strings.Contains(src, e.old) {
						t.Fatalf("bad test: %q not in the valid catalog", e.old)
					}
					src = strings.Replace(src, e.old, e.new, 1)
				}
			}
			cat, err := policy.ParseCatalog([]byte(src))
			if err == nil {
				t.Fatalf("ParseCatalog accepted a bad catalog (%v):\n%s", cat.Types(), src)
			}
			if cat != nil {
				t.Errorf("ParseCatalog returned a catalog with an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q; got:\n%v", w, err)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "catalog: ") && !strings.HasPrefix(line, "type ") {
					t.Errorf("problem without location: %q", line)
				}
			}
		})
	}
}

func TestDefaultCatalog(t *testing.T) {
	t.Parallel()
	cat := defaultCatalog(t)

	var keys []message.Type
	for _, ts := range cat.Types() {
		keys = append(keys, ts.Key)
	}
	wantKeys := []message.Type{"service_reply", "invoice", "contract_info", "customer_tip", "promo_offer",
		"newsletter", "doi_confirmation", "survey", "messenger_offer"}
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Errorf("types (-want +got):\n%s", diff)
	}

	got, ok := cat.Type("promo_offer")
	if !ok {
		t.Fatal("no promo_offer")
	}
	want := policy.TypeSpec{
		Key:            "promo_offer",
		Purpose:        "Advertising the company's own products (savings, product advantages)",
		Class:          message.Marketing,
		Channels:       []message.Channel{message.Email, message.SMS},
		DataCategories: []string{"contact", "contract", "offer", "usage", "traffic"},
		OptOutNotice:   true,
		Advertising:    true,
		Retention:      90 * 24 * time.Hour,
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(policy.TypeSpec{}), cmpopts.IgnoreFields(policy.TypeSpec{}, "Notice")); diff != "" {
		t.Errorf("promo_offer (-want +got):\n%s", diff)
	}
	wantRules := []policy.Rule{
		{Kind: policy.RuleLegitimateInterestExistingCustomer, Law: "Art. 6(1)(f) GDPR, §7(3) UWG"},
		{Kind: policy.RuleConsent, Purpose: "advertising", Law: "Art. 6(1)(a) GDPR, §7(2) no. 2 UWG"},
	}
	if diff := cmp.Diff(wantRules, got.Rules(message.Email)); diff != "" {
		t.Errorf("promo_offer email rules (-want +got):\n%s", diff)
	}
	if r := got.Rules(message.WhatsApp); r != nil {
		t.Errorf("promo_offer whatsapp rules = %v, want none", r)
	}
	nl, _ := cat.Type("newsletter")
	if diff := cmp.Diff([]string{"news", "press", "prospects"}, nl.Lists); diff != "" {
		t.Errorf("newsletter lists (-want +got):\n%s", diff)
	}
	if gaps := cat.NoticeGaps(); len(gaps) != 0 {
		t.Errorf("the default catalog cannot render the privacy notice: %v", gaps)
	}
	if got.Notice.Section != "advertising" || cat.Expand("promo_offer", "de", got.Notice.Retention.DE) == got.Notice.Retention.DE {
		t.Errorf("promo_offer notice %+v: want section advertising and a period placeholder", got.Notice)
	}
	if _, ok := cat.Type("fax_blast"); ok {
		t.Error("Type(fax_blast) found")
	}

	if got := cat.BlockingPeriod(); got != 90*24*time.Hour {
		t.Errorf("BlockingPeriod() = %v, want 90 days", got)
	}
	if max, window := cat.FrequencyCap(); max != 4 || window != 7*24*time.Hour {
		t.Errorf("FrequencyCap() = %d, %v; want 4 per 7 days", max, window)
	}
	if got := cat.UnconfirmedSignupRetention(); got != 30*24*time.Hour {
		t.Errorf("UnconfirmedSignupRetention() = %v, want 30 days", got)
	}
	// §188(3) BGB: 30 November + 3 months has no 30 February, so the period
	// ends with the last day of February and the blocking starts on 1 March.
	end := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	if got, want := cat.BlockedFrom(end), time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("BlockedFrom(%v) = %v, want %v", end, got, want)
	}
	if got, want := cat.FrequencyWindowStart(now()), now().AddDate(0, 0, -7); !got.Equal(want) {
		t.Errorf("FrequencyWindowStart = %v, want %v", got, want)
	}

	// Accessors hand out copies: the catalog is immutable.
	ts := cat.Types()
	ts[0].Channels[0] = "fax"
	b := policy.DefaultCatalog()
	b[0] = '!'
	again, _ := cat.Type(ts[0].Key)
	if again.Channels[0] == "fax" || policy.DefaultCatalog()[0] == '!' {
		t.Error("a caller changed the catalog through an accessor")
	}
}

func TestWriteTableListsEveryTypeAndChannel(t *testing.T) {
	t.Parallel()
	cat := defaultCatalog(t)
	var buf bytes.Buffer
	if err := cat.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, ts := range cat.Types() {
		for _, ch := range ts.Channels {
			for _, r := range ts.Rules(ch) {
				row := strings.Join([]string{string(ts.Key), string(ts.Class), string(ch), string(r.Kind.Basis())}, " ")
				found := false
				for _, line := range strings.Split(out, "\n") {
					found = found || strings.HasPrefix(strings.Join(strings.Fields(line), " "), row+" ")
				}
				if !found {
					t.Errorf("table has no row %q:\n%s", row, out)
				}
			}
		}
	}
}

// FuzzParseCatalog: no input panics, and no accepted catalog allows an
// unknown type, an unknown channel or an unknown recipient.
func FuzzParseCatalog(f *testing.F) {
	f.Add(policy.DefaultCatalog())
	f.Add([]byte(validCatalog))
	f.Add([]byte("version: x\ntypes: []\n"))
	f.Add([]byte("version: [unclosed\n"))
	f.Add([]byte("version: x\ntypes:\n  - key: a\n    channels: [fax]\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cat, err := policy.ParseCatalog(b)
		if err != nil {
			if cat != nil {
				t.Fatal("catalog returned with an error")
			}
			return // rejecting bad input is fine; panicking is not
		}
		_ = cat.WriteTable(io.Discard)
		if d := policy.Decide(cat, policy.Facts{Type: "no_such_type", Channel: message.Email, Now: now(), Recipient: customer()}); d.Allowed {
			t.Fatalf("catalog allows an unknown type:\n%s", b)
		}
		for _, ts := range cat.Types() {
			if ts.Key == "no_such_type" {
				continue
			}
			if d := policy.Decide(cat, policy.Facts{Type: ts.Key, Channel: "fax", Now: now(), Recipient: customer()}); d.Allowed {
				t.Fatalf("type %s allows an unknown channel:\n%s", ts.Key, b)
			}
			for _, ch := range ts.Channels {
				if d := policy.Decide(cat, policy.Facts{Type: ts.Key, Channel: ch, Now: now()}); d.Allowed {
					t.Fatalf("type %s on %s allows an unknown recipient:\n%s", ts.Key, ch, b)
				}
				_ = policy.Decide(cat, policy.Facts{Type: ts.Key, Channel: ch, Now: now(), Recipient: customer()})
			}
		}
	})
}
