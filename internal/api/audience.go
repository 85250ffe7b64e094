package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/heroldhq/herold/internal/campaign"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/segment"
	"github.com/heroldhq/herold/internal/store"
)

// Audience serves what a marketing team needs around campaigns: finding
// people (recipient listing and lookup, newsletter list members), loading
// them (bulk import), choosing them (segments), seeing and managing who must
// not be contacted (the suppression list and its audit trail), drafts, dry
// runs and starts of campaigns, the campaign listing and a person's
// messages. Scopes: recipients (listing, lookup, import, lists), segments,
// suppressions, compliance (lifting a suppression, the audit trail),
// campaigns (with the send scope of the campaign's type). Logs carry ids,
// never an address.
type Audience struct {
	Store     *store.Store
	Campaigns *campaign.Engine // drafts, dry runs and reachable(…) through the delivery core
	Catalog   *policy.Catalog
	Region    string // default phone region (HEROLD_DEFAULT_REGION)
	MaxBody   int64  // JSON request bodies; <= 0: DefaultMaxBody
	Log       *slog.Logger
	Now       func() time.Time // default time.Now
}

// Routes registers the audience routes on mux.
func (a *Audience) Routes(mux Mux) {
	mux.HandleFunc("GET /v1/recipients", a.listRecipients)
	mux.HandleFunc("POST /v1/recipients/import", a.importRecipients)
	mux.HandleFunc("GET /v1/lists", a.lists)
	mux.HandleFunc("GET /v1/lists/{list}/members", a.listMembers)
	mux.HandleFunc("POST /v1/segments", a.createSegment)
	mux.HandleFunc("GET /v1/segments", a.segments)
	mux.HandleFunc("GET /v1/segments/{id}", a.segment)
	mux.HandleFunc("PUT /v1/segments/{id}", a.updateSegment)
	mux.HandleFunc("DELETE /v1/segments/{id}", a.deleteSegment)
	mux.HandleFunc("GET /v1/segments/{id}/count", a.countSegment)
	mux.HandleFunc("GET /v1/suppressions", a.suppressions)
	mux.HandleFunc("POST /v1/suppressions", a.importSuppressions)
	mux.HandleFunc("DELETE /v1/suppressions/{id}", a.liftSuppression)
	mux.HandleFunc("GET /v1/audit", a.audit)
	mux.HandleFunc("GET /v1/campaigns", a.listCampaigns)
	mux.HandleFunc("POST /v1/campaigns/{id}/start", a.startCampaign)
	mux.HandleFunc("POST /v1/campaigns/{id}/dry-run", a.dryRun)
	mux.HandleFunc("GET /v1/campaigns/{id}/dry-run", a.lastDryRun)
	mux.HandleFunc("GET /v1/messages", a.listMessages)
}

func (a *Audience) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Audience) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// env is the segment environment at now (reachable: the delivery core's decision).
func (a *Audience) env() segment.Env { return a.Campaigns.SegmentEnv(a.now()) }

// keyName is the name of the request's API key, for created_by and audits.
func keyName(r *http.Request) string {
	if k, ok := KeyFrom(r.Context()); ok {
		return k.Name
	}
	return ""
}

// fail answers err for the audience routes: bad input 400, unknown things
// 404, conflicts 409, campaign states 409, anything else 500 (logged).
func (a *Audience) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	// A saved segment that no longer compiles is the catalog's change, not
	// bad input: 409, before writeProblem would take its fields for a 400.
	if si := (*SegmentInvalidError)(nil); errors.As(err, &si) {
		WriteError(w, &Problem{Status: http.StatusConflict, Code: "segment_invalid", Fields: si.Err.Fields,
			Message: "the segment's expression does not fit the catalog any more: change it (PUT /v1/segments/" + si.ID + ")"})
		return
	}
	writeProblem(w, r, a.log(), "audience", err, func(err error) *Problem {
		switch {
		case errors.Is(err, store.ErrNotFound):
			return Errorf(http.StatusNotFound, "not_found", "no such %s", what)
		case errors.Is(err, store.ErrConflict):
			return Errorf(http.StatusConflict, "conflict", "%s was changed meanwhile: read it again and retry", what)
		case errors.Is(err, campaign.ErrState):
			return Errorf(http.StatusConflict, "conflict", "%v", err)
		case errors.Is(err, store.ErrBadCursor), errors.Is(err, errBadCursor):
			return fieldProblem("cursor", "not a cursor from a previous page")
		}
		return nil
	}, nil)
}

var errBadCursor = errors.New("invalid cursor")

func fieldProblem(field, format string, args ...any) *Problem {
	var bad invalid.List
	bad.Add(field, format, args...)
	ie, _ := invalid.As(bad.Err())
	return Invalid(ie)
}

// pageLimit reads ?limit= (default def, at most max).
func pageLimit(r *http.Request, def, max int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, fieldProblem("limit", "want 1 to %d, not %q", max, s)
	}
	return n, nil
}

// recipientPaging reads ?limit= (default 100, at most 1000) and ?cursor=, a
// recipient id the page starts after, of listings in id order.
func recipientPaging(r *http.Request) (limit int, after message.RecipientID, err error) {
	if limit, err = pageLimit(r, 100, 1000); err != nil {
		return 0, "", err
	}
	if c := r.URL.Query().Get("cursor"); c != "" {
		if after, err = message.ParseRecipientID(c); err != nil {
			return 0, "", fieldProblem("cursor", "not a cursor from a previous page")
		}
	}
	return limit, after, nil
}

// need checks one scope; on failure it has answered.
func need(w http.ResponseWriter, r *http.Request, scope string) bool {
	if err := RequireScope(r, scope); err != nil {
		WriteError(w, err)
		return false
	}
	return true
}
