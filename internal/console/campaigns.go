package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/api"
	"github.com/heroldhq/herold/internal/campaign"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/store"
)

// campaignsPerPage is the length of a page of the campaign list;
// outcomesPerPage of a page of a campaign's recipients.
const (
	campaignsPerPage = 25
	outcomesPerPage  = 50
)

// liveFor bounds one live-progress stream; the browser's EventSource
// reconnects by itself, so a stream never outlives a server shutdown by more.
const liveFor = 25 * time.Second

func (c *Console) campaignRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /console/campaigns", c.auth(SeeCampaigns, c.campaignList))
	m.HandleFunc("GET /console/campaigns/new", c.auth(ChangeCampaigns, c.campaignNew))
	m.HandleFunc("POST /console/campaigns", c.authStream(ChangeCampaigns, c.campaignCreate))
	m.HandleFunc("GET /console/campaigns/{id}", c.auth(SeeCampaigns, c.campaignPage))
	m.HandleFunc("GET /console/campaigns/{id}/live", c.auth(SeeCampaigns, c.campaignLive))
	m.HandleFunc("GET /console/campaigns/{id}/recipients", c.auth(SeeCampaigns, c.campaignOutcomes))
	m.HandleFunc("GET /console/campaigns/{id}/recipients/{rid}", c.auth(SeePeople, c.campaignWhy))
	for _, op := range []string{"start", "pause", "resume", "cancel", "dryrun"} {
		m.HandleFunc("POST /console/campaigns/{id}/"+op, c.auth(ChangeCampaigns, func(w http.ResponseWriter, r *http.Request, rq *request) {
			c.campaignSteer(w, r, rq, op)
		}))
	}
}

// ---- list

type campaignRow struct {
	store.CampaignStatus
	Progress float64
}

type campaignListData struct {
	Rows []campaignRow
	Next string
}

func progressOf(st store.CampaignStatus) float64 {
	if a := st.Counters.Audience; a > 0 {
		return float64(a-st.Counters.Queued-st.Counters.Canceled) / float64(a)
	}
	return 0
}

// campaignList shows the newest campaigns first, a page at a time: only
// the page's campaigns are read (one round trip each).
func (c *Console) campaignList(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	ids, err := c.st.CampaignIDs(ctx)
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	slices.Reverse(ids)
	skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
	skip = min(max(skip, 0), len(ids))
	var d campaignListData
	for _, id := range ids[skip:] {
		if len(d.Rows) == campaignsPerPage {
			d.Next = "/console/campaigns?skip=" + strconv.Itoa(skip+campaignsPerPage)
			break
		}
		st, err := c.camps.Status(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // expired since the index was read
		}
		if err != nil {
			c.internal(w, r, rq, err)
			return
		}
		d.Rows = append(d.Rows, campaignRow{st, progressOf(st)})
	}
	c.render(w, r, rq, http.StatusOK, "campaigns", "campaigns.title", d)
}

// ---- create

// campaignForm is the create form's values and choices.
type campaignForm struct {
	Values   url.Values
	Types    []policy.TypeSpec
	Channels []message.Channel
	Locales  []string
	Segments []Segment
	Drafts   bool
}

// Value returns the form's value of name.
func (f campaignForm) Value(name string) string { return f.Values.Get(name) }

// Checked reports whether value v of name is chosen.
func (f campaignForm) Checked(name, v string) bool { return slices.Contains(f.Values[name], v) }

func (c *Console) newForm(r *http.Request, values url.Values) (campaignForm, error) {
	f := campaignForm{Values: values, Types: c.core.Catalog().Types(), Channels: message.Channels(),
		Locales: c.form.Locales, Drafts: c.plugins.Drafts != nil}
	if c.plugins.Segments != nil && c.plugins.Drafts != nil {
		var err error
		if f.Segments, err = c.plugins.Segments.List(r.Context()); err != nil {
			return f, err
		}
	}
	if f.Values == nil {
		f.Values = url.Values{"when": {"now"}}
	}
	return f, nil
}

func (c *Console) campaignNew(w http.ResponseWriter, r *http.Request, rq *request) {
	var values url.Values
	if seg := r.URL.Query().Get("segment"); seg != "" && c.plugins.Drafts != nil {
		values = url.Values{"when": {"draft"}, "segment": {seg}} // from the segment's page
	}
	f, err := c.newForm(r, values)
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	c.render(w, r, rq, http.StatusOK, "campaign_new", "campaigns.new", f)
}

// maxFormText bounds the text fields of the create form together (10,000
// ids inline take about 250 kB).
const maxFormText = 1 << 20

// readStreamForm reads a multipart form whose first part is the CSRF token
// and whose last part may be the file named fileField: it returns the text
// values and, if a file was chosen, the open file part (the rest of the
// body, read as a stream). A bad token is errCSRF.
func readStreamForm(r *http.Request, s *session, fileField string) (url.Values, *multipart.Part, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, err
	}
	first, err := mr.NextPart()
	if err != nil || first.FormName() != "csrf" {
		return nil, nil, errCSRF
	}
	tok, err := io.ReadAll(io.LimitReader(first, 128))
	if err != nil || !constantEqual(string(tok), s.CSRF) {
		return nil, nil, errCSRF
	}
	vals := url.Values{}
	left := int64(maxFormText)
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return vals, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if p.FormName() == fileField {
			if p.FileName() == "" {
				continue // no file chosen: an empty part
			}
			return vals, p, nil
		}
		b, err := io.ReadAll(io.LimitReader(p, left+1))
		if err != nil {
			return nil, nil, err
		}
		if left -= int64(len(b)); left < 0 {
			return nil, nil, errors.New("form too large")
		}
		vals.Add(p.FormName(), string(b))
	}
}

var errCSRF = errors.New("bad CSRF token")

// requestOf turns the form into the API's create request, so that
// api.Campaigns.Validate checks it with the API's rules and words; the form
// fields carry the request's JSON names.
func requestOf(v url.Values) (api.CampaignRequest, invalid.List) {
	var bad invalid.List
	req := api.CampaignRequest{Name: v.Get("name"), Type: v.Get("type"), Channels: v["channels"], Locale: v.Get("locale")}
	if s := strings.TrimSpace(v.Get("data")); s != "" {
		if err := json.Unmarshal([]byte(s), &req.Data); err != nil {
			bad.Add("data", "not a JSON object of data categories, e.g. {\"offer\": {\"headline\": \"…\"}}: %v", err)
		}
	}
	switch v.Get("when") {
	case "later":
		if req.SendAt = strings.TrimSpace(v.Get("send_at")); req.SendAt == "" {
			bad.Add("send_at", "required when the campaign starts later")
		}
	case "now", "draft":
	default:
		bad.Add("when", "choose now, later or draft")
	}
	if s := strings.TrimSpace(v.Get("throttle_per_minute")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			bad.Add("throttle_per_minute", "not a whole number: %q", s)
		}
		req.Throttle = &n
	}
	if qs, qe := strings.TrimSpace(v.Get("quiet_start")), strings.TrimSpace(v.Get("quiet_end")); qs != "" || qe != "" {
		req.QuietHours = &api.QuietHours{Start: qs, End: qe}
	}
	req.Audience = strings.FieldsFunc(v.Get("audience"), func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
	})
	return req, bad
}

func (c *Console) campaignCreate(w http.ResponseWriter, r *http.Request, rq *request) {
	r.Body = http.MaxBytesReader(w, r.Body, c.form.Config.MaxUpload+maxFormText)
	values, file, err := readStreamForm(r, rq.Session, "audience_file")
	if errors.Is(err, errCSRF) {
		c.fail(w, r, rq, http.StatusForbidden, "error.csrf")
		return
	}
	if err != nil {
		c.fail(w, r, rq, http.StatusBadRequest, "error.form")
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	req, bad := requestOf(values)
	segment := values.Get("segment")
	draft := values.Get("when") == "draft"
	switch {
	case (draft || segment != "") && c.plugins.Drafts == nil:
		bad.Add("when", "drafts and segments are not available in this installation")
	case segment != "" && !draft:
		bad.Add("segment", "a campaign from a segment starts as a draft")
	case segment == "" && len(req.Audience) == 0 && file == nil:
		bad.Add("audience", "give recipient ids, an audience file or a segment")
	}
	camp, audience, verr := c.form.Validate(req, c.now().UTC())
	if ie, ok := invalid.As(verr); ok {
		bad.Merge(ie)
	} else if verr != nil {
		c.internal(w, r, rq, verr)
		return
	}
	if len(bad) > 0 {
		f, err := c.newForm(r, values)
		if err != nil {
			c.internal(w, r, rq, err)
			return
		}
		c.renderPage(w, r, rq, http.StatusBadRequest, "campaign_new", &page{Title: "campaigns.new", Data: f, Fields: bad})
		return
	}
	if camp.ID, err = campaign.NewID(); err != nil {
		c.internal(w, r, rq, err)
		return
	}
	camp.CreatedBy = "console:" + rq.User.Name
	if draft {
		err = c.plugins.Drafts.CreateWith(ctx, camp, audience, campaign.CreateOptions{Draft: true, Segment: segment})
		if ie, ok := invalid.As(err); ok {
			// The segment was deleted since the form was drawn.
			f, ferr := c.newForm(r, values)
			if ferr != nil {
				c.internal(w, r, rq, ferr)
				return
			}
			c.renderPage(w, r, rq, http.StatusBadRequest, "campaign_new", &page{Title: "campaigns.new", Data: f, Fields: ie.Fields})
			return
		}
	} else {
		err = c.camps.Create(ctx, camp, audience)
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	detail := fmt.Sprintf("type=%s channels=%s audience=%d", camp.Type, join(camp.Channels), len(audience))
	if segment != "" {
		detail += " segment=" + segment
	}
	if !c.record(ctx, w, r, rq, rq.entry("campaign.create", camp.ID, detail)) {
		return
	}
	if file != nil {
		format := campaign.NDJSON
		if strings.HasSuffix(strings.ToLower(file.FileName()), ".csv") {
			format = campaign.CSV
		}
		rep, err := c.camps.Upload(r.Context(), camp.ID, file, format)
		if err != nil && !errors.Is(err, campaign.ErrNothingValid) {
			c.internal(w, r, rq, err)
			return
		}
		if !c.record(ctx, w, r, rq, rq.entry("campaign.upload", camp.ID, fmt.Sprintf("accepted=%d rejected=%d", rep.Accepted, rep.Rejected))) {
			return
		}
		if rep.Rejected > 0 {
			c.renderPage(w, r, rq, http.StatusOK, "upload", &page{Title: "upload.title", Data: uploadData{ID: camp.ID, Report: rep}})
			return
		}
	}
	seeOther(w, r, "/console/campaigns/"+camp.ID+"?done=created")
}

type uploadData struct {
	ID     string
	Report campaign.UploadReport
}

func join(chs []message.Channel) string {
	s := make([]string, len(chs))
	for i, ch := range chs {
		s[i] = string(ch)
	}
	return strings.Join(s, ",")
}

// ---- one campaign

type countRow struct {
	Key   string
	Count int64
}

type campaignData struct {
	store.CampaignStatus
	Progress   float64
	Suppressed []countRow
	Failed     []countRow
	Actions    []string // what may be done in this state
	Rate       template.HTML
	DryRun     *dryRunData
	Segment    string // the segment the audience comes from, if any
}

// dryRunData is a dry run's report with its total, which adds up to the
// audience: allowed, delayed and suppressed per channel, plus duplicates.
type dryRunData struct {
	campaign.DryRunReport
	Total int64
}

func dryRunOf(rep campaign.DryRunReport) *dryRunData {
	d := &dryRunData{DryRunReport: rep, Total: rep.Duplicates}
	for _, row := range rep.Rows {
		d.Total += row.Count
	}
	return d
}

func rows(m map[string]int64) []countRow {
	out := make([]countRow, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, countRow{k, m[k]})
	}
	slices.SortStableFunc(out, func(a, b countRow) int { return int(b.Count - a.Count) })
	return out
}

// actions lists the steering actions a campaign's state allows.
func (c *Console) actions(st store.CampaignState) []string {
	switch st {
	case store.CampaignScheduled:
		if c.plugins.Drafts != nil {
			return []string{"dryrun", "start", "pause", "cancel"}
		}
		return []string{"start", "pause", "cancel"}
	case store.CampaignRunning:
		return []string{"pause", "cancel"}
	case store.CampaignPaused:
		return []string{"resume", "cancel"}
	case store.CampaignDone, store.CampaignCanceled:
		return nil
	case store.CampaignDraft:
		if c.plugins.Drafts == nil {
			return []string{"cancel"}
		}
		return []string{"dryrun", "start", "cancel"}
	}
	return []string{"cancel"} // a state this console does not know: ending it is always safe
}

func (c *Console) loadCampaign(w http.ResponseWriter, r *http.Request, rq *request) (store.CampaignStatus, bool) {
	st, err := c.camps.Status(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, rq, http.StatusNotFound, "error.notfound")
		return st, false
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return st, false
	}
	return st, true
}

func (c *Console) campaignData(r *http.Request, rq *request, st store.CampaignStatus) (campaignData, error) {
	d := campaignData{CampaignStatus: st, Progress: progressOf(st), Suppressed: rows(st.Counters.Suppressed),
		Failed: rows(st.Counters.Failed), Actions: c.actions(st.State)}
	if src, err := c.camps.Source(r.Context(), st.ID); err == nil {
		d.Segment = src.Segment
	} else if !errors.Is(err, store.ErrNotFound) {
		return d, err
	}
	if c.plugins.Stats != nil && !st.StartedAt.IsZero() {
		s, err := c.plugins.Stats.CampaignRate(r.Context(), st.ID, st.StartedAt)
		if err != nil {
			return d, err
		}
		if len(s.Values) > 0 {
			xs := make([]string, len(s.Values))
			for i := range xs {
				xs[i] = s.Start.Add(time.Duration(i) * s.Step).In(c.zone()).Format("15:04")
			}
			label := rq.L.T("campaign.perminute")
			d.Rate = columnChart("chart-rate", label, xs, []series{{Name: rq.L.T("campaign.delivered"), Values: s.Values}})
		}
	}
	return d, nil
}

func (c *Console) campaignPage(w http.ResponseWriter, r *http.Request, rq *request) {
	st, ok := c.loadCampaign(w, r, rq)
	if !ok {
		return
	}
	d, err := c.campaignData(r, rq, st)
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	if c.plugins.Drafts != nil {
		// The last dry run, also the page a dry run redirects to, so a
		// reload shows it again instead of deciding everybody once more.
		// One that cannot be read is left out, never a reason the page fails.
		switch rep, err := c.plugins.Drafts.LastDryRun(r.Context(), st.ID); {
		case err == nil:
			d.DryRun = dryRunOf(rep)
		case !errors.Is(err, store.ErrNotFound):
			c.log.WarnContext(r.Context(), "last dry run not shown", "campaign_id", st.ID, "err", err)
		}
	}
	c.renderPage(w, r, rq, http.StatusOK, "campaign", &page{Heading: st.Name, Data: d})
}

// campaignSteer starts, pauses, resumes, cancels or dry-runs a campaign.
func (c *Console) campaignSteer(w http.ResponseWriter, r *http.Request, rq *request, op string) {
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	st, ok := c.loadCampaign(w, r, rq)
	if !ok {
		return
	}
	if !slices.Contains(c.actions(st.State), op) {
		c.fail(w, r, rq, http.StatusConflict, "error.state")
		return
	}
	id := st.ID
	var err error
	switch op {
	case "start":
		if st.State == store.CampaignDraft {
			err = c.plugins.Drafts.Start(ctx, id) // evaluates its segment now
		} else {
			err = c.camps.StartNow(ctx, id)
		}
	case "pause":
		_, err = c.camps.Pause(ctx, id)
	case "resume":
		_, err = c.camps.Resume(ctx, id)
	case "cancel":
		err = c.camps.Cancel(ctx, id)
	case "dryrun":
		// Deciding everybody now sends nothing, but it reads the audience's
		// personal data and keeps the report (GET /v1/campaigns/{id}/dry-run):
		// recorded like a change.
		dr, err := c.plugins.Drafts.DryRun(ctx, id)
		if errors.Is(err, campaign.ErrState) {
			c.fail(w, r, rq, http.StatusConflict, "error.state")
			return
		}
		if err != nil {
			c.internal(w, r, rq, err)
			return
		}
		if !c.record(ctx, w, r, rq, rq.entry("campaign.dryrun", id, fmt.Sprintf("audience=%d allowed=%d", dr.Audience, dr.Allowed))) {
			return
		}
		// The campaign page shows the stored report (post, redirect, get).
		seeOther(w, r, "/console/campaigns/"+id+"?done=dryrun")
		return
	}
	if errors.Is(err, campaign.ErrState) {
		c.fail(w, r, rq, http.StatusConflict, "error.state")
		return
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	if !c.record(ctx, w, r, rq, rq.entry("campaign."+op, id, "")) {
		return
	}
	done := map[string]string{"start": "started", "pause": "paused", "resume": "resumed", "cancel": "canceled"}[op]
	seeOther(w, r, "/console/campaigns/"+id+"?done="+done)
}

// liveEvent is one live-progress update.
type liveEvent struct {
	State      store.CampaignState `json:"state"`
	StateText  string              `json:"state_text"`
	Audience   int64               `json:"audience"`
	Delivered  int64               `json:"delivered"`
	Suppressed int64               `json:"suppressed"`
	Failed     int64               `json:"failed"`
	Queued     int64               `json:"queued"`
	Waiting    int64               `json:"waiting"`
	Canceled   int64               `json:"canceled"`
	Duplicates int64               `json:"duplicates"`
	Progress   float64             `json:"progress"` // 0..1
	At         time.Time           `json:"at"`
}

func sum(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// campaignLive streams the campaign's counters once a second as
// Server-Sent Events until it is done or canceled (or liveFor has passed;
// the browser then reconnects).
func (c *Console) campaignLive(w http.ResponseWriter, r *http.Request, rq *request) {
	st, ok := c.loadCampaign(w, r, rq)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	end := time.After(liveFor)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		ev := liveEvent{State: st.State, StateText: rq.L.T("state." + string(st.State)), Audience: st.Counters.Audience,
			Delivered: st.Counters.Delivered, Suppressed: sum(st.Counters.Suppressed), Failed: sum(st.Counters.Failed),
			Queued: st.Counters.Queued, Waiting: st.Counters.Waiting, Canceled: st.Counters.Canceled,
			Duplicates: st.Counters.Duplicates, Progress: progressOf(st), At: c.now().UTC()}
		b, _ := json.Marshal(ev) // plain values: never fails
		if _, err := fmt.Fprintf(w, "retry: 2000\nevent: progress\ndata: %s\n\n", b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if st.State.Final() {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-end:
			return
		case <-tick.C:
		}
		var err error
		if st, err = c.camps.Status(r.Context(), st.ID); err != nil {
			return
		}
	}
}

// ---- per-recipient outcomes

type outcomesData struct {
	Campaign store.CampaignStatus
	Rows     []campaign.RecipientOutcome
	Next     string
}

func (c *Console) campaignOutcomes(w http.ResponseWriter, r *http.Request, rq *request) {
	st, ok := c.loadCampaign(w, r, rq)
	if !ok {
		return
	}
	list, next, err := c.camps.Outcomes(r.Context(), st.ID, r.URL.Query().Get("cursor"), outcomesPerPage)
	if errors.Is(err, campaign.ErrBadCursor) {
		c.fail(w, r, rq, http.StatusBadRequest, "error.form")
		return
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	d := outcomesData{Campaign: st, Rows: list}
	if next != "" {
		d.Next = "/console/campaigns/" + st.ID + "/recipients?cursor=" + url.QueryEscape(next)
	}
	c.renderPage(w, r, rq, http.StatusOK, "outcomes", &page{Heading: st.Name, Data: d})
}
