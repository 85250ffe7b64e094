package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/segment"
	"github.com/heroldhq/herold/internal/store"
)

// SegmentInput is the body of POST and PUT /v1/segments, and what the
// operator console's segment editor sends.
type SegmentInput struct {
	ID          string `json:"id,omitempty"` // POST: optional, else generated
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Expression  string `json:"expression"`
	// Version (PUT) is the version the change is based on: if another
	// version is current by now, the change is refused (409) instead of
	// overwriting an edit it has not seen. 0: change whatever is current.
	Version int `json:"version,omitempty"`
}

var segmentIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// checkSegment validates an input's fields; the expression against the catalog.
func (a *Audience) checkSegment(req SegmentInput, post bool) error {
	var bad invalid.List
	switch n := utf8.RuneCountInString(strings.TrimSpace(req.Name)); {
	case n == 0:
		bad.Add("name", "required")
	case n > 200:
		bad.Add("name", "longer than 200 characters")
	}
	if utf8.RuneCountInString(req.Description) > 2000 {
		bad.Add("description", "longer than 2000 characters")
	}
	if post && req.ID != "" && !segmentIDPattern.MatchString(req.ID) {
		bad.Add("id", "%q is not a segment id (lowercase a-z 0-9 _ -, at most 64)", req.ID)
	}
	if !post && req.ID != "" {
		bad.Add("id", "the id is in the path; leave it out of the body")
	}
	if _, err := segment.Compile(req.Expression, a.Catalog); err != nil {
		ie, _ := invalid.As(err)
		for _, f := range ie.Fields {
			bad.Add(f.Field, "%s", f.Message)
		}
	}
	return bad.Err()
}

// segmentBody checks the scope and reads a POST or PUT body (CreateSegment
// and UpdateSegment check it); on failure it has answered.
func (a *Audience) segmentBody(w http.ResponseWriter, r *http.Request, _ bool) (SegmentInput, bool) {
	var req SegmentInput
	if !need(w, r, apikey.ScopeSegments) {
		return req, false
	}
	if err := DecodeJSON(w, r, a.MaxBody, &req); err != nil {
		WriteError(w, err)
		return req, false
	}
	return req, true
}

func (a *Audience) createSegment(w http.ResponseWriter, r *http.Request) {
	req, ok := a.segmentBody(w, r, true)
	if !ok {
		return
	}
	seg, err := a.CreateSegment(r.Context(), req, keyName(r))
	if err != nil {
		a.fail(w, r, "segment", err)
		return
	}
	w.Header().Set("Location", "/v1/segments/"+seg.ID)
	WriteJSON(w, http.StatusCreated, seg)
}

// CreateSegment checks in as POST /v1/segments does and stores it as
// version 1, by by (an API key's or console user's name). Bad input is an
// *invalid.Error naming each bad field (the expression's part in
// "expression"); an id in use is store.ErrConflict.
func (a *Audience) CreateSegment(ctx context.Context, in SegmentInput, by string) (store.Segment, error) {
	if err := a.checkSegment(in, true); err != nil {
		return store.Segment{}, err
	}
	id := in.ID
	if id == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		id = "seg_" + hex.EncodeToString(b)
	}
	return a.Store.CreateSegment(ctx, store.Segment{ID: id, Name: strings.TrimSpace(in.Name),
		Description: in.Description, Expression: in.Expression, CreatedBy: by})
}

func (a *Audience) segments(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeSegments) {
		return
	}
	limit, err := pageLimit(r, 100, 1000)
	if err != nil {
		WriteError(w, err)
		return
	}
	list, next, err := a.Store.Segments(r.Context(), r.URL.Query().Get("cursor"), limit)
	if errors.Is(err, store.ErrNotFound) {
		err = errBadCursor
	}
	if err != nil {
		a.fail(w, r, "segment", err)
		return
	}
	if list == nil {
		list = []store.Segment{}
	}
	WriteJSON(w, http.StatusOK, struct {
		Segments   []store.Segment `json:"segments"`
		NextCursor string          `json:"next_cursor,omitempty"`
	}{list, next})
}

// segment answers GET /v1/segments/{id}; ?version=N reads an earlier version.
func (a *Audience) segment(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeSegments) {
		return
	}
	version := 0
	if s := r.URL.Query().Get("version"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			WriteError(w, fieldProblem("version", "want a version number (1, 2, …), not %q", s))
			return
		}
		version = n
	}
	seg, err := a.Store.Segment(r.Context(), r.PathValue("id"), version)
	if err != nil {
		a.fail(w, r, "segment", err)
		return
	}
	WriteJSON(w, http.StatusOK, seg)
}

func (a *Audience) updateSegment(w http.ResponseWriter, r *http.Request) {
	req, ok := a.segmentBody(w, r, false)
	if !ok {
		return
	}
	seg, err := a.UpdateSegment(r.Context(), r.PathValue("id"), req, keyName(r))
	if err != nil {
		a.fail(w, r, "segment", err)
		return
	}
	WriteJSON(w, http.StatusOK, seg)
}

// UpdateSegment checks in as PUT /v1/segments/{id} does (in.ID must be
// empty: id names the segment) and stores it as the next version. With
// in.Version set, a segment changed meanwhile is store.ErrConflict; an
// unknown one store.ErrNotFound.
func (a *Audience) UpdateSegment(ctx context.Context, id string, in SegmentInput, by string) (store.Segment, error) {
	if err := a.checkSegment(in, false); err != nil {
		return store.Segment{}, err
	}
	return a.Store.UpdateSegment(ctx, id, store.Segment{Name: strings.TrimSpace(in.Name),
		Description: in.Description, Expression: in.Expression, UpdatedBy: by}, in.Version)
}

func (a *Audience) deleteSegment(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeSegments) {
		return
	}
	if err := a.Store.DeleteSegment(r.Context(), r.PathValue("id")); err != nil {
		a.fail(w, r, "segment", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// SegmentInvalidError is a saved segment whose expression no longer fits
// the catalog (a type was removed): Err names what is wrong. The API
// answers it 409; invalid.As finds Err.
type SegmentInvalidError struct {
	ID  string
	Err *invalid.Error
}

func (e *SegmentInvalidError) Error() string {
	return "segment " + e.ID + " does not fit the catalog any more: " + e.Err.Error()
}

func (e *SegmentInvalidError) Unwrap() error { return e.Err }

// compiled compiles version def of a segment against the catalog.
func (a *Audience) compiled(def store.Segment) (*segment.Segment, error) {
	seg, err := segment.Compile(def.Expression, a.Catalog)
	if err != nil {
		ie, ok := invalid.As(err)
		if !ok {
			return nil, err
		}
		return nil, &SegmentInvalidError{ID: def.ID, Err: ie}
	}
	return seg, nil
}

// SegmentCount is the answer of GET /v1/segments/{id}/count.
type SegmentCount struct {
	SegmentID string                `json:"segment_id"`
	Version   int                   `json:"version"`
	At        time.Time             `json:"at"`
	Count     int                   `json:"count"`
	Scanned   int                   `json:"scanned"` // recipients looked at
	Sample    []message.RecipientID `json:"sample"`  // the first members in id order
	Elapsed   string                `json:"elapsed"`
}

// countSegment evaluates a segment over every recipient now and answers how
// many are in it, with a sample of ids (?sample=N, default 10, at most 100).
func (a *Audience) countSegment(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeSegments) {
		return
	}
	n := 10
	if s := r.URL.Query().Get("sample"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 100 {
			WriteError(w, fieldProblem("sample", "want 0 to 100, not %q", s))
			return
		}
		n = v
	}
	out, err := a.CountSegment(r.Context(), r.PathValue("id"), n)
	if err != nil {
		a.fail(w, r, "segment", err)
		return
	}
	WriteJSON(w, http.StatusOK, out)
}

// CountSegment evaluates the current version of segment id over every
// recipient now, as a campaign's start would: how many are in it, with the
// first sample ids. Unknown: store.ErrNotFound; no longer fitting the
// catalog: *SegmentInvalidError.
func (a *Audience) CountSegment(ctx context.Context, id string, sample int) (SegmentCount, error) {
	def, err := a.Store.Segment(ctx, id, 0)
	if err != nil {
		return SegmentCount{}, err
	}
	seg, err := a.compiled(def)
	if err != nil {
		return SegmentCount{}, err
	}
	t0 := time.Now()
	env := a.env()
	out := SegmentCount{SegmentID: id, Version: def.Version, At: env.Now, Sample: []message.RecipientID{}}
	st, err := segment.Scan(ctx, a.Store, seg, env, segment.ScanOptions{}, func(members []recipient.Snapshot) error {
		for _, m := range members {
			if len(out.Sample) == sample {
				break
			}
			out.Sample = append(out.Sample, m.ID)
		}
		return nil
	})
	if err != nil {
		return SegmentCount{}, err
	}
	out.Count, out.Scanned, out.Elapsed = st.Matched, st.Scanned, time.Since(t0).Round(time.Millisecond).String()
	a.log().InfoContext(ctx, "segment counted", "segment_id", id, "version", def.Version, "count", out.Count,
		"scanned", out.Scanned, "took", out.Elapsed)
	return out, nil
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
