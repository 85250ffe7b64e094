package policy_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// TestDecideCorrections holds one group of cases per defect found in the
// review of the policy against the privacy notice, GDPR and UWG. Every case
// marked "defect" decided differently before the correction.
func TestDecideCorrections(t *testing.T) {
	t.Parallel()
	cat := defaultCatalog(t)
	const (
		adv   = consent.Advertising
		email = string(message.Email)
		sms   = string(message.SMS)
		all   = consent.AllChannels
	)
	news := consent.Newsletter("news")
	blockedFormer := func() *policy.Recipient { return former(now().AddDate(-1, 0, 0)) } // ended 2025-11-25
	erased := func(r *policy.Recipient, at time.Time) *policy.Recipient {
		r.Suppressed = true
		r.Suppressions = append(r.Suppressions, policy.Suppression{Reason: policy.SuppressionErased, At: at})
		return r
	}
	suppressed := func(r *policy.Recipient, reason string, at time.Time) *policy.Recipient {
		r.Suppressed = true
		r.Suppressions = append(r.Suppressions, policy.Suppression{Reason: reason, At: at})
		return r
	}
	// newCustomer is a person re-created as a customer whose contract
	// started at start.
	newCustomer := func(start time.Time) *policy.Recipient {
		r := customer()
		r.ContractStart = start
		return r
	}
	allow := func(basis policy.Basis, rule string, data ...string) want {
		return want{Allowed: true, Basis: basis, Reason: policy.Allowed, Rule: rule, Data: data}
	}
	ads := func(w want) want { w.OptOut = true; return w }
	deny := func(r policy.Reason) want { return want{Reason: r} }

	tests := []struct {
		name   string
		typ    message.Type
		ch     message.Channel
		r      *policy.Recipient
		events []consent.Event
		want   want
		// evidence lists strings the decision's evidence must contain.
		evidence []string
	}{
		// ---- Blocking gave way to nothing, not even an open request.
		{name: "defect: service_reply to a blocked former customer with an open request", typ: "service_reply", ch: message.SMS,
			r:        with(blockedFormer(), func(r *policy.Recipient) { r.OpenRequest = true }),
			want:     allow(policy.Contract, "service_reply/sms/contract_or_open_request", "contact", "service"),
			evidence: []string{"open_request", "blocked_from:2026-02-26T00:00:00Z", "new_ground:open_request", "contract_data:blocked"}},
		{name: "invoice to a blocked former customer with an open request stays blocked", typ: "invoice", ch: message.Email,
			r: with(blockedFormer(), func(r *policy.Recipient) { r.OpenRequest = true }), want: deny(policy.Blocked)},
		{name: "service_reply to a blocked former customer with an open request but no number", typ: "service_reply", ch: message.SMS,
			r: with(blockedFormer(), func(r *policy.Recipient) { r.OpenRequest = true; r.HasPhone = false }), want: deny(policy.NoContactPoint)},

		// ---- A new consent after the blocking was ignored.
		{name: "defect: newsletter confirmed by double opt-in after the blocking", typ: "newsletter", ch: message.Email, r: blockedFormer(),
			events:   []consent.Event{ev("r1", consent.DOIRequest, news, email, 2*day), ev("c1", consent.DOIConfirm, news, email, day)},
			want:     ads(allow(policy.Consent, "newsletter/email/consent", "contact", "newsletter")),
			evidence: []string{"consent:c1", "consent_after_contract_end", "new_ground:consent", "contract_data:blocked"}},
		{name: "defect: doi_confirmation mail for a signup after the blocking", typ: "doi_confirmation", ch: message.Email, r: blockedFormer(),
			events:   []consent.Event{ev("r1", consent.DOIRequest, news, email, time.Minute)},
			want:     allow(policy.Contract, "doi_confirmation/email/double_opt_in_request", "contact", "doi"),
			evidence: []string{"doi_request:r1", "new_ground:signup"}},
		{name: "defect: promo_offer by sms with consent after the blocking keeps the contract data blocked", typ: "promo_offer", ch: message.SMS, r: blockedFormer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, day), ev("u1", consent.Grant, consent.UsageData, all, day)},
			want:   ads(allow(policy.Consent, "promo_offer/sms/consent", "contact", "offer"))},
		{name: "defect: promo_offer by sms with consent given after the contract ended, before the blocking", typ: "promo_offer", ch: message.SMS,
			r:        former(now().AddDate(0, -1, 0)),
			events:   []consent.Event{ev("g1", consent.Grant, adv, sms, 7*day)},
			want:     ads(allow(policy.Consent, "promo_offer/sms/consent", "contact", "contract", "offer")),
			evidence: []string{"consent:g1", "consent_after_contract_end"}},
		{name: "newsletter confirmed during the contract stays blocked", typ: "newsletter", ch: message.Email, r: blockedFormer(),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, 2*year), ev("c1", consent.DOIConfirm, news, email, 2*year-day)},
			want:   deny(policy.Blocked)},
		{name: "consent after the blocking, then withdrawn: blocked again", typ: "promo_offer", ch: message.SMS, r: blockedFormer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, 2*day), ev("w1", consent.Withdraw, adv, sms, day)},
			want:   deny(policy.Blocked)},

		// ---- Suppression after erasure had no way back.
		{name: "defect: invoice to a person erased, then re-created with a new contract", typ: "invoice", ch: message.Email,
			r:        erased(newCustomer(now().AddDate(0, -1, 0)), now().AddDate(-1, 0, 0)),
			want:     allow(policy.Contract, "invoice/email/contract", "contact", "contract", "invoice"),
			evidence: []string{"suppression_lifted:erased@2025-11-25T12:00:00Z:by:contract_start@2026-10-25T12:00:00Z"}},
		{name: "defect: promo_offer by email on legitimate interest of the new contract after erasure", typ: "promo_offer", ch: message.Email,
			r:    erased(newCustomer(now().AddDate(0, -1, 0)), now().AddDate(-1, 0, 0)),
			want: ads(allow(policy.LegitimateInterest, "promo_offer/email/legitimate_interest_existing_customer", "contact", "contract", "offer"))},
		{name: "defect: newsletter confirmed after the erasure", typ: "newsletter", ch: message.Email,
			r:        erased(prospect(), now().AddDate(-1, 0, 0)),
			events:   []consent.Event{ev("r1", consent.DOIRequest, news, email, 2*day), ev("c1", consent.DOIConfirm, news, email, day)},
			want:     ads(allow(policy.Consent, "newsletter/email/consent", "contact", "newsletter")),
			evidence: []string{"consent:c1", "suppression_lifted:erased@2025-11-25T12:00:00Z:by:consent@2026-11-24T12:00:00Z"}},
		{name: "defect: doi_confirmation for a signup after the erasure", typ: "doi_confirmation", ch: message.Email,
			r:      erased(prospect(), now().AddDate(-1, 0, 0)),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, time.Minute)},
			want:   allow(policy.Contract, "doi_confirmation/email/double_opt_in_request", "contact", "doi")},
		{name: "stale contract data do not lift an erasure", typ: "invoice", ch: message.Email,
			r: erased(newCustomer(now().AddDate(-3, 0, 0)), now().AddDate(-1, 0, 0)), want: deny(policy.Suppressed)},
		{name: "a consent older than the erasure does not lift it", typ: "promo_offer", ch: message.SMS,
			r:      erased(prospect(), now().AddDate(0, -1, 0)),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, year)}, want: deny(policy.Suppressed)},
		{name: "an open request does not lift an erasure (it has no time)", typ: "service_reply", ch: message.Email,
			r: erased(with(prospect(), func(r *policy.Recipient) { r.OpenRequest = true }), now().AddDate(0, -1, 0)), want: deny(policy.Suppressed)},
		{name: "a new contract does not lift a hard bounce", typ: "invoice", ch: message.Email,
			r: suppressed(newCustomer(now().AddDate(0, -1, 0)), policy.SuppressionHardBounce, now().AddDate(-1, 0, 0)), want: deny(policy.Suppressed)},
		{name: "a new consent does not lift a hard bounce", typ: "newsletter", ch: message.Email,
			r:      suppressed(prospect(), policy.SuppressionHardBounce, now().AddDate(-1, 0, 0)),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, 2*day), ev("c1", consent.DOIConfirm, news, email, day)},
			want:   deny(policy.Suppressed)},
		{name: "a consent for sms given after a provider STOP lifts it", typ: "promo_offer", ch: message.SMS,
			r:        suppressed(customer(), policy.SuppressionProviderStop, now().AddDate(0, -1, 0)),
			events:   []consent.Event{ev("g1", consent.Grant, adv, sms, day)},
			want:     ads(allow(policy.Consent, "promo_offer/sms/consent", "contact", "contract", "offer")),
			evidence: []string{"suppression_lifted:provider_stop@2026-10-25T12:00:00Z:by:consent@2026-11-24T12:00:00Z"}},
		{name: "a consent for all channels does not lift a provider STOP", typ: "promo_offer", ch: message.SMS,
			r:      suppressed(customer(), policy.SuppressionProviderStop, now().AddDate(0, -1, 0)),
			events: []consent.Event{ev("g1", consent.Grant, adv, all, day)}, want: deny(policy.Suppressed)},
		{name: "a new contract does not lift a provider STOP", typ: "invoice", ch: message.SMS,
			r: suppressed(newCustomer(now().AddDate(0, 0, -1)), policy.SuppressionProviderStop, now().AddDate(0, -1, 0)), want: deny(policy.Suppressed)},
		{name: "every suppression must be lifted: erasure and hard bounce", typ: "invoice", ch: message.Email,
			r:    suppressed(erased(newCustomer(now().AddDate(0, 0, -1)), now().AddDate(-1, 0, 0)), policy.SuppressionHardBounce, now().AddDate(-2, 0, 0)),
			want: deny(policy.Suppressed), evidence: []string{"suppression:erased@2025-11-25T12:00:00Z", "suppression:hard_bounce@2024-11-25T12:00:00Z"}},
		{name: "an unknown suppression reason is never lifted", typ: "invoice", ch: message.Email,
			r: suppressed(newCustomer(now().AddDate(0, 0, -1)), "complaint", now().AddDate(-1, 0, 0)), want: deny(policy.Suppressed)},

		// ---- A customer without contract dates got advertising indefinitely.
		{name: "defect: promo_offer by email to a customer without a recorded contract start", typ: "promo_offer", ch: message.Email,
			r:    &policy.Recipient{ID: "c-2", Kind: policy.Customer, HasEmail: true, EmailFromSale: true},
			want: want{Reason: policy.NoContract, Rule: "promo_offer/email/legitimate_interest_existing_customer"}, evidence: []string{"contract_start:missing"}},
		{name: "defect: customer_tip by email to a customer without a recorded contract start", typ: "customer_tip", ch: message.Email,
			r:    &policy.Recipient{ID: "c-2", Kind: policy.Customer, HasEmail: true},
			want: want{Reason: policy.NoContract, Rule: "customer_tip/email/legitimate_interest_active_contract"}},
		{name: "contract_info to a customer without contract dates trusts the producer", typ: "contract_info", ch: message.Email,
			r:    &policy.Recipient{ID: "c-2", Kind: policy.Customer, HasEmail: true},
			want: allow(policy.Contract, "contract_info/email/contract", "contact", "contract")},

		// ---- A prospect without consent was told no_contract.
		{name: "defect: promo_offer by email to a prospect lacks consent", typ: "promo_offer", ch: message.Email, r: prospect(),
			want: want{Reason: policy.NoConsent, Rule: "promo_offer/email/legitimate_interest_existing_customer"}},

		// ---- A double opt-in confirmed after its window still made a consent.
		{name: "defect: newsletter confirmed after the unconfirmed-signup retention", typ: "newsletter", ch: message.Email, r: prospect(),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, 40*day), ev("c1", consent.DOIConfirm, news, email, 5*day)},
			want:   want{Reason: policy.NoConsent, Rule: "newsletter/email/consent"}, evidence: []string{"consent:c1:confirmed_after_window"}},
		{name: "newsletter confirmed on the last day of the retention", typ: "newsletter", ch: message.Email, r: prospect(),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, 40*day), ev("c1", consent.DOIConfirm, news, email, 10*day+time.Second)},
			want:   ads(allow(policy.Consent, "newsletter/email/consent", "contact", "newsletter"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := policy.Decide(cat, policy.Facts{Type: tt.typ, Channel: tt.ch, Now: now(), Recipient: tt.r,
				Consent: consent.Fold(tt.events, now())})
			got := want{Allowed: d.Allowed, Basis: d.Basis, Reason: d.Reason, Rule: d.Rule,
				Data: d.DataCategories, OptOut: d.OptOutNotice, SMSFallback: d.SMSFallback}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s\nevidence: %v", diff, d.Evidence)
			}
			for _, e := range tt.evidence {
				if !slices.Contains(d.Evidence, e) {
					t.Errorf("evidence %v lacks %q", d.Evidence, e)
				}
			}
			if !d.Allowed && (d.Basis != "" || d.DataCategories != nil) {
				t.Errorf("a denial grants something: %+v", d)
			}
		})
	}
}

// TestBlockedFromBGB188 checks the blocking date against §§187(1),
// 188(2),(3) BGB at month ends, and that Decide follows it to the second.
func TestBlockedFromBGB188(t *testing.T) {
	t.Parallel()
	cat := defaultCatalog(t)
	date := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	cet := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		end  time.Time // contract end
		want time.Time // first blocked instant
	}{
		{"31 August: 30 November is the last day (§188(3))", time.Date(2026, 8, 31, 17, 0, 0, 0, time.UTC), date(2026, 12, 1)},
		{"30 November: 28 February is the last day (§188(3))", date(2026, 11, 30), date(2027, 3, 1)},
		{"30 November before a leap year: 29 February is the last day", time.Date(2027, 11, 30, 23, 59, 0, 0, time.UTC), date(2028, 3, 1)},
		{"29 February in a leap year: 29 May is the last day (§188(2))", date(2028, 2, 29), date(2028, 5, 30)},
		{"28 February: 28 May is the last day", date(2026, 2, 28), date(2026, 5, 29)},
		{"31 December: 31 March is the last day", time.Date(2026, 12, 31, 8, 0, 0, 0, time.UTC), date(2027, 4, 1)},
		{"the day is the one of the time's own zone", time.Date(2026, 11, 30, 23, 30, 0, 0, cet), time.Date(2027, 3, 1, 0, 0, 0, 0, cet)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := cat.BlockedFrom(tt.end); !got.Equal(tt.want) {
				t.Fatalf("BlockedFrom(%v) = %v, want %v", tt.end, got, tt.want)
			}
			r := former(tt.end)
			for _, c := range []struct {
				at   time.Time
				want policy.Reason
			}{{tt.want.Add(-time.Second), policy.Allowed}, {tt.want, policy.Blocked}} {
				d := policy.Decide(cat, policy.Facts{Type: "invoice", Channel: message.Email, Now: c.at, Recipient: r})
				if d.Reason != c.want {
					t.Errorf("invoice at %v: %s, want %s (evidence %v)", c.at, d.Reason, c.want, d.Evidence)
				}
			}
		})
	}

	// The same counting for a period of years and one of days.
	for _, tt := range []struct {
		period string
		end    time.Time
		want   time.Time
	}{
		{"1 year", date(2028, 2, 29), date(2029, 3, 1)}, // §188(3): no 29 February 2029
		{"10 days", time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), date(2026, 1, 12)},
		{"2 weeks", date(2026, 1, 1), date(2026, 1, 16)},
	} {
		c, err := policy.ParseCatalog([]byte("version: \"1\"\nblocking_period: " + tt.period + `
types:
  - key: invoice
    purpose: invoices
    class: transactional
    channels: [email]
    basis:
      email:
        - rule: contract
    data_categories: [contact]
    retention: 10 years
`))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.BlockedFrom(tt.end); !got.Equal(tt.want) {
			t.Errorf("blocking %s: BlockedFrom(%v) = %v, want %v", tt.period, tt.end, got, tt.want)
		}
	}
}
