package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/heroldhq/herold/internal/media"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/render"
)

// Preview renders a message type on one channel with given or sample data,
// so producers and template authors see what a message will look like:
// POST /v1/preview. Any authenticated key may use it; nothing is sent or
// stored. The decision is synthesized as allowed, with the type's data
// categories and opt-out notice from the catalog, so the preview shows the
// compliance footer exactly as a real message carries it.
type Preview struct {
	Renderer *render.Renderer
	Catalog  *policy.Catalog
	MaxBody  int64
}

// Routes registers POST /v1/preview.
func (p *Preview) Routes(mux Mux) {
	mux.HandleFunc("POST /v1/preview", p.preview)
}

// PreviewRequest is the body of POST /v1/preview. Without data, the type's
// sample data is used.
type PreviewRequest struct {
	Type    string                    `json:"type"`
	Channel string                    `json:"channel"`
	Locale  string                    `json:"locale,omitempty"`
	Profile map[string]any            `json:"profile,omitempty"`
	Data    map[string]map[string]any `json:"data,omitempty"`
}

// PreviewResponse is the rendered message.
type PreviewResponse struct {
	Type       message.Type    `json:"type"`
	Channel    message.Channel `json:"channel"`
	SampleData bool            `json:"sample_data"`
	render.Content
}

func (p *Preview) preview(w http.ResponseWriter, r *http.Request) {
	if _, ok := KeyFrom(r.Context()); !ok {
		WriteError(w, Errorf(http.StatusUnauthorized, "unauthorized", "missing API key"))
		return
	}
	var req PreviewRequest
	if err := DecodeJSON(w, r, p.MaxBody, &req); err != nil {
		WriteError(w, err)
		return
	}
	var fields Fields
	spec, typeOK := p.Catalog.Type(message.Type(req.Type))
	switch {
	case req.Type == "":
		fields.Add("type", "required")
	case !typeOK:
		fields.Add("type", "unknown message type %q", req.Type)
	}
	ch, err := message.ParseChannel(req.Channel)
	switch {
	case req.Channel == "":
		fields.Add("channel", "required")
	case err != nil:
		fields.Add("channel", "%v", err)
	case typeOK && !slices.Contains(spec.Channels, ch):
		fields.Add("channel", "type %s may not use channel %s (allowed: %s)", spec.Key, ch, spec.Channels)
	}
	locale := req.Locale
	if locale == "" {
		locale = p.Renderer.DefaultLocale()
	} else if !slices.Contains(p.Renderer.Locales(), locale) {
		fields.Add("locale", "no templates for locale %q (have %s)", locale, strings.Join(p.Renderer.Locales(), ", "))
	}
	if err := fields.Err(); err != nil {
		WriteError(w, err)
		return
	}
	s := render.Sample{Profile: req.Profile, Data: req.Data}
	usedSample := req.Data == nil
	if usedSample {
		sample, ok, err := p.Renderer.Sample(spec.Key, locale)
		if err != nil || !ok {
			WriteError(w, &Problem{Status: http.StatusBadRequest, Code: "invalid_request", Message: "invalid request",
				Fields: []FieldError{{Field: "data", Message: "required: type " + string(spec.Key) + " has no sample data"}}})
			return
		}
		if req.Profile == nil {
			s.Profile = sample.Profile
		}
		s.Data = sample.Data
	}
	c, err := p.Renderer.Render(render.PreviewRequest(spec, ch, locale, s))
	if err != nil {
		if errors.Is(err, render.ErrMissingData) {
			WriteError(w, Errorf(http.StatusUnprocessableEntity, "missing_data", "%v", err))
			return
		}
		if errors.Is(err, media.ErrRefused) {
			WriteError(w, Errorf(http.StatusUnprocessableEntity, "media_refused", "%v", err))
			return
		}
		WriteError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, PreviewResponse{Type: spec.Key, Channel: ch, SampleData: usedSample, Content: c})
}
