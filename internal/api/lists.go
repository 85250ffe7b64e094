package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/segment"
)

// listView is one newsletter list of the catalog.
type listView struct {
	Name       string `json:"name"`
	Type       string `json:"type"` // the message type whose list it is
	MembersURL string `json:"members_url"`
}

// lists answers GET /v1/lists: the newsletter lists the catalog names.
func (a *Audience) lists(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeRecipients) {
		return
	}
	out := []listView{}
	for _, t := range a.Catalog.Types() {
		for _, l := range t.Lists {
			out = append(out, listView{Name: l, Type: string(t.Key), MembersURL: "/v1/lists/" + l + "/members"})
		}
	}
	WriteJSON(w, http.StatusOK, struct {
		Lists []listView `json:"lists"`
	}{out})
}

// listMember is one person on a newsletter list.
type listMember struct {
	RecipientID message.RecipientID `json:"recipient_id"`
	State       string              `json:"state"` // confirmed or pending
	// RequestedAt is the sign-up (doi_request); ConfirmedAt the
	// confirmation (doi_confirm), for confirmed members.
	RequestedAt time.Time      `json:"requested_at,omitzero"`
	ConfirmedAt time.Time      `json:"confirmed_at,omitzero"`
	Source      consent.Source `json:"source,omitempty"`
	EventID     string         `json:"event_id,omitempty"` // the ledger event the state rests on
}

// candidateBatch is how many candidates a members page reads per round trip.
const candidateBatch = 500

// listMembers answers GET /v1/lists/{list}/members: the confirmed
// subscribers (?state=pending: the signups waiting for confirmation), in id
// order, paged. Each person's state is folded from the ledger now, by the
// rules the policy applies to newsletters; the list's index only says whom
// to look at.
func (a *Audience) listMembers(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeRecipients) {
		return
	}
	list := r.PathValue("list")
	known := false
	for _, t := range a.Catalog.Types() {
		known = known || slices.Contains(t.Lists, list)
	}
	if !known {
		WriteError(w, Errorf(http.StatusNotFound, "not_found", "no newsletter list %q in the catalog", list))
		return
	}
	want := segment.ListConfirmed
	switch s := r.URL.Query().Get("state"); s {
	case "", segment.ListConfirmed:
	case segment.ListPending:
		want = s
	default:
		WriteError(w, fieldProblem("state", "want confirmed or pending, not %q", s))
		return
	}
	limit, after, err := recipientPaging(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	ctx := r.Context()
	now := a.now()
	members := []listMember{}
	next := ""
	for len(members) < limit {
		ids, err := a.Store.ListCandidates(ctx, list, after, candidateBatch)
		if err != nil {
			a.fail(w, r, "list", err)
			return
		}
		snaps, err := a.Store.Snapshots(ctx, ids, true, time.Time{})
		if err != nil {
			a.fail(w, r, "list", err)
			return
		}
		var gone []message.RecipientID
		for _, sn := range snaps {
			after = sn.ID
			if !sn.Found {
				gone = append(gone, sn.ID)
				continue
			}
			st, e := segment.ListState(consent.Fold(sn.Events, now), list, now, a.Catalog)
			if st != want {
				continue
			}
			m := listMember{RecipientID: sn.ID, State: st, Source: e.Source, EventID: e.EventID, RequestedAt: e.Since}
			if st == segment.ListConfirmed {
				m.RequestedAt, m.ConfirmedAt = e.RequestedAt, e.Since
			}
			members = append(members, m)
			if len(members) == limit {
				next = string(sn.ID)
				break
			}
		}
		if err := a.Store.DropListCandidates(ctx, list, gone); err != nil {
			a.log().WarnContext(ctx, "drop list candidates that are gone", "list", list, "err", err)
		}
		if len(ids) < candidateBatch {
			break
		}
	}
	WriteJSON(w, http.StatusOK, struct {
		List       string       `json:"list"`
		State      string       `json:"state"`
		Members    []listMember `json:"members"`
		NextCursor string       `json:"next_cursor,omitempty"`
	}{list, want, members, next})
}
