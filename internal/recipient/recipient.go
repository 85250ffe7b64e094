// Package recipient is the model of a person Herold may contact: the
// profile with its contact points and contract, the input a producer sends
// and its validation, the merge patch, and the snapshot of what is known at
// one read (profile and consent ledger) from which the policy's facts are
// built. It does no I/O: internal/store keeps recipients in Redis, and
// everything here is tested without it.
package recipient

import (
	"log/slog"
	"slices"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// Limits of a recipient profile.
const (
	maxEmails  = 10
	maxTextLen = 200
)

// Recipient is a person's full profile, as the API shows it. Only ID is safe
// to log (LogValue); everything else is personal data.
type Recipient struct {
	ID            message.RecipientID `json:"id"`
	Kind          policy.Kind         `json:"kind"`
	Salutation    string              `json:"salutation,omitempty"`
	FirstName     string              `json:"first_name,omitempty"`
	LastName      string              `json:"last_name,omitempty"`
	Company       string              `json:"company,omitempty"`
	Emails        []Email             `json:"emails"` // the first is the primary address
	Mobile        *Mobile             `json:"mobile,omitempty"`
	PostalAddress *PostalAddress      `json:"postal_address,omitempty"`
	Locale        string              `json:"locale,omitempty"`    // de or en
	TimeZone      string              `json:"time_zone,omitempty"` // IANA name
	Contract      *Contract           `json:"contract,omitempty"`
	OpenRequest   bool                `json:"open_request"`
	// Attributes are the custom attributes a CRM keeps on the person
	// (segments, and templates of the types that declare them).
	Attributes Attributes `json:"attributes,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Email is one e-mail address of a recipient.
type Email struct {
	Address string `json:"address"` // domain in lower case
	// CollectedInSale says the address was obtained in a sale with the
	// objection notice given, a condition of UWG §7(3) for advertising by
	// e-mail without consent.
	CollectedInSale bool          `json:"collected_in_sale"`
	Suppressed      []Suppression `json:"suppressed,omitempty"` // read-only: set by erasure, bounces
}

// Mobile is a recipient's mobile number.
type Mobile struct {
	Number     string        `json:"number"`               // E.164
	VerifiedAt time.Time     `json:"verified_at,omitzero"` // when the number was confirmed, e.g. by an SMS code
	Suppressed []Suppression `json:"suppressed,omitempty"` // read-only: set by erasure, provider STOP
}

// Suppression records that a contact point must not be used on a channel
// ("all" for every channel), e.g. after a hard bounce or an erasure. It is
// kept on the profile so that facts load in one round trip; the suppression
// list (by salted hash) is the source it is derived from.
type Suppression struct {
	Channel string    `json:"channel"` // a message.Channel or "all"
	Reason  string    `json:"reason"`  // e.g. "erased", "hard_bounce", "provider_stop"
	At      time.Time `json:"at"`
}

// PostalAddress is a recipient's postal address.
type PostalAddress struct {
	Street     string `json:"street,omitempty"`
	Extra      string `json:"extra,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	City       string `json:"city,omitempty"`
	Country    string `json:"country,omitempty"` // ISO 3166-1 alpha-2
}

// Contract holds the dates of the recipient's contract; a zero EndedAt means
// it is still running.
type Contract struct {
	StartedAt time.Time `json:"started_at,omitzero"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
}

// LogValue keeps everything but the id out of logs.
func (r Recipient) LogValue() slog.Value { return r.ID.LogValue() }

// Address returns the contact point for ch: the primary e-mail address for
// email, the E.164 mobile number for sms, whatsapp and rcs, "" if none.
func (r Recipient) Address(ch message.Channel) string {
	switch ch.Contact() {
	case message.EmailAddress:
		if len(r.Emails) > 0 {
			return r.Emails[0].Address
		}
	case message.MobileNumber:
		if r.Mobile != nil {
			return r.Mobile.Number
		}
	}
	return ""
}

// SuppressedOn reports whether the contact point of ch is suppressed on ch.
func (r Recipient) SuppressedOn(ch message.Channel) bool { return len(r.SuppressionsOn(ch)) > 0 }

// SuppressionsOn lists the suppression entries of the contact point of ch
// that cover ch (for that channel or every channel).
func (r Recipient) SuppressionsOn(ch message.Channel) []Suppression {
	var list []Suppression
	switch ch.Contact() {
	case message.EmailAddress:
		if len(r.Emails) > 0 {
			list = r.Emails[0].Suppressed
		}
	case message.MobileNumber:
		if r.Mobile != nil {
			list = r.Mobile.Suppressed
		}
	}
	var out []Suppression
	for _, s := range list {
		if s.Channel == consent.AllChannels || s.Channel == string(ch) {
			out = append(out, s)
		}
	}
	return out
}

// ProfileAttributes is the key under which Profile carries the custom
// attributes. The renderer takes them out of the contact category and shows
// a template only those its type declares (render's data guard).
const ProfileAttributes = "attributes"

// Profile returns the contact category a template may use: salutation and
// names, and the custom attributes under ProfileAttributes.
func (r Recipient) Profile() map[string]any {
	p := map[string]any{
		"salutation": r.Salutation,
		"first_name": r.FirstName,
		"last_name":  r.LastName,
		"company":    r.Company,
	}
	if len(r.Attributes) > 0 {
		p[ProfileAttributes] = map[string]any(r.Attributes.Clone())
	}
	return p
}

// Clone returns a copy of r that shares no slices or pointers with it.
func (r Recipient) Clone() Recipient {
	r.Emails = slices.Clone(r.Emails)
	for i := range r.Emails {
		r.Emails[i].Suppressed = slices.Clone(r.Emails[i].Suppressed)
	}
	if r.Mobile != nil {
		m := *r.Mobile
		m.Suppressed = slices.Clone(m.Suppressed)
		r.Mobile = &m
	}
	if r.PostalAddress != nil {
		p := *r.PostalAddress
		r.PostalAddress = &p
	}
	if r.Contract != nil {
		c := *r.Contract
		r.Contract = &c
	}
	r.Attributes = r.Attributes.Clone()
	return r
}
