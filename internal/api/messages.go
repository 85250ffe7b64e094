package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// MessageService is what the messages API needs (dispatch.Service).
type MessageService interface {
	Submit(ctx context.Context, s dispatch.Submission) (dispatch.Accepted, error)
	ValidateBatch(key *apikey.Key, subs []dispatch.Submission, skip func(i int) bool) error
	SubmitBatch(ctx context.Context, key *apikey.Key, subs []dispatch.Submission) ([]dispatch.BatchItem, error)
	Get(ctx context.Context, id string) (store.MessageRecord, error)
	Cancel(ctx context.Context, id string) (store.MessageRecord, error)
}

// Messages serves /v1/messages. Every route expects an authenticated request
// (wrap the mux with Authenticate).
type Messages struct {
	Service MessageService
	MaxBody int64 // HEROLD_HTTP_MAX_BODY; <= 0: DefaultMaxBody
	// MaxBatchBody bounds POST /v1/messages/batch (HEROLD_HTTP_MAX_BATCH_BODY;
	// <= 0: DefaultMaxBatchBody).
	MaxBatchBody int64
	Log          *slog.Logger
}

// Routes registers the message routes on mux.
func (m *Messages) Routes(mux Mux) {
	mux.HandleFunc("POST /v1/messages", m.create)
	mux.HandleFunc("POST /v1/messages/batch", m.batch)
	mux.HandleFunc("GET /v1/messages/{id}", m.get)
	mux.HandleFunc("DELETE /v1/messages/{id}", m.cancel)
}

// messageRequest is the body of POST /v1/messages. Data and send_at are
// decoded by hand so that a bad one is reported by field name.
type messageRequest struct {
	Type           string           `json:"type"`
	RecipientID    string           `json:"recipient_id"`
	Recipient      *recipient.Input `json:"recipient"`
	Channels       []string         `json:"channels"`
	Data           json.RawMessage  `json:"data"`
	Locale         string           `json:"locale"`
	SendAt         string           `json:"send_at"`
	IdempotencyKey string           `json:"idempotency_key"`
}

// messageAccepted is the 202 answer.
type messageAccepted struct {
	ID        string              `json:"id"`
	Status    store.MessageStatus `json:"status"`
	SendAt    time.Time           `json:"send_at,omitzero"`
	StatusURL string              `json:"status_url"`
}

// messageView is a message record as GET shows it: no template data, no
// addresses (the record holds none but the data).
type messageView struct {
	ID          string              `json:"id"`
	Type        message.Type        `json:"type"`
	Class       message.Class       `json:"class"`
	RecipientID message.RecipientID `json:"recipient_id"`
	Status      store.MessageStatus `json:"status"`
	Channels    []message.Channel   `json:"channels,omitempty"`
	Locale      string              `json:"locale,omitempty"`
	SendAt      time.Time           `json:"send_at,omitzero"`
	CampaignID  string              `json:"campaign_id,omitempty"`
	Decision    *policy.Decision    `json:"decision,omitempty"`
	Decisions   []policy.Decision   `json:"decisions,omitempty"`
	Channel     message.Channel     `json:"channel,omitempty"`
	// HeldUntil and HoldReason: an allowed message waits (status scheduled),
	// e.g. for the end of quiet hours, and is decided again then.
	HeldUntil  time.Time       `json:"held_until,omitzero"`
	HoldReason policy.Reason   `json:"hold_reason,omitempty"`
	ErrorClass string          `json:"error_class,omitempty"`
	Attempts   []store.Attempt `json:"attempts"`
	// Unconfirmed: an earlier try may have reached the provider without its
	// outcome being recorded; the next attempt says possible_duplicate.
	Unconfirmed       bool      `json:"unconfirmed,omitempty"`
	Provider          string    `json:"provider,omitempty"`
	ProviderMessageID string    `json:"provider_message_id,omitempty"`
	ProviderStatus    string    `json:"provider_status,omitempty"`
	ProviderErrorCode int       `json:"provider_error_code,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	DeliveredAt       time.Time `json:"delivered_at,omitzero"`
}

func viewOf(r store.MessageRecord) messageView {
	v := messageView{
		ID: r.ID, Type: r.Type, Class: r.Class, RecipientID: r.RecipientID, Status: r.Status,
		Channels: r.Channels, Locale: r.Locale, SendAt: r.SendAt, CampaignID: r.CampaignID,
		Decision: r.Decision, Decisions: r.Decisions, Channel: r.Channel, Attempts: r.Attempts,
		HeldUntil: r.HeldUntil, HoldReason: r.HoldReason, ErrorClass: r.ErrorClass,
		Provider: r.Provider, ProviderMessageID: r.ProviderID, ProviderStatus: r.ProviderStatus,
		ProviderErrorCode: r.ProviderErrorCode, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		DeliveredAt: r.DeliveredAt, Unconfirmed: r.Unconfirmed,
	}
	if v.Attempts == nil {
		v.Attempts = []store.Attempt{}
	}
	return v
}

func (m *Messages) log() *slog.Logger {
	if m.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Log
}

func (m *Messages) create(w http.ResponseWriter, r *http.Request) {
	key, ok := KeyFrom(r.Context())
	if !ok {
		WriteError(w, Errorf(http.StatusUnauthorized, "unauthorized", "missing API key: send Authorization: Bearer <key>"))
		return
	}
	var req messageRequest
	if err := DecodeJSON(w, r, m.MaxBody, &req); err != nil {
		WriteError(w, err)
		return
	}
	sub, err := req.submission(r.Header.Get("Idempotency-Key"))
	if err != nil {
		WriteError(w, err)
		return
	}
	sub.Key = &key
	acc, err := m.Service.Submit(r.Context(), sub)
	if err != nil {
		m.writeError(r, w, err)
		return
	}
	url := "/v1/messages/" + acc.ID
	w.Header().Set("Location", url)
	if acc.Duplicate {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	WriteJSON(w, http.StatusAccepted, messageAccepted{ID: acc.ID, Status: acc.Status, SendAt: acc.SendAt, StatusURL: url})
}

// submission checks what the JSON decoder could not: the shape of data, the
// send_at time and the two places an idempotency key may come from.
func (req messageRequest) submission(headerKey string) (dispatch.Submission, error) {
	var bad Fields
	sub := dispatch.Submission{
		Type:           message.Type(req.Type),
		RecipientID:    message.RecipientID(req.RecipientID),
		Recipient:      req.Recipient,
		Locale:         req.Locale,
		IdempotencyKey: req.IdempotencyKey,
	}
	for _, c := range req.Channels {
		sub.Channels = append(sub.Channels, message.Channel(c)) // validated by Submit
	}
	switch {
	case headerKey != "" && req.IdempotencyKey != "" && headerKey != req.IdempotencyKey:
		bad.Add("idempotency_key", "differs from the Idempotency-Key header")
	case headerKey != "":
		sub.IdempotencyKey = headerKey
	}
	if req.SendAt != "" {
		t, err := time.Parse(time.RFC3339, req.SendAt)
		if err != nil {
			bad.Add("send_at", "%q is not an RFC 3339 time such as 2026-01-02T15:04:05+01:00", req.SendAt)
		}
		sub.SendAt = t
	}
	if raw := bytes.TrimSpace(req.Data); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var cats map[string]json.RawMessage
		if raw[0] != '{' || json.Unmarshal(raw, &cats) != nil {
			bad.Add("data", `must be a JSON object keyed by data category, e.g. {"invoice": {"number": "R-1"}}`)
		} else {
			sub.Data = make(map[string]map[string]any, len(cats))
			for _, cat := range slices.Sorted(maps.Keys(cats)) {
				v := bytes.TrimSpace(cats[cat])
				var fields map[string]any
				dec := json.NewDecoder(bytes.NewReader(v))
				dec.UseNumber() // keep amounts exactly as sent
				if len(v) == 0 || v[0] != '{' || dec.Decode(&fields) != nil {
					bad.Add("data."+cat, "must be a JSON object of template fields")
					continue
				}
				sub.Data[cat] = fields
			}
		}
	}
	if err := bad.Err(); err != nil {
		return sub, err
	}
	return sub, nil
}

// readable fetches message id and checks that the request's key may see it:
// a key that may not send the message's type gets 404, as for an unknown id.
func (m *Messages) readable(r *http.Request, id string) (store.MessageRecord, error) {
	key, ok := KeyFrom(r.Context())
	if !ok {
		return store.MessageRecord{}, Errorf(http.StatusUnauthorized, "unauthorized", "missing API key: send Authorization: Bearer <key>")
	}
	rec, err := m.Service.Get(r.Context(), id)
	if err != nil {
		return rec, err
	}
	if !key.AllowsSend(string(rec.Type), string(rec.Class)) {
		return store.MessageRecord{}, store.ErrNotFound
	}
	return rec, nil
}

func (m *Messages) get(w http.ResponseWriter, r *http.Request) {
	rec, err := m.readable(r, r.PathValue("id"))
	if err != nil {
		m.writeError(r, w, err)
		return
	}
	WriteJSON(w, http.StatusOK, viewOf(rec))
}

func (m *Messages) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := m.readable(r, id); err != nil {
		m.writeError(r, w, err)
		return
	}
	rec, err := m.Service.Cancel(r.Context(), id)
	if err != nil {
		m.writeError(r, w, err)
		return
	}
	WriteJSON(w, http.StatusOK, viewOf(rec))
}

// writeError answers err as its Problem, or as a 500 that does not show it.
func (m *Messages) writeError(r *http.Request, w http.ResponseWriter, err error) {
	if prob := m.problemOf(r, err); prob != nil {
		WriteError(w, prob)
		return
	}
	WriteError(w, err)
}

// problemOf maps dispatch and store errors to Problems, in one table; nil
// for an error that is Herold's own (logged here, answered as a 500).
func (m *Messages) problemOf(r *http.Request, err error) *Problem {
	var (
		prob      *Problem
		forbidden *dispatch.ForbiddenError
	)
	ie, isInvalid := invalid.As(err)
	switch {
	case errors.As(err, &prob):
	case isInvalid:
		prob = Invalid(ie)
	case errors.As(err, &forbidden):
		prob = Errorf(http.StatusForbidden, "forbidden", "API key lacks scope %q", forbidden.Scope)
	case errors.Is(err, dispatch.ErrUnknownRecipient):
		prob = &Problem{Status: http.StatusUnprocessableEntity, Code: "unknown_recipient",
			Message: "unknown recipient: create it first (PUT /v1/recipients/{id}) or send it inline as recipient",
			Fields:  []FieldError{{Field: "recipient_id", Message: "no recipient with this id"}}}
	case errors.Is(err, dispatch.ErrIdempotencyMismatch):
		prob = Errorf(http.StatusConflict, "idempotency_key_reused", "idempotency key already used with another request body")
	case errors.Is(err, dispatch.ErrInProgress):
		prob = Errorf(http.StatusConflict, "request_in_progress", "a request with this idempotency key is still in progress; retry shortly")
	case errors.Is(err, dispatch.ErrNotCancelable):
		prob = Errorf(http.StatusConflict, "not_cancelable", "the message is being sent or already settled and can no longer be canceled")
	case errors.Is(err, store.ErrNotFound):
		prob = Errorf(http.StatusNotFound, "not_found", "no such message")
	default:
		m.log().ErrorContext(r.Context(), "messages API", "method", r.Method, "path", r.URL.Path, "err", err)
		return nil
	}
	return prob
}
