package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/notice"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/webhooks"
)

// ---- catalog (read-only: what compliance reviews)

type ruleRow struct {
	Channel message.Channel
	Rule    policy.Rule
	Basis   policy.Basis
}

type catalogType struct {
	policy.TypeSpec
	Rules []ruleRow
}

type catalogData struct {
	Version string
	Types   []catalogType
	Notice  template.HTML
}

func (c *Console) catalogPage(w http.ResponseWriter, r *http.Request, rq *request) {
	cat := c.core.Catalog()
	d := catalogData{Version: cat.Version()}
	for _, t := range cat.Types() {
		ct := catalogType{TypeSpec: t}
		for _, ch := range t.Channels {
			for _, rule := range t.Rules(ch) {
				ct.Rules = append(ct.Rules, ruleRow{Channel: ch, Rule: rule, Basis: rule.Kind.Basis()})
			}
		}
		d.Types = append(d.Types, ct)
	}
	// The notice as the people's pages show it, rendered from the same
	// catalog; a catalog with gaps in its notice texts shows none.
	var buf bytes.Buffer
	if err := notice.Write(&buf, cat, notice.Options{Lang: rq.L.Tag, Format: notice.HTML, OmitTitle: true}); err == nil {
		d.Notice = template.HTML(buf.String()) // package notice escapes every text it writes
	}
	c.render(w, r, rq, http.StatusOK, "catalog", "catalog.title", d)
}

// ---- audit log

type auditData struct {
	Entries []AuditEntry
	Next    string
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, rq *request) {
	entries, next, err := c.AuditLog(r.Context(), r.URL.Query().Get("before"), 100)
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	d := auditData{Entries: entries}
	if next != "" {
		d.Next = "/console/audit?before=" + next
	}
	c.render(w, r, rq, http.StatusOK, "audit", "audit.title", d)
}

// auditExport downloads the whole audit log as CSV or NDJSON. The export
// itself is recorded first, so the file shows who took it.
func (c *Console) auditExport(w http.ResponseWriter, r *http.Request, rq *request) {
	format := r.PostFormValue("format")
	if format != "csv" && format != "ndjson" {
		c.fail(w, r, rq, http.StatusBadRequest, "error.form")
		return
	}
	if !c.record(r.Context(), w, r, rq, rq.entry("audit.export", "", format)) {
		return
	}
	ct := map[string]string{"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}[format]
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="herold-console-audit.%s"`, format))
	if err := c.ExportAudit(r.Context(), w, format); err != nil {
		// The header is out: all that can be done is to log and cut the file short.
		c.log.ErrorContext(r.Context(), "audit export cut short", "err", err)
	}
}

// ---- users (admin)

type userRow struct {
	Name string
	Role Role
}

func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, rq *request) {
	var list []userRow
	for _, u := range c.users {
		list = append(list, userRow{u.Name, u.Role})
	}
	slices.SortFunc(list, func(a, b userRow) int { return strings.Compare(a.Name, b.Name) })
	c.render(w, r, rq, http.StatusOK, "users", "users.title", struct {
		Users  []userRow
		Grants any
	}{list, grants})
}

// ---- screens of the plug-ins

func (c *Console) pluginRoutes(m *http.ServeMux) {
	need := func(name string, perm Permission, h handler) http.HandlerFunc {
		return c.auth(perm, func(w http.ResponseWriter, r *http.Request, rq *request) {
			if !c.plugins.has(name) {
				c.fail(w, r, rq, http.StatusNotFound, "error.notavailable")
				return
			}
			h(w, r, rq)
		})
	}
	m.HandleFunc("GET /console/segments", need("segments", SeeSegments, c.segmentList))
	m.HandleFunc("GET /console/segments/new", need("segments", ChangeSegments, c.segmentEdit))
	m.HandleFunc("GET /console/segments/{id}", need("segments", SeeSegments, c.segmentEdit))
	m.HandleFunc("POST /console/segments", need("segments", ChangeSegments, c.segmentSave))
	m.HandleFunc("POST /console/segments/{id}/delete", need("segments", ChangeSegments, c.segmentDelete))
	m.HandleFunc("GET /console/lists", need("lists", SeeLists, c.listsPage))
	m.HandleFunc("GET /console/lists/{list}", need("lists", SeeLists, c.listPage))
	m.HandleFunc("GET /console/suppressions", need("suppressions", SeeSuppressions, c.suppressionsPage))
	m.HandleFunc("POST /console/suppressions/{id}/lift", need("suppressions", LiftSuppressions, c.suppressionLift))
	m.HandleFunc("GET /console/webhooks", need("webhooks", SeeWebhooks, c.webhooksPage))
	m.HandleFunc("GET /console/webhooks/{id}", need("webhooks", SeeWebhooks, c.webhookPage))
	m.HandleFunc("POST /console/webhooks/{id}/deliveries/{did}/replay", need("webhooks", ReplayWebhooks, c.webhookReplay))
}

type segmentData struct {
	Segment Segment
	Count   int64
	Sample  []message.RecipientID
	Counted bool
}

func (c *Console) segmentList(w http.ResponseWriter, r *http.Request, rq *request) {
	list, err := c.plugins.Segments.List(r.Context())
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	c.render(w, r, rq, http.StatusOK, "segments", "segments.title", list)
}

// segmentEdit shows a segment with its count and sample now, or the empty
// editor. A saved expression that no longer fits the catalog shows what is
// wrong with it in the editor instead of a count.
func (c *Console) segmentEdit(w http.ResponseWriter, r *http.Request, rq *request) {
	var d segmentData
	var fields []invalid.Field
	status := http.StatusOK
	if id := r.PathValue("id"); id != "" {
		ctx, cancel := withTimeout(r.Context())
		defer cancel()
		s, err := c.plugins.Segments.Get(ctx, id)
		if !c.loaded(w, r, rq, err) {
			return
		}
		d.Segment = s
		d.Count, d.Sample, err = c.plugins.Segments.Count(ctx, id, 10)
		if ie, ok := invalid.As(err); ok {
			fields, status = ie.Fields, http.StatusConflict
		} else if err != nil {
			c.internal(w, r, rq, err)
			return
		} else {
			d.Counted = true
		}
	}
	title, heading := "segments.new", ""
	if d.Segment.ID != "" {
		heading = d.Segment.Name
	}
	c.renderPage(w, r, rq, status, "segment", &page{Title: title, Heading: heading, Data: d, Fields: fields})
}

func (c *Console) segmentSave(w http.ResponseWriter, r *http.Request, rq *request) {
	in := Segment{ID: r.PostFormValue("id"), Name: r.PostFormValue("name"),
		Description: r.PostFormValue("description"), Expression: r.PostFormValue("expression")}
	if v := r.PostFormValue("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			c.fail(w, r, rq, http.StatusBadRequest, "error.form")
			return
		}
		in.Version = n
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	s, err := c.plugins.Segments.Save(ctx, in, "console:"+rq.User.Name)
	if ie, ok := invalid.As(err); ok {
		c.renderPage(w, r, rq, http.StatusBadRequest, "segment", &page{Title: "segments.new", Data: segmentData{Segment: in}, Fields: ie.Fields})
		return
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.fail(w, r, rq, http.StatusNotFound, "error.notfound")
		return
	case errors.Is(err, store.ErrConflict):
		c.renderPage(w, r, rq, http.StatusConflict, "segment", &page{Title: "segments.new", Data: segmentData{Segment: in},
			Fields: []invalid.Field{{Field: "version", Message: rq.L.T("segments.conflict")}}})
		return
	case err != nil:
		c.internal(w, r, rq, err)
		return
	}
	if !c.record(ctx, w, r, rq, rq.entry("segment.save", s.ID, fmt.Sprintf("version=%d", s.Version))) {
		return
	}
	seeOther(w, r, "/console/segments/"+s.ID+"?done=saved")
}

func (c *Console) segmentDelete(w http.ResponseWriter, r *http.Request, rq *request) {
	id := r.PathValue("id")
	err := c.plugins.Segments.Delete(r.Context(), id)
	if !c.loaded(w, r, rq, err) {
		return
	}
	if !c.record(r.Context(), w, r, rq, rq.entry("segment.delete", id, "")) {
		return
	}
	seeOther(w, r, "/console/segments?done=deleted")
}

func (c *Console) listsPage(w http.ResponseWriter, r *http.Request, rq *request) {
	ls, err := c.plugins.Lists.Lists(r.Context())
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	c.render(w, r, rq, http.StatusOK, "lists", "lists.title", ls)
}

type listData struct {
	List    string
	State   string
	Members []ListMember
	Next    string
}

// listsPerPage is the length of a page of a list's members.
const listsPerPage = 100

func (c *Console) listPage(w http.ResponseWriter, r *http.Request, rq *request) {
	state := r.URL.Query().Get("state")
	if state != "pending" {
		state = "confirmed"
	}
	list := r.PathValue("list")
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	ms, next, err := c.plugins.Lists.Members(ctx, list, state, r.URL.Query().Get("cursor"), listsPerPage)
	if errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, rq, http.StatusNotFound, "error.notfound")
		return
	}
	if _, ok := invalid.As(err); ok {
		c.fail(w, r, rq, http.StatusBadRequest, "error.form")
		return
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	d := listData{List: list, State: state, Members: ms}
	if next != "" {
		d.Next = "/console/lists/" + url.PathEscape(list) + "?" + url.Values{"state": {state}, "cursor": {next}}.Encode()
	}
	c.renderPage(w, r, rq, http.StatusOK, "list", &page{Heading: list, Data: d})
}

type suppressionsData struct {
	Query   string
	Entries []SuppressionEntry
	Next    string
}

// suppressionsPerPage is the length of a page of the suppression list.
const suppressionsPerPage = 100

func (c *Console) suppressionsPage(w http.ResponseWriter, r *http.Request, rq *request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	es, next, err := c.plugins.Suppressions.Find(ctx, q, r.URL.Query().Get("cursor"), suppressionsPerPage)
	d := suppressionsData{Query: q, Entries: es}
	if ie, ok := invalid.As(err); ok {
		d.Entries = nil
		c.renderPage(w, r, rq, http.StatusBadRequest, "suppressions", &page{Title: "suppressions.title", Data: d, Fields: ie.Fields})
		return
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	if next != "" {
		d.Next = "/console/suppressions?" + url.Values{"q": {q}, "cursor": {next}}.Encode()
	}
	c.renderPage(w, r, rq, http.StatusOK, "suppressions", &page{Title: "suppressions.title", Data: d})
}

func (c *Console) suppressionLift(w http.ResponseWriter, r *http.Request, rq *request) {
	id, reason := r.PathValue("id"), strings.TrimSpace(r.PostFormValue("reason"))
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	err := c.plugins.Suppressions.Lift(ctx, id, reason, "console:"+rq.User.Name)
	if ie, ok := invalid.As(err); ok {
		c.renderPage(w, r, rq, http.StatusBadRequest, "suppressions", &page{Title: "suppressions.title",
			Data: suppressionsData{Query: r.PostFormValue("q")}, Fields: ie.Fields})
		return
	}
	if !c.loaded(w, r, rq, err) {
		return
	}
	if !c.record(ctx, w, r, rq, rq.entry("suppression.lift", id, reason)) {
		return
	}
	// Back to the search it was lifted from, which now shows what is left.
	seeOther(w, r, "/console/suppressions?"+url.Values{"q": {strings.TrimSpace(r.PostFormValue("q"))}, "done": {"lifted"}}.Encode())
}

func (c *Console) webhooksPage(w http.ResponseWriter, r *http.Request, rq *request) {
	eps, err := c.plugins.Webhooks.List(r.Context())
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	for i := range eps {
		eps[i].Secrets = nil // signing secrets are shown once, at creation, and never here
	}
	c.render(w, r, rq, http.StatusOK, "webhooks", "webhooks.title", eps)
}

type webhookData struct {
	Endpoint   webhooks.Endpoint
	Deliveries []webhooks.Delivery
}

func (c *Console) webhookPage(w http.ResponseWriter, r *http.Request, rq *request) {
	ep, err := c.plugins.Webhooks.Get(r.Context(), r.PathValue("id"))
	if !c.loaded(w, r, rq, err) {
		return
	}
	ep.Secrets = nil
	ds, err := c.plugins.Webhooks.Deliveries(r.Context(), ep.ID, 100)
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	c.renderPage(w, r, rq, http.StatusOK, "webhook", &page{Heading: endpointLabel(ep), Data: webhookData{ep, ds}})
}

func (c *Console) webhookReplay(w http.ResponseWriter, r *http.Request, rq *request) {
	eid, did := r.PathValue("id"), r.PathValue("did")
	_, err := c.plugins.Webhooks.Replay(r.Context(), eid, did)
	if !c.loaded(w, r, rq, err) {
		return
	}
	if !c.record(r.Context(), w, r, rq, rq.entry("webhook.replay", eid+"/"+did, "")) {
		return
	}
	seeOther(w, r, "/console/webhooks/"+eid+"?done=replayed")
}
