package api

import (
	"cmp"
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
	type page struct {
		Suppressions []store.SuppressionEntry `json:"suppressions"`
		NextCursor   string                   `json:"next_cursor,omitempty"`
	}
	var (
		cp   message.ContactPoint
		addr string
		err  error
	)
	switch {
	case q.Get("email") != "" && q.Get("phone") != "":
		WriteError(w, fieldProblem("email", "give email or phone, not both"))
		return
	case q.Get("email") != "":
		cp = message.EmailAddress
		if addr, err = recipient.NormalizeEmail(q.Get("email")); err != nil {
			WriteError(w, fieldProblem("email", "%v", err))
			return
		}
	case q.Get("phone") != "":
		cp = message.MobileNumber
		if addr, err = recipient.NormalizeMobile(q.Get("phone"), a.Region); err != nil {
			WriteError(w, fieldProblem("phone", "%v", err))
			return
		}
	}
	if addr != "" {
		list, err := a.Store.SuppressionsOf(r.Context(), cp, addr)
		if err != nil {
			a.fail(w, r, "suppression", err)
			return
		}
		if list == nil {
			list = []store.SuppressionEntry{}
		}
		WriteJSON(w, http.StatusOK, page{Suppressions: list})
		return
	}
	limit, err := pageLimit(r, 100, 1000)
	if err != nil {
		WriteError(w, err)
		return
	}
	var cursor uint64
	if c := q.Get("cursor"); c != "" {
		if cursor, err = strconv.ParseUint(c, 10, 64); err != nil {
			WriteError(w, fieldProblem("cursor", "not a cursor from a previous page"))
			return
		}
	}
	list, next, err := a.Store.Suppressions(r.Context(), cursor, limit)
	if err != nil {
		a.fail(w, r, "suppression", err)
		return
	}
	p := page{Suppressions: list}
	if next != 0 {
		p.NextCursor = strconv.FormatUint(next, 10)
	}
	WriteJSON(w, http.StatusOK, p)
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
	req.Reason = strings.TrimSpace(req.Reason)
	switch {
	case req.Reason == "":
		WriteError(w, fieldProblem("reason", "required: say why the suppression is lifted (it is kept in the audit trail)"))
		return
	case utf8.RuneCountInString(req.Reason) > maxLiftReason:
		WriteError(w, fieldProblem("reason", "longer than %d characters", maxLiftReason))
		return
	case strings.ContainsFunc(req.Reason, func(c rune) bool { return unicode.IsControl(c) && c != '\n' }):
		WriteError(w, fieldProblem("reason", "contains control characters"))
		return
	}
	entry, rec, err := a.Store.LiftSuppression(r.Context(), r.PathValue("id"), keyName(r), req.Reason)
	if err != nil {
		a.fail(w, r, "suppression", err)
		return
	}
	a.log().InfoContext(r.Context(), "suppression lifted", "suppression_id", entry.ID, "audit_id", rec.ID, "by", keyName(r))
	WriteJSON(w, http.StatusOK, struct {
		Lifted store.SuppressionEntry `json:"lifted"`
		Audit  store.AuditRecord      `json:"audit"`
	}{entry, rec})
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
