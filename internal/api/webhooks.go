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

	"github.com/heroldhq/herold/internal/consent"
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

// OptOutRecorder records an opt-out that came from a number
// (feedback.Feedback implements it: the same rule as for a delivery the
// provider refused with STOP). An unknown number is feedback.ErrUnknownNumber.
type OptOutRecorder interface {
	NumberOptedOut(ctx context.Context, e164 string, o consent.OptOut) (message.RecipientID, consent.Event, error)
}

// Webhook paths, as configured at Twilio (StatusCallback is set per message).
const (
	TwilioStatusPath  = "/webhooks/twilio/status"
	TwilioInboundPath = "/webhooks/twilio/inbound"
)

// maxWebhookBody bounds a provider's form post.
const maxWebhookBody = 64 << 10

// Opt-out keywords: Twilio's standard list plus the German ones. A message
// that is exactly one of them (case and surrounding punctuation aside) is an
// objection to advertising on the channel it came in on (Art. 21 GDPR).
var stopKeywords = map[string]bool{
	"STOP": true, "STOPP": true, "ABMELDEN": true, "UNSUBSCRIBE": true, "CANCEL": true,
	"END": true, "QUIT": true, "STOPALL": true, "OPTOUT": true, "REVOKE": true,
}

// Opt-in keywords. Twilio lifts its own block on them; Herold does not grant
// consent on them (see Webhooks).
var startKeywords = map[string]bool{"START": true, "UNSTOP": true, "YES": true}

// Webhooks serves Twilio's callbacks. Every request must carry a valid
// X-Twilio-Signature for PublicURL + its path, computed with the account's
// auth token; anything else is answered 403 and changes nothing.
//
// Inbound STOP-like keywords are recorded as an objection to advertising on
// that channel (sms, whatsapp or rcs; consent.OptOutEvent says why exactly
// that), since the provider's block covers only the one sender number. START and UNSTOP are
// logged and otherwise ignored: the ledger has no event kind that would
// record them without granting, and a keyword proves neither the informed
// consent nor the text agreed to (Art. 7 GDPR); the person can consent again
// through the preference centre, which records it properly.
type Webhooks struct {
	AuthToken string // Twilio auth token; empty: every callback is refused
	PublicURL string // e.g. "https://herold.example", as Twilio calls it
	Statuses  StatusUpdater
	OptOuts   OptOutRecorder
	// Events hears message.read and message.undelivered; nil: nobody.
	Events events.Publisher
	Log    *slog.Logger
	Now    func() time.Time // default time.Now
}

// Routes registers the webhook handlers on mux. They need no API key.
func (h *Webhooks) Routes(mux *http.ServeMux) {
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

// inbound handles an incoming message: From, Body.
func (h *Webhooks) inbound(w http.ResponseWriter, r *http.Request) {
	if !h.verify(w, r) {
		return
	}
	ch, number := message.InboundChannel(r.PostForm.Get("From"))
	keyword := normalizeKeyword(r.PostForm.Get("Body"))
	ctx := r.Context()
	switch {
	case stopKeywords[keyword]:
		now := time.Now
		if h.Now != nil {
			now = h.Now
		}
		id, _, err := h.OptOuts.NumberOptedOut(ctx, number, consent.OptOut{
			Channel: ch, At: now(), Keyword: keyword, Provider: "twilio",
			ProviderMessageID: firstOf(r.PostForm, "MessageSid", "SmsSid"),
		})
		switch {
		case errors.Is(err, feedback.ErrUnknownNumber):
			h.Log.InfoContext(ctx, "opt-out keyword from an unknown number", "channel", ch, "keyword", keyword)
		case errors.Is(err, feedback.ErrReplayed):
			// The same inbound message again: answered as the first time, so
			// Twilio stops retrying; nothing changes.
			h.Log.InfoContext(ctx, "opt-out keyword replayed, ignored", "recipient_id", id, "channel", ch)
		case err != nil:
			h.Log.ErrorContext(ctx, "opt-out: recording the objection failed", "channel", ch, "err", err)
			WriteError(w, err)
			return
		default:
			h.Log.InfoContext(ctx, "objection recorded from opt-out keyword", "recipient_id", id, "channel", ch, "keyword", keyword)
		}
	case startKeywords[keyword]:
		h.Log.InfoContext(ctx, "opt-in keyword ignored: it does not grant consent", "channel", ch, "keyword", keyword)
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)
}

// normalizeKeyword upper-cases the body and drops surrounding space and
// punctuation, so "Stop!" and " stopp." match.
func normalizeKeyword(body string) string {
	return strings.ToUpper(strings.Trim(body, " \t\r\n.!?,;:\"'"))
}

func firstOf(v map[string][]string, keys ...string) string {
	for _, k := range keys {
		if s := v[k]; len(s) > 0 && s[0] != "" {
			return s[0]
		}
	}
	return ""
}
