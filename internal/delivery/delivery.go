// Package delivery is Herold's one road: the attempt that delivers one
// message to one recipient. A single message, an item of a batch and a
// campaign recipient all go through Attempt; what differs between them is
// only how the outcome is recorded (a Recorder: a full message record with
// its evidence, or compact outcomes written in batches).
//
// One attempt, in order:
//
//  1. decide every channel in the message's order of preference at this
//     moment (policy.Decide with the recipient's facts, in their local time),
//     and check that the chosen channel's address is still there;
//  2. an allowed decision that must wait (quiet hours) is Held until its
//     NotBefore: the caller decides again then, so a withdrawal that arrives
//     meanwhile stops the message;
//  3. render; on a channel with a session window (WhatsApp) a message
//     without an approved template goes as free text only inside the
//     person's window and where free text is allowed, else it fails with
//     no_template or outside_session_window (never silently dropped);
//     send under the send timeout, and classify what the provider
//     answered (Delivered, Failed for good, Retry later, or Interrupted when
//     the caller's context ended mid-send);
//  4. apply what a permanent error says about the person (a STOP is an
//     objection, a hard bounce suppresses the address) through
//     internal/feedback, the same code the inbound webhook and the bounce
//     receiver use.
//
// Every rule about delivering — quiet hours, the send timeout, what a STOP
// or a hard bounce means, the address re-check, the session window — lives
// here or below, once.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/feedback"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/metrics"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/render"
)

// Renderer turns a message into per-channel content (internal/render.Renderer).
type Renderer interface {
	Render(req render.Request) (render.Content, error)
}

// Spec is what to deliver to one recipient.
type Spec struct {
	MessageID string // stable across tries: the Message-ID header and the provider's idempotency
	Type      message.Type
	Class     message.Class
	// Channels is the order of preference; empty: the type's channels in
	// catalog order.
	Channels []message.Channel
	Data     map[string]map[string]any
	Locale   string
	// Quiet are windows the message adds to the catalog's quiet hours (a
	// campaign's own quiet_hours); they can only hold it longer.
	Quiet []policy.QuietRule
	// CampaignID names the campaign the message belongs to, if any.
	CampaignID string
	// Prepared, when set (Deliverer.Prepare), renders from templates
	// compiled once for every recipient of the same message, such as a
	// campaign's; the content is the same as without it.
	Prepared *Prepared
	// LastTry: no try comes after this one, so a retryable error fails the
	// message with ClassRetriesExhausted. The caller knows its retry budget
	// (asynq's for single messages, the campaign's for its recipients); what
	// running out means is decided here, once.
	LastTry bool
}

// Status is what an attempt came to.
type Status uint8

// The statuses of an attempt.
const (
	// Delivered: the provider accepted the message.
	Delivered Status = iota + 1
	// Suppressed: the policy allowed no channel. A successful outcome.
	Suppressed
	// Held: allowed, but not before Result.NotBefore; decide again then.
	Held
	// Failed: a permanent error; trying again would fail the same way.
	Failed
	// Retry: a retryable error; try again later (after RetryAfter, if set).
	Retry
	// Interrupted: the caller's context ended during the send. The message
	// may or may not have gone out; the next run decides and sends again
	// with the same message id.
	Interrupted
)

func (s Status) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Suppressed:
		return "suppressed"
	case Held:
		return "held"
	case Failed:
		return "failed"
	case Retry:
		return "retry"
	case Interrupted:
		return "interrupted"
	}
	return "unknown"
}

// Error classes: stable snake_case codes that records, campaign counters and
// the API show. Never rename one.
const (
	ClassHardBounce       = "hard_bounce"       // the address does not exist (SMTP 5xx at RCPT)
	ClassUnsubscribed     = "unsubscribed"      // the person opted out at the provider (Twilio 21610)
	ClassInvalidAddress   = "invalid_address"   // the address cannot receive this channel (Twilio 21211)
	ClassPermanent        = "permanent"         // another error that fails the same way every time
	ClassRender           = "render"            // the templates could not be filled (missing data)
	ClassNoSender         = "no_sender"         // no sender is configured for the channel
	ClassTimeout          = "timeout"           // the provider did not answer within the send timeout
	ClassRateLimited      = "rate_limited"      // the provider or Herold's own rate limit asked to wait
	ClassProvider         = "provider_error"    // the provider answered with a temporary error (SMTP 4xx, HTTP 5xx)
	ClassTransport        = "transport"         // the connection to the provider failed
	ClassRetriesExhausted = "retries_exhausted" // a retryable error on the last allowed try
	// ClassNoTemplate: the channel needs an approved template (WhatsApp) and
	// the message has none, nor may it go as free text.
	ClassNoTemplate = "no_template"
	// ClassOutsideWindow: no approved template, and the person's session
	// window (WhatsApp: 24 hours from their last message) is closed, so free
	// text may not go either (also Twilio's 63016).
	ClassOutsideWindow = "outside_session_window"
)

// Result is the outcome of one attempt.
type Result struct {
	Status  Status
	Channel message.Channel // the channel used or tried; the first preferred one when suppressed
	// Decision settled the message: the allowed decision of the channel used,
	// or the denial of the first preferred channel.
	Decision  policy.Decision
	Decisions []policy.Decision // every channel considered, in order
	Receipt   channels.Receipt  // Delivered
	// Err is the error of a Failed, Retry or Interrupted attempt; Class the
	// message's error class; TryClass this try's (they differ when a last
	// try's retryable error fails the message as retries_exhausted).
	Err        error
	Class      string
	TryClass   string
	RetryAfter time.Duration // Retry: the provider's Retry-After, if it gave one
	NotBefore  time.Time     // Held
	At         time.Time     // when it was decided
	DoneAt     time.Time     // when the provider answered (or the decision, without a send)
	// Provider and SendTime: who was called and how long the call took
	// (zero without a call).
	Provider string
	SendTime time.Duration
	// Advertising: a delivered advertising message, which counts toward the
	// frequency cap.
	Advertising bool
}

// Options are the dependencies of New.
type Options struct {
	Catalog  *policy.Catalog
	Renderer Renderer
	Senders  map[message.Channel]channels.Sender
	Feedback *feedback.Feedback // applies STOPs and hard bounces
	Zones    *recipient.Zones   // recipients' time zones; nil: UTC for all
	// Events hears the final outcome of every attempt (message.delivered,
	// .suppressed, .failed); nil: none.
	Events events.Publisher
	// Metrics counts decisions, outcomes and provider calls; nil: none.
	Metrics *metrics.Metrics
	// Sessions tells whether a person's session window is open on a
	// channel that has one (message.ChannelSpec.Session); nil: never.
	Sessions Sessions
	// FreeForm lists the channels on which a message without an approved
	// template may go as free text inside the session window
	// (HEROLD_WHATSAPP_FREE_FORM); on the others it fails with no_template.
	FreeForm []message.Channel
	// SendTimeout limits one provider call (HEROLD_SEND_TIMEOUT; default 30s).
	SendTimeout time.Duration
	Log         *slog.Logger
	Now         func() time.Time // default time.Now
}

// Sessions answers whether the session window of a number is open on a
// channel: the person wrote within message.ChannelSpec.Session
// (store.Store implements it).
type Sessions interface {
	SessionOpen(ctx context.Context, ch message.Channel, e164 string) (bool, error)
}

// Deliverer runs attempts. It is safe for concurrent use.
type Deliverer struct {
	o Options
}

// New returns a Deliverer.
func New(o Options) (*Deliverer, error) {
	if o.Catalog == nil || o.Renderer == nil || o.Feedback == nil {
		return nil, errors.New("delivery: Catalog, Renderer and Feedback are required")
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Events == nil {
		o.Events = events.Nop{}
	}
	return &Deliverer{o: o}, nil
}

// Catalog returns the catalog the deliverer decides with.
func (d *Deliverer) Catalog() *policy.Catalog { return d.o.Catalog }

// Now returns the deliverer's clock reading, in UTC.
func (d *Deliverer) Now() time.Time { return d.o.Now().UTC() }

// Zones returns the time zones the deliverer resolves recipients with.
func (d *Deliverer) Zones() *recipient.Zones { return d.o.Zones }

// Recorder records the outcome of an attempt: the pluggable part of the road.
type Recorder interface {
	Record(ctx context.Context, spec Spec, res Result) error
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(ctx context.Context, spec Spec, res Result) error

// Record calls f.
func (f RecorderFunc) Record(ctx context.Context, spec Spec, res Result) error {
	return f(ctx, spec, res)
}

// EventSink is implemented by a Recorder that hands on the events of its
// outcomes itself, after it wrote them (the campaign's, in batches).
// Without it Run publishes them right after Record.
type EventSink interface {
	Events(evs ...events.Event)
}

// Run makes one attempt, records its outcome with rec and then, once it is
// recorded, counts it and tells the outcome's event: every road reports
// the same way.
func (d *Deliverer) Run(ctx context.Context, spec Spec, snap recipient.Snapshot, rec Recorder) (Result, error) {
	res := d.Attempt(ctx, spec, snap)
	if err := rec.Record(ctx, spec, res); err != nil {
		return res, err
	}
	d.count(spec, res)
	if ev, ok := d.EventOf(spec, snap.ID, res); ok {
		if sink, ok := rec.(EventSink); ok {
			sink.Events(ev)
		} else if err := d.o.Events.Publish(context.WithoutCancel(ctx), ev); err != nil {
			d.o.Log.WarnContext(ctx, "publish delivery event", "message_id", spec.MessageID, "err", err)
		}
	}
	return res, nil
}

// EventOf is the event of a recorded final outcome: message.delivered,
// .suppressed or .failed, with an id derived from the message, so a task run
// again after a crash tells receivers the same event once. Held, retried and
// interrupted attempts have none.
func (d *Deliverer) EventOf(spec Spec, rid message.RecipientID, res Result) (events.Event, bool) {
	m := events.Message{ID: spec.MessageID, RecipientID: string(rid), Type: string(spec.Type),
		Channel: string(res.Channel), CampaignID: spec.CampaignID}
	var ev events.Event
	switch res.Status {
	case Delivered:
		ev = events.Delivered(res.DoneAt, m, string(res.Decision.Basis))
	case Suppressed:
		ev = events.Suppressed(res.DoneAt, m, string(res.Decision.Reason))
	case Failed:
		ev = events.Failed(res.DoneAt, m, res.Class)
	default:
		return events.Event{}, false
	}
	ev.ID = events.DerivedID(ev.Type, spec.MessageID)
	return ev, true
}

// count adds the attempt to the metrics.
func (d *Deliverer) count(spec Spec, res Result) {
	m := d.o.Metrics
	if m == nil {
		return
	}
	m.Decision(string(res.Decision.Basis), res.Decision.Allowed)
	switch res.Status {
	case Delivered:
		m.Message(spec.Type, res.Channel, "delivered")
	case Suppressed:
		m.Message(spec.Type, res.Channel, "suppressed")
		m.Suppressed(string(res.Decision.Reason))
	case Failed:
		m.Message(spec.Type, res.Channel, "failed")
	}
	if res.Provider != "" {
		m.ProviderSend(res.Channel, res.Provider, res.SendTime, res.TryClass)
	}
}

// Decide decides spec for snap on every channel in order at now and returns
// the decisions, the index of the allowed one (-1: none) and the channels
// considered. It sends nothing: the attempt and dry runs share it.
func (d *Deliverer) Decide(spec Spec, snap recipient.Snapshot, now time.Time) (decisions []policy.Decision, chosen int, prefs []message.Channel) {
	prefs = spec.Channels
	if len(prefs) == 0 {
		if t, ok := d.o.Catalog.Type(spec.Type); ok {
			prefs = t.Channels
		}
	}
	if len(prefs) == 0 {
		prefs = []message.Channel{""} // unknown type: Decide denies with unknown_type
	}
	loc := d.o.Zones.Of(snap.Recipient)
	decisions = make([]policy.Decision, 0, len(prefs))
	for _, ch := range prefs {
		f := snap.Facts(spec.Type, ch, now, loc)
		f.Quiet = spec.Quiet
		dec := policy.Decide(d.o.Catalog, f)
		if dec.Allowed && snap.Recipient.Address(ch) == "" {
			// The policy checks contact points; this guards against a profile
			// read for its facts that has lost the address since.
			dec.Allowed, dec.Reason, dec.NotBefore, dec.Hold = false, policy.NoContactPoint, time.Time{}, ""
		}
		decisions = append(decisions, dec)
		if dec.Allowed {
			return decisions, len(decisions) - 1, prefs
		}
	}
	return decisions, -1, prefs
}

// Attempt delivers spec to the recipient of snap once (see the package doc).
// snap must be fresh: read right before, with the catalog's
// FrequencyCountSince for the frequency cap.
func (d *Deliverer) Attempt(ctx context.Context, spec Spec, snap recipient.Snapshot) Result {
	now := d.Now()
	decisions, chosen, prefs := d.Decide(spec, snap, now)
	res := Result{Decisions: decisions, At: now, DoneAt: now}
	if chosen < 0 {
		res.Status, res.Decision = Suppressed, decisions[0]
		res.Channel = res.Decision.Channel
		if res.Channel == "" {
			res.Channel = prefs[0]
		}
		return res
	}
	dec := decisions[chosen]
	ch := prefs[chosen]
	res.Decision, res.Channel = dec, ch
	if dec.NotBefore.After(now) {
		res.Status, res.NotBefore = Held, dec.NotBefore
		return res
	}

	fail := func(class string, err error) Result {
		res.Status, res.Class, res.TryClass, res.Err, res.DoneAt = Failed, class, class, err, d.Now()
		return res
	}
	sender := d.o.Senders[ch]
	if sender == nil {
		return fail(ClassNoSender, channels.Permanent(fmt.Errorf("no sender configured for channel %s", ch)))
	}
	r := snap.Recipient
	content, err := d.render(spec, render.Request{
		MessageID: spec.MessageID, Type: spec.Type, Channel: ch, Locale: spec.Locale, RecipientLocale: r.Locale,
		Recipient: snap.ID, Profile: r.Profile(), Data: spec.Data, Decision: dec,
	})
	if err != nil {
		// Missing data and refused categories fail the same way on every try.
		return fail(ClassRender, channels.Permanent(fmt.Errorf("render: %w", err)))
	}
	freeForm := false
	if cs, _ := ch.Spec(); cs.Session > 0 && content.ContentSID == "" {
		class, err := d.session(ctx, spec, ch, content.Locale, r.Address(ch))
		switch {
		case class == ClassTransport:
			res.Status, res.Class, res.TryClass, res.Err, res.DoneAt = Retry, class, class, err, d.Now()
			if spec.LastTry {
				res.Status, res.Class = Failed, ClassRetriesExhausted
			}
			return res
		case err != nil:
			return fail(class, err)
		}
		freeForm = true
	}
	sctx, cancel := context.WithTimeout(ctx, d.o.SendTimeout)
	sendStart := d.Now()
	receipt, err := sender.Send(sctx, channels.Outbound{
		MessageID: spec.MessageID, Type: string(spec.Type), Class: string(spec.Class), Locale: content.Locale,
		To: r.Address(ch), Subject: content.Subject, Text: content.Text, HTML: content.HTML,
		UnsubscribeURL: content.UnsubscribeURL, UnsubscribeMailto: content.UnsubscribeMailto, ListID: content.ListID,
		ContentSID: content.ContentSID, ContentVariables: content.ContentVariables, FreeForm: freeForm,
		SMSFallback: dec.SMSFallback,
	})
	timedOut := errors.Is(sctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancel()
	res.DoneAt = d.Now()
	res.SendTime, res.Provider = res.DoneAt.Sub(sendStart), providerOf(receipt, err, ch)
	if err == nil {
		res.Status, res.Receipt = Delivered, receipt
		if t, ok := d.o.Catalog.Type(spec.Type); ok && t.Advertising {
			capMax, _ := d.o.Catalog.FrequencyCap()
			res.Advertising = capMax > 0
		}
		return res
	}
	res.Err = err
	switch {
	case ctx.Err() != nil:
		res.Status = Interrupted
		return res
	case channels.IsPermanent(err):
		res.Status, res.Class = Failed, d.afterPermanent(ctx, snap.ID, ch, spec.MessageID, err, res.DoneAt)
		res.TryClass = res.Class
		return res
	}
	res.Status = Retry
	res.RetryAfter, _ = channels.RetryAfter(err)
	var pe *channels.ProviderError
	switch {
	case timedOut:
		res.Class = ClassTimeout
		res.Err = fmt.Errorf("no answer within the send timeout of %s: %w", d.o.SendTimeout, err)
	case res.RetryAfter > 0:
		res.Class = ClassRateLimited
	case errors.As(err, &pe):
		res.Class = ClassProvider
	default:
		res.Class = ClassTransport
	}
	res.TryClass = res.Class
	if spec.LastTry {
		res.Status, res.Class, res.RetryAfter = Failed, ClassRetriesExhausted, 0
	}
	return res
}

// session is the rule of a channel with a session window (WhatsApp) for a
// message without an approved template: it may go as free text only when
// the channel allows free text and the person wrote within the window.
// It returns "" and nil when the text may go; otherwise the error class and
// a permanent error, or ClassTransport when the window could not be read.
func (d *Deliverer) session(ctx context.Context, spec Spec, ch message.Channel, locale, number string) (string, error) {
	if !slices.Contains(d.o.FreeForm, ch) {
		return ClassNoTemplate, channels.Permanent(fmt.Errorf("%w for type %s locale %s on %s, and free-form messages are off there",
			channels.ErrNoTemplate, spec.Type, locale, ch))
	}
	open := false
	if d.o.Sessions != nil {
		var err error
		if open, err = d.o.Sessions.SessionOpen(ctx, ch, number); err != nil {
			return ClassTransport, fmt.Errorf("read the session window: %w", err)
		}
	}
	if !open {
		return ClassOutsideWindow, channels.Permanent(fmt.Errorf("%w: no approved template for type %s locale %s on %s, and the person has not written within the window",
			channels.ErrOutsideWindow, spec.Type, locale, ch))
	}
	return "", nil
}

// providerOf names who took the call: the receipt's provider, else the
// provider of the error, else the channel.
func providerOf(r channels.Receipt, err error, ch message.Channel) string {
	if r.Provider != "" {
		return r.Provider
	}
	var pe *channels.ProviderError
	if errors.As(err, &pe) && pe.Provider != "" {
		return pe.Provider
	}
	return string(ch)
}

// afterPermanent acts on what a permanent provider error says about the
// person and returns the error class. The message's own outcome does not
// depend on the side effect: a failure to record it is logged.
func (d *Deliverer) afterPermanent(ctx context.Context, id message.RecipientID, ch message.Channel, msgID string, err error, at time.Time) string {
	var pe *channels.ProviderError
	errors.As(err, &pe)
	switch {
	case errors.Is(err, channels.ErrUnsubscribed):
		o := consent.OptOut{Channel: ch, At: at, Provider: "provider", MessageID: msgID}
		if pe != nil {
			o.Provider, o.Code = pe.Provider, pe.Code
		}
		if _, _, ferr := d.o.Feedback.OptedOut(ctx, id, o); ferr != nil {
			d.o.Log.ErrorContext(ctx, "record a provider opt-out", "recipient_id", id, "message_id", msgID, "err", ferr)
		}
		return ClassUnsubscribed
	case errors.Is(err, channels.ErrHardBounce):
		if ferr := d.o.Feedback.HardBounced(ctx, id, ch); ferr != nil {
			d.o.Log.ErrorContext(ctx, "suppress a bounced address", "recipient_id", id, "message_id", msgID, "err", ferr)
		}
		return ClassHardBounce
	case errors.Is(err, channels.ErrInvalidAddress):
		return ClassInvalidAddress
	case errors.Is(err, channels.ErrOutsideWindow):
		return ClassOutsideWindow
	case errors.Is(err, channels.ErrNoTemplate):
		return ClassNoTemplate
	}
	return ClassPermanent
}

// SafeError is the text of err kept in a record: a provider error's safe
// form when there is one (adapters never put addresses in errors; see the
// channels package), cut to a sane length.
func SafeError(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	var pe *channels.ProviderError
	if errors.As(err, &pe) {
		s = pe.Error()
		switch {
		case errors.Is(err, channels.ErrUnsubscribed):
			s = channels.ErrUnsubscribed.Error() + ": " + s
		case errors.Is(err, channels.ErrHardBounce):
			s = channels.ErrHardBounce.Error() + ": " + s
		case errors.Is(err, channels.ErrInvalidAddress):
			s = channels.ErrInvalidAddress.Error() + ": " + s
		case errors.Is(err, channels.ErrOutsideWindow):
			s = channels.ErrOutsideWindow.Error() + ": " + s
		case errors.Is(err, channels.ErrNoTemplate):
			s = channels.ErrNoTemplate.Error() + ": " + s
		}
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
