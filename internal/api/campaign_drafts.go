package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/store"
)

// campaigns is the campaigns handler whose scope checks and error table the
// draft routes share.
func (a *Audience) campaigns() *Campaigns {
	return &Campaigns{Engine: a.Campaigns, Catalog: a.Catalog, Log: a.log()}
}

var listableStates = []store.CampaignState{store.CampaignDraft, store.CampaignScheduled, store.CampaignRunning,
	store.CampaignPaused, store.CampaignDone, store.CampaignCanceled}

// listCampaigns answers GET /v1/campaigns: newest first, paged (?cursor=,
// ?limit=), ?state=draft (or a comma-separated list) filters. A key sees
// the campaigns of the types it may send.
func (a *Audience) listCampaigns(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeCampaigns) {
		return
	}
	limit, err := pageLimit(r, 50, 200)
	if err != nil {
		WriteError(w, err)
		return
	}
	var states []store.CampaignState
	if s := r.URL.Query().Get("state"); s != "" {
		for part := range strings.SplitSeq(s, ",") {
			st := store.CampaignState(strings.TrimSpace(part))
			if !slices.Contains(listableStates, st) {
				WriteError(w, fieldProblem("state", "%q is not a campaign state (want draft, scheduled, running, paused, done or canceled)", part))
				return
			}
			states = append(states, st)
		}
	}
	key, _ := KeyFrom(r.Context())
	views := []campaignView{}
	cursor := r.URL.Query().Get("cursor")
	next := ""
	// A page may lose campaigns of types the key cannot see: read on until
	// the page is full or the listing ends.
	for len(views) < limit {
		list, nc, err := a.Store.Campaigns(r.Context(), cursor, limit, states)
		if err != nil {
			a.fail(w, r, "campaign", err)
			return
		}
		for _, st := range list {
			spec, ok := a.Catalog.Type(st.Type)
			if !ok || !key.AllowsSend(string(st.Type), string(spec.Class)) {
				continue
			}
			v := campaignViewOf(st)
			if src, err := a.Campaigns.Source(r.Context(), st.ID); err == nil {
				v.Segment = src.Segment
			}
			views = append(views, v)
			if len(views) == limit {
				break
			}
		}
		if nc == "" {
			break
		}
		cursor, next = nc, nc
	}
	if len(views) < limit {
		next = ""
	}
	WriteJSON(w, http.StatusOK, struct {
		Campaigns  []campaignView `json:"campaigns"`
		NextCursor string         `json:"next_cursor,omitempty"`
	}{views, next})
}

// startCampaign answers POST /v1/campaigns/{id}/start: a draft starts (at
// its send_at, or now); a scheduled campaign starts now. A segment is
// evaluated as the campaign starts.
func (a *Audience) startCampaign(w http.ResponseWriter, r *http.Request) {
	c := a.campaigns()
	c.steer(w, r, func(id string) error { return a.Campaigns.Start(r.Context(), id) })
}

// dryRun answers POST /v1/campaigns/{id}/dry-run: every member of a draft's
// or scheduled campaign's audience decided now, counted per channel and
// reason with sample ids, nothing sent.
func (a *Audience) dryRun(w http.ResponseWriter, r *http.Request) {
	c := a.campaigns()
	if _, err := c.load(r); err != nil {
		WriteError(w, err)
		return
	}
	rep, err := a.Campaigns.DryRun(r.Context(), r.PathValue("id"))
	if err != nil {
		WriteError(w, c.problem(r, err))
		return
	}
	WriteJSON(w, http.StatusOK, rep)
}

// lastDryRun answers GET /v1/campaigns/{id}/dry-run: the last dry run's report.
func (a *Audience) lastDryRun(w http.ResponseWriter, r *http.Request) {
	c := a.campaigns()
	if _, err := c.load(r); err != nil {
		WriteError(w, err)
		return
	}
	rep, err := a.Campaigns.LastDryRun(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		WriteError(w, Errorf(http.StatusNotFound, "not_found", "campaign %s has had no dry run: POST /v1/campaigns/%s/dry-run", r.PathValue("id"), r.PathValue("id")))
		return
	}
	if err != nil {
		WriteError(w, c.problem(r, err))
		return
	}
	WriteJSON(w, http.StatusOK, rep)
}
