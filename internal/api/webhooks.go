package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/feedback"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/store"
)

// StatusUpdater records a provider's delivery status for the message it
// knows as providerID (store.Store implements it). An unknown id is an error
// wrapping store.ErrNotFound.
type StatusUpdater interface {
	UpdateProviderStatus(ctx context.Context, providerID string, status string, errorCode int) (store.MessageRecord, error)
}

// InboundApplier applies an inbound message (feedback.Feedback implements
// it: the same rules as for a delivery the provider refused with STOP).
type InboundApplier interface {
	Inbound(ctx context.Context, in feedback.Inbound) (feedback.InboundResult, error)
}

// Webhook paths, as configured at Twilio (StatusCallback is set per message).
const (
	TwilioStatusPath  = "/webhooks/twilio/status"
	TwilioInboundPath = "/webhooks/twilio/inbound"
)

// maxWebhookBody bounds a provider's form post.
const maxWebhookBody = 64 << 10

// Webhooks serves Twilio's callbacks. Every request must carry a valid
// X-Twilio-Signature for PublicURL + its path, computed with the account's
// auth token; anything else is answered 403 and changes nothing.
//
// An inbound message goes to Inbound (internal/feedback): opt-out words
// (STOP, STOPP, ABMELDEN, … in any case) and opt-out buttons become an
// objection to advertising on that channel, recorded once per Twilio
// MessageSid; other quick-reply buttons are published as message.reply;
// a WhatsApp message opens the number's 24-hour session window. START and
// UNSTOP are logged and grant nothing: a keyword proves neither informed
// consent nor the text agreed to (Art. 7 GDPR); the person can consent
// again through the preference centre, which records it properly.
type Webhooks struct {
	AuthToken string // Twilio auth token; empty: every callback is refused
	PublicURL string // e.g. "https://herold.example", as Twilio calls it
	Statuses  StatusUpdater
	Inbound   InboundApplier
	// Events hears message.read and message.undelivered; nil: nobody.
	Events events.Publisher
	Log    *slog.Logger
	Now    func() time.Time // default time.Now
}

// Routes registers the webhook handlers on mux. They need no API key.
func (h *Webhooks) Routes(mux Mux) {
	mux.HandleFunc("POST "+TwilioStatusPath, h.status)
	mux.HandleFunc("POST "+TwilioInboundPath, h.inbound)
}

// verify parses the form and checks Twilio's signature.
func (h *Webhooks) verify(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxWebhookBody)
	if err := r.ParseForm(); err != nil {
		WriteError(w, Errorf(http.StatusBadRequest, "invalid_form", "body is not a form"))
		return false
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if h.AuthToken == "" || sig == "" {
		h.Log.WarnContext(r.Context(), "twilio webhook refused", "path", r.URL.Path, "reason", "no signature or no auth token configured")
		WriteError(w, Errorf(http.StatusForbidden, "forbidden", "invalid signature"))
		return false
	}
	params := make(map[string]string, len(r.PostForm))
	for k, v := range r.PostForm {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	rv := twclient.NewRequestValidator(h.AuthToken)
	if !rv.Validate(strings.TrimRight(h.PublicURL, "/")+r.URL.RequestURI(), params, sig) {
		h.Log.WarnContext(r.Context(), "twilio webhook refused", "path", r.URL.Path, "reason", "invalid signature")
		WriteError(w, Errorf(http.StatusForbidden, "forbidden", "invalid signature"))
		return false
	}
	return true
}

// status handles a StatusCallback: MessageSid, MessageStatus, ErrorCode.
func (h *Webhooks) status(w http.ResponseWriter, r *http.Request) {
	if !h.verify(w, r) {
		return
	}
	sid := firstOf(r.PostForm, "MessageSid", "SmsSid")
	status := firstOf(r.PostForm, "MessageStatus", "SmsStatus")
	code, _ := strconv.Atoi(r.PostForm.Get("ErrorCode"))
	if sid == "" || status == "" {
		WriteError(w, Errorf(http.StatusBadRequest, "invalid_request", "MessageSid and MessageStatus are required"))
		return
	}
	switch status {
	case "sent", "delivered", "undelivered", "failed", "read":
	default: // queued, sending, accepted, scheduled …: nothing to record
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rec, err := h.Statuses.UpdateProviderStatus(r.Context(), sid, status, code)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Expired record, or a message not sent by Herold: a retry would not help.
		h.Log.InfoContext(r.Context(), "status for an unknown message", "provider_id", sid, "status", status)
	case err != nil:
		h.Log.ErrorContext(r.Context(), "recording provider status failed", "provider_id", sid, "status", status, "err", err)
		WriteError(w, err) // 500: Twilio tries again
		return
	default:
		h.Log.DebugContext(r.Context(), "provider status recorded", "provider_id", sid, "status", status, "error_code", code)
		h.tell(r, rec, status, code)
	}
	w.WriteHeader(http.StatusNoContent)
}

// tell publishes what a status callback changed: read, or undelivered
// (failed after the provider accepted it), once per message and status.
func (h *Webhooks) tell(r *http.Request, rec store.MessageRecord, status string, code int) {
	if h.Events == nil {
		return
	}
	m := events.Message{ID: rec.ID, RecipientID: string(rec.RecipientID), Type: string(rec.Type),
		Channel: string(rec.Channel), CampaignID: rec.CampaignID}
	var ev events.Event
	switch rec.Status {
	case store.StatusRead:
		if status != "read" {
			return // a late delivered after read changes nothing
		}
		ev = events.Read(time.Now().UTC(), m)
	case store.StatusUndelivered:
		class := ""
		if code != 0 {
			class = "twilio_" + strconv.Itoa(code)
		}
		ev = events.Undelivered(time.Now().UTC(), m, class)
	default:
		return
	}
	ev.ID = events.DerivedID(ev.Type, rec.ID)
	if err := h.Events.Publish(context.WithoutCancel(r.Context()), ev); err != nil {
		h.Log.WarnContext(r.Context(), "publish provider status event", "message_id", rec.ID, "err", err)
	}
}

// inbound handles an incoming message: From, Body, MessageSid and, for a
// tapped quick-reply button, ButtonPayload (and OriginalRepliedMessageSid,
// the message it answers).
func (h *Webhooks) inbound(w http.ResponseWriter, r *http.Request) {
	if !h.verify(w, r) {
		return
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	ch, number := message.InboundChannel(r.PostForm.Get("From"))
	ctx := r.Context()
	res, err := h.Inbound.Inbound(ctx, feedback.Inbound{
		Channel: ch, Number: number, Body: r.PostForm.Get("Body"), Button: r.PostForm.Get("ButtonPayload"),
		ProviderMessageID: firstOf(r.PostForm, "MessageSid", "SmsSid"), RepliedTo: r.PostForm.Get("OriginalRepliedMessageSid"),
		Provider: "twilio", At: now(),
	})
	if err != nil {
		h.Log.ErrorContext(ctx, "inbound message: applying it failed", "channel", ch, "err", err)
		WriteError(w, err) // 500: Twilio tries again, and the objection is recorded once
		return
	}
	switch {
	case res.Kind == feedback.InboundText:
	case res.Kind == feedback.InboundOptIn:
		h.Log.InfoContext(ctx, "opt-in keyword ignored: it does not grant consent", "channel", ch, "keyword", res.Keyword)
	case res.Recipient == "":
		h.Log.InfoContext(ctx, "inbound keyword or button from an unknown number", "channel", ch, "kind", res.Kind)
	case res.Kind == feedback.InboundOptOut && !res.Recorded:
		h.Log.InfoContext(ctx, "opt-out reported again: already recorded", "recipient_id", res.Recipient, "channel", ch)
	default:
		h.Log.InfoContext(ctx, "inbound message applied", "recipient_id", res.Recipient, "channel", ch, "kind", res.Kind,
			"message_id", res.MessageID)
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)
}

func firstOf(v map[string][]string, keys ...string) string {
	for _, k := range keys {
		if s := v[k]; len(s) > 0 && s[0] != "" {
			return s[0]
		}
	}
	return ""
}
