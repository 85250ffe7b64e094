package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/segment"
	"github.com/heroldhq/herold/internal/store"
)

// ListView is one newsletter list of the catalog.
type ListView struct {
	Name       string `json:"name"`
	Type       string `json:"type"` // the message type whose list it is
	MembersURL string `json:"members_url"`
}

// lists answers GET /v1/lists: the newsletter lists the catalog names.
func (a *Audience) lists(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeRecipients) {
		return
	}
	WriteJSON(w, http.StatusOK, struct {
		Lists []ListView `json:"lists"`
	}{a.Lists()})
}

// Lists returns the newsletter lists the catalog names, in its order.
func (a *Audience) Lists() []ListView {
	out := []ListView{}
	for _, t := range a.Catalog.Types() {
		for _, l := range t.Lists {
			out = append(out, ListView{Name: l, Type: string(t.Key), MembersURL: "/v1/lists/" + l + "/members"})
		}
	}
	return out
}

// ListMember is one person on a newsletter list.
type ListMember struct {
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
// order, paged.
func (a *Audience) listMembers(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeRecipients) {
		return
	}
	limit, after, err := recipientPaging(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	list := r.PathValue("list")
	members, next, err := a.ListMembers(r.Context(), list, r.URL.Query().Get("state"), after, limit)
	if errors.Is(err, store.ErrNotFound) {
		WriteError(w, Errorf(http.StatusNotFound, "not_found", "no newsletter list %q in the catalog", list))
		return
	}
	if err != nil {
		a.fail(w, r, "list", err)
		return
	}
	WriteJSON(w, http.StatusOK, struct {
		List       string       `json:"list"`
		State      string       `json:"state"`
		Members    []ListMember `json:"members"`
		NextCursor string       `json:"next_cursor,omitempty"`
	}{list, cmp.Or(r.URL.Query().Get("state"), segment.ListConfirmed), members, next})
}

// ListMembers returns up to limit members of newsletter list in state
// ("confirmed", the default, or "pending") after the recipient id after,
// in id order, and the cursor of the next page ("" at the end). Each
// person's state is folded from the ledger now, by the rules the policy
// applies to newsletters; the list's index only says whom to look at. A
// list the catalog does not name is store.ErrNotFound; another state an
// *invalid.Error on "state".
func (a *Audience) ListMembers(ctx context.Context, list, state string, after message.RecipientID, limit int) ([]ListMember, string, error) {
	known := false
	for _, t := range a.Catalog.Types() {
		known = known || slices.Contains(t.Lists, list)
	}
	if !known {
		return nil, "", fmt.Errorf("list %q: %w", list, store.ErrNotFound)
	}
	want := segment.ListConfirmed
	switch state {
	case "", segment.ListConfirmed:
	case segment.ListPending:
		want = state
	default:
		var bad invalid.List
		bad.Add("state", "want confirmed or pending, not %q", state)
		return nil, "", bad.Err()
	}
	now := a.now()
	members := []ListMember{}
	next := ""
	for len(members) < limit {
		ids, err := a.Store.ListCandidates(ctx, list, after, candidateBatch)
		if err != nil {
			return nil, "", err
		}
		snaps, err := a.Store.Snapshots(ctx, ids, true, time.Time{})
		if err != nil {
			return nil, "", err
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
			m := ListMember{RecipientID: sn.ID, State: st, Source: e.Source, EventID: e.EventID, RequestedAt: e.Since}
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
	return members, next, nil
}
