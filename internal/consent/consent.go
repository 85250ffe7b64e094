// Package consent models the append-only consent ledger: grants, withdrawals,
// objections and double opt-in, and folds them into the state that holds at a
// given moment. It is pure: no I/O and no clock reads, so "what did we know at
// 09:14?" is one call to Fold.
package consent

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/message"
)

// Kind is what a ledger event records.
type Kind string

// The kinds of ledger events.
const (
	Grant      Kind = "grant"       // consent given (Art. 6(1)(a), Art. 7 GDPR)
	Withdraw   Kind = "withdraw"    // consent withdrawn (Art. 7(3)); never retroactive
	Object     Kind = "object"      // objection to direct marketing (Art. 21 GDPR, §7(3) UWG)
	DOIRequest Kind = "doi_request" // first step of a double opt-in: signup, not yet consent
	DOIConfirm Kind = "doi_confirm" // second step: the person clicked the link
)

// ParseKind returns the kind named s, or an error that names s.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Grant, Withdraw, Object, DOIRequest, DOIConfirm:
		return k, nil
	}
	return "", fmt.Errorf("unknown event kind %q (want grant, withdraw, object, doi_request or doi_confirm)", s)
}

// Source is where a ledger event came from.
type Source string

// The sources of ledger events, as the privacy notice names them.
const (
	WebForm        Source = "web_form"
	CustomerPortal Source = "customer_portal"
	Phone          Source = "phone"
	EmailSource    Source = "email"
	Letter         Source = "letter"
	SMSKeyword     Source = "sms_keyword"
	API            Source = "api"
	// MessengerKeyword: the person sent an opt-out word or tapped an opt-out
	// button on WhatsApp or RCS.
	MessengerKeyword Source = "messenger_keyword"
	// ProviderReport: the provider refused a message because the person
	// opted out with it (Twilio 21610, a WhatsApp block).
	ProviderReport Source = "provider"
	// Complaint: the person reported a message as spam to their mailbox
	// provider, which told us through a feedback loop (ARF, RFC 5965).
	Complaint Source = "complaint"
)

// ParseSource returns the source named s, or an error that names s.
func ParseSource(s string) (Source, error) {
	switch src := Source(s); src {
	case WebForm, CustomerPortal, Phone, EmailSource, Letter, SMSKeyword, API, MessengerKeyword, ProviderReport, Complaint:
		return src, nil
	}
	return "", fmt.Errorf("unknown source %q (want web_form, customer_portal, phone, email, letter, sms_keyword, messenger_keyword, provider, complaint or api)", s)
}

// Consent purposes. Objections may also name a message type as purpose
// (e.g. "customer_tip"), and newsletters are "newsletter:<list>".
const (
	Advertising = "advertising"
	Survey      = "survey"
	UsageData   = "usage_data"
	// NewsletterPrefix starts the purpose of each newsletter list.
	NewsletterPrefix = "newsletter:"
)

// AllChannels is the channel of an event that covers every channel.
const AllChannels = "all"

// Newsletter returns the purpose for a newsletter list.
func Newsletter(list string) string { return NewsletterPrefix + list }

// Event is one ledger entry. Events are never changed or deleted: a change of
// mind is a new event.
type Event struct {
	ID          string     `json:"id"`
	Kind        Kind       `json:"kind"`
	Purpose     string     `json:"purpose"`
	Channel     string     `json:"channel"` // a message.Channel or "all"
	At          time.Time  `json:"at"`
	Source      Source     `json:"source"`
	IP          netip.Addr `json:"ip,omitzero"`
	UserAgent   string     `json:"user_agent,omitempty"`
	Text        string     `json:"text,omitempty"`         // the exact words agreed to
	TextVersion string     `json:"text_version,omitempty"` // id of that text's version
	RecordedBy  string     `json:"recorded_by,omitempty"`  // API key name or component
}

// Validate checks an event's fields, naming each bad one.
func (e Event) Validate() error {
	var probs []string
	if _, err := ParseKind(string(e.Kind)); err != nil {
		probs = append(probs, "kind: "+err.Error())
	}
	if err := ValidatePurpose(e.Purpose); err != nil {
		probs = append(probs, "purpose: "+err.Error())
	}
	if e.Channel != AllChannels {
		if _, err := message.ParseChannel(e.Channel); err != nil {
			probs = append(probs, "channel: "+err.Error()+` or "all"`)
		}
	}
	if e.At.IsZero() {
		probs = append(probs, "at: missing timestamp")
	}
	if _, err := ParseSource(string(e.Source)); err != nil {
		probs = append(probs, "source: "+err.Error())
	}
	if len(probs) > 0 {
		return fmt.Errorf("invalid consent event: %s", strings.Join(probs, "; "))
	}
	return nil
}

// ValidatePurpose accepts the known purposes, "newsletter:<list>" and message
// type keys (for objections to one type).
func ValidatePurpose(p string) error {
	if p == "" {
		return fmt.Errorf("missing purpose")
	}
	if strings.HasPrefix(p, NewsletterPrefix) {
		if len(p) == len(NewsletterPrefix) {
			return fmt.Errorf("newsletter purpose needs a list name: newsletter:<list>")
		}
		p = p[len(NewsletterPrefix):]
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') || len(p) > 64 {
			return fmt.Errorf("purpose %q: want advertising, survey, usage_data, newsletter:<list> or a message type (lowercase a-z 0-9 _ -)", p)
		}
	}
	return nil
}

// Status is the state of one purpose on one channel.
type Status string

// The statuses a purpose can be in.
const (
	None       Status = ""            // never asked: no consent
	Granted    Status = "granted"     // consent in force
	Withdrawn  Status = "withdrawn"   // consent withdrawn
	Objected   Status = "objected"    // objection recorded
	DOIPending Status = "doi_pending" // signed up, not confirmed: no consent yet
)

// Key names one purpose on one channel (or "all").
type Key struct {
	Purpose string `json:"purpose"`
	Channel string `json:"channel"`
}

// Entry is the state of one Key, with the event that set it.
type Entry struct {
	Status       Status `json:"status"`
	DOIConfirmed bool   `json:"doi_confirmed,omitempty"` // the grant came from a confirmed double opt-in
	// RequestedAt is when the signup that a confirmed double opt-in answers
	// was made, so the policy can tell a confirmation within its window from
	// one that came too late; zero for every other entry.
	RequestedAt time.Time `json:"requested_at,omitzero"`
	Since       time.Time `json:"since,omitzero"`
	EventID     string    `json:"event_id,omitempty"`
	Source      Source    `json:"source,omitempty"`
}

// State is the folded ledger. The zero State knows no consent at all.
type State struct {
	Entries map[Key]Entry `json:"-"`
}

// Fold replays events in time order (ties in ledger order) up to and including
// at, and returns the state they leave. Events after at are ignored, so a
// withdrawal recorded later never changes what held earlier.
func Fold(events []Event, at time.Time) State {
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b Event) int { return a.At.Compare(b.At) })
	s := State{Entries: make(map[Key]Entry)}
	for _, e := range sorted {
		if e.At.After(at) {
			break
		}
		s.apply(e)
	}
	return s
}

func (s *State) apply(e Event) {
	k := Key{Purpose: e.Purpose, Channel: e.Channel}
	cur := s.Entries[k]
	next := Entry{Since: e.At, EventID: e.ID, Source: e.Source}
	switch e.Kind {
	case Grant:
		next.Status = Granted
	case Withdraw:
		next.Status = Withdrawn
	case Object:
		next.Status = Objected
	case DOIRequest:
		if cur.Status == Granted && cur.DOIConfirmed {
			return // signing up again does not undo a confirmed opt-in
		}
		next.Status = DOIPending
	case DOIConfirm:
		if cur.Status != DOIPending {
			return // a confirmation without a pending request proves nothing
		}
		next.Status, next.DOIConfirmed, next.RequestedAt = Granted, true, cur.Since
	default:
		return
	}
	s.Entries[k] = next
}

// Lookup returns the entry that governs purpose on channel ch: the newer of
// the channel's own entry and the "all" entry. The newest event decides, so an
// objection for all channels is overridden by a later grant for SMS, and vice versa.
func (s State) Lookup(purpose string, ch message.Channel) Entry {
	own, okOwn := s.Entries[Key{purpose, string(ch)}]
	all, okAll := s.Entries[Key{purpose, AllChannels}]
	switch {
	case okOwn && okAll:
		if all.Since.After(own.Since) {
			return all
		}
		return own
	case okOwn:
		return own
	default:
		return all
	}
}

// Keys returns the keys in a stable order, for display and export.
func (s State) Keys() []Key {
	keys := make([]Key, 0, len(s.Entries))
	for k := range s.Entries {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Key) int {
		return cmp.Or(cmp.Compare(a.Purpose, b.Purpose), cmp.Compare(a.Channel, b.Channel))
	})
	return keys
}
