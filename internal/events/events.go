// Package events is Herold's event model: everything that happens to a
// message, a consent record, a recipient, a suppression entry or a campaign
// is an Event that names ids and stable codes, never an address, a number or
// a name. Events feed producer webhooks (internal/webhooks), metrics and the
// console through one interface, Publisher, that the send path calls.
//
// # What a payload may hold
//
// Only opaque ids (message, recipient, campaign, ledger event, bounce report)
// and codes from closed sets (type, channel, reason, error class, consent
// kind, purpose and source). Validate enforces the shapes, so a field that
// was handed an e-mail address or a phone number in E.164 is refused before
// it leaves the process.
//
// consent.recorded carries the proof fields that identify the record (ledger
// event id, time, source, text version and a SHA-256 of the exact text), but
// not the IP address or user agent: an IP address is personal data (CJEU
// C-582/14, Breyer), a webhook receiver needs to know that and when a person
// consented, not from where, and the ledger keeps the full proof for an
// auditor behind the recipients scope (data minimisation, Art. 5(1)(c) GDPR).
package events

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Type is an event type, such as "message.delivered". The strings are part
// of the webhook contract.
type Type string

// The event types.
const (
	MessageQueued      Type = "message.queued"      // accepted and waiting for delivery
	MessageDelivered   Type = "message.delivered"   // the provider accepted it (or confirmed delivery)
	MessageSuppressed  Type = "message.suppressed"  // the policy denied it; Reason says why
	MessageFailed      Type = "message.failed"      // permanent error or retries exhausted; ErrorClass says which
	MessageRead        Type = "message.read"        // the provider reports it was read
	MessageUndelivered Type = "message.undelivered" // the provider accepted it but could not deliver it
	MessageBounced     Type = "message.bounced"     // an asynchronous bounce (DSN) came back; Bounce says which kind
	MessageComplained  Type = "message.complained"  // the person reported it as spam (ARF feedback report)
	MessageReply       Type = "message.reply"       // the person tapped a quick-reply button; Reply names its payload, MessageID the message answered when known
	ConsentRecorded    Type = "consent.recorded"    // a grant, withdrawal, objection or double opt-in step
	RecipientErased    Type = "recipient.erased"    // the person was erased (Art. 17 GDPR)
	SuppressionAdded   Type = "suppression.added"   // a contact point was put on the suppression list
	SuppressionLifted  Type = "suppression.lifted"  // a suppression entry was removed
	CampaignStarted    Type = "campaign.started"
	CampaignPaused     Type = "campaign.paused"
	CampaignDone       Type = "campaign.done"
)

var allTypes = []Type{
	MessageQueued, MessageDelivered, MessageSuppressed, MessageFailed, MessageRead, MessageUndelivered,
	MessageBounced, MessageComplained, MessageReply, ConsentRecorded, RecipientErased,
	SuppressionAdded, SuppressionLifted, CampaignStarted, CampaignPaused, CampaignDone,
}

// Types returns every event type in a stable order.
func Types() []Type { return append([]Type(nil), allTypes...) }

// ParseType returns the type named s, or an error that names s.
func ParseType(s string) (Type, error) {
	for _, t := range allTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown event type %q", s)
}

// Event is one thing that happened. It is encoded as the Standard Webhooks
// payload shape: {"id", "type", "timestamp", "data"}.
type Event struct {
	// ID identifies the event; receivers deduplicate by it. Publish draws a
	// random one when it is empty; a caller that may publish the same fact
	// twice (a retried task) sets DerivedID instead.
	ID   string    `json:"id"`
	Type Type      `json:"type"`
	At   time.Time `json:"timestamp"`
	Data Data      `json:"data"`
}

// Data is an event's payload. Every field is an id or a code; which ones are
// set depends on the type (see the constructors).
type Data struct {
	MessageID   string `json:"message_id,omitempty"`
	RecipientID string `json:"recipient_id,omitempty"`
	MessageType string `json:"message_type,omitempty"` // catalog type key, e.g. "invoice"
	Channel     string `json:"channel,omitempty"`      // email, sms, whatsapp, rcs (or "all" for consent)
	CampaignID  string `json:"campaign_id,omitempty"`
	// Reason is the policy's reason code of a suppressed message, or the
	// reason of a suppression entry ("bounced", "complaint", "erased").
	Reason string `json:"reason,omitempty"`
	// Basis is the legal basis a delivered message went out on.
	Basis string `json:"basis,omitempty"`
	// ErrorClass is a failed message's error class ("permanent",
	// "retries_exhausted", a provider error code such as "twilio_21211").
	ErrorClass string `json:"error_class,omitempty"`

	Bounce   *Bounce         `json:"bounce,omitempty"`
	Consent  *Consent        `json:"consent,omitempty"`
	Reply    *Reply          `json:"reply,omitempty"`
	Campaign *CampaignCounts `json:"campaign,omitempty"`
}

// Bounce describes a bounce or complaint report without its text.
type Bounce struct {
	Kind     string `json:"kind"`                // hard, soft, complaint
	Status   string `json:"status,omitempty"`    // RFC 3463 status, e.g. "5.1.1"
	ReportID string `json:"report_id,omitempty"` // the stored report, for GET /v1/bounces/{id}
}

// Consent is the proof of a ledger event, minus the IP address and user agent
// (see the package comment).
type Consent struct {
	EventID     string    `json:"event_id"`
	Kind        string    `json:"kind"`    // grant, withdraw, object, doi_request, doi_confirm
	Purpose     string    `json:"purpose"` // advertising, survey, usage_data, newsletter:<list>, a message type
	Source      string    `json:"source"`  // web_form, customer_portal, phone, email, letter, sms_keyword, api, complaint
	At          time.Time `json:"at"`
	TextVersion string    `json:"text_version,omitempty"`
	TextSHA256  string    `json:"text_sha256,omitempty"` // hex SHA-256 of the exact text agreed to (see TextHash)
	RecordedBy  string    `json:"recorded_by,omitempty"` // API key name or component
}

// Reply is a quick-reply answer: the payload of the button, as the template
// defined it, never free text the person typed.
type Reply struct {
	Payload string `json:"payload"`
}

// CampaignCounts are a campaign's counters when it is done.
type CampaignCounts struct {
	Audience   int64 `json:"audience"`
	Delivered  int64 `json:"delivered"`
	Suppressed int64 `json:"suppressed"`
	Failed     int64 `json:"failed"`
}

// Message names one message for the message.* constructors.
type Message struct {
	ID          string
	RecipientID string
	Type        string
	Channel     string
	CampaignID  string
}

func (m Message) data() Data {
	return Data{MessageID: m.ID, RecipientID: m.RecipientID, MessageType: m.Type, Channel: m.Channel, CampaignID: m.CampaignID}
}

// Queued is message.queued.
func Queued(at time.Time, m Message) Event {
	return Event{Type: MessageQueued, At: at, Data: m.data()}
}

// Delivered is message.delivered; basis is the legal basis it went out on.
func Delivered(at time.Time, m Message, basis string) Event {
	d := m.data()
	d.Basis = basis
	return Event{Type: MessageDelivered, At: at, Data: d}
}

// Suppressed is message.suppressed with the policy's reason code.
func Suppressed(at time.Time, m Message, reason string) Event {
	d := m.data()
	d.Reason = reason
	return Event{Type: MessageSuppressed, At: at, Data: d}
}

// Failed is message.failed with an error class (never the provider's text).
func Failed(at time.Time, m Message, errorClass string) Event {
	d := m.data()
	d.ErrorClass = errorClass
	return Event{Type: MessageFailed, At: at, Data: d}
}

// Read is message.read, from a provider callback.
func Read(at time.Time, m Message) Event { return Event{Type: MessageRead, At: at, Data: m.data()} }

// Undelivered is message.undelivered, from a provider callback; errorClass
// may name the provider's code.
func Undelivered(at time.Time, m Message, errorClass string) Event {
	d := m.data()
	d.ErrorClass = errorClass
	return Event{Type: MessageUndelivered, At: at, Data: d}
}

// Bounced is message.bounced (kind hard or soft) or, for kind "complaint",
// message.complained.
func Bounced(at time.Time, m Message, b Bounce) Event {
	d := m.data()
	d.Bounce = &b
	t := MessageBounced
	if b.Kind == "complaint" {
		t = MessageComplained
	}
	return Event{Type: t, At: at, Data: d}
}

// Replied is message.reply: the person pressed a quick-reply button.
func Replied(at time.Time, m Message, payload string) Event {
	d := m.data()
	d.Reply = &Reply{Payload: payload}
	return Event{Type: MessageReply, At: at, Data: d}
}

// ConsentEvent is consent.recorded for one ledger event of recipientID on
// channel. Build c with the ledger event's fields and TextHash(text).
func ConsentEvent(recipientID, channel string, c Consent) Event {
	return Event{Type: ConsentRecorded, At: c.At, Data: Data{RecipientID: recipientID, Channel: channel, Consent: &c}}
}

// Erased is recipient.erased.
func Erased(at time.Time, recipientID string) Event {
	return Event{Type: RecipientErased, At: at, Data: Data{RecipientID: recipientID}}
}

// SuppressionEvent is suppression.added or suppression.lifted. The entry's
// hash is not named: a hash of an address is still personal data.
func SuppressionEvent(t Type, at time.Time, recipientID, channel, reason string) Event {
	return Event{Type: t, At: at, Data: Data{RecipientID: recipientID, Channel: channel, Reason: reason}}
}

// CampaignEvent is campaign.started, campaign.paused or campaign.done;
// counts may be nil.
func CampaignEvent(t Type, at time.Time, campaignID, messageType string, counts *CampaignCounts) Event {
	return Event{Type: t, At: at, Data: Data{CampaignID: campaignID, MessageType: messageType, Campaign: counts}}
}

// TextHash returns the hex SHA-256 of a consent text, as Consent.TextSHA256.
func TextHash(text string) string {
	if text == "" {
		return ""
	}
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a random event id: "evt_" and 26 base32 characters.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return "evt_" + strings.ToLower(b32.EncodeToString(b))
}

// DerivedID returns an event id that depends only on t and parts, so the
// same fact published twice (a task retried after a crash) carries the same
// id and receivers drop the copy.
func DerivedID(t Type, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(t))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return "evt_" + strings.ToLower(b32.EncodeToString(h.Sum(nil)[:16]))
}

var (
	// idPattern admits Herold's ids and producers' recipient ids, and no
	// e-mail address ('@') or E.164 number ('+').
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	codePattern = regexp.MustCompile(`^[a-z0-9_.:-]{1,64}$`)
	// digitsOnly catches a phone number given without '+': no Herold id is
	// a long run of digits, but a recipient id may be, so only 10+ digits
	// that look like a national or international number are refused.
	digitsOnly    = regexp.MustCompile(`^0?[1-9][0-9]{9,14}$`)
	statusPattern = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)
	hexSHA256     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ErrInvalid is wrapped by every Validate error.
var ErrInvalid = errors.New("invalid event")

// Validate checks that every field holds an id or a code of the right shape,
// naming the bad ones. It is what keeps addresses and numbers out of
// payloads: a field that holds one fails here.
func (e Event) Validate() error {
	var bad []string
	add := func(field, msg string) { bad = append(bad, field+": "+msg) }
	checkID := func(field, v string, required bool) {
		switch {
		case v == "" && required:
			add(field, "missing")
		case v == "":
		case !idPattern.MatchString(v):
			add(field, "must be an id of 1-128 characters A-Z a-z 0-9 . _ : -")
		case field == "data.recipient_id" && digitsOnly.MatchString(v):
			add(field, "looks like a phone number; use the producer's recipient id")
		}
	}
	checkCode := func(field, v string, required bool) {
		switch {
		case v == "" && required:
			add(field, "missing")
		case v != "" && !codePattern.MatchString(v):
			add(field, "must be a code of 1-64 characters a-z 0-9 _ . : -")
		}
	}
	if _, err := ParseType(string(e.Type)); err != nil {
		add("type", err.Error())
	}
	if e.ID != "" && !idPattern.MatchString(e.ID) {
		add("id", "must be an id of 1-128 characters A-Z a-z 0-9 . _ : -")
	}
	if e.At.IsZero() {
		add("timestamp", "missing")
	}
	d := e.Data
	isMessage := strings.HasPrefix(string(e.Type), "message.")
	// A reply may answer a message Herold no longer knows (or a campaign
	// message, which keeps no provider index): it names the person instead.
	checkID("data.message_id", d.MessageID, isMessage && e.Type != MessageReply)
	checkID("data.recipient_id", d.RecipientID, e.Type == RecipientErased || e.Type == ConsentRecorded || e.Type == MessageReply)
	checkID("data.campaign_id", d.CampaignID, strings.HasPrefix(string(e.Type), "campaign."))
	checkCode("data.message_type", d.MessageType, false)
	checkCode("data.channel", d.Channel, false)
	checkCode("data.reason", d.Reason, e.Type == MessageSuppressed)
	checkCode("data.basis", d.Basis, false)
	checkCode("data.error_class", d.ErrorClass, e.Type == MessageFailed)
	if b := d.Bounce; b != nil {
		checkCode("data.bounce.kind", b.Kind, true)
		if b.Status != "" && !statusPattern.MatchString(b.Status) {
			add("data.bounce.status", "must be an RFC 3463 status such as 5.1.1")
		}
		checkID("data.bounce.report_id", b.ReportID, false)
	} else if e.Type == MessageBounced || e.Type == MessageComplained {
		add("data.bounce", "missing")
	}
	if c := d.Consent; c != nil {
		checkID("data.consent.event_id", c.EventID, true)
		checkCode("data.consent.kind", c.Kind, true)
		checkCode("data.consent.purpose", c.Purpose, true)
		checkCode("data.consent.source", c.Source, true)
		checkID("data.consent.text_version", c.TextVersion, false)
		checkID("data.consent.recorded_by", c.RecordedBy, false)
		if c.TextSHA256 != "" && !hexSHA256.MatchString(c.TextSHA256) {
			add("data.consent.text_sha256", "must be 64 lowercase hex digits (use TextHash)")
		}
		if c.At.IsZero() {
			add("data.consent.at", "missing")
		}
	} else if e.Type == ConsentRecorded {
		add("data.consent", "missing")
	}
	if r := d.Reply; r != nil {
		checkID("data.reply.payload", r.Payload, true)
	} else if e.Type == MessageReply {
		add("data.reply", "missing")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w %s: %s", ErrInvalid, e.Type, strings.Join(bad, "; "))
	}
	return nil
}

// Publisher takes events from the send path, the ledger and the campaign
// engine. Publish must be cheap when nobody listens: callers call it on
// every delivery. It returns an error only when events could not be handed
// on (Redis down, an event that fails Validate); callers log it and go on,
// since an event is never a reason to fail a delivery.
type Publisher interface {
	Publish(ctx context.Context, evs ...Event) error
}

// Nop is a Publisher that drops every event.
type Nop struct{}

// Publish drops evs.
func (Nop) Publish(context.Context, ...Event) error { return nil }

// Multi returns a Publisher that hands every call to each of ps in turn and
// joins their errors; one failing does not stop the others.
func Multi(ps ...Publisher) Publisher { return multi(ps) }

type multi []Publisher

func (m multi) Publish(ctx context.Context, evs ...Event) error {
	var errs []error
	for _, p := range m {
		if err := p.Publish(ctx, evs...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
