package api

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/store"
)

// personMessage is one message to a person as GET /v1/messages lists it: a
// single message (its record) or a campaign's message to them.
type personMessage struct {
	ID          string              `json:"id"`
	Type        message.Type        `json:"type"`
	RecipientID message.RecipientID `json:"recipient_id"`
	Status      string              `json:"status"`
	Channel     message.Channel     `json:"channel,omitempty"`
	CampaignID  string              `json:"campaign_id,omitempty"`
	// At is when the message was accepted (single messages) or decided
	// (campaign messages; a campaign message not decided yet has none).
	At         time.Time        `json:"at,omitzero"`
	Decision   *policy.Decision `json:"decision,omitempty"`
	ErrorClass string           `json:"error_class,omitempty"`
	StatusURL  string           `json:"status_url"`
}

func (m personMessage) cursor() string { return store.TimeCursor(m.At.UnixMilli(), m.ID) }

// listMessages answers GET /v1/messages?recipient_id=…: a person's
// messages, newest first, paged (?cursor=, ?limit=): single messages and
// campaign messages alike, those of the types the key may send.
func (a *Audience) listMessages(w http.ResponseWriter, r *http.Request) {
	key, ok := KeyFrom(r.Context())
	if !ok {
		WriteError(w, Errorf(http.StatusUnauthorized, "unauthorized", "missing API key: send Authorization: Bearer <key>"))
		return
	}
	q := r.URL.Query()
	if q.Get("recipient_id") == "" {
		WriteError(w, fieldProblem("recipient_id", "required: GET /v1/messages lists one person's messages"))
		return
	}
	rid, err := message.ParseRecipientID(q.Get("recipient_id"))
	if err != nil {
		WriteError(w, fieldProblem("recipient_id", "%v", err))
		return
	}
	limit, err := pageLimit(r, 50, 500)
	if err != nil {
		WriteError(w, err)
		return
	}
	cursor := q.Get("cursor")
	if _, _, ok := store.ParseTimeCursor(cursor); cursor != "" && !ok {
		WriteError(w, fieldProblem("cursor", "not a cursor from a previous page"))
		return
	}
	allowed := func(t message.Type) bool {
		spec, ok := a.Catalog.Type(t)
		return ok && key.AllowsSend(string(t), string(spec.Class))
	}
	recs, err := a.Store.RecipientMessages(r.Context(), rid)
	if err != nil {
		a.fail(w, r, "message", err)
		return
	}
	var all []personMessage
	for _, rec := range recs {
		if !allowed(rec.Type) {
			continue
		}
		all = append(all, personMessage{ID: rec.ID, Type: rec.Type, RecipientID: rec.RecipientID, Status: string(rec.Status),
			Channel: rec.Channel, CampaignID: rec.CampaignID, At: rec.CreatedAt, Decision: rec.Decision,
			ErrorClass: rec.ErrorClass, StatusURL: "/v1/messages/" + rec.ID})
	}
	cms, err := a.Store.CampaignMessages(r.Context(), rid)
	if err != nil {
		a.fail(w, r, "message", err)
		return
	}
	for _, cm := range cms {
		if !allowed(cm.Type) {
			continue
		}
		all = append(all, personMessage{ID: cm.MessageID, Type: cm.Type, RecipientID: rid, Status: cm.Status, Channel: cm.Channel,
			CampaignID: cm.CampaignID, At: cm.DecidedAt, Decision: cm.Decision, ErrorClass: cm.ErrorClass,
			StatusURL: "/v1/campaigns/" + cm.CampaignID + "/recipients/" + string(rid)})
	}
	// Newest first; ties by id, so pages never overlap.
	slices.SortFunc(all, func(x, y personMessage) int {
		return cmp.Or(cmp.Compare(y.At.UnixMilli(), x.At.UnixMilli()), strings.Compare(y.ID, x.ID))
	})
	start := 0
	if cursor != "" {
		start = slices.IndexFunc(all, func(m personMessage) bool { return store.AfterCursor(m.cursor(), cursor) })
		if start < 0 {
			start = len(all)
		}
	}
	page := all[start:min(len(all), start+limit)]
	next := ""
	if start+limit < len(all) {
		next = page[len(page)-1].cursor()
	}
	if page == nil {
		page = []personMessage{}
	}
	WriteJSON(w, http.StatusOK, struct {
		Messages   []personMessage `json:"messages"`
		NextCursor string          `json:"next_cursor,omitempty"`
	}{page, next})
}
