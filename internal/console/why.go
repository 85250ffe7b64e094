package console

import (
	"errors"
	"net/http"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/store"
)

// whyData answers "why did this person get (or not get) this message?":
// the decision that settled it with rule, basis, reason, catalog version and
// the data categories allowed, and the consent ledger as it stood when it
// was decided.
type whyData struct {
	MessageID    string
	RecipientID  message.RecipientID
	CampaignID   string
	CampaignName string
	Type         message.Type
	Spec         *policy.TypeSpec
	Status       string
	Decision     *policy.Decision
	Considered   []policy.Decision // every channel considered, in order (single messages)
	Events       []consent.Event   // the ledger up to the decision, oldest first
	Later        int               // events recorded after the decision
	State        []store.ConsentEntry
	Gone         bool // the person is no longer held (erased)
}

// ledgerAt fills in the ledger as it stood at the decision.
func (c *Console) ledgerAt(r *http.Request, d *whyData) error {
	if d.Decision == nil {
		return nil
	}
	events, err := c.st.Ledger(r.Context(), d.RecipientID)
	if errors.Is(err, store.ErrNotFound) {
		d.Gone = true
		return nil
	}
	if err != nil {
		return err
	}
	at := d.Decision.DecidedAt
	for _, e := range events {
		if e.At.After(at) {
			d.Later++
			continue
		}
		d.Events = append(d.Events, e)
	}
	d.State = store.ConsentsOf(d.RecipientID, events, at).State
	return nil
}

func (c *Console) spec(t message.Type) *policy.TypeSpec {
	if s, ok := c.core.Catalog().Type(t); ok {
		return &s
	}
	return nil
}

// messageWhy is "Why?" for a single message: its record keeps every
// decision with its evidence.
func (c *Console) messageWhy(w http.ResponseWriter, r *http.Request, rq *request) {
	rec, err := c.st.GetMessage(r.Context(), r.PathValue("mid"))
	if !c.loaded(w, r, rq, err) {
		return
	}
	d := whyData{MessageID: rec.ID, RecipientID: rec.RecipientID, CampaignID: rec.CampaignID, Type: rec.Type,
		Spec: c.spec(rec.Type), Status: string(rec.Status), Decision: rec.Decision, Considered: rec.Decisions}
	if err := c.ledgerAt(r, &d); err != nil {
		c.internal(w, r, rq, err)
		return
	}
	c.renderPage(w, r, rq, http.StatusOK, "why", &page{Heading: rq.L.T("why.title", rec.ID), Data: d})
}

// campaignWhy is "Why?" for a campaign recipient: the compact outcome with
// the decision rebuilt and its evidence replayed by the campaign engine
// (campaign.Engine.Outcome) against the ledger at the decision time.
func (c *Console) campaignWhy(w http.ResponseWriter, r *http.Request, rq *request) {
	st, ok := c.loadCampaign(w, r, rq)
	if !ok {
		return
	}
	rid, err := message.ParseRecipientID(r.PathValue("rid"))
	if err != nil {
		c.fail(w, r, rq, http.StatusNotFound, "error.notfound")
		return
	}
	o, err := c.camps.Outcome(r.Context(), st.ID, rid)
	if errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, rq, http.StatusNotFound, "error.notyet")
		return
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	d := whyData{MessageID: o.MessageID, RecipientID: rid, CampaignID: st.ID, CampaignName: st.Name, Type: st.Type,
		Spec: c.spec(st.Type), Status: o.Status, Decision: o.Decision}
	if err := c.ledgerAt(r, &d); err != nil {
		c.internal(w, r, rq, err)
		return
	}
	c.renderPage(w, r, rq, http.StatusOK, "why", &page{Heading: rq.L.T("why.title", o.MessageID), Data: d})
}
