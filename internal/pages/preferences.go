package pages

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/token"
)

// Actions a person can take in the preference centre.
const (
	actGrant     = "grant"     // consent given (Grant)
	actWithdraw  = "withdraw"  // consent withdrawn (Withdraw)
	actObject    = "object"    // objection (Object), Art. 21 GDPR
	actSubscribe = "subscribe" // newsletter: starts a double opt-in (DOIRequest + mail)
	actAllAds    = "all_ads"   // object to all advertising at once
)

type prefGroup struct {
	Title string
	Rows  []prefRow
}

type prefRow struct {
	Purpose, Channel string
	ChannelName      string
	Status           string
	Active           bool // consent in force or sign-up pending
	Actions          []prefAction
}

type prefAction struct {
	Action, Label, Text, ID string
}

type prefData struct {
	Groups     []prefGroup
	AllAdsText string
}

// prefState is what the preference centre shows and accepts for one person.
type prefState struct {
	rec    recipient.Recipient
	events []consent.Event
	state  consent.State
	data   prefData
}

// loadPrefs reads the person's profile and ledger and builds the rows.
func (p *Pages) loadPrefs(ctx context.Context, id message.RecipientID, l Locale) (*prefState, error) {
	rec, err := p.store.GetRecipient(ctx, id)
	if err != nil {
		return nil, err
	}
	events, err := p.store.Ledger(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	ps := &prefState{rec: rec, events: events, state: consent.Fold(events, p.now())}
	ps.data = p.buildRows(ps, l)
	return ps, nil
}

func (p *Pages) buildRows(ps *prefState, l Locale) prefData {
	hasPhone := ps.rec.Address(message.SMS) != ""
	hasEmail := ps.rec.Address(message.Email) != ""
	chans := func(cs ...message.Channel) []string {
		var out []string
		for _, c := range cs {
			if (c == message.Email && hasEmail) || (c.Phone() && hasPhone) {
				out = append(out, string(c))
			}
		}
		return out
	}
	var groups []prefGroup
	seen := map[string]bool{}
	add := func(purpose, label string, channels []string) {
		seen[purpose] = true
		if len(channels) == 0 {
			return
		}
		g := prefGroup{Title: label}
		for _, ch := range channels {
			g.Rows = append(g.Rows, p.row(ps, l, purpose, label, ch))
		}
		groups = append(groups, g)
	}

	// Newsletters: the configured lists, then any other list in the ledger.
	var lists []string
	for _, nl := range p.cfg.Lists {
		lists = append(lists, nl.Key)
	}
	for _, k := range ps.state.Keys() {
		if list, ok := strings.CutPrefix(k.Purpose, consent.NewsletterPrefix); ok && !slices.Contains(lists, list) {
			lists = append(lists, list)
		}
	}
	for _, list := range lists {
		add(consent.Newsletter(list), l.T("purpose.newsletter", p.listTitle(list, l)), chans(message.Email))
	}
	add(consent.Advertising, l.T("purpose.advertising"), chans(message.Email, message.SMS, message.WhatsApp, message.RCS))
	add(consent.Survey, l.T("purpose.survey"), chans(message.Email, message.SMS))
	add(consent.UsageData, l.T("purpose.usage_data"), []string{consent.AllChannels})
	// Objections to single message types (e.g. customer_tip), as recorded.
	for _, k := range ps.state.Keys() {
		if seen[k.Purpose] {
			continue
		}
		var channels []string
		for _, k2 := range ps.state.Keys() {
			if k2.Purpose == k.Purpose {
				channels = append(channels, k2.Channel)
			}
		}
		add(k.Purpose, l.T("purpose.type", k.Purpose), channels)
	}
	return prefData{Groups: groups, AllAdsText: l.T("prefs.allads.text", p.cfg.BrandName)}
}

// row shows purpose on ch in plain words and offers the changes that make sense.
func (p *Pages) row(ps *prefState, l Locale, purpose, label, ch string) prefRow {
	var e consent.Entry
	if ch == consent.AllChannels {
		e = ps.state.Entries[consent.Key{Purpose: purpose, Channel: ch}]
	} else {
		e = ps.state.Lookup(purpose, message.Channel(ch))
	}
	chName := l.T("channel." + ch)
	r := prefRow{Purpose: purpose, Channel: ch, ChannelName: chName}
	date := l.Date(e.Since)
	switch e.Status {
	case consent.Granted:
		r.Status, r.Active = l.T("status.granted", date), true
		if e.DOIConfirmed {
			r.Status = l.T("status.granted_doi", date)
		}
	case consent.DOIPending:
		r.Status, r.Active = l.T("status.pending", date), true
	case consent.Withdrawn:
		r.Status = l.T("status.withdrawn", date)
	case consent.Objected:
		r.Status = l.T("status.objected", date)
	default:
		r.Status = l.T("status.none")
		if purpose == consent.Advertising && ch == string(message.Email) && ps.rec.Kind == policy.Customer {
			r.Status = l.T("status.none_li")
		}
	}
	act := func(a, labelKey, text string) {
		r.Actions = append(r.Actions, prefAction{Action: a, Label: l.T(labelKey), Text: text,
			ID: strings.NewReplacer(":", "-", "_", "-").Replace(purpose + "-" + ch + "-" + a)})
	}
	grant := l.T("text.grant", p.cfg.BrandName, chName, label)
	withdraw := l.T("text.withdraw", label, chName)
	object := l.T("text.object", label, chName)
	switch {
	case strings.HasPrefix(purpose, consent.NewsletterPrefix):
		list := strings.TrimPrefix(purpose, consent.NewsletterPrefix)
		if r.Active {
			act(actWithdraw, "action.withdraw", withdraw)
		} else if nl, ok := p.lists[list]; ok {
			act(actSubscribe, "action.subscribe", p.consentText(nl, l))
		}
	case purpose == consent.Advertising:
		if e.Status != consent.Granted {
			act(actGrant, "action.grant", grant)
		}
		if e.Status != consent.Objected {
			act(actObject, "action.object", object)
		}
	case purpose == consent.Survey || purpose == consent.UsageData:
		if r.Active {
			act(actWithdraw, "action.withdraw", withdraw)
		} else {
			act(actGrant, "action.grant", grant)
		}
	default: // a message type: object, or lift the objection by consenting
		if e.Status == consent.Objected {
			act(actGrant, "action.grant", grant)
		} else {
			act(actObject, "action.object", object)
		}
	}
	return r
}

func (p *Pages) getPreferences(w http.ResponseWriter, r *http.Request) {
	t, ok := p.openToken(w, r, token.Preferences)
	if !ok {
		return
	}
	v := p.newView(w, r, "preferences")
	ps, err := p.loadPrefs(r.Context(), message.RecipientID(t.Recipient), v.L)
	if errors.Is(err, store.ErrNotFound) {
		p.fail(w, r, http.StatusNotFound, "error.link")
		return
	}
	if err != nil {
		p.internal(w, r, "preferences: load", err)
		return
	}
	p.showPrefs(w, r, v, ps)
}

func (p *Pages) showPrefs(w http.ResponseWriter, r *http.Request, v *view, ps *prefState) {
	v.Title = v.L.T("prefs.title")
	v.Action = r.URL.Path
	v.CSRF = p.csrfToken(w, r, v.Action)
	switch r.URL.Query().Get("saved") {
	case "1":
		v.Notice = v.L.T("prefs.saved")
	case "doi":
		v.Notice = v.L.T("prefs.saved") + " " + v.L.T("prefs.pending")
	}
	v.Data = ps.data
	p.render(w, r, v)
}

// postPreferences applies one change. Only a change the page offers for the
// current state is accepted, and the text recorded is the one it shows.
func (p *Pages) postPreferences(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.readForm(w, r, true) {
		return
	}
	t, ok := p.openToken(w, r, token.Preferences)
	if !ok {
		return
	}
	id := message.RecipientID(t.Recipient)
	l := negotiate(r, p.cfg.DefaultLocale)
	ps, err := p.loadPrefs(ctx, id, l)
	if errors.Is(err, store.ErrNotFound) {
		p.fail(w, r, http.StatusNotFound, "error.link")
		return
	}
	if err != nil {
		p.internal(w, r, "preferences: load", err)
		return
	}
	now := p.now().UTC()
	base := consent.Event{At: now, Source: consent.WebForm, IP: p.clientIP(r), UserAgent: r.UserAgent(), RecordedBy: recordedBy}
	action, purpose, ch := r.PostFormValue("action"), r.PostFormValue("purpose"), r.PostFormValue("channel")
	saved := "1"

	if action == actAllAds {
		text := ps.data.AllAdsText
		base.Text, base.TextVersion = text, textVersion(text)
		ev := base
		ev.Kind, ev.Purpose, ev.Channel = consent.Object, consent.Advertising, consent.AllChannels
		events := []consent.Event{ev}
		// Newsletters and surveys are advertising too (BGH VI ZR 225/17):
		// withdraw every such consent in force or pending.
		for _, k := range ps.state.Keys() {
			st := ps.state.Entries[k].Status
			if (strings.HasPrefix(k.Purpose, consent.NewsletterPrefix) || k.Purpose == consent.Survey) &&
				(st == consent.Granted || st == consent.DOIPending) {
				ev := base
				ev.Kind, ev.Purpose, ev.Channel = consent.Withdraw, k.Purpose, k.Channel
				events = append(events, ev)
			}
		}
		if _, err := p.store.AppendConsent(ctx, id, events...); err != nil {
			p.internal(w, r, "preferences: record", err)
			return
		}
		p.afterChange(ctx, id, events)
		p.log.InfoContext(ctx, "pages: objection to all advertising", "recipient_id", id)
		http.Redirect(w, r, r.URL.Path+"?lang="+l.Tag+"&saved=1", http.StatusSeeOther)
		return
	}

	var chosen *prefAction
	for _, g := range ps.data.Groups {
		for _, row := range g.Rows {
			if row.Purpose != purpose || row.Channel != ch {
				continue
			}
			for i := range row.Actions {
				if row.Actions[i].Action == action {
					chosen = &row.Actions[i]
				}
			}
		}
	}
	if chosen == nil {
		// Not offered (any more): a stale page, or a forged form.
		v := p.newView(w, r, "preferences")
		v.status = http.StatusConflict
		v.Error = v.L.T("error.action")
		p.showPrefs(w, r, v, ps)
		return
	}
	ev := base
	ev.Purpose, ev.Channel, ev.Text, ev.TextVersion = purpose, ch, chosen.Text, textVersion(chosen.Text)
	switch action {
	case actGrant:
		ev.Kind = consent.Grant
	case actWithdraw:
		ev.Kind = consent.Withdraw
	case actObject:
		ev.Kind = consent.Object
	case actSubscribe:
		// A newsletter needs its double opt-in even here: the confirmation
		// mail proves the address, as on the sign-up page.
		ev.Kind = consent.DOIRequest
		list := strings.TrimPrefix(purpose, consent.NewsletterPrefix)
		if err := p.requestDOI(ctx, id, list, ev, l); err != nil {
			p.internal(w, r, "preferences: sign-up", err)
			return
		}
		http.Redirect(w, r, r.URL.Path+"?lang="+l.Tag+"&saved=doi", http.StatusSeeOther)
		return
	}
	if _, err := p.store.AppendConsent(ctx, id, ev); err != nil {
		p.internal(w, r, "preferences: record", err)
		return
	}
	p.afterChange(ctx, id, []consent.Event{ev})
	p.log.InfoContext(ctx, "pages: preference changed", "recipient_id", id, "purpose", purpose, "channel", ch, "kind", ev.Kind)
	http.Redirect(w, r, r.URL.Path+"?lang="+l.Tag+"&saved="+saved, http.StatusSeeOther)
}

// afterChange drops id from the pending sign-ups once it has an event other
// than a doi_request: it is no longer an unconfirmed sign-up. The pruner
// checks the ledger anyway; this only keeps the set small.
func (p *Pages) afterChange(ctx context.Context, id message.RecipientID, events []consent.Event) {
	for _, e := range events {
		if e.Kind != consent.DOIRequest {
			if err := p.rdb.ZRem(ctx, p.key("pending"), string(id)).Err(); err != nil {
				p.log.WarnContext(ctx, "pages: unmark pending sign-up", "recipient_id", id, "err", fmt.Errorf("zrem: %w", err))
			}
			return
		}
	}
}
