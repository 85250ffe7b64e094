package pages

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

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

// The preference centre is a matrix: one row per purpose, one column per
// channel the person can be reached on, one control per cell. A cell opens
// to show its status and each change it offers, with the full text that
// will be recorded next to the button.

type prefColumn struct{ Channel, Name string }

type prefRow struct {
	Purpose, Label string
	Cells          []prefCell
}

type prefCell struct {
	Purpose, Channel string
	Span             int  // columns the cell spans ("all" channels)
	Offered          bool // the purpose exists on this channel
	Active           bool // consent in force or sign-up pending
	State            string
	Symbol           string
	Status           string // the status in words, with its time
	Label            string // what a screen reader says of the cell
	Title            string // purpose and channel, heading the opened cell
	ID               string
	Actions          []prefAction
}

type prefAction struct {
	Action, Label, Text, ID string
	Secondary               bool
}

type prefData struct {
	Columns    []prefColumn
	Rows       []prefRow
	AllAdsText string
}

// prefState is what the preference centre shows and accepts for one person.
type prefState struct {
	rec    recipient.Recipient
	events []consent.Event
	state  consent.State
	data   prefData
}

// loadPrefs reads the person's profile and ledger and builds the matrix.
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
	ps.data = p.buildMatrix(ps, l)
	return ps, nil
}

// zoneOf is the time zone the person's times are shown in: their own, else
// the brand's.
func (p *Pages) zoneOf(rec recipient.Recipient) *time.Location {
	if rec.TimeZone != "" {
		if loc, err := time.LoadLocation(rec.TimeZone); err == nil {
			return loc
		}
	}
	return p.zone
}

func (p *Pages) buildMatrix(ps *prefState, l Locale) prefData {
	var cols []prefColumn
	if ps.rec.Address(message.Email) != "" {
		cols = append(cols, prefColumn{string(message.Email), l.T("channel.email")})
	}
	if ps.rec.Address(message.SMS) != "" {
		for _, ch := range []message.Channel{message.SMS, message.WhatsApp, message.RCS} {
			cols = append(cols, prefColumn{string(ch), l.T("channel." + string(ch))})
		}
	}
	d := prefData{Columns: cols, AllAdsText: p.allAdsStatement(l)}
	if len(cols) == 0 {
		return d
	}
	seen := map[string]bool{}
	// add puts a row for purpose with a cell per column; offered says which
	// channels the purpose has ("all": one cell across every column).
	add := func(purpose, label string, offered ...string) {
		seen[purpose] = true
		row := prefRow{Purpose: purpose, Label: label}
		if len(offered) == 1 && offered[0] == consent.AllChannels {
			row.Cells = []prefCell{p.cell(ps, l, purpose, label, consent.AllChannels, len(cols))}
		} else {
			reachable := false
			for _, c := range cols {
				if slices.Contains(offered, c.Channel) {
					row.Cells = append(row.Cells, p.cell(ps, l, purpose, label, c.Channel, 1))
					reachable = true
				} else {
					row.Cells = append(row.Cells, prefCell{Purpose: purpose, Channel: c.Channel, Span: 1})
				}
			}
			if !reachable {
				return
			}
		}
		d.Rows = append(d.Rows, row)
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
		add(consent.Newsletter(list), l.T("purpose.newsletter", p.listTitle(list, l)), string(message.Email))
	}
	add(consent.Advertising, l.T("purpose.advertising"), string(message.Email), string(message.SMS), string(message.WhatsApp), string(message.RCS))
	add(consent.Survey, l.T("purpose.survey"), string(message.Email), string(message.SMS))
	add(consent.UsageData, l.T("purpose.usage_data"), consent.AllChannels)
	// Objections to single message types (e.g. customer_tip), as recorded:
	// one row for those on single channels, one for those on all channels.
	for _, k := range ps.state.Keys() {
		if seen[k.Purpose] {
			continue
		}
		seen[k.Purpose] = true
		label := l.T("purpose.type", p.typeTitle(message.Type(k.Purpose), l))
		var chans []string
		hasAll := false
		for _, k2 := range ps.state.Keys() {
			switch {
			case k2.Purpose != k.Purpose:
			case k2.Channel == consent.AllChannels:
				hasAll = true
			default:
				chans = append(chans, k2.Channel)
			}
		}
		if hasAll {
			add(k.Purpose, label, consent.AllChannels)
		}
		if len(chans) > 0 {
			add(k.Purpose, label, chans...)
		}
	}
	return d
}

// cell shows purpose on ch and offers the changes that make sense.
func (p *Pages) cell(ps *prefState, l Locale, purpose, label, ch string, span int) prefCell {
	var e consent.Entry
	if ch == consent.AllChannels {
		e = ps.state.Entries[consent.Key{Purpose: purpose, Channel: ch}]
	} else {
		e = ps.state.Lookup(purpose, message.Channel(ch))
	}
	c := prefCell{Purpose: purpose, Channel: ch, Span: span, Offered: true, State: "off", Symbol: "–",
		ID: strings.NewReplacer(":", "-", "_", "-").Replace(purpose + "-" + ch)}
	date := l.Date(e.Since, p.zoneOf(ps.rec))
	isType := !strings.HasPrefix(purpose, consent.NewsletterPrefix) && purpose != consent.Advertising &&
		purpose != consent.Survey && purpose != consent.UsageData
	switch e.Status {
	case consent.Granted:
		c.Status, c.Active, c.State, c.Symbol = l.T("status.granted", date), true, "on", "✓"
		if e.DOIConfirmed {
			c.Status = l.T("status.granted_doi", date)
		}
		if isType {
			c.Status = l.T("status.allowed")
		}
	case consent.DOIPending:
		c.Status, c.Active, c.State, c.Symbol = l.T("status.pending", date), true, "pending", "…"
	case consent.Withdrawn:
		c.Status = l.T("status.withdrawn", date)
	case consent.Objected:
		c.Status, c.State, c.Symbol = l.T("status.objected", date), "objected", "✕"
	default:
		c.Status = l.T("status.none")
		if purpose == consent.Advertising && ch == string(message.Email) && ps.rec.Kind == policy.Customer {
			// §7(3) UWG: a customer gets offers by e-mail until objecting.
			c.Status, c.State, c.Symbol = l.T("status.none_li"), "on", "✓"
		}
	}
	chName := l.T("channel." + ch)
	c.Label = l.T("prefs.cell", label, chName, c.Status)
	c.Title = label + " · " + chName
	act := func(a, labelKey string, kind statementKind) {
		text := p.statement(l, kind, purpose, ch)
		c.Actions = append(c.Actions, prefAction{Action: a, Label: l.T(labelKey), Text: text,
			ID: c.ID + "-" + a, Secondary: a == actWithdraw || a == actObject})
	}
	switch {
	case strings.HasPrefix(purpose, consent.NewsletterPrefix):
		list := strings.TrimPrefix(purpose, consent.NewsletterPrefix)
		if c.Active {
			act(actWithdraw, "action.withdraw", stmtWithdraw)
		} else if _, ok := p.lists[list]; ok {
			act(actSubscribe, "action.subscribe", stmtGrant)
		}
	case purpose == consent.Advertising:
		if e.Status != consent.Granted {
			act(actGrant, "action.grant", stmtGrant)
		}
		if e.Status != consent.Objected {
			act(actObject, "action.object", stmtObject)
		}
	case purpose == consent.Survey || purpose == consent.UsageData:
		if c.Active {
			act(actWithdraw, "action.withdraw", stmtWithdraw)
		} else {
			act(actGrant, "action.grant", stmtGrant)
		}
	default: // a message type: object, or lift the objection
		if e.Status == consent.Objected {
			act(actGrant, "action.lift", stmtGrant)
		} else {
			act(actObject, "action.object", stmtObject)
		}
	}
	return c
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
	for _, row := range ps.data.Rows {
		for _, c := range row.Cells {
			if c.Purpose != purpose || c.Channel != ch {
				continue
			}
			for i := range c.Actions {
				if c.Actions[i].Action == action {
					chosen = &c.Actions[i]
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
