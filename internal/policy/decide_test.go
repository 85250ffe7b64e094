package policy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// now is the moment every table case is decided at.
func now() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }

func defaultCatalog(t testing.TB) *policy.Catalog {
	t.Helper()
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		t.Fatalf("default catalog: %v", err)
	}
	return cat
}

// customer has an active contract, an e-mail address collected in a sale and
// a verified mobile number.
func customer() *policy.Recipient {
	return &policy.Recipient{
		ID: "c-1", Kind: policy.Customer, ContractStart: now().AddDate(-2, 0, 0),
		HasEmail: true, EmailFromSale: true, HasPhone: true, PhoneVerifiedAt: now().AddDate(-1, 0, 0),
	}
}

// prospect never had a contract.
func prospect() *policy.Recipient {
	return &policy.Recipient{ID: "p-1", Kind: policy.Prospect, HasEmail: true, HasPhone: true,
		PhoneVerifiedAt: now().AddDate(0, -1, 0)}
}

// former is a customer whose contract ended at end.
func former(end time.Time) *policy.Recipient {
	r := customer()
	r.ContractEnd = end
	return r
}

// with applies changes to a recipient.
func with(r *policy.Recipient, change func(*policy.Recipient)) *policy.Recipient {
	change(r)
	return r
}

// ev is a ledger event; ago is how long before now it happened.
func ev(id string, kind consent.Kind, purpose, channel string, ago time.Duration) consent.Event {
	return consent.Event{ID: id, Kind: kind, Purpose: purpose, Channel: channel, At: now().Add(-ago), Source: consent.WebForm}
}

const (
	day  = 24 * time.Hour
	year = 365 * day
)

// want is the part of a decision a case asserts. Evidence is compared only
// when the case sets it.
type want struct {
	Allowed     bool
	Basis       policy.Basis
	Reason      policy.Reason
	Rule        string
	Data        []string
	OptOut      bool
	SMSFallback bool
}

func TestDecide(t *testing.T) {
	t.Parallel()
	cat := defaultCatalog(t)
	deny := func(r policy.Reason) want { return want{Reason: r} }
	denyRule := func(r policy.Reason, rule string) want { return want{Reason: r, Rule: rule} }

	const (
		adv   = consent.Advertising
		email = string(message.Email)
		sms   = string(message.SMS)
		wa    = string(message.WhatsApp)
		rcs   = string(message.RCS)
		all   = consent.AllChannels
	)
	news := consent.Newsletter("news")

	tests := []struct {
		name     string
		typ      message.Type
		ch       message.Channel
		r        *policy.Recipient
		events   []consent.Event
		list     string
		recent   int
		want     want
		evidence []string
	}{
		// ---- deny by default
		{name: "zero facts", want: deny(policy.UnknownType)},
		{name: "unknown type", typ: "fax_blast", ch: message.Email, r: customer(), want: deny(policy.UnknownType)},
		{name: "unknown type with unknown recipient names the type", typ: "fax_blast", ch: message.Email, want: deny(policy.UnknownType)},
		{name: "invoice by whatsapp is not a channel of the type", typ: "invoice", ch: message.WhatsApp, r: customer(), want: deny(policy.ChannelNotAllowed)},
		{name: "invoice by an unknown channel", typ: "invoice", ch: "fax", r: customer(), want: deny(policy.ChannelNotAllowed)},
		{name: "newsletter by sms is not a channel of the type", typ: "newsletter", ch: message.SMS, r: customer(), want: deny(policy.ChannelNotAllowed)},
		{name: "invoice to an unknown recipient", typ: "invoice", ch: message.Email, want: deny(policy.UnknownRecipient)},

		// ---- suppression, blocking, contact points
		{name: "invoice to a suppressed address", typ: "invoice", ch: message.Email,
			r: with(customer(), func(r *policy.Recipient) { r.Suppressed = true }), want: deny(policy.Suppressed)},
		{name: "promo_offer by sms with consent to a suppressed number", typ: "promo_offer", ch: message.SMS,
			r:      with(customer(), func(r *policy.Recipient) { r.Suppressed = true }),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, day)}, want: deny(policy.Suppressed)},
		{name: "suppressed wins over blocked", typ: "invoice", ch: message.Email,
			r: with(former(now().AddDate(-1, 0, 0)), func(r *policy.Recipient) { r.Suppressed = true }), want: deny(policy.Suppressed)},
		{name: "invoice the day after the blocking period ended is blocked", typ: "invoice", ch: message.Email,
			r: former(now().AddDate(0, -3, -1)), want: deny(policy.Blocked),
			evidence: []string{"contract:ended:2026-08-24T12:00:00Z", "blocked_from:2026-11-25T00:00:00Z"}},
		{name: "invoice on the last day of the blocking period (§188(2) BGB)", typ: "invoice", ch: message.Email,
			r:    former(now().AddDate(0, -3, 0)),
			want: want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "invoice/email/contract", Data: []string{"contact", "contract", "invoice"}}},
		{name: "invoice after contract ended 3 months minus a second ago", typ: "invoice", ch: message.Email,
			r:    former(now().AddDate(0, -3, 0).Add(time.Second)),
			want: want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "invoice/email/contract", Data: []string{"contact", "contract", "invoice"}}},
		{name: "newsletter confirmed by double opt-in is blocked after the blocking period", typ: "newsletter", ch: message.Email,
			r:      former(now().AddDate(0, -4, 0)),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, 2*year), ev("c1", consent.DOIConfirm, news, email, 2*year-day)},
			want:   deny(policy.Blocked)},
		{name: "service_reply with an open request after the blocking period", typ: "service_reply", ch: message.Email,
			r:    with(former(now().AddDate(-1, 0, 0)), func(r *policy.Recipient) { r.OpenRequest = true }),
			want: want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "service_reply/email/contract_or_open_request", Data: []string{"contact", "service"}}},
		{name: "service_reply without an open request is blocked after the blocking period", typ: "service_reply", ch: message.Email,
			r: former(now().AddDate(-1, 0, 0)), want: deny(policy.Blocked)},
		{name: "blocked wins over no contact point", typ: "invoice", ch: message.Email,
			r: with(former(now().AddDate(-1, 0, 0)), func(r *policy.Recipient) { r.HasEmail = false }), want: deny(policy.Blocked)},
		{name: "invoice by email without an address", typ: "invoice", ch: message.Email,
			r: with(customer(), func(r *policy.Recipient) { r.HasEmail = false }), want: deny(policy.NoContactPoint)},
		{name: "invoice by sms without a number", typ: "invoice", ch: message.SMS,
			r: with(customer(), func(r *policy.Recipient) { r.HasPhone = false }), want: deny(policy.NoContactPoint)},
		{name: "messenger_offer by whatsapp without a number", typ: "messenger_offer", ch: message.WhatsApp,
			r: with(customer(), func(r *policy.Recipient) { r.HasPhone = false }), want: deny(policy.NoContactPoint)},

		// ---- contract: invoice, contract_info
		{name: "invoice by email, contract active", typ: "invoice", ch: message.Email, r: customer(),
			want:     want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "invoice/email/contract", Data: []string{"contact", "contract", "invoice"}},
			evidence: []string{"contract:active"}},
		{name: "invoice by sms, contract active", typ: "invoice", ch: message.SMS, r: customer(),
			want: want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "invoice/sms/contract", Data: []string{"contact", "contract", "invoice"}}},
		{name: "contract_info one month after contract end", typ: "contract_info", ch: message.Email, r: former(now().AddDate(0, -1, 0)),
			want: want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "contract_info/email/contract", Data: []string{"contact", "contract"}}},
		{name: "invoice to a prospect", typ: "invoice", ch: message.Email, r: prospect(), want: denyRule(policy.NoContract, "invoice/email/contract")},
		{name: "invoice to a customer without contract dates", typ: "invoice", ch: message.Email,
			r:    &policy.Recipient{ID: "c-2", Kind: policy.Customer, HasEmail: true},
			want: want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "invoice/email/contract", Data: []string{"contact", "contract", "invoice"}}},
		{name: "invoice despite an objection to all advertising", typ: "invoice", ch: message.Email, r: customer(),
			events: []consent.Event{ev("o1", consent.Object, adv, all, day)},
			want:   want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "invoice/email/contract", Data: []string{"contact", "contract", "invoice"}}},
		{name: "invoice by sms despite an sms STOP", typ: "invoice", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("o1", consent.Object, adv, sms, day)},
			want:   want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "invoice/sms/contract", Data: []string{"contact", "contract", "invoice"}}},
		{name: "contract_info despite an objection to the type", typ: "contract_info", ch: message.Email, r: customer(),
			events: []consent.Event{ev("o1", consent.Object, "contract_info", all, day)},
			want:   want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "contract_info/email/contract", Data: []string{"contact", "contract"}}},
		{name: "invoice ignores the frequency cap", typ: "invoice", ch: message.Email, r: customer(), recent: 10,
			want: want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "invoice/email/contract", Data: []string{"contact", "contract", "invoice"}}},

		// ---- service_reply
		{name: "service_reply to a prospect with an open request", typ: "service_reply", ch: message.Email,
			r:        with(prospect(), func(r *policy.Recipient) { r.OpenRequest = true }),
			want:     want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "service_reply/email/contract_or_open_request", Data: []string{"contact", "contract", "service"}},
			evidence: []string{"contract:none", "open_request"}},
		{name: "service_reply to a prospect without an open request", typ: "service_reply", ch: message.SMS, r: prospect(),
			want: denyRule(policy.NoOpenRequest, "service_reply/sms/contract_or_open_request")},
		{name: "service_reply to a customer without an open request", typ: "service_reply", ch: message.SMS, r: customer(),
			want: want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "service_reply/sms/contract_or_open_request", Data: []string{"contact", "contract", "service"}}},
		{name: "service_reply by sms despite an sms STOP", typ: "service_reply", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("o1", consent.Object, adv, sms, time.Hour)},
			want:   want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "service_reply/sms/contract_or_open_request", Data: []string{"contact", "contract", "service"}}},

		// ---- customer_tip
		{name: "customer_tip by email, contract active", typ: "customer_tip", ch: message.Email, r: customer(),
			want: want{Allowed: true, Basis: policy.LegitimateInterest, Reason: policy.Allowed, Rule: "customer_tip/email/legitimate_interest_active_contract", Data: []string{"contact", "contract", "tip"}, OptOut: true}},
		{name: "customer_tip by email may use usage data with usage consent", typ: "customer_tip", ch: message.Email, r: customer(),
			events:   []consent.Event{ev("u1", consent.Grant, consent.UsageData, all, year)},
			want:     want{Allowed: true, Basis: policy.LegitimateInterest, Reason: policy.Allowed, Rule: "customer_tip/email/legitimate_interest_active_contract", Data: []string{"contact", "contract", "tip", "usage"}, OptOut: true},
			evidence: []string{"contract:active", "consent:u1"}},
		{name: "customer_tip by email after an objection to tips", typ: "customer_tip", ch: message.Email, r: customer(),
			events: []consent.Event{ev("o1", consent.Object, "customer_tip", all, day)},
			want:   denyRule(policy.Objection, "customer_tip/email/legitimate_interest_active_contract"), evidence: []string{"contract:active", "objection:o1"}},
		{name: "customer_tip by email after an objection to all advertising", typ: "customer_tip", ch: message.Email, r: customer(),
			events: []consent.Event{ev("o1", consent.Object, adv, all, day)}, want: denyRule(policy.Objection, "customer_tip/email/legitimate_interest_active_contract")},
		{name: "customer_tip by email after an objection on sms only", typ: "customer_tip", ch: message.Email, r: customer(),
			events: []consent.Event{ev("o1", consent.Object, adv, sms, day)},
			want:   want{Allowed: true, Basis: policy.LegitimateInterest, Reason: policy.Allowed, Rule: "customer_tip/email/legitimate_interest_active_contract", Data: []string{"contact", "contract", "tip"}, OptOut: true}},
		{name: "customer_tip by email to a prospect", typ: "customer_tip", ch: message.Email, r: prospect(), want: denyRule(policy.NoContract, "customer_tip/email/legitimate_interest_active_contract")},
		{name: "customer_tip by email to a former customer", typ: "customer_tip", ch: message.Email, r: former(now().AddDate(0, 0, -10)),
			want: denyRule(policy.ContractEnded, "customer_tip/email/legitimate_interest_active_contract")},
		{name: "customer_tip by email after advertising consent withdrawn", typ: "customer_tip", ch: message.Email, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, email, year), ev("w1", consent.Withdraw, adv, email, day)},
			want:   denyRule(policy.ConsentWithdrawn, "customer_tip/email/legitimate_interest_active_contract")},
		{name: "customer_tip by sms without consent", typ: "customer_tip", ch: message.SMS, r: customer(), want: denyRule(policy.NoConsent, "customer_tip/sms/consent")},
		{name: "customer_tip by sms with advertising consent for sms", typ: "customer_tip", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "customer_tip/sms/consent", Data: []string{"contact", "contract", "tip"}, OptOut: true}},
		{name: "objection to tips wins over withdrawn consent", typ: "customer_tip", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, year), ev("w1", consent.Withdraw, adv, sms, 2*day), ev("o1", consent.Object, "customer_tip", all, day)},
			want:   denyRule(policy.Objection, "customer_tip/sms/consent")},

		// ---- promo_offer
		{name: "promo_offer by email to a customer from a sale (UWG §7(3))", typ: "promo_offer", ch: message.Email, r: customer(),
			want:     want{Allowed: true, Basis: policy.LegitimateInterest, Reason: policy.Allowed, Rule: "promo_offer/email/legitimate_interest_existing_customer", Data: []string{"contact", "contract", "offer"}, OptOut: true},
			evidence: []string{"contract:active", "email_from_sale"}},
		{name: "promo_offer by email, address not from a sale, no consent", typ: "promo_offer", ch: message.Email,
			r: with(customer(), func(r *policy.Recipient) { r.EmailFromSale = false }), want: denyRule(policy.NoConsent, "promo_offer/email/legitimate_interest_existing_customer")},
		{name: "promo_offer by email, address not from a sale, consent for email", typ: "promo_offer", ch: message.Email,
			r: with(customer(), func(r *policy.Recipient) { r.EmailFromSale = false }), events: []consent.Event{ev("g1", consent.Grant, adv, email, day)},
			want:     want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "promo_offer/email/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true},
			evidence: []string{"contract:active", "consent:g1"}},
		{name: "promo_offer by email, address not from a sale, consent for all channels", typ: "promo_offer", ch: message.Email,
			r: with(customer(), func(r *policy.Recipient) { r.EmailFromSale = false }), events: []consent.Event{ev("g1", consent.Grant, adv, all, day)},
			want: want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "promo_offer/email/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true}},
		{name: "promo_offer by sms without consent", typ: "promo_offer", ch: message.SMS, r: customer(), want: denyRule(policy.NoConsent, "promo_offer/sms/consent")},
		{name: "promo_offer by sms with consent", typ: "promo_offer", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "promo_offer/sms/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true}},
		{name: "promo_offer by sms with usage data consent carries usage and traffic", typ: "promo_offer", ch: message.SMS, r: customer(),
			events:   []consent.Event{ev("g1", consent.Grant, adv, sms, day), ev("u1", consent.Grant, consent.UsageData, all, day)},
			want:     want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "promo_offer/sms/consent", Data: []string{"contact", "contract", "offer", "usage", "traffic"}, OptOut: true},
			evidence: []string{"contract:active", "consent:g1", "consent:u1"}},
		{name: "promo_offer by sms after usage data consent withdrawn drops usage and traffic", typ: "promo_offer", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, day), ev("u1", consent.Grant, consent.UsageData, all, year), ev("u2", consent.Withdraw, consent.UsageData, all, 2*day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "promo_offer/sms/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true}},
		{name: "promo_offer by sms, consent withdrawn one second before now", typ: "promo_offer", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, year), ev("w1", consent.Withdraw, adv, sms, time.Second)},
			want:   denyRule(policy.ConsentWithdrawn, "promo_offer/sms/consent"), evidence: []string{"contract:active", "withdrawal:w1"}},
		{name: "promo_offer by sms, withdrawal one second after now does not count yet", typ: "promo_offer", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, year), ev("w1", consent.Withdraw, adv, sms, -time.Second)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "promo_offer/sms/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true}},
		{name: "promo_offer by sms, consent re-given after withdrawal", typ: "promo_offer", ch: message.SMS, r: customer(),
			events:   []consent.Event{ev("g1", consent.Grant, adv, sms, year), ev("w1", consent.Withdraw, adv, sms, 30*day), ev("g2", consent.Grant, adv, sms, day)},
			want:     want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "promo_offer/sms/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true},
			evidence: []string{"contract:active", "consent:g2"}},
		{name: "promo_offer by sms, withdrawal for all channels after an sms grant", typ: "promo_offer", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, year), ev("w1", consent.Withdraw, adv, all, day)},
			want:   denyRule(policy.ConsentWithdrawn, "promo_offer/sms/consent")},
		{name: "promo_offer by sms after an sms STOP", typ: "promo_offer", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, year), ev("o1", consent.Object, adv, sms, time.Minute)},
			want:   denyRule(policy.Objection, "promo_offer/sms/consent"), evidence: []string{"contract:active", "objection:o1"}},
		{name: "promo_offer by email after an sms STOP", typ: "promo_offer", ch: message.Email, r: customer(),
			events: []consent.Event{ev("o1", consent.Object, adv, sms, time.Minute)},
			want:   want{Allowed: true, Basis: policy.LegitimateInterest, Reason: policy.Allowed, Rule: "promo_offer/email/legitimate_interest_existing_customer", Data: []string{"contact", "contract", "offer"}, OptOut: true}},
		{name: "promo_offer by email after an objection on email", typ: "promo_offer", ch: message.Email, r: customer(),
			events: []consent.Event{ev("o1", consent.Object, adv, email, day)}, want: denyRule(policy.Objection, "promo_offer/email/legitimate_interest_existing_customer")},
		{name: "promo_offer by email after an objection to the type", typ: "promo_offer", ch: message.Email, r: customer(),
			events: []consent.Event{ev("o1", consent.Object, "promo_offer", email, day)}, want: denyRule(policy.Objection, "promo_offer/email/legitimate_interest_existing_customer")},
		{name: "promo_offer by sms, objection for all then a newer sms grant", typ: "promo_offer", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("o1", consent.Object, adv, all, 30*day), ev("g1", consent.Grant, adv, sms, day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "promo_offer/sms/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true}},
		{name: "promo_offer by sms, sms grant then a newer objection for all", typ: "promo_offer", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, 30*day), ev("o1", consent.Object, adv, all, day)},
			want:   denyRule(policy.Objection, "promo_offer/sms/consent")},
		{name: "promo_offer by email to a prospect without consent", typ: "promo_offer", ch: message.Email, r: prospect(),
			want: denyRule(policy.NoConsent, "promo_offer/email/legitimate_interest_existing_customer")},
		{name: "promo_offer by sms to a prospect without consent", typ: "promo_offer", ch: message.SMS, r: prospect(), want: denyRule(policy.NoConsent, "promo_offer/sms/consent")},
		{name: "promo_offer by email to a prospect with consent", typ: "promo_offer", ch: message.Email, r: prospect(),
			events:   []consent.Event{ev("g1", consent.Grant, adv, email, day)},
			want:     want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "promo_offer/email/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true},
			evidence: []string{"contract:none", "consent:g1"}},
		{name: "promo_offer by sms to a former customer with consent", typ: "promo_offer", ch: message.SMS, r: former(now().AddDate(0, 0, -1)),
			events: []consent.Event{ev("g1", consent.Grant, adv, sms, year)}, want: denyRule(policy.ContractEnded, "promo_offer/sms/consent")},
		{name: "promo_offer by email to a former customer from a sale with consent", typ: "promo_offer", ch: message.Email, r: former(now().AddDate(0, -2, 0)),
			events: []consent.Event{ev("g1", consent.Grant, adv, email, year)}, want: denyRule(policy.ContractEnded, "promo_offer/email/legitimate_interest_existing_customer")},
		{name: "promo_offer by email on the day the contract ends", typ: "promo_offer", ch: message.Email, r: former(now()),
			want: denyRule(policy.ContractEnded, "promo_offer/email/legitimate_interest_existing_customer")},
		{name: "promo_offer by email the second before the contract ends", typ: "promo_offer", ch: message.Email, r: former(now().Add(time.Second)),
			want: want{Allowed: true, Basis: policy.LegitimateInterest, Reason: policy.Allowed, Rule: "promo_offer/email/legitimate_interest_existing_customer", Data: []string{"contact", "contract", "offer"}, OptOut: true}},
		{name: "promo_offer by email at the frequency cap", typ: "promo_offer", ch: message.Email, r: customer(), recent: 4,
			want: denyRule(policy.FrequencyCap, "promo_offer/email/legitimate_interest_existing_customer")},
		{name: "promo_offer by email one below the frequency cap", typ: "promo_offer", ch: message.Email, r: customer(), recent: 3,
			want: want{Allowed: true, Basis: policy.LegitimateInterest, Reason: policy.Allowed, Rule: "promo_offer/email/legitimate_interest_existing_customer", Data: []string{"contact", "contract", "offer"}, OptOut: true}},
		{name: "promo_offer by sms without consent at the frequency cap says no_consent", typ: "promo_offer", ch: message.SMS, r: customer(), recent: 9,
			want: denyRule(policy.NoConsent, "promo_offer/sms/consent")},

		// ---- newsletter and its double opt-in
		{name: "newsletter confirmed by double opt-in", typ: "newsletter", ch: message.Email, r: prospect(),
			events:   []consent.Event{ev("r1", consent.DOIRequest, news, email, 2*day), ev("c1", consent.DOIConfirm, news, email, day)},
			want:     want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "newsletter/email/consent", Data: []string{"contact", "newsletter"}, OptOut: true},
			evidence: []string{"contract:none", "consent:c1"}},
		{name: "newsletter with double opt-in pending", typ: "newsletter", ch: message.Email, r: prospect(),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, time.Hour)},
			want:   denyRule(policy.DOIPending, "newsletter/email/consent"), evidence: []string{"contract:none", "doi_request:r1"}},
		{name: "newsletter without signup", typ: "newsletter", ch: message.Email, r: customer(), want: denyRule(policy.NoConsent, "newsletter/email/consent")},
		{name: "newsletter granted without double opt-in", typ: "newsletter", ch: message.Email, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, news, email, day)}, want: denyRule(policy.NoConsent, "newsletter/email/consent")},
		{name: "newsletter withdrawn after confirmation", typ: "newsletter", ch: message.Email, r: prospect(),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, 3*day), ev("c1", consent.DOIConfirm, news, email, 2*day), ev("w1", consent.Withdraw, news, email, day)},
			want:   denyRule(policy.ConsentWithdrawn, "newsletter/email/consent")},
		{name: "newsletter signup again after withdrawal is pending", typ: "newsletter", ch: message.Email, r: prospect(),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, 4*day), ev("c1", consent.DOIConfirm, news, email, 3*day), ev("w1", consent.Withdraw, news, email, 2*day), ev("r2", consent.DOIRequest, news, email, day)},
			want:   denyRule(policy.DOIPending, "newsletter/email/consent")},
		{name: "newsletter confirmed for press, asked for the default list", typ: "newsletter", ch: message.Email, r: prospect(),
			events: []consent.Event{ev("r1", consent.DOIRequest, consent.Newsletter("press"), email, 2*day), ev("c1", consent.DOIConfirm, consent.Newsletter("press"), email, day)},
			want:   denyRule(policy.NoConsent, "newsletter/email/consent")},
		{name: "newsletter confirmed for press, asked for press", typ: "newsletter", ch: message.Email, r: prospect(), list: "press",
			events: []consent.Event{ev("r1", consent.DOIRequest, consent.Newsletter("press"), email, 2*day), ev("c1", consent.DOIConfirm, consent.Newsletter("press"), email, day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "newsletter/email/consent", Data: []string{"contact", "newsletter"}, OptOut: true}},
		{name: "newsletter for a list not in the catalog", typ: "newsletter", ch: message.Email, r: prospect(), list: "secret",
			want: denyRule(policy.NoConsent, "newsletter/email/consent"), evidence: []string{"contract:none", "list:secret:unknown"}},
		{name: "newsletter confirmed after an objection to all advertising", typ: "newsletter", ch: message.Email, r: prospect(),
			events: []consent.Event{ev("o1", consent.Object, adv, all, year), ev("r1", consent.DOIRequest, news, email, 2*day), ev("c1", consent.DOIConfirm, news, email, day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "newsletter/email/consent", Data: []string{"contact", "newsletter"}, OptOut: true}},
		{name: "newsletter confirmed, then an objection to all advertising", typ: "newsletter", ch: message.Email, r: prospect(),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, 3*day), ev("c1", consent.DOIConfirm, news, email, 2*day), ev("o1", consent.Object, adv, all, day)},
			want:   denyRule(policy.Objection, "newsletter/email/consent")},
		{name: "newsletter to a former customer ends with the contract", typ: "newsletter", ch: message.Email, r: former(now().AddDate(0, 0, -5)),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, year), ev("c1", consent.DOIConfirm, news, email, year-day)},
			want:   denyRule(policy.ContractEnded, "newsletter/email/consent")},
		{name: "doi_confirmation for a pending signup", typ: "doi_confirmation", ch: message.Email, r: prospect(),
			events:   []consent.Event{ev("r1", consent.DOIRequest, news, email, time.Minute)},
			want:     want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "doi_confirmation/email/double_opt_in_request", Data: []string{"contact", "doi"}},
			evidence: []string{"contract:none", "doi_request:r1", "list:news"}},
		{name: "doi_confirmation for the named list", typ: "doi_confirmation", ch: message.Email, r: prospect(), list: "press",
			events:   []consent.Event{ev("r1", consent.DOIRequest, news, email, time.Minute), ev("r2", consent.DOIRequest, consent.Newsletter("press"), email, 2*time.Minute)},
			want:     want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "doi_confirmation/email/double_opt_in_request", Data: []string{"contact", "doi"}},
			evidence: []string{"contract:none", "doi_request:r2", "list:press"}},
		{name: "doi_confirmation without a signup", typ: "doi_confirmation", ch: message.Email, r: prospect(),
			want: denyRule(policy.NoOpenRequest, "doi_confirmation/email/double_opt_in_request")},
		{name: "doi_confirmation after the signup was confirmed", typ: "doi_confirmation", ch: message.Email, r: prospect(),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, 2*day), ev("c1", consent.DOIConfirm, news, email, day)},
			want:   denyRule(policy.NoOpenRequest, "doi_confirmation/email/double_opt_in_request")},
		{name: "doi_confirmation for a signup older than the unconfirmed retention", typ: "doi_confirmation", ch: message.Email, r: prospect(),
			events: []consent.Event{ev("r1", consent.DOIRequest, news, email, 31*day)},
			want:   denyRule(policy.NoOpenRequest, "doi_confirmation/email/double_opt_in_request")},
		{name: "doi_confirmation despite an older objection to advertising", typ: "doi_confirmation", ch: message.Email, r: prospect(),
			events: []consent.Event{ev("o1", consent.Object, adv, all, year), ev("r1", consent.DOIRequest, news, email, time.Minute)},
			want:   want{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "doi_confirmation/email/double_opt_in_request", Data: []string{"contact", "doi"}}},

		// ---- survey (advertising per BGH VI ZR 225/17)
		{name: "survey by email with survey consent", typ: "survey", ch: message.Email, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, consent.Survey, email, day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "survey/email/consent", Data: []string{"contact", "contract", "survey"}, OptOut: true}},
		{name: "survey by email without consent", typ: "survey", ch: message.Email, r: customer(), want: denyRule(policy.NoConsent, "survey/email/consent")},
		{name: "survey by email with advertising consent only", typ: "survey", ch: message.Email, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, all, day)}, want: denyRule(policy.NoConsent, "survey/email/consent")},
		{name: "survey to a former customer with consent", typ: "survey", ch: message.Email, r: former(now().AddDate(0, -1, 0)),
			events: []consent.Event{ev("g1", consent.Grant, consent.Survey, all, year)}, want: denyRule(policy.ContractEnded, "survey/email/consent")},
		{name: "survey to a prospect with consent", typ: "survey", ch: message.Email, r: prospect(),
			events: []consent.Event{ev("g1", consent.Grant, consent.Survey, email, day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "survey/email/consent", Data: []string{"contact", "contract", "survey"}, OptOut: true}},
		{name: "survey after an objection to surveys", typ: "survey", ch: message.Email, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, consent.Survey, all, year), ev("o1", consent.Object, consent.Survey, all, day)},
			want:   denyRule(policy.Objection, "survey/email/consent")},
		{name: "survey by sms with consent for all channels and usage data", typ: "survey", ch: message.SMS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, consent.Survey, all, day), ev("u1", consent.Grant, consent.UsageData, sms, day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "survey/sms/consent", Data: []string{"contact", "contract", "survey", "usage", "traffic"}, OptOut: true}},

		// ---- messenger_offer: explicit consent for that very channel, verified number
		{name: "messenger_offer by whatsapp with explicit consent and verified number", typ: "messenger_offer", ch: message.WhatsApp, r: customer(),
			events:   []consent.Event{ev("g1", consent.Grant, adv, wa, day)},
			want:     want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "messenger_offer/whatsapp/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true},
			evidence: []string{"contract:active", "consent:g1", "phone:verified"}},
		{name: "messenger_offer by whatsapp with a grant for all channels only", typ: "messenger_offer", ch: message.WhatsApp, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, all, day)}, want: denyRule(policy.NoConsent, "messenger_offer/whatsapp/consent")},
		{name: "messenger_offer by whatsapp with an e-mail double opt-in only", typ: "messenger_offer", ch: message.WhatsApp, r: customer(),
			events: []consent.Event{ev("r1", consent.DOIRequest, adv, email, 2*day), ev("c1", consent.DOIConfirm, adv, email, day)},
			want:   denyRule(policy.NoConsent, "messenger_offer/whatsapp/consent")},
		{name: "messenger_offer by whatsapp, newer grant for all does not hide the whatsapp grant", typ: "messenger_offer", ch: message.WhatsApp, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, wa, 2*day), ev("g2", consent.Grant, adv, all, day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "messenger_offer/whatsapp/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true}},
		{name: "messenger_offer by whatsapp with an unverified number", typ: "messenger_offer", ch: message.WhatsApp,
			r:      with(customer(), func(r *policy.Recipient) { r.PhoneVerifiedAt = time.Time{} }),
			events: []consent.Event{ev("g1", consent.Grant, adv, wa, day)}, want: denyRule(policy.UnverifiedContact, "messenger_offer/whatsapp/consent")},
		{name: "messenger_offer unverified number wins over objection", typ: "messenger_offer", ch: message.WhatsApp,
			r:      with(customer(), func(r *policy.Recipient) { r.PhoneVerifiedAt = time.Time{} }),
			events: []consent.Event{ev("o1", consent.Object, adv, all, day)}, want: denyRule(policy.UnverifiedContact, "messenger_offer/whatsapp/consent")},
		{name: "messenger_offer by whatsapp after a withdrawal for all channels", typ: "messenger_offer", ch: message.WhatsApp, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, wa, 2*day), ev("w1", consent.Withdraw, adv, all, day)},
			want:   denyRule(policy.ConsentWithdrawn, "messenger_offer/whatsapp/consent")},
		{name: "messenger_offer by whatsapp after a WhatsApp block", typ: "messenger_offer", ch: message.WhatsApp, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, wa, 2*day), ev("o1", consent.Object, adv, wa, day)},
			want:   denyRule(policy.Objection, "messenger_offer/whatsapp/consent")},
		{name: "messenger_offer by rcs with sms advertising allowed too falls back to sms", typ: "messenger_offer", ch: message.RCS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, rcs, day), ev("g2", consent.Grant, adv, sms, day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "messenger_offer/rcs/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true, SMSFallback: true}},
		{name: "messenger_offer by rcs without sms consent has no sms fallback", typ: "messenger_offer", ch: message.RCS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, rcs, day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "messenger_offer/rcs/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true}},
		{name: "messenger_offer by rcs after an sms STOP has no sms fallback", typ: "messenger_offer", ch: message.RCS, r: customer(),
			events: []consent.Event{ev("g1", consent.Grant, adv, rcs, day), ev("g2", consent.Grant, adv, sms, 2*day), ev("o1", consent.Object, adv, sms, time.Hour)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "messenger_offer/rcs/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true}},
		{name: "messenger_offer by rcs with an unverified number", typ: "messenger_offer", ch: message.RCS,
			r:      with(customer(), func(r *policy.Recipient) { r.PhoneVerifiedAt = time.Time{} }),
			events: []consent.Event{ev("g1", consent.Grant, adv, rcs, day), ev("g2", consent.Grant, adv, sms, day)},
			want:   denyRule(policy.UnverifiedContact, "messenger_offer/rcs/consent")},
		{name: "messenger_offer by rcs to a prospect with consent", typ: "messenger_offer", ch: message.RCS, r: prospect(),
			events: []consent.Event{ev("g1", consent.Grant, adv, rcs, day), ev("g2", consent.Grant, adv, all, day)},
			want:   want{Allowed: true, Basis: policy.Consent, Reason: policy.Allowed, Rule: "messenger_offer/rcs/consent", Data: []string{"contact", "contract", "offer"}, OptOut: true, SMSFallback: true}},
	}

	if len(tests) < 50 {
		t.Fatalf("only %d cases; the policy needs at least 50", len(tests))
	}
	seen := make(map[string]bool)
	for _, tt := range tests {
		if seen[tt.name] {
			t.Fatalf("duplicate case name %q", tt.name)
		}
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := policy.Facts{Type: tt.typ, Channel: tt.ch, Now: now(), Recipient: tt.r,
				Consent: consent.Fold(tt.events, now()), List: tt.list, RecentAdvertising: tt.recent}
			d := policy.Decide(cat, f)
			got := want{Allowed: d.Allowed, Basis: d.Basis, Reason: d.Reason, Rule: d.Rule,
				Data: d.DataCategories, OptOut: d.OptOutNotice, SMSFallback: d.SMSFallback}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s\nevidence: %v", diff, d.Evidence)
			}
			if tt.evidence != nil {
				if diff := cmp.Diff(tt.evidence, d.Evidence); diff != "" {
					t.Errorf("evidence mismatch (-want +got):\n%s", diff)
				}
			}
			if !d.DecidedAt.Equal(now()) {
				t.Errorf("DecidedAt = %v, want %v", d.DecidedAt, now())
			}
			if tt.typ != "" && d.CatalogVersion != cat.Version() {
				t.Errorf("CatalogVersion = %q, want %q", d.CatalogVersion, cat.Version())
			}
			if !d.Allowed && (d.Basis != "" || d.DataCategories != nil || d.OptOutNotice || d.SMSFallback) {
				t.Errorf("a denial grants something: %+v", d)
			}
		})
	}
}

// TestDecideCoversEveryReason makes sure the table exercises each reason code
// at least once, so a new code cannot be added without a case.
func TestDecideCoversEveryReason(t *testing.T) {
	t.Parallel()
	cat := defaultCatalog(t)
	got := make(map[policy.Reason]bool)
	// One representative fact set per reason, in Precedence order.
	facts := []policy.Facts{
		{Type: "nope"},
		{Type: "invoice", Channel: message.RCS, Recipient: customer()},
		{Type: "invoice", Channel: message.Email},
		{Type: "invoice", Channel: message.Email, Recipient: with(customer(), func(r *policy.Recipient) { r.Suppressed = true })},
		{Type: "invoice", Channel: message.Email, Recipient: former(now().AddDate(-1, 0, 0))},
		{Type: "invoice", Channel: message.Email, Recipient: with(customer(), func(r *policy.Recipient) { r.HasEmail = false })},
		{Type: "messenger_offer", Channel: message.WhatsApp, Recipient: with(customer(), func(r *policy.Recipient) { r.PhoneVerifiedAt = time.Time{} })},
		{Type: "customer_tip", Channel: message.Email, Recipient: customer(), Consent: consent.Fold([]consent.Event{ev("o", consent.Object, "customer_tip", "all", day)}, now())},
		{Type: "promo_offer", Channel: message.SMS, Recipient: customer(), Consent: consent.Fold([]consent.Event{ev("g", consent.Grant, "advertising", "sms", 2*day), ev("w", consent.Withdraw, "advertising", "sms", day)}, now())},
		{Type: "customer_tip", Channel: message.Email, Recipient: former(now().AddDate(0, 0, -1))},
		{Type: "invoice", Channel: message.Email, Recipient: prospect()},
		{Type: "service_reply", Channel: message.Email, Recipient: prospect()},
		{Type: "newsletter", Channel: message.Email, Recipient: prospect(), Consent: consent.Fold([]consent.Event{ev("r", consent.DOIRequest, "newsletter:news", "email", day)}, now())},
		{Type: "survey", Channel: message.Email, Recipient: prospect()},
		{Type: "customer_tip", Channel: message.Email, Recipient: customer(), RecentAdvertising: 4},
		{Type: "invoice", Channel: message.Email, Recipient: customer()},
	}
	var order []policy.Reason
	for _, f := range facts {
		f.Now = now()
		d := policy.Decide(cat, f)
		got[d.Reason] = true
		order = append(order, d.Reason)
	}
	want := append(policy.Precedence(), policy.Allowed)
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
}

func TestDecideNilCatalogAndZeroDecisionDeny(t *testing.T) {
	t.Parallel()
	var zero policy.Decision
	if zero.Allowed {
		t.Fatal("the zero Decision allows")
	}
	d := policy.Decide(nil, policy.Facts{Type: "invoice", Channel: message.Email, Now: now(), Recipient: customer()})
	if d.Allowed || d.Reason != policy.UnknownType {
		t.Fatalf("Decide(nil catalog) = %+v, want denied unknown_type", d)
	}
	if d.Recipient != "c-1" || d.Type != "invoice" || d.Channel != message.Email {
		t.Errorf("decision does not name what it decided: %+v", d)
	}
}

// TestDecideDoesNotDependOnRuleOrder: when every rule fails, the reason is
// the most specific of all, whichever rule the catalog lists first.
func TestDecideDoesNotDependOnRuleOrder(t *testing.T) {
	t.Parallel()
	const base = `version: "1"
types:
  - key: promo_offer
    purpose: own products
    class: marketing
    advertising: true
    opt_out_notice: true
    channels: [email]
    basis:
      email:
%s
    data_categories: [contact, offer]
    retention: 3 months
`
	li := "        - rule: legitimate_interest_existing_customer\n"
	co := "        - rule: consent\n          purpose: advertising\n"
	for _, rules := range []string{li + co, co + li} {
		cat, err := policy.ParseCatalog([]byte(fmt.Sprintf(base, rules)))
		if err != nil {
			t.Fatal(err)
		}
		d := policy.Decide(cat, policy.Facts{Type: "promo_offer", Channel: message.Email, Now: now(), Recipient: prospect(),
			Consent: consent.Fold([]consent.Event{ev("g", consent.Grant, "advertising", "email", 2*day), ev("w", consent.Withdraw, "advertising", "email", day)}, now())})
		if d.Reason != policy.ConsentWithdrawn {
			t.Errorf("rules\n%s: reason %q, want consent_withdrawn (before no_contract)", rules, d.Reason)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	cat := defaultCatalog(b)
	events := []consent.Event{
		ev("g1", consent.Grant, "advertising", "sms", 400*day),
		ev("w1", consent.Withdraw, "advertising", "sms", 200*day),
		ev("g2", consent.Grant, "advertising", "sms", 100*day),
		ev("u1", consent.Grant, "usage_data", "all", 100*day),
		ev("r1", consent.DOIRequest, "newsletter:news", "email", 50*day),
		ev("c1", consent.DOIConfirm, "newsletter:news", "email", 49*day),
		ev("o1", consent.Object, "customer_tip", "all", 10*day),
		ev("g3", consent.Grant, "advertising", "rcs", 5*day),
	}
	state := consent.Fold(events, now())
	for _, bc := range []struct {
		name string
		typ  message.Type
		ch   message.Channel
	}{
		{"invoice_email", "invoice", message.Email},
		{"promo_offer_sms_consent", "promo_offer", message.SMS},
		{"promo_offer_email_li", "promo_offer", message.Email},
		{"customer_tip_objection", "customer_tip", message.Email},
		{"messenger_offer_rcs_fallback", "messenger_offer", message.RCS},
	} {
		f := policy.Facts{Type: bc.typ, Channel: bc.ch, Now: now(), Recipient: customer(), Consent: state}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = policy.Decide(cat, f)
			}
		})
	}
}
