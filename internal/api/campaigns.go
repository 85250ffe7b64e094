package api

import (
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/campaign"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/delivery"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/store"
)

// maxInlineAudience is the most recipient ids POST /v1/campaigns takes in its
// body; bigger audiences are uploaded.
const maxInlineAudience = 10000

// Campaigns serves /v1/campaigns. Every route needs the campaigns scope and
// the send scope of the campaign's type.
type Campaigns struct {
	Engine  *campaign.Engine
	Catalog *policy.Catalog
	Config  config.Campaigns
	Locales []string // the locales Herold has templates for (render.Renderer.Locales)
	// Templates knows the data the templates need (render.Renderer.Needs): a
	// campaign whose shared data lacks it is refused. nil: not checked.
	Templates *render.Needs
	MaxBody   int64 // HEROLD_HTTP_MAX_BODY; <= 0: DefaultMaxBody
	Log       *slog.Logger
	Now       func() time.Time // default time.Now
}

// Routes registers the campaign routes on mux.
func (c *Campaigns) Routes(mux Mux) {
	mux.HandleFunc("POST /v1/campaigns", c.create)
	mux.HandleFunc("GET /v1/campaigns/{id}", c.get)
	mux.HandleFunc("POST /v1/campaigns/{id}/audience", c.upload)
	mux.HandleFunc("POST /v1/campaigns/{id}/pause", c.pause)
	mux.HandleFunc("POST /v1/campaigns/{id}/resume", c.resume)
	mux.HandleFunc("POST /v1/campaigns/{id}/cancel", c.cancel)
	mux.HandleFunc("GET /v1/campaigns/{id}/recipients", c.outcomes)
	mux.HandleFunc("GET /v1/campaigns/{id}/recipients/{rid}", c.outcome)
}

func (c *Campaigns) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// QuietHours is a campaign's own quiet hours (HH:MM, recipient local time).
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// CampaignRequest is the body of POST /v1/campaigns; the operator console
// fills it from its form, so both are validated by Validate.
type CampaignRequest struct {
	Name       string                    `json:"name"`
	Type       string                    `json:"type"`
	Channels   []string                  `json:"channels"`
	Data       map[string]map[string]any `json:"data"`
	Locale     string                    `json:"locale"`
	SendAt     string                    `json:"send_at"`
	Throttle   *int                      `json:"throttle_per_minute"`
	QuietHours *QuietHours               `json:"quiet_hours"`
	Audience   []string                  `json:"audience"`
	// Draft creates the campaign to be prepared and dry-run first; it
	// starts with POST /v1/campaigns/{id}/start.
	Draft bool `json:"draft"`
	// Segment names a saved segment whose members (evaluated when the
	// campaign starts) join the audience.
	Segment string `json:"segment"`
}

// campaignView is a campaign as the API shows it.
type campaignView struct {
	ID          string                 `json:"id"`
	Name        string                 `json:"name"`
	Type        message.Type           `json:"type"`
	Class       message.Class          `json:"class"`
	Channels    []message.Channel      `json:"channels"`
	Locale      string                 `json:"locale,omitempty"`
	SendAt      string                 `json:"send_at,omitempty"`
	StartAt     time.Time              `json:"start_at"`
	Throttle    int                    `json:"throttle_per_minute,omitempty"`
	QuietHours  *QuietHours            `json:"quiet_hours,omitempty"` // the campaign's own, on top of the catalog's
	State       store.CampaignState    `json:"state"`
	Counters    store.CampaignCounters `json:"counters"`
	Progress    float64                `json:"progress"` // share of the audience with a final outcome, 0..1
	CreatedAt   time.Time              `json:"created_at"`
	StartedAt   time.Time              `json:"started_at,omitzero"`
	FinishedAt  time.Time              `json:"finished_at,omitzero"`
	StatusURL   string                 `json:"status_url"`
	AudienceURL string                 `json:"audience_url"`
	Segment     string                 `json:"segment,omitempty"` // where the audience comes from besides uploads
}

func campaignViewOf(st store.CampaignStatus) campaignView {
	v := campaignView{
		ID: st.ID, Name: st.Name, Type: st.Type, Class: st.Class, Channels: st.Channels, Locale: st.Locale,
		SendAt: st.SendAt, StartAt: st.StartAt, Throttle: st.Throttle,
		State: st.State, Counters: st.Counters,
		CreatedAt: st.CreatedAt, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt,
		StatusURL: "/v1/campaigns/" + st.ID, AudienceURL: "/v1/campaigns/" + st.ID + "/audience",
	}
	if st.QuietStart != "" {
		v.QuietHours = &QuietHours{st.QuietStart, st.QuietEnd}
	}
	if a := st.Counters.Audience; a > 0 {
		v.Progress = float64(a-st.Counters.Queued-st.Counters.Canceled) / float64(a)
	}
	return v
}

// authorize checks the campaigns scope and the send scope of type t.
func (c *Campaigns) authorize(r *http.Request, t message.Type) error {
	if err := RequireScope(r, apikey.ScopeCampaigns); err != nil {
		return err
	}
	spec, ok := c.Catalog.Type(t)
	k, _ := KeyFrom(r.Context())
	if ok && k.AllowsSend(string(t), string(spec.Class)) {
		return nil
	}
	if !ok && k.Allows(apikey.SendScope(string(t))) {
		return nil
	}
	return Errorf(http.StatusForbidden, "forbidden", "API key lacks scope %q", apikey.SendScope(string(t)))
}

// load reads the campaign of the path and checks the key may steer it.
func (c *Campaigns) load(r *http.Request) (store.CampaignStatus, error) {
	if err := RequireScope(r, apikey.ScopeCampaigns); err != nil {
		return store.CampaignStatus{}, err
	}
	st, err := c.Engine.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		return st, c.problem(r, err)
	}
	if err := c.authorize(r, st.Type); err != nil {
		return st, err
	}
	return st, nil
}

// problem maps engine and store errors to answers.
func (c *Campaigns) problem(r *http.Request, err error) error {
	var p *Problem
	if ie, ok := invalid.As(err); ok {
		return Invalid(ie)
	}
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, store.ErrNotFound):
		return Errorf(http.StatusNotFound, "not_found", "no campaign %q", r.PathValue("id"))
	case errors.Is(err, campaign.ErrState):
		return Errorf(http.StatusConflict, "conflict", "%v", err)
	case errors.Is(err, campaign.ErrBadCursor):
		return &Problem{Status: http.StatusBadRequest, Code: "invalid_request", Message: "invalid request",
			Fields: []FieldError{{Field: "cursor", Message: "not a cursor from a previous page"}}}
	}
	c.Log.ErrorContext(r.Context(), "campaign request failed", "path", r.URL.Path, "err", err)
	return err
}

func (c *Campaigns) create(w http.ResponseWriter, r *http.Request) {
	if err := RequireScope(r, apikey.ScopeCampaigns); err != nil {
		WriteError(w, err)
		return
	}
	var req CampaignRequest
	if err := DecodeJSON(w, r, c.MaxBody, &req); err != nil {
		WriteError(w, err)
		return
	}
	if _, known := c.Catalog.Type(message.Type(req.Type)); known {
		// Checked before the other fields, as for messages: a key that may
		// not send the type learns nothing more about it.
		if err := c.authorize(r, message.Type(req.Type)); err != nil {
			WriteError(w, err)
			return
		}
	}
	now := c.now().UTC()
	camp, audience, err := c.Validate(req, now)
	if err != nil {
		WriteError(w, err)
		return
	}
	if err := c.authorize(r, camp.Type); err != nil {
		WriteError(w, err)
		return
	}
	if camp.ID, err = campaign.NewID(); err != nil {
		WriteError(w, err)
		return
	}
	if k, ok := KeyFrom(r.Context()); ok {
		camp.CreatedBy = k.Name
	}
	if err := c.Engine.CreateWith(r.Context(), camp, audience, campaign.CreateOptions{Draft: req.Draft, Segment: req.Segment}); err != nil {
		WriteError(w, c.problem(r, err))
		return
	}
	st, err := c.Engine.Status(r.Context(), camp.ID)
	if err != nil {
		WriteError(w, c.problem(r, err))
		return
	}
	v := campaignViewOf(st)
	v.Segment = req.Segment
	w.Header().Set("Location", "/v1/campaigns/"+camp.ID)
	WriteJSON(w, http.StatusCreated, v)
}

// Validate checks every field of a create request and reports all problems
// at once, as an *invalid.Error naming each field by its JSON name. Type,
// channels, data and locale follow the rules every delivery shares
// (delivery.Intake), with the same words as for single messages.
func (c *Campaigns) Validate(req CampaignRequest, now time.Time) (store.Campaign, []message.RecipientID, error) {
	var bad invalid.List
	in := delivery.Intake{Catalog: c.Catalog, Locales: c.Locales, Templates: c.Templates}
	camp := store.Campaign{Name: strings.TrimSpace(req.Name), Type: message.Type(req.Type), Locale: req.Locale,
		SendAt: req.SendAt, CreatedAt: now}
	switch n := utf8.RuneCountInString(camp.Name); {
	case n == 0:
		bad.Add("name", "required")
	case n > 200:
		bad.Add("name", "longer than 200 characters")
	}
	spec, ok := in.Type(&bad, camp.Type)
	camp.Class = spec.Class
	chans := make([]message.Channel, len(req.Channels))
	for i, ch := range req.Channels {
		chans[i] = message.Channel(ch)
	}
	camp.Channels = in.Channels(&bad, spec, ok, chans)
	in.Data(&bad, spec, ok, req.Data)
	in.TemplateData(&bad, spec, ok, camp.Channels, req.Locale, req.Data)
	camp.Data = req.Data
	in.Locale(&bad, req.Locale)
	sendAt, err := campaign.ParseSendAt(req.SendAt, now)
	if err != nil {
		bad.Add("send_at", "%v", err)
	} else {
		if !sendAt.Local {
			in.SendAt(&bad, sendAt.Abs, now, time.Minute, c.Config.Horizon, "HEROLD_CAMPAIGN_HORIZON")
		}
		if sendAt.Local && !sendAt.Date.IsZero() && sendAt.Last(now).Before(now) {
			bad.Add("send_at", "%s lies in the past in every time zone", req.SendAt)
		}
		if sendAt.Local && sendAt.Last(now).After(now.Add(c.Config.Horizon)) {
			bad.Add("send_at", "%s lies more than %s ahead (HEROLD_CAMPAIGN_HORIZON)", req.SendAt, c.Config.Horizon)
		}
		camp.StartAt = sendAt.Start(now)
		if camp.StartAt.Before(now) {
			camp.StartAt = now
		}
	}
	camp.Throttle = c.Config.DefaultThrottle
	if req.Throttle != nil {
		if *req.Throttle < 0 || *req.Throttle > 10_000_000 {
			bad.Add("throttle_per_minute", "want 0 (no throttle) to 10000000, not %d", *req.Throttle)
		}
		camp.Throttle = *req.Throttle
	}
	if q := req.QuietHours; q != nil {
		if _, err := policy.ParseQuietHours(q.Start, q.End); err != nil {
			bad.Add("quiet_hours", "%v", err)
		}
		camp.QuietStart, camp.QuietEnd = q.Start, q.End
	}
	if len(req.Audience) > maxInlineAudience {
		bad.Add("audience", "%d ids inline; upload more than %d to /v1/campaigns/{id}/audience", len(req.Audience), maxInlineAudience)
	}
	audience := make([]message.RecipientID, 0, len(req.Audience))
	for i, s := range req.Audience {
		id, err := message.ParseRecipientID(s)
		if err != nil {
			bad.Add(fmt.Sprintf("audience[%d]", i), "%v", err)
			continue
		}
		audience = append(audience, id)
	}
	if err := bad.Err(); err != nil {
		return store.Campaign{}, nil, err
	}
	return camp, audience, nil
}

func (c *Campaigns) get(w http.ResponseWriter, r *http.Request) {
	st, err := c.load(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	v := campaignViewOf(st)
	src, err := c.Engine.Source(r.Context(), st.ID)
	if err != nil {
		WriteError(w, c.problem(r, err))
		return
	}
	v.Segment = src.Segment
	WriteJSON(w, http.StatusOK, v)
}

func (c *Campaigns) upload(w http.ResponseWriter, r *http.Request) {
	if _, err := c.load(r); err != nil {
		WriteError(w, err)
		return
	}
	format := campaign.NDJSON
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-seq", "":
	case "text/csv", "application/csv":
		format = campaign.CSV
	default:
		WriteError(w, Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type must be application/x-ndjson or text/csv, not %q", r.Header.Get("Content-Type")))
		return
	}
	body := http.MaxBytesReader(w, r.Body, c.Config.MaxUpload)
	rep, err := c.Engine.Upload(r.Context(), r.PathValue("id"), body, format)
	var large *http.MaxBytesError
	switch {
	case errors.As(err, &large):
		WriteError(w, Errorf(http.StatusRequestEntityTooLarge, "body_too_large",
			"audience upload exceeds %d bytes; nothing was added, split the file", c.Config.MaxUpload))
	case errors.Is(err, campaign.ErrNothingValid):
		p := &Problem{Status: http.StatusBadRequest, Code: "invalid_request", Message: "no valid audience line; nothing was added"}
		for _, le := range rep.Errors {
			p.Fields = append(p.Fields, FieldError{Field: "line " + strconv.Itoa(le.Line), Message: le.Message})
		}
		WriteError(w, p)
	case err != nil:
		WriteError(w, c.problem(r, err))
	default:
		WriteJSON(w, http.StatusOK, rep)
	}
}

func (c *Campaigns) steer(w http.ResponseWriter, r *http.Request, op func(id string) error) {
	if _, err := c.load(r); err != nil {
		WriteError(w, err)
		return
	}
	if err := op(r.PathValue("id")); err != nil {
		WriteError(w, c.problem(r, err))
		return
	}
	st, err := c.Engine.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		WriteError(w, c.problem(r, err))
		return
	}
	v := campaignViewOf(st)
	if src, err := c.Engine.Source(r.Context(), st.ID); err == nil {
		v.Segment = src.Segment
	}
	WriteJSON(w, http.StatusOK, v)
}

func (c *Campaigns) pause(w http.ResponseWriter, r *http.Request) {
	c.steer(w, r, func(id string) error { _, err := c.Engine.Pause(r.Context(), id); return err })
}

func (c *Campaigns) resume(w http.ResponseWriter, r *http.Request) {
	c.steer(w, r, func(id string) error { _, err := c.Engine.Resume(r.Context(), id); return err })
}

func (c *Campaigns) cancel(w http.ResponseWriter, r *http.Request) {
	c.steer(w, r, func(id string) error { return c.Engine.Cancel(r.Context(), id) })
}

func (c *Campaigns) outcomes(w http.ResponseWriter, r *http.Request) {
	if _, err := c.load(r); err != nil {
		WriteError(w, err)
		return
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			WriteError(w, &Problem{Status: http.StatusBadRequest, Code: "invalid_request", Message: "invalid request",
				Fields: []FieldError{{Field: "limit", Message: "want 1 to 1000"}}})
			return
		}
		limit = n
	}
	list, next, err := c.Engine.Outcomes(r.Context(), r.PathValue("id"), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		WriteError(w, c.problem(r, err))
		return
	}
	WriteJSON(w, http.StatusOK, struct {
		Recipients []campaign.RecipientOutcome `json:"recipients"`
		NextCursor string                      `json:"next_cursor,omitempty"`
	}{list, next})
}

func (c *Campaigns) outcome(w http.ResponseWriter, r *http.Request) {
	if _, err := c.load(r); err != nil {
		WriteError(w, err)
		return
	}
	rid, err := message.ParseRecipientID(r.PathValue("rid"))
	if err != nil {
		WriteError(w, &Problem{Status: http.StatusBadRequest, Code: "invalid_request", Message: "invalid request",
			Fields: []FieldError{{Field: "rid", Message: err.Error()}}})
		return
	}
	o, err := c.Engine.Outcome(r.Context(), r.PathValue("id"), rid)
	if errors.Is(err, store.ErrNotFound) {
		WriteError(w, Errorf(http.StatusNotFound, "not_found", "recipient %s has no outcome in campaign %s (yet)", rid, r.PathValue("id")))
		return
	}
	if err != nil {
		WriteError(w, c.problem(r, err))
		return
	}
	WriteJSON(w, http.StatusOK, o)
}
