package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/delivery"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// eventsPerPage and messagesPerPage bound what one person page shows; the
// rest is a page further.
const (
	eventsPerPage   = 100
	messagesPerPage = 50
)

func (c *Console) peopleRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /console/people", c.auth(SeePeople, c.peopleSearch))
	m.HandleFunc("GET /console/people/{id}", c.auth(SeePeople, c.personPage))
	m.HandleFunc("GET /console/people/{id}/campaigns", c.auth(SeePeople, c.personCampaigns))
	m.HandleFunc("POST /console/people/{id}/export", c.auth(ExportPeople, c.personExport))
	m.HandleFunc("GET /console/people/{id}/erase", c.auth(ErasePeople, c.erasePage))
	m.HandleFunc("POST /console/people/{id}/erase", c.auth(ErasePeople, c.personErase))
	m.HandleFunc("GET /console/messages/{mid}", c.auth(SeePeople, c.messageWhy))
}

type searchData struct {
	Query    string
	NotFound bool
}

// peopleSearch finds a person by id, e-mail address or phone number (exact,
// through the store's keyed-hash indexes) and goes to their page.
func (c *Console) peopleSearch(w http.ResponseWriter, r *http.Request, rq *request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := searchData{Query: q}
	if q == "" {
		c.render(w, r, rq, http.StatusOK, "people", "people.title", d)
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	var id message.RecipientID
	var err error
	switch {
	case strings.Contains(q, "@"):
		id, err = c.st.RecipientByEmail(ctx, q)
	case strings.HasPrefix(q, "+") || strings.HasPrefix(q, "0"):
		e164, perr := recipient.NormalizeMobile(q, c.region)
		if perr != nil {
			err = store.ErrNotFound
			break
		}
		id, err = c.st.RecipientByPhone(ctx, e164)
	default:
		if id, err = message.ParseRecipientID(q); err == nil {
			_, err = c.st.GetRecipient(ctx, id)
		} else {
			err = store.ErrNotFound
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		d.NotFound = true
		c.render(w, r, rq, http.StatusNotFound, "people", "people.title", d)
		return
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	http.Redirect(w, r, "/console/people/"+url.PathEscape(string(id)), http.StatusSeeOther)
}

// contractState is where a person's contract stands at a moment.
type contractState struct {
	State string // none, active, ended, blocked
	Since time.Time
}

func (c *Console) contractOf(r recipient.Recipient, now time.Time) contractState {
	k := r.Contract
	switch {
	case k == nil || k.StartedAt.IsZero():
		return contractState{State: "none"}
	case k.EndedAt.IsZero() || k.EndedAt.After(now):
		return contractState{State: "active", Since: k.StartedAt}
	}
	if blocked := c.core.Catalog().BlockedFrom(k.EndedAt); !blocked.After(now) {
		return contractState{State: "blocked", Since: blocked}
	}
	return contractState{State: "ended", Since: k.EndedAt}
}

// matrixCell is what the policy answers now for one type on one channel.
type matrixCell struct {
	Channel  message.Channel
	Offered  bool // the type may use the channel at all
	Decision policy.Decision
}

type matrixRow struct {
	Type  policy.TypeSpec
	Cells []matrixCell
}

type personData struct {
	ID        message.RecipientID
	Profile   recipient.Recipient
	Contract  contractState
	State     []store.ConsentEntry
	Events    []consent.Event // this page of the ledger, newest first
	EventsN   int
	EventsAt  int    // offset of this page
	NextEv    string // link to the older events
	Messages  []store.MessageRecord
	MessagesN int
	NextMsg   string
	Channels  []message.Channel
	Matrix    []matrixRow
	Now       time.Time
}

// matrix decides every type of the catalog on every channel now, through
// the delivery core's Decide: the same code an attempt runs, so the matrix
// is what a message sent now would meet.
func (c *Console) matrix(snap recipient.Snapshot, now time.Time) []matrixRow {
	cat := c.core.Catalog()
	var out []matrixRow
	for _, t := range cat.Types() {
		row := matrixRow{Type: t}
		for _, ch := range message.Channels() {
			cell := matrixCell{Channel: ch, Offered: slices.Contains(t.Channels, ch)}
			if cell.Offered {
				ds, _, _ := c.core.Decide(delivery.Spec{Type: t.Key, Class: t.Class, Channels: []message.Channel{ch}}, snap, now)
				cell.Decision = ds[0]
			}
			row.Cells = append(row.Cells, cell)
		}
		out = append(out, row)
	}
	return out
}

func atoiDefault(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func (c *Console) personPage(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	id, err := message.ParseRecipientID(r.PathValue("id"))
	if err != nil {
		c.fail(w, r, rq, http.StatusNotFound, "error.notfound")
		return
	}
	now := c.core.Now()
	// One round trip for profile, ledger and the frequency-cap count, as a
	// delivery reads them.
	snap, err := c.st.LoadFactsSince(ctx, id, c.core.Catalog().FrequencyCountSince(now))
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	if !snap.Found {
		c.fail(w, r, rq, http.StatusNotFound, "error.notfound")
		return
	}
	msgs, err := c.st.RecipientMessages(ctx, id)
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	d := personData{ID: id, Profile: snap.Recipient, Contract: c.contractOf(snap.Recipient, now),
		State: store.StateEntries(consent.Fold(snap.Events, now)), Channels: message.Channels(),
		Matrix: c.matrix(snap, now), Now: now, EventsN: len(snap.Events), MessagesN: len(msgs)}
	// Newest first, a page at a time.
	q := r.URL.Query()
	evAt, msgAt := atoiDefault(q.Get("events")), atoiDefault(q.Get("messages"))
	d.EventsAt = evAt
	d.Events = newestPage(snap.Events, evAt, eventsPerPage)
	if evAt+eventsPerPage < len(snap.Events) {
		d.NextEv = fmt.Sprintf("/console/people/%s?events=%d#ledger", url.PathEscape(string(id)), evAt+eventsPerPage)
	}
	d.Messages = newestPage(msgs, msgAt, messagesPerPage)
	if msgAt+messagesPerPage < len(msgs) {
		d.NextMsg = fmt.Sprintf("/console/people/%s?messages=%d#messages", url.PathEscape(string(id)), msgAt+messagesPerPage)
	}
	c.renderPage(w, r, rq, http.StatusOK, "person", &page{Heading: rq.L.T("person.title", string(id)), Data: d})
}

// newestPage returns n items of s counted from its end, skipping skip,
// newest first.
func newestPage[T any](s []T, skip, n int) []T {
	end := len(s) - skip
	if end <= 0 {
		return nil
	}
	page := slices.Clone(s[max(0, end-n):end])
	slices.Reverse(page)
	return page
}

type personCampaignsData struct {
	ID       message.RecipientID
	Messages []store.CampaignMessage
}

// personCampaigns lists the person's campaign messages. It visits every
// campaign Herold keeps (store.CampaignMessages), so it has a page of its
// own instead of slowing down the person page.
func (c *Console) personCampaigns(w http.ResponseWriter, r *http.Request, rq *request) {
	id, err := message.ParseRecipientID(r.PathValue("id"))
	if err != nil {
		c.fail(w, r, rq, http.StatusNotFound, "error.notfound")
		return
	}
	ms, err := c.st.CampaignMessages(r.Context(), id)
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	c.renderPage(w, r, rq, http.StatusOK, "person_campaigns", &page{Heading: rq.L.T("person.campaigns", string(id)),
		Data: personCampaignsData{ID: id, Messages: ms}})
}

// personExport downloads everything held on the person (privacy.Rights.Export).
func (c *Console) personExport(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	id, err := message.ParseRecipientID(r.PathValue("id"))
	if err != nil {
		c.fail(w, r, rq, http.StatusNotFound, "error.notfound")
		return
	}
	exp, err := c.rights.Export(ctx, id, c.core.Now())
	if !c.loaded(w, r, rq, err) {
		return
	}
	b, err := json.MarshalIndent(exp, "", "  ")
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	if !c.record(ctx, w, r, rq, rq.entry("person.export", string(id), "")) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="herold-export-%s.json"`, id))
	_, _ = w.Write(b)
}

type eraseData struct {
	ID       message.RecipientID
	Mismatch bool
}

func (c *Console) erasePage(w http.ResponseWriter, r *http.Request, rq *request) {
	id, err := message.ParseRecipientID(r.PathValue("id"))
	if err != nil {
		c.fail(w, r, rq, http.StatusNotFound, "error.notfound")
		return
	}
	c.renderPage(w, r, rq, http.StatusOK, "erase", &page{Heading: rq.L.T("erase.title", string(id)), Data: eraseData{ID: id}})
}

// personErase erases the person (privacy.Rights.Erase) once the id has been
// typed into the confirmation field.
func (c *Console) personErase(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	id, err := message.ParseRecipientID(r.PathValue("id"))
	if err != nil {
		c.fail(w, r, rq, http.StatusNotFound, "error.notfound")
		return
	}
	if strings.TrimSpace(r.PostFormValue("confirm")) != string(id) {
		c.renderPage(w, r, rq, http.StatusBadRequest, "erase", &page{Heading: rq.L.T("erase.title", string(id)),
			Data: eraseData{ID: id, Mismatch: true}})
		return
	}
	err = c.rights.Erase(ctx, id)
	if !c.loaded(w, r, rq, err) {
		return
	}
	if !c.record(ctx, w, r, rq, rq.entry("person.erase", string(id), "")) {
		return
	}
	seeOther(w, r, "/console/people?done=erased")
}
