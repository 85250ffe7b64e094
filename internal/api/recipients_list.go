package api

import (
	"net/http"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/segment"
)

// recipientPage is a page of GET /v1/recipients.
type recipientPage struct {
	Recipients []recipient.Recipient `json:"recipients"`
	NextCursor string                `json:"next_cursor,omitempty"` // "" on the last page
}

// listRecipients answers GET /v1/recipients: ?email= or ?phone= looks a
// person up (exact, normalised as profiles store them, through the
// keyed-hash index: no address is a key), ?segment= lists a segment's
// members, and without either it pages through every recipient in id
// order (?cursor=, ?limit=).
func (a *Audience) listRecipients(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeRecipients) {
		return
	}
	q := r.URL.Query()
	email, phone, segID := q.Get("email"), q.Get("phone"), q.Get("segment")
	given := 0
	for _, v := range []string{email, phone, segID} {
		if v != "" {
			given++
		}
	}
	if given > 1 {
		WriteError(w, fieldProblem("email", "give one of email, phone or segment"))
		return
	}
	ctx := r.Context()
	switch {
	case email != "":
		norm, err := recipient.NormalizeEmail(email)
		if err != nil {
			WriteError(w, fieldProblem("email", "%v", err))
			return
		}
		id, err := a.Store.RecipientByEmail(ctx, norm)
		a.answerLookup(w, r, id, err)
		return
	case phone != "":
		num, err := recipient.NormalizeMobile(phone, a.Region)
		if err != nil {
			WriteError(w, fieldProblem("phone", "%v", err))
			return
		}
		id, err := a.Store.RecipientByPhone(ctx, num)
		a.answerLookup(w, r, id, err)
		return
	}
	limit, after, err := recipientPaging(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	page := recipientPage{Recipients: []recipient.Recipient{}}
	if segID != "" {
		def, err := a.Store.Segment(ctx, segID, 0)
		if err != nil {
			a.fail(w, r, "segment", err)
			return
		}
		seg, err := a.compiled(def)
		if err != nil {
			a.fail(w, r, "segment", err)
			return
		}
		st, err := segment.Scan(ctx, a.Store, seg, a.env(), segment.ScanOptions{After: after, Limit: limit},
			func(members []recipient.Snapshot) error {
				for _, m := range members {
					page.Recipients = append(page.Recipients, m.Recipient)
				}
				return nil
			})
		if err != nil {
			a.fail(w, r, "segment", err)
			return
		}
		if st.More {
			page.NextCursor = string(st.Last)
		}
		WriteJSON(w, http.StatusOK, page)
		return
	}
	ids, err := a.Store.RecipientIDs(ctx, after, limit+1) // one more: is there a next page?
	if err != nil {
		a.fail(w, r, "recipient", err)
		return
	}
	more := len(ids) > limit
	ids = ids[:min(len(ids), limit)]
	recs, err := a.Store.Recipients(ctx, ids)
	if err != nil {
		a.fail(w, r, "recipient", err)
		return
	}
	page.Recipients = append(page.Recipients, recs...)
	if more {
		page.NextCursor = string(ids[len(ids)-1])
	}
	WriteJSON(w, http.StatusOK, page)
}

// answerLookup answers an e-mail or phone lookup: the one recipient, or an
// empty list.
func (a *Audience) answerLookup(w http.ResponseWriter, r *http.Request, id message.RecipientID, err error) {
	page := recipientPage{Recipients: []recipient.Recipient{}}
	if err == nil {
		var rec recipient.Recipient
		if rec, err = a.Store.GetRecipient(r.Context(), id); err == nil {
			page.Recipients = append(page.Recipients, rec)
		}
	}
	if err != nil && !isNotFound(err) {
		a.fail(w, r, "recipient", err)
		return
	}
	WriteJSON(w, http.StatusOK, page)
}
