package api

// Outbound webhook endpoints (/v1/webhooks). The Twilio callbacks that come
// in are in webhooks.go.

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/webhooks"
)

// Hooks serves /v1/webhooks: producers register endpoints that receive
// Herold's events, rotate their signing secrets, read the delivery log and
// replay deliveries. Every route needs the webhooks scope.
type Hooks struct {
	Hub     *webhooks.Hub
	MaxBody int64 // HEROLD_HTTP_MAX_BODY; <= 0: DefaultMaxBody
	Log     *slog.Logger
}

// Routes registers the webhook endpoint routes on mux.
func (h *Hooks) Routes(mux Mux) {
	mux.HandleFunc("POST /v1/webhooks", h.create)
	mux.HandleFunc("GET /v1/webhooks", h.list)
	mux.HandleFunc("GET /v1/webhooks/{id}", h.get)
	mux.HandleFunc("PATCH /v1/webhooks/{id}", h.update)
	mux.HandleFunc("DELETE /v1/webhooks/{id}", h.delete)
	mux.HandleFunc("POST /v1/webhooks/{id}/rotate-secret", h.rotate)
	mux.HandleFunc("GET /v1/webhooks/{id}/deliveries", h.deliveries)
	mux.HandleFunc("POST /v1/webhooks/{id}/deliveries/{did}/replay", h.replay)
}

// endpointView is an endpoint as the API shows it: its secrets by age and
// expiry only. The secret itself is shown once, in the answer to create
// and rotate-secret.
type endpointView struct {
	ID            string       `json:"id"`
	URL           string       `json:"url"`
	Description   string       `json:"description,omitempty"`
	EventTypes    []string     `json:"event_types"`
	Enabled       bool         `json:"enabled"`
	BatchSize     int          `json:"batch_size"`
	RatePerSecond float64      `json:"rate_per_second,omitempty"`
	Secrets       []secretView `json:"secrets"`
	Secret        string       `json:"secret,omitempty"`
	CreatedAt     time.Time    `json:"created_at"`
	UpdatedAt     time.Time    `json:"updated_at"`
	DeliveriesURL string       `json:"deliveries_url"`
}

type secretView struct {
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

func endpointViewOf(e webhooks.Endpoint, secret string) endpointView {
	v := endpointView{
		ID: e.ID, URL: e.URL, Description: e.Description, EventTypes: e.EventTypes, Enabled: e.Enabled,
		BatchSize: e.BatchSize, RatePerSecond: e.RatePerSecond, Secret: secret, CreatedAt: e.CreatedAt,
		UpdatedAt: e.UpdatedAt, DeliveriesURL: "/v1/webhooks/" + e.ID + "/deliveries", Secrets: []secretView{},
	}
	for _, s := range e.Secrets {
		v.Secrets = append(v.Secrets, secretView{CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt})
	}
	return v
}

func (h *Hooks) create(w http.ResponseWriter, r *http.Request) {
	if err := RequireScope(r, apikey.ScopeWebhooks); err != nil {
		WriteError(w, err)
		return
	}
	var in webhooks.EndpointInput
	if err := DecodeJSON(w, r, h.MaxBody, &in); err != nil {
		WriteError(w, err)
		return
	}
	e, secret, err := h.Hub.Create(r.Context(), in)
	if err != nil {
		h.writeError(r, w, err)
		return
	}
	w.Header().Set("Location", "/v1/webhooks/"+e.ID)
	WriteJSON(w, http.StatusCreated, endpointViewOf(e, secret))
}

func (h *Hooks) list(w http.ResponseWriter, r *http.Request) {
	if err := RequireScope(r, apikey.ScopeWebhooks); err != nil {
		WriteError(w, err)
		return
	}
	eps, err := h.Hub.List(r.Context())
	if err != nil {
		h.writeError(r, w, err)
		return
	}
	out := struct {
		Webhooks []endpointView `json:"webhooks"`
	}{Webhooks: []endpointView{}}
	for _, e := range eps {
		out.Webhooks = append(out.Webhooks, endpointViewOf(e, ""))
	}
	WriteJSON(w, http.StatusOK, out)
}

func (h *Hooks) get(w http.ResponseWriter, r *http.Request) {
	if err := RequireScope(r, apikey.ScopeWebhooks); err != nil {
		WriteError(w, err)
		return
	}
	e, err := h.Hub.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.writeError(r, w, err)
		return
	}
	WriteJSON(w, http.StatusOK, endpointViewOf(e, ""))
}

func (h *Hooks) update(w http.ResponseWriter, r *http.Request) {
	if err := RequireScope(r, apikey.ScopeWebhooks); err != nil {
		WriteError(w, err)
		return
	}
	var in webhooks.EndpointInput
	if err := DecodeJSON(w, r, h.MaxBody, &in); err != nil {
		WriteError(w, err)
		return
	}
	e, err := h.Hub.Update(r.Context(), r.PathValue("id"), in)
	if err != nil {
		h.writeError(r, w, err)
		return
	}
	WriteJSON(w, http.StatusOK, endpointViewOf(e, ""))
}

func (h *Hooks) delete(w http.ResponseWriter, r *http.Request) {
	if err := RequireScope(r, apikey.ScopeWebhooks); err != nil {
		WriteError(w, err)
		return
	}
	if err := h.Hub.Delete(r.Context(), r.PathValue("id")); err != nil {
		h.writeError(r, w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rotateRequest is the optional body of rotate-secret.
type rotateRequest struct {
	// Overlap is how long the previous secret keeps signing, e.g. "24h";
	// empty: HEROLD_WEBHOOKS_ROTATION_OVERLAP; "0s": not at all.
	Overlap string `json:"overlap"`
}

func (h *Hooks) rotate(w http.ResponseWriter, r *http.Request) {
	if err := RequireScope(r, apikey.ScopeWebhooks); err != nil {
		WriteError(w, err)
		return
	}
	var req rotateRequest
	if r.ContentLength != 0 {
		if err := DecodeJSON(w, r, h.MaxBody, &req); err != nil {
			WriteError(w, err)
			return
		}
	}
	var overlap *time.Duration
	if req.Overlap != "" {
		d, err := time.ParseDuration(req.Overlap)
		if err != nil {
			var f Fields
			f.Add("overlap", "not a duration such as 24h or 0s: %q", req.Overlap)
			WriteError(w, f.Err())
			return
		}
		overlap = &d
	}
	e, secret, err := h.Hub.RotateSecret(r.Context(), r.PathValue("id"), overlap)
	if err != nil {
		h.writeError(r, w, err)
		return
	}
	WriteJSON(w, http.StatusOK, endpointViewOf(e, secret))
}

func (h *Hooks) deliveries(w http.ResponseWriter, r *http.Request) {
	if err := RequireScope(r, apikey.ScopeWebhooks); err != nil {
		WriteError(w, err)
		return
	}
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			var f Fields
			f.Add("limit", "must be a positive integer, not %q", s)
			WriteError(w, f.Err())
			return
		}
		limit = n
	}
	ds, err := h.Hub.Deliveries(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		h.writeError(r, w, err)
		return
	}
	if ds == nil {
		ds = []webhooks.Delivery{}
	}
	WriteJSON(w, http.StatusOK, struct {
		Deliveries []webhooks.Delivery `json:"deliveries"`
	}{ds})
}

func (h *Hooks) replay(w http.ResponseWriter, r *http.Request) {
	if err := RequireScope(r, apikey.ScopeWebhooks); err != nil {
		WriteError(w, err)
		return
	}
	d, err := h.Hub.Replay(r.Context(), r.PathValue("id"), r.PathValue("did"))
	if err != nil {
		h.writeError(r, w, err)
		return
	}
	WriteJSON(w, http.StatusAccepted, d)
}

// writeError maps the webhooks package's errors to Problems, in one table.
func (h *Hooks) writeError(r *http.Request, w http.ResponseWriter, err error) {
	writeProblem(w, r, h.Log, "webhooks", err, func(err error) *Problem {
		switch {
		case errors.Is(err, webhooks.ErrNotFound):
			return Errorf(http.StatusNotFound, "not_found", "no such webhook endpoint or delivery")
		case errors.Is(err, webhooks.ErrLimit):
			return Errorf(http.StatusConflict, "limit_reached", "%v", err)
		case errors.Is(err, webhooks.ErrBusy):
			return Errorf(http.StatusConflict, "delivery_in_progress", "the delivery is still being tried; replay it once it is delivered or failed")
		}
		return nil
	}, nil)
}
