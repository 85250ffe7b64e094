package policy_test

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// The default catalog as `herold catalog check` prints it.
func ExampleCatalog_WriteTable() {
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := cat.WriteTable(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// catalog 2026-11-25.1: blocked 3 months after contract end; frequency cap 4 advertising messages per 7 days; unconfirmed signups deleted after 30 days
	// quiet hours (recipient local time): marketing: 20:00–08:00 on sms, whatsapp, rcs
	//
	// TYPE              CLASS          CHANNEL   BASIS                CONDITIONS
	// service_reply     service        email     contract             contract active or ended less than 3 months ago, or an open request (also after blocking) [Art. 6(1)(b) GDPR]
	// service_reply     service        sms       contract             contract active or ended less than 3 months ago, or an open request (also after blocking) [Art. 6(1)(b) GDPR]
	// invoice           transactional  email     contract             contract active or ended less than 3 months ago [Art. 6(1)(b) GDPR]
	// invoice           transactional  sms       contract             contract active or ended less than 3 months ago [Art. 6(1)(b) GDPR]
	// contract_info     transactional  email     contract             contract active or ended less than 3 months ago [Art. 6(1)(b) GDPR]
	// contract_info     transactional  sms       contract             contract active or ended less than 3 months ago [Art. 6(1)(b) GDPR]
	// customer_tip      marketing      email     legitimate_interest  active contract with a recorded start; no objection; not after contract end; opt-out notice [Art. 6(1)(f) GDPR, treated like §7(3) UWG]
	// customer_tip      marketing      sms       consent              consent to advertising for this channel or all; no objection; ends with the contract if given during it; opt-out notice [Art. 6(1)(a) GDPR, §7(2) UWG]
	// promo_offer       marketing      email     legitimate_interest  active contract with a recorded start; address collected in a sale with the objection notice; no objection; not after contract end; opt-out notice [Art. 6(1)(f) GDPR, §7(3) UWG]
	// promo_offer       marketing      email     consent              consent to advertising for this channel or all; no objection; ends with the contract if given during it; opt-out notice [Art. 6(1)(a) GDPR, §7(2) no. 2 UWG]
	// promo_offer       marketing      sms       consent              consent to advertising for this channel or all; no objection; ends with the contract if given during it; opt-out notice [Art. 6(1)(a) GDPR, §7(2) no. 2 UWG]
	// newsletter        marketing      email     consent              consent to the newsletter list (news, press, prospects) for this channel or all; confirmed by double opt-in within 30 days of the signup; no objection; ends with the contract if given during it; opt-out notice [Art. 6(1)(a) GDPR, Art. 7(1) GDPR (double opt-in)]
	// doi_confirmation  transactional  email     contract             newsletter signup pending, less than 30 days old [Art. 6(1)(b) GDPR (step at the person's request), Art. 7(1) GDPR]
	// survey            marketing      email     consent              consent to survey for this channel or all; no objection; ends with the contract if given during it; opt-out notice [Art. 6(1)(a) GDPR; advertising per BGH VI ZR 225/17]
	// survey            marketing      sms       consent              consent to survey for this channel or all; no objection; ends with the contract if given during it; opt-out notice [Art. 6(1)(a) GDPR; advertising per BGH VI ZR 225/17]
	// messenger_offer   marketing      whatsapp  consent              consent to advertising given for this very channel; verified number; no objection; ends with the contract if given during it; opt-out notice [Art. 6(1)(a) GDPR (explicit consent)]
	// messenger_offer   marketing      rcs       consent              consent to advertising given for this very channel; verified number; no objection; ends with the contract if given during it; sms fallback if promo_offer by sms is allowed; opt-out notice [Art. 6(1)(a) GDPR (explicit consent)]
}

// A catalog problem names the type, the field and what is wrong.
func ExampleParseCatalog() {
	_, err := policy.ParseCatalog([]byte(`version: "1"
types:
  - key: promo_offer
    purpose: Advertising own products
    class: marketing
    advertising: true
    channels: [email, fax]
    basis:
      email:
        - rule: consent
    data_categories: [contact, offer]
    retention: 3 months
`))
	fmt.Println(err)
	// Output:
	// type promo_offer: opt_out_notice: a marketing type must carry the opt-out notice (§7(3) no. 4 UWG, Art. 21(4) GDPR)
	// type promo_offer: channel email: basis #1 (consent): purpose: a consent rule needs the consent purpose (advertising, survey or newsletter)
	// type promo_offer: channel fax: unknown channel (want email, sms, whatsapp or rcs)
}

// What the default catalog decides for one person on each type and channel:
// a customer with an active contract, whose e-mail address was collected in
// a sale, who consented to advertising by SMS and later objected on
// WhatsApp, gave explicit consent for RCS, and whose newsletter signup is
// still unconfirmed.
func ExampleDecide() {
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	person := &policy.Recipient{
		ID: "cust-42", Kind: policy.Customer, ContractStart: now.AddDate(-2, 0, 0),
		HasEmail: true, EmailFromSale: true, HasPhone: true, PhoneVerifiedAt: now.AddDate(-1, 0, 0),
	}
	ledger := []consent.Event{
		{ID: "evt_1", Kind: consent.Grant, Purpose: consent.Advertising, Channel: "sms", At: now.AddDate(-1, 0, 0), Source: consent.CustomerPortal},
		{ID: "evt_2", Kind: consent.Object, Purpose: consent.Advertising, Channel: "whatsapp", At: now.AddDate(0, 0, -3), Source: consent.SMSKeyword},
		{ID: "evt_3", Kind: consent.DOIRequest, Purpose: consent.Newsletter("news"), Channel: "email", At: now.Add(-time.Hour), Source: consent.WebForm},
		{ID: "evt_4", Kind: consent.Grant, Purpose: consent.Advertising, Channel: "rcs", At: now.AddDate(0, 0, -1), Source: consent.Phone},
	}
	state := consent.Fold(ledger, now)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tCHANNEL\tREASON\tBASIS\tEVIDENCE")
	cases := []struct {
		typ message.Type
		ch  message.Channel
	}{
		{"invoice", message.Email},
		{"customer_tip", message.Email},
		{"customer_tip", message.SMS},
		{"promo_offer", message.Email},
		{"promo_offer", message.SMS},
		{"newsletter", message.Email},
		{"doi_confirmation", message.Email},
		{"survey", message.Email},
		{"messenger_offer", message.WhatsApp},
		{"messenger_offer", message.RCS},
		{"invoice", message.WhatsApp},
		{"flyer", message.Email},
	}
	for _, c := range cases {
		d := policy.Decide(cat, policy.Facts{Type: c.typ, Channel: c.ch, Now: now, Recipient: person, Consent: state})
		reason := string(d.Reason)
		if d.SMSFallback {
			reason += " (may fall back to sms)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", c.typ, c.ch, reason, d.Basis, d.Evidence)
	}
	tw.Flush()
	// Output:
	// TYPE              CHANNEL   REASON                          BASIS                EVIDENCE
	// invoice           email     allowed                         contract             [contract:active]
	// customer_tip      email     allowed                         legitimate_interest  [contract:active]
	// customer_tip      sms       allowed                         consent              [contract:active consent:evt_1]
	// promo_offer       email     allowed                         legitimate_interest  [contract:active email_from_sale]
	// promo_offer       sms       allowed                         consent              [contract:active consent:evt_1]
	// newsletter        email     doi_pending                                          [contract:active doi_request:evt_3]
	// doi_confirmation  email     allowed                         contract             [contract:active doi_request:evt_3 list:news]
	// survey            email     no_consent                                           [contract:active]
	// messenger_offer   whatsapp  objection                                            [contract:active objection:evt_2]
	// messenger_offer   rcs       allowed (may fall back to sms)  consent              [contract:active consent:evt_4 phone:verified]
	// invoice           whatsapp  channel_not_allowed                                  []
	// flyer             email     unknown_type                                         []
}
