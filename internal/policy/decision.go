package policy

import (
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
)

// Basis is the legal ground a message goes out on.
type Basis string

// The legal bases of GDPR Art. 6(1) that Herold knows.
const (
	Contract           Basis = "contract"            // Art. 6(1)(b)
	LegitimateInterest Basis = "legitimate_interest" // Art. 6(1)(f), for advertising with §7(3) UWG
	Consent            Basis = "consent"             // Art. 6(1)(a)
)

// Reason is a stable snake_case code for a decision. Producers, dashboards
// and auditors depend on these strings: never rename one.
type Reason string

// The reason codes. When several apply the first in this order wins (see Precedence).
const (
	Allowed           Reason = "allowed"
	UnknownType       Reason = "unknown_type"
	ChannelNotAllowed Reason = "channel_not_allowed"
	UnknownRecipient  Reason = "unknown_recipient"
	Suppressed        Reason = "suppressed"
	Blocked           Reason = "blocked"
	NoContactPoint    Reason = "no_contact_point"
	UnverifiedContact Reason = "unverified_contact"
	Objection         Reason = "objection"
	ConsentWithdrawn  Reason = "consent_withdrawn"
	ContractEnded     Reason = "contract_ended"
	NoContract        Reason = "no_contract"
	NoOpenRequest     Reason = "no_open_request"
	DOIPending        Reason = "doi_pending"
	NoConsent         Reason = "no_consent"
	FrequencyCap      Reason = "frequency_cap"
)

// HoldQuietHours is the Hold of an allowed decision that must wait for the
// end of quiet hours in the recipient's local time. It is not a denial and
// has no place in Precedence: the message goes out at NotBefore, if the
// decision taken again then still allows it.
const HoldQuietHours Reason = "quiet_hours"

// Precedence lists the denial reasons from most to least specific: when
// several apply, the earliest wins, so answers are predictable.
func Precedence() []Reason {
	return []Reason{UnknownType, ChannelNotAllowed, UnknownRecipient, Suppressed, Blocked,
		NoContactPoint, UnverifiedContact, Objection, ConsentWithdrawn, ContractEnded,
		NoContract, NoOpenRequest, DOIPending, NoConsent, FrequencyCap}
}

// Kind says whether a recipient is a customer or a prospect.
type Kind string

// The kinds of recipients.
const (
	Customer Kind = "customer"
	Prospect Kind = "prospect"
)

// Recipient is what the policy needs to know about a person. The store
// gathers it in one round trip; the policy never sees names or addresses
// beyond whether a contact point exists.
type Recipient struct {
	ID               message.RecipientID
	Kind             Kind
	ContractStart    time.Time // zero: never had a contract
	ContractEnd      time.Time // zero: contract still running
	OpenRequest      bool
	HasEmail         bool
	EmailFromSale    bool      // address collected in a sale with the objection notice (§7(3) no. 1 and 4 UWG)
	HasPhone         bool      // an E.164 mobile number exists
	PhoneVerifiedAt  time.Time // zero: number not verified
	Suppressed       bool      // erased person, hard bounce or provider STOP for the contact point of this channel
	ContractEvidence string    // e.g. "contract:active since 2024-01-01", kept in the decision as proof
	// Suppressions are the suppression-list entries behind Suppressed, with
	// reason and time, so that a ground that arose later can lift them (see
	// Decide). Suppressed with none listed is never lifted.
	Suppressions []Suppression
}

// Suppression is one suppression-list entry covering the contact point of
// the channel decided on.
type Suppression struct {
	Reason string    // SuppressionErased, SuppressionHardBounce, SuppressionProviderStop or another code
	At     time.Time // when it was recorded
}

// Facts are everything Decide looks at for one message on one channel.
type Facts struct {
	Type      message.Type
	Channel   message.Channel
	Now       time.Time
	Recipient *Recipient    // nil: unknown recipient
	Consent   consent.State // folded ledger at Now
	// List is the newsletter list for newsletter and doi_confirmation
	// messages; empty means the type's first list (newsletter) or any
	// pending signup (doi_confirmation).
	List string
	// RecentAdvertising counts advertising messages delivered to the recipient
	// within the catalog's frequency window; the campaigns issue fills it.
	RecentAdvertising int
	// Local is the recipient's time zone, for rules in local time (quiet
	// hours). nil counts as UTC: callers resolve the person's zone, or the
	// installation's default zone, and always set it.
	Local *time.Location
	// Quiet are windows the message itself adds to the catalog's quiet hours
	// (a campaign's own quiet_hours). They can only hold a message longer.
	Quiet []QuietRule
}

// Decision is the outcome for one message on one channel, kept as proof. The
// zero Decision denies, so code that forgets to decide suppresses.
type Decision struct {
	Allowed        bool     `json:"allowed"`
	Basis          Basis    `json:"basis,omitempty"`
	Reason         Reason   `json:"reason"`
	Rule           string   `json:"rule,omitempty"`
	Evidence       []string `json:"evidence,omitempty"`
	DataCategories []string `json:"data_categories,omitempty"`
	OptOutNotice   bool     `json:"opt_out_notice"`
	SMSFallback    bool     `json:"sms_fallback"`
	// NotBefore, on an allowed decision, is the earliest moment the message
	// may go out (the end of quiet hours); zero means now. The message must
	// be decided again at NotBefore: only that decision may send it.
	NotBefore time.Time `json:"not_before,omitzero"`
	// Hold says why an allowed message waits until NotBefore (quiet_hours).
	Hold           Reason              `json:"hold,omitempty"`
	DecidedAt      time.Time           `json:"decided_at"`
	CatalogVersion string              `json:"catalog_version,omitempty"`
	Type           message.Type        `json:"type,omitempty"`
	Channel        message.Channel     `json:"channel,omitempty"`
	Recipient      message.RecipientID `json:"recipient_id,omitempty"`
}
