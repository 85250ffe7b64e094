package recipient

import (
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // recipients' zones must resolve even on hosts without a zone database

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// Snapshot is what Herold knows about one recipient at one read: the profile
// (with its suppression flags) and the whole consent ledger. Found is false
// for an unknown (or erased) recipient.
type Snapshot struct {
	ID        message.RecipientID
	Found     bool
	Recipient Recipient
	Events    []consent.Event
	// RecentAdvertising counts the advertising deliveries since the window
	// start the loader was given (the frequency cap); 0 without one.
	RecentAdvertising int
}

// Facts builds the policy's facts for a message of type t on channel ch at
// now, in the recipient's time zone loc (see Zones): the recipient's facts
// (contract, open request, contact points of ch and whether they are
// suppressed) and the ledger folded at now. For a snapshot that was not found
// the Recipient is nil (unknown_recipient).
func (sn Snapshot) Facts(t message.Type, ch message.Channel, now time.Time, loc *time.Location) policy.Facts {
	f := policy.Facts{
		Type:    t,
		Channel: ch,
		Now:     now,
		Consent: consent.Fold(sn.Events, now),
		// The frequency cap counts deliveries on every channel.
		RecentAdvertising: sn.RecentAdvertising,
		Local:             loc,
	}
	if !sn.Found {
		return f
	}
	r := sn.Recipient
	pr := &policy.Recipient{
		ID:               sn.ID,
		Kind:             r.Kind,
		OpenRequest:      r.OpenRequest,
		HasEmail:         len(r.Emails) > 0,
		HasPhone:         r.Mobile != nil && r.Mobile.Number != "",
		ContractEvidence: contractEvidence(r.Contract),
	}
	// The policy gets each suppression with its reason and time, so it can
	// tell whether a later contract or consent lifts it.
	for _, s := range r.SuppressionsOn(ch) {
		pr.Suppressed = true
		pr.Suppressions = append(pr.Suppressions, policy.Suppression{Reason: s.Reason, At: s.At})
	}
	if pr.ID == "" {
		pr.ID = r.ID
	}
	if pr.HasEmail {
		// UWG §7(3) no. 1: only the address collected in the sale counts, and
		// only the primary address is written to.
		pr.EmailFromSale = r.Emails[0].CollectedInSale
	}
	if pr.HasPhone {
		pr.PhoneVerifiedAt = r.Mobile.VerifiedAt
	}
	if c := r.Contract; c != nil {
		pr.ContractStart, pr.ContractEnd = c.StartedAt, c.EndedAt
	}
	f.Recipient = pr
	return f
}

// contractEvidence gives the contract dates the decision relied on as an
// ISO 8601 interval ("contract_dates:2024-01-01/.." while it runs); "" without
// a contract.
func contractEvidence(c *Contract) string {
	switch {
	case c == nil || c.StartedAt.IsZero():
		return ""
	case c.EndedAt.IsZero():
		return "contract_dates:" + c.StartedAt.Format(time.DateOnly) + "/.."
	default:
		return "contract_dates:" + c.StartedAt.Format(time.DateOnly) + "/" + c.EndedAt.Format(time.DateOnly)
	}
}

// Zones resolves recipients' time zones, with a default for those without
// one (HEROLD_DEFAULT_TIME_ZONE). A delivery meets few distinct zones, so
// they are cached. It is safe for concurrent use.
type Zones struct {
	def   *time.Location
	mu    sync.Mutex
	cache map[string]*time.Location
}

// NewZones returns Zones with def for recipients without a zone (nil: UTC).
func NewZones(def *time.Location) *Zones {
	if def == nil {
		def = time.UTC
	}
	return &Zones{def: def, cache: map[string]*time.Location{}}
}

// Default returns the zone of recipients without one. A nil *Zones
// resolves every recipient to UTC.
func (z *Zones) Default() *time.Location {
	if z == nil {
		return time.UTC
	}
	return z.def
}

// Of returns r's zone: its time_zone, or the default for none or a name the
// zone database does not know (profiles are validated on write; a zone
// database without the name must not stop a delivery).
func (z *Zones) Of(r Recipient) *time.Location { return z.Get(r.TimeZone) }

// Get returns the named zone, or the default.
func (z *Zones) Get(name string) *time.Location {
	name = strings.TrimSpace(name)
	if z == nil {
		return time.UTC
	}
	if name == "" {
		return z.def
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if l, ok := z.cache[name]; ok {
		return l
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = z.def
	}
	z.cache[name] = l
	return l
}
