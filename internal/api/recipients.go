package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/privacy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// Limits of the consent API.
const (
	maxEventsPerRequest = 100
	maxConsentText      = 10_000
	maxUserAgent        = 512
	maxTextVersion      = 128
	defaultConsentSkew  = 5 * time.Minute
)

// Recipients serves the recipients API: profiles, the consent ledger and the
// data-subject rights (export, erasure). Every route needs the "recipients"
// scope. Logs carry the recipient id only, never a name or an address.
type Recipients struct {
	Store   *store.Store
	Rights  *privacy.Rights // export and erasure
	Log     *slog.Logger
	Region  string           // default region of phone numbers without a country code (HEROLD_DEFAULT_REGION)
	MaxBody int64            // request body limit; 0 means DefaultMaxBody
	Now     func() time.Time // clock; nil means time.Now
	// ConsentSkew is how far in the future a consent event's "at" may lie,
	// for producers whose clocks run ahead; 0 means 5 minutes.
	ConsentSkew time.Duration
	// Catalog bounds when a doi_confirm still counts (its
	// unconfirmed_signup_retention, Catalog.ConfirmBy). Without one every
	// doi_confirm is refused: a confirmation that cannot be checked against
	// its window is not recorded as if it were valid.
	Catalog *policy.Catalog
}

// Routes registers the recipients API on mux.
func (h *Recipients) Routes(mux Mux) {
	mux.HandleFunc("PUT /v1/recipients/{id}", h.put)
	mux.HandleFunc("PATCH /v1/recipients/{id}", h.patch)
	mux.HandleFunc("GET /v1/recipients/{id}", h.get)
	mux.HandleFunc("DELETE /v1/recipients/{id}", h.erase)
	mux.HandleFunc("POST /v1/recipients/{id}/consents", h.appendConsents)
	mux.HandleFunc("GET /v1/recipients/{id}/consents", h.consents)
	mux.HandleFunc("GET /v1/recipients/{id}/export", h.export)
}

func (h *Recipients) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// begin checks the scope and the path id; on failure it has answered.
func (h *Recipients) begin(w http.ResponseWriter, r *http.Request) (message.RecipientID, bool) {
	if err := RequireScope(r, apikey.ScopeRecipients); err != nil {
		WriteError(w, err)
		return "", false
	}
	id, err := message.ParseRecipientID(r.PathValue("id"))
	if err != nil {
		WriteError(w, &Problem{Status: http.StatusBadRequest, Code: "invalid_request", Message: "invalid request",
			Fields: []FieldError{{Field: "id", Message: err.Error()}}})
		return "", false
	}
	return id, true
}

// fail answers a store error: not found 404, bad input 400 with its fields,
// a lost race 409, anything else 500 (logged with the recipient id only).
func (h *Recipients) fail(ctx context.Context, w http.ResponseWriter, id message.RecipientID, op string, err error) {
	writeStoreError(ctx, h.Log, w, id, op, err)
}

func writeStoreError(ctx context.Context, log *slog.Logger, w http.ResponseWriter, id message.RecipientID, op string, err error) {
	var ve *invalid.Error
	switch {
	case errors.As(err, &ve):
		WriteError(w, validationProblem(ve))
	case errors.Is(err, store.ErrNotFound):
		WriteError(w, Errorf(http.StatusNotFound, "not_found", "recipient %s not found", id))
	case errors.Is(err, store.ErrConflict):
		WriteError(w, Errorf(http.StatusConflict, "conflict", "recipient %s is being changed concurrently; retry", id))
	default:
		if log != nil {
			log.ErrorContext(ctx, op+" failed", "recipient_id", id, "err", err)
		}
		WriteError(w, err)
	}
}

func validationProblem(ve *invalid.Error) error {
	var f Fields
	for _, e := range ve.Fields {
		f.Add(e.Field, "%s", e.Message)
	}
	return f.Err()
}

func (h *Recipients) put(w http.ResponseWriter, r *http.Request) {
	id, ok := h.begin(w, r)
	if !ok {
		return
	}
	var in recipient.Input
	if err := DecodeJSON(w, r, h.MaxBody, &in); err != nil {
		WriteError(w, err)
		return
	}
	rec, err := recipient.Parse(string(id), in, h.Region)
	if err != nil {
		h.fail(r.Context(), w, id, "put recipient", err)
		return
	}
	stored, created, err := h.Store.PutRecipient(r.Context(), rec)
	if err != nil {
		h.fail(r.Context(), w, id, "put recipient", err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		h.logInfo(r.Context(), "recipient created", id)
	}
	WriteJSON(w, status, stored)
}

func (h *Recipients) patch(w http.ResponseWriter, r *http.Request) {
	id, ok := h.begin(w, r)
	if !ok {
		return
	}
	// RFC 7396 names its own media type; plain JSON is accepted as well.
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/merge-patch+json") {
		r.Header.Set("Content-Type", "application/json")
	}
	var patch map[string]any
	if err := DecodeJSON(w, r, h.MaxBody, &patch); err != nil {
		WriteError(w, err)
		return
	}
	if patch == nil {
		WriteError(w, Errorf(http.StatusBadRequest, "invalid_json", "body must be a JSON object (a merge patch)"))
		return
	}
	stored, err := h.Store.PatchRecipient(r.Context(), id, patch, h.Region)
	if err != nil {
		h.fail(r.Context(), w, id, "patch recipient", err)
		return
	}
	WriteJSON(w, http.StatusOK, stored)
}

func (h *Recipients) get(w http.ResponseWriter, r *http.Request) {
	id, ok := h.begin(w, r)
	if !ok {
		return
	}
	rec, err := h.Store.GetRecipient(r.Context(), id)
	if err != nil {
		h.fail(r.Context(), w, id, "get recipient", err)
		return
	}
	WriteJSON(w, http.StatusOK, rec)
}

func (h *Recipients) erase(w http.ResponseWriter, r *http.Request) {
	id, ok := h.begin(w, r)
	if !ok {
		return
	}
	if err := h.Rights.Erase(r.Context(), id); err != nil {
		h.fail(r.Context(), w, id, "erase recipient", err)
		return
	}
	h.logInfo(r.Context(), "recipient erased", id)
	w.WriteHeader(http.StatusNoContent)
}

// consentEventInput is one ledger event as a producer sends it. The server
// sets id and recorded_by; at defaults to now.
type consentEventInput struct {
	Kind        string `json:"kind"`
	Purpose     string `json:"purpose"`
	Channel     string `json:"channel"`
	At          string `json:"at,omitempty"`
	Source      string `json:"source"`
	IP          string `json:"ip,omitempty"`
	UserAgent   string `json:"user_agent,omitempty"`
	Text        string `json:"text,omitempty"`
	TextVersion string `json:"text_version,omitempty"`
}

// consentBody is either one event's fields or {"events": [...]}.
type consentBody struct {
	Events []consentEventInput `json:"events,omitempty"`
	consentEventInput
}

// consentsAppended is the answer to POST /v1/recipients/{id}/consents.
type consentsAppended struct {
	RecipientID message.RecipientID `json:"recipient_id"`
	Events      []consent.Event     `json:"events"`
}

func (h *Recipients) appendConsents(w http.ResponseWriter, r *http.Request) {
	id, ok := h.begin(w, r)
	if !ok {
		return
	}
	var body consentBody
	if err := DecodeJSON(w, r, h.MaxBody, &body); err != nil {
		WriteError(w, err)
		return
	}
	now := h.now()
	recordedBy := ""
	if k, ok := KeyFrom(r.Context()); ok {
		recordedBy = k.Name
	}
	var bad Fields
	var inputs []consentEventInput
	prefix := func(int) string { return "" }
	switch {
	case len(body.Events) > 0 && body.consentEventInput != (consentEventInput{}):
		bad.Add("events", "give either one event's fields or a list of events, not both")
	case len(body.Events) > maxEventsPerRequest:
		bad.Add("events", "at most %d events per request", maxEventsPerRequest)
	case len(body.Events) > 0:
		inputs = body.Events
		prefix = func(i int) string { return fmt.Sprintf("events[%d].", i) }
	case body.Events != nil:
		bad.Add("events", "empty list: give at least one event")
	default:
		inputs = []consentEventInput{body.consentEventInput}
	}
	events := make([]consent.Event, 0, len(inputs))
	for i, in := range inputs {
		events = append(events, h.parseEvent(&bad, prefix(i), in, now, recordedBy))
	}
	if err := bad.Err(); err != nil {
		WriteError(w, err)
		return
	}
	if err := h.checkConfirmations(r.Context(), id, events, prefix); err != nil {
		var prob *Problem
		if errors.As(err, &prob) {
			WriteError(w, err)
		} else {
			h.fail(r.Context(), w, id, "append consent", err)
		}
		return
	}
	stored, err := h.Store.AppendConsent(r.Context(), id, events...)
	if err != nil {
		h.fail(r.Context(), w, id, "append consent", err)
		return
	}
	if h.Log != nil {
		for _, e := range stored {
			h.Log.InfoContext(r.Context(), "consent event recorded", "recipient_id", id, "event_id", e.ID,
				"kind", string(e.Kind), "purpose", e.Purpose, "channel", e.Channel)
		}
	}
	WriteJSON(w, http.StatusCreated, consentsAppended{RecipientID: id, Events: stored})
}

// checkConfirmations refuses (422) a doi_confirm that would prove nothing:
// one without a pending doi_request for its purpose and channel, or one at
// or after the end of the confirmation window (the catalog's
// unconfirmed_signup_retention; by then the signup is due for deletion, and
// Decide would not count it either). Earlier events of the same request
// count, so a request and its confirmation can be recorded together. An
// unknown recipient is left to AppendConsent (404).
func (h *Recipients) checkConfirmations(ctx context.Context, id message.RecipientID, events []consent.Event, prefix func(int) string) error {
	if !slices.ContainsFunc(events, func(e consent.Event) bool { return e.Kind == consent.DOIConfirm }) {
		return nil
	}
	ledger, err := h.Store.Ledger(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return confirmationProblem(h.Catalog, ledger, events, prefix)
}

// confirmationProblem is checkConfirmations' rule on a ledger already read
// (ledger, then events in order): nil, or a 422 naming each doi_confirm
// that confirms no pending signup within its window.
func confirmationProblem(cat *policy.Catalog, ledger, events []consent.Event, prefix func(int) string) error {
	var bad Fields
	for i, e := range events {
		if e.Kind != consent.DOIConfirm {
			continue
		}
		// The state just before the confirmation, with this request's
		// earlier events in it.
		before := append(slices.Clone(ledger), events[:i]...)
		pending := consent.Fold(before, e.At).Entries[consent.Key{Purpose: e.Purpose, Channel: e.Channel}]
		switch {
		case cat == nil:
			bad.Add(prefix(i)+"kind", "doi_confirm cannot be checked against its confirmation window: the server has no catalog")
		case pending.Status != consent.DOIPending:
			bad.Add(prefix(i)+"kind", "no pending doi_request for %s on %s before %s: a confirmation without a signup proves no consent",
				e.Purpose, e.Channel, e.At.Format(time.RFC3339))
		case !e.At.Before(cat.ConfirmBy(pending.Since)):
			bad.Add(prefix(i)+"at", "%s is too late: the doi_request of %s could be confirmed until %s (catalog unconfirmed_signup_retention); the signup has expired, ask the person to sign up again",
				e.At.Format(time.RFC3339), pending.Since.Format(time.RFC3339), cat.ConfirmBy(pending.Since).Format(time.RFC3339))
		}
	}
	if len(bad) > 0 {
		return &Problem{Status: http.StatusUnprocessableEntity, Code: "confirmation_not_valid",
			Message: "doi_confirm does not confirm a pending signup within its window", Fields: bad}
	}
	return nil
}

// parseEvent validates one event, adding a FieldError per bad field.
func (h *Recipients) parseEvent(bad *Fields, p string, in consentEventInput, now time.Time, recordedBy string) consent.Event {
	e := consent.Event{
		Kind: consent.Kind(in.Kind), Purpose: in.Purpose, Channel: in.Channel, Source: consent.Source(in.Source),
		UserAgent: in.UserAgent, Text: in.Text, TextVersion: in.TextVersion, RecordedBy: recordedBy,
	}
	if _, err := consent.ParseKind(in.Kind); err != nil {
		bad.Add(p+"kind", "%v", err)
	}
	if err := consent.ValidatePurpose(in.Purpose); err != nil {
		bad.Add(p+"purpose", "%v", err)
	}
	switch {
	case in.Channel == "":
		bad.Add(p+"channel", `missing: email, sms, whatsapp, rcs or "all"`)
	case in.Channel != consent.AllChannels:
		if _, err := message.ParseChannel(in.Channel); err != nil {
			bad.Add(p+"channel", `%v or "all"`, err)
		}
	}
	if _, err := consent.ParseSource(in.Source); err != nil {
		bad.Add(p+"source", "%v", err)
	}
	e.At = now.UTC()
	if in.At != "" {
		t, err := time.Parse(time.RFC3339Nano, in.At)
		skew := h.ConsentSkew
		if skew <= 0 {
			skew = defaultConsentSkew
		}
		switch {
		case err != nil:
			bad.Add(p+"at", "%q is not an RFC 3339 time such as 2025-01-31T09:14:00Z", in.At)
		case t.After(now.Add(skew)):
			bad.Add(p+"at", "lies in the future: record an event when it happened")
		default:
			e.At = t.UTC()
		}
	}
	if in.IP != "" {
		ip, err := netip.ParseAddr(in.IP)
		if err != nil || ip.Zone() != "" {
			bad.Add(p+"ip", "%q is not an IPv4 or IPv6 address", in.IP)
		}
		e.IP = ip.Unmap()
	}
	if len(in.UserAgent) > maxUserAgent {
		bad.Add(p+"user_agent", "longer than %d bytes", maxUserAgent)
	}
	if len(in.Text) > maxConsentText {
		bad.Add(p+"text", "longer than %d bytes", maxConsentText)
	}
	if len(in.TextVersion) > maxTextVersion {
		bad.Add(p+"text_version", "longer than %d bytes", maxTextVersion)
	}
	// Art. 7(1) GDPR: the controller must be able to show what was agreed to.
	if (e.Kind == consent.Grant || e.Kind == consent.DOIRequest) && strings.TrimSpace(in.Text) == "" && in.TextVersion == "" {
		bad.Add(p+"text", "missing: a %s needs the exact text agreed to, or its text_version", in.Kind)
	}
	return e
}

func (h *Recipients) consents(w http.ResponseWriter, r *http.Request) {
	id, ok := h.begin(w, r)
	if !ok {
		return
	}
	c, err := h.Store.Consents(r.Context(), id, h.now().UTC())
	if err != nil {
		h.fail(r.Context(), w, id, "read consents", err)
		return
	}
	WriteJSON(w, http.StatusOK, c)
}

func (h *Recipients) export(w http.ResponseWriter, r *http.Request) {
	id, ok := h.begin(w, r)
	if !ok {
		return
	}
	doc, err := h.Rights.Export(r.Context(), id, h.now().UTC())
	if err != nil {
		h.fail(r.Context(), w, id, "export recipient", err)
		return
	}
	h.logInfo(r.Context(), "recipient exported", id)
	// The id is [A-Za-z0-9._:-] only, safe in a quoted filename.
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="herold-export-%s.json"`, id))
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, http.StatusOK, doc)
}

func (h *Recipients) logInfo(ctx context.Context, msg string, id message.RecipientID) {
	if h.Log != nil {
		h.Log.InfoContext(ctx, msg, "recipient_id", id)
	}
}
