package api

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// Limits of the suppression API.
const (
	maxSuppressionImport = 10_000 // entries per POST /v1/suppressions
	maxSuppressionNote   = 500
	maxLiftReason        = 1000
)

// suppressions answers GET /v1/suppressions: the list page by page
// (?cursor=, ?limit=), or the entries covering one address (?email=) or
// number (?phone=).
func (a *Audience) suppressions(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeSuppressions) {
		return
	}
	q := r.URL.Query()
	limit, err := pageLimit(r, 100, 1000)
	if err != nil {
		WriteError(w, err)
		return
	}
	list, next, err := a.FindSuppressions(r.Context(), SuppressionQuery{Email: q.Get("email"), Phone: q.Get("phone"),
		Cursor: q.Get("cursor"), Limit: limit})
	if err != nil {
		a.fail(w, r, "suppression", err)
		return
	}
	WriteJSON(w, http.StatusOK, struct {
		Suppressions []store.SuppressionEntry `json:"suppressions"`
		NextCursor   string                   `json:"next_cursor,omitempty"`
	}{list, next})
}

// SuppressionQuery asks for the entries covering one address (Email) or
// number (Phone, national numbers in the default region), or, with
// neither, for a page of the whole list from Cursor ("" starts).
type SuppressionQuery struct {
	Email, Phone string
	Cursor       string
	Limit        int // a page's length; <= 0: 100
}

// FindSuppressions answers q: the entries, never nil, and the next page's
// cursor ("" at the end; an address's entries are one page). A bad address,
// number or cursor is an *invalid.Error naming it.
func (a *Audience) FindSuppressions(ctx context.Context, q SuppressionQuery) ([]store.SuppressionEntry, string, error) {
	var (
		bad  invalid.List
		cp   message.ContactPoint
		addr string
		err  error
	)
	switch {
	case q.Email != "" && q.Phone != "":
		bad.Add("email", "give email or phone, not both")
	case q.Email != "":
		cp = message.EmailAddress
		if addr, err = recipient.NormalizeEmail(q.Email); err != nil {
			bad.Add("email", "%v", err)
		}
	case q.Phone != "":
		cp = message.MobileNumber
		if addr, err = recipient.NormalizeMobile(q.Phone, a.Region); err != nil {
			bad.Add("phone", "%v", err)
		}
	}
	var cursor uint64
	if q.Cursor != "" && addr == "" {
		if cursor, err = strconv.ParseUint(q.Cursor, 10, 64); err != nil {
			bad.Add("cursor", "not a cursor from a previous page")
		}
	}
	if err := bad.Err(); err != nil {
		return nil, "", err
	}
	if addr != "" {
		list, err := a.Store.SuppressionsOf(ctx, cp, addr)
		if list == nil {
			list = []store.SuppressionEntry{}
		}
		return list, "", err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	list, next, err := a.Store.Suppressions(ctx, cursor, limit)
	if err != nil {
		return nil, "", err
	}
	if list == nil {
		list = []store.SuppressionEntry{}
	}
	if next == 0 {
		return list, "", nil
	}
	return list, strconv.FormatUint(next, 10), nil
}

// suppressionImport is the body of POST /v1/suppressions.
type suppressionImport struct {
	// Reason applies to every entry unless an entry names its own
	// (snake_case, e.g. hard_bounce, unsubscribed; default imported).
	Reason string `json:"reason,omitempty"`
	// Note says where the list comes from, e.g. "bounces of our old ESP".
	Note    string                   `json:"note,omitempty"`
	Entries []suppressionImportEntry `json:"entries"`
}

type suppressionImportEntry struct {
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Channel string `json:"channel,omitempty"` // a channel of the address's kind, or all (default)
	Reason  string `json:"reason,omitempty"`
}

// importSuppressions answers POST /v1/suppressions: addresses and numbers
// to suppress, e.g. from a previous provider. Every entry is checked first;
// one bad entry refuses the request, naming it, and nothing is written.
func (a *Audience) importSuppressions(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeSuppressions) {
		return
	}
	var req suppressionImport
	if err := DecodeJSON(w, r, max(a.MaxBody, 4<<20), &req); err != nil {
		WriteError(w, err)
		return
	}
	var bad invalid.List
	if req.Reason == "" {
		req.Reason = store.ReasonImported
	}
	checkReason := func(field, s string) {
		if !store.ValidReason(s) {
			bad.Add(field, "%q is not a snake_case code such as hard_bounce", s)
		}
	}
	checkReason("reason", req.Reason)
	if len(req.Note) > maxSuppressionNote || strings.ContainsFunc(req.Note, unicode.IsControl) {
		bad.Add("note", "at most %d characters, no control characters", maxSuppressionNote)
	}
	switch n := len(req.Entries); {
	case n == 0:
		bad.Add("entries", "empty: give at least one entry")
	case n > maxSuppressionImport:
		bad.Add("entries", "%d entries, at most %d per request", n, maxSuppressionImport)
	}
	items := make([]store.SuppressionInput, 0, len(req.Entries))
	for i, e := range req.Entries {
		p := fmt.Sprintf("entries[%d].", i)
		it := store.SuppressionInput{Channel: cmp.Or(e.Channel, consent.AllChannels), Reason: cmp.Or(e.Reason, req.Reason)}
		if e.Reason != "" {
			checkReason(p+"reason", e.Reason)
		}
		var err error
		switch {
		case (e.Email == "") == (e.Phone == ""):
			bad.Add(p+"email", "give email or phone")
			continue
		case e.Email != "":
			it.Contact = message.EmailAddress
			if it.Address, err = recipient.NormalizeEmail(e.Email); err != nil {
				bad.Add(p+"email", "%v", err)
			}
		default:
			it.Contact = message.MobileNumber
			if it.Address, err = recipient.NormalizeMobile(e.Phone, a.Region); err != nil {
				bad.Add(p+"phone", "%v", err)
			}
		}
		if it.Channel != consent.AllChannels {
			ch, err := message.ParseChannel(it.Channel)
			switch {
			case err != nil:
				bad.Add(p+"channel", `%v or "all"`, err)
			case ch.Contact() != it.Contact:
				bad.Add(p+"channel", "%s does not deliver to this kind of address", ch)
			}
		}
		items = append(items, it)
	}
	if err := bad.Err(); err != nil {
		WriteError(w, err)
		return
	}
	res, err := a.Store.ImportSuppressions(r.Context(), items, keyName(r), req.Note)
	if err != nil {
		a.fail(w, r, "suppression", err)
		return
	}
	a.log().InfoContext(r.Context(), "suppressions imported", "added", res.Added, "existing", res.Existing, "by", keyName(r))
	WriteJSON(w, http.StatusOK, res)
}

// liftRequest is the body of DELETE /v1/suppressions/{id}.
type liftRequest struct {
	// Reason says why the entry is lifted, in words an auditor can follow
	// ("the person asked to get SMS again, ticket 4711"). Required.
	Reason string `json:"reason"`
}

// liftSuppression answers DELETE /v1/suppressions/{id}: it needs the
// compliance scope and a reason (body {"reason": …} or ?reason=), and is
// recorded in the audit trail (GET /v1/audit) with who, when and why.
func (a *Audience) liftSuppression(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeCompliance) {
		return
	}
	var req liftRequest
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		if err := DecodeJSON(w, r, a.MaxBody, &req); err != nil {
			WriteError(w, err)
			return
		}
	}
	if req.Reason == "" {
		req.Reason = r.URL.Query().Get("reason")
	}
	entry, rec, err := a.LiftSuppression(r.Context(), r.PathValue("id"), req.Reason, keyName(r))
	if err != nil {
		a.fail(w, r, "suppression", err)
		return
	}
	WriteJSON(w, http.StatusOK, struct {
		Lifted store.SuppressionEntry `json:"lifted"`
		Audit  store.AuditRecord      `json:"audit"`
	}{entry, rec})
}

// LiftSuppression removes suppression entry id for the reason given (in
// words an auditor can follow: required, at most 1000 characters) and
// records who (by) lifted it, when and why in the audit trail. A bad reason
// is an *invalid.Error on "reason"; an unknown entry store.ErrNotFound.
func (a *Audience) LiftSuppression(ctx context.Context, id, reason, by string) (store.SuppressionEntry, store.AuditRecord, error) {
	reason = strings.TrimSpace(reason)
	var bad invalid.List
	switch {
	case reason == "":
		bad.Add("reason", "required: say why the suppression is lifted (it is kept in the audit trail)")
	case utf8.RuneCountInString(reason) > maxLiftReason:
		bad.Add("reason", "longer than %d characters", maxLiftReason)
	case strings.ContainsFunc(reason, func(c rune) bool { return unicode.IsControl(c) && c != '\n' }):
		bad.Add("reason", "contains control characters")
	}
	if err := bad.Err(); err != nil {
		return store.SuppressionEntry{}, store.AuditRecord{}, err
	}
	entry, rec, err := a.Store.LiftSuppression(ctx, id, by, reason)
	if err != nil {
		return entry, rec, err
	}
	a.log().InfoContext(ctx, "suppression lifted", "suppression_id", entry.ID, "audit_id", rec.ID, "by", by)
	return entry, rec, nil
}

// audit answers GET /v1/audit: the audit trail, oldest first, page by page
// (?cursor=, ?limit=); ?format=ndjson exports it as one JSON record per
// line (the next page's cursor in the Herold-Next-Cursor header).
func (a *Audience) audit(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeCompliance) {
		return
	}
	limit, err := pageLimit(r, 100, 10_000)
	if err != nil {
		WriteError(w, err)
		return
	}
	recs, next, err := a.Store.Audit(r.Context(), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		a.fail(w, r, "audit record", err)
		return
	}
	if recs == nil {
		recs = []store.AuditRecord{}
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		WriteJSON(w, http.StatusOK, struct {
			Records    []store.AuditRecord `json:"records"`
			NextCursor string              `json:"next_cursor,omitempty"`
		}{recs, next})
	case "ndjson":
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="herold-audit.ndjson"`)
		if next != "" {
			w.Header().Set("Herold-Next-Cursor", next)
		}
		enc := json.NewEncoder(w)
		for _, rec := range recs {
			_ = enc.Encode(rec) // the client went away; nothing to do
		}
	default:
		WriteError(w, fieldProblem("format", "want json or ndjson, not %q", f))
	}
}
