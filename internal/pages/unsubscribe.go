package pages

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/token"
)

// recordedByUnsub marks the events of the unsubscribe endpoint, so that the
// undo finds exactly what it may revert.
const recordedByUnsub = "pages/unsubscribe"

// unsubTarget is what an unsubscribe token stops: the ledger key and kind.
type unsubTarget struct {
	kind    consent.Kind
	purpose string
	channel string
}

// target maps the token's scope to the event the unsubscribe records:
//   - newsletter:<list>: withdraw that list's consent (e-mail);
//   - survey, usage_data: withdraw that consent on the token's channel;
//   - advertising: object (Art. 21 GDPR) on the token's channel, or all;
//   - any other scope is a message type: object to that type.
func target(t token.Token) (unsubTarget, bool) {
	if consent.ValidatePurpose(t.Scope) != nil {
		return unsubTarget{}, false
	}
	ch := t.Channel
	if ch == "" {
		ch = consent.AllChannels
	} else if _, err := message.ParseChannel(ch); err != nil && ch != consent.AllChannels {
		return unsubTarget{}, false
	}
	switch {
	case strings.HasPrefix(t.Scope, consent.NewsletterPrefix):
		return unsubTarget{consent.Withdraw, t.Scope, string(message.Email)}, true
	case t.Scope == consent.Survey || t.Scope == consent.UsageData:
		return unsubTarget{consent.Withdraw, t.Scope, ch}, true
	default:
		return unsubTarget{consent.Object, t.Scope, ch}, true
	}
}

type unsubData struct {
	Ask       string // "By choosing Unsubscribe you declare:"
	Statement string // what the unsubscribe records
	Done      bool
	UndoAsk   string
	UndoText  string
	UndoPath  string
	UndoCSRF  string
	Prefs     string
}

// unsubStatement is what the unsubscribe of tg records: a withdrawal or an
// objection, in words.
func (p *Pages) unsubStatement(l Locale, tg unsubTarget) string {
	if tg.kind == consent.Object {
		return p.statement(l, stmtObject, tg.purpose, tg.channel)
	}
	return p.statement(l, stmtWithdraw, tg.purpose, tg.channel)
}

func (p *Pages) unsubToken(w http.ResponseWriter, r *http.Request) (token.Token, unsubTarget, bool) {
	t, ok := p.openToken(w, r, token.Unsubscribe)
	if !ok {
		return t, unsubTarget{}, false
	}
	tg, ok := target(t)
	if !ok {
		p.fail(w, r, http.StatusNotFound, "error.link")
		return t, tg, false
	}
	return t, tg, true
}

// getUnsubscribe asks; it never changes anything, because mail scanners
// fetch links (RFC 8058 §4: a GET must not unsubscribe).
func (p *Pages) getUnsubscribe(w http.ResponseWriter, r *http.Request) {
	_, tg, ok := p.unsubToken(w, r)
	if !ok {
		return
	}
	v := p.newView(w, r, "unsubscribe")
	v.Title = v.L.T("unsub.title")
	v.Action = r.URL.Path
	v.CSRF = p.csrfToken(w, r, v.Action)
	v.Data = unsubData{Ask: v.L.T("unsub.ask"), Statement: p.unsubStatement(v.L, tg)}
	p.render(w, r, v)
}

// postUnsubscribe is the RFC 8058 one-click endpoint: the body
// "List-Unsubscribe=One-Click" records the withdrawal or objection at once
// and answers 200. The sealed token is the only credential (a mailbox
// provider posts without cookies). Repeating it records nothing new.
func (p *Pages) postUnsubscribe(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.readForm(w, r, false) {
		return
	}
	if r.PostFormValue("List-Unsubscribe") != "One-Click" {
		p.fail(w, r, http.StatusBadRequest, "error.form")
		return
	}
	t, tg, ok := p.unsubToken(w, r)
	if !ok {
		return
	}
	id := message.RecipientID(t.Recipient)
	events, err := p.store.Ledger(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.internal(w, r, "unsubscribe: ledger", err)
		return
	}
	l := negotiate(r, p.cfg.DefaultLocale)
	cur := consent.Fold(events, p.now()).Entries[consent.Key{Purpose: tg.purpose, Channel: tg.channel}]
	want := consent.Withdrawn
	if tg.kind == consent.Object {
		want = consent.Objected
	}
	if cur.Status != want {
		text := p.unsubStatement(l, tg)
		_, err := p.store.AppendConsent(ctx, id, consent.Event{
			Kind: tg.kind, Purpose: tg.purpose, Channel: tg.channel, At: p.now().UTC(), Source: consent.WebForm,
			IP: p.clientIP(r), UserAgent: r.UserAgent(), Text: text, TextVersion: textVersion(text), RecordedBy: recordedByUnsub,
		})
		if errors.Is(err, store.ErrNotFound) {
			// Erased meanwhile: nothing left to contact, which is what was asked.
			p.log.InfoContext(ctx, "pages: unsubscribe for unknown recipient", "recipient_id", id)
		} else if err != nil {
			p.internal(w, r, "unsubscribe: record", err)
			return
		} else {
			p.afterChange(ctx, id, []consent.Event{{Kind: tg.kind}})
			p.log.InfoContext(ctx, "pages: unsubscribed", "recipient_id", id, "purpose", tg.purpose, "channel", tg.channel, "kind", tg.kind)
		}
	}
	v := p.newView(w, r, "unsubscribe")
	v.Title = l.T("unsub.done.title")
	v.Notice = l.T("unsub.done")
	d := unsubData{Done: true, Prefs: p.preferencesURL(id)}
	d.UndoPath = r.URL.Path + "/undo"
	d.UndoCSRF = p.csrfToken(w, r, d.UndoPath)
	d.UndoAsk = l.T("unsub.undo.ask")
	d.UndoText = p.statement(l, stmtUndo, tg.purpose, tg.channel)
	v.Data = d
	p.render(w, r, v)
}

// postUndo reverts the last unsubscribe of this token's scope, but only
// where the person had consent before it: the undo records a new grant (for
// a newsletter confirmed by double opt-in: a doi_request and doi_confirm
// pair, since the link reached the person's mailbox just as a confirmation
// link does). An objection that replaced no consent (e.g. to advertising on
// legitimate interest) stays: undoing it must not fabricate a consent that
// never existed, and there is no event that un-objects. The page then says
// so and points to the preference centre, where consent can be given.
func (p *Pages) postUndo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.readForm(w, r, true) {
		return
	}
	t, tg, ok := p.unsubToken(w, r)
	if !ok {
		return
	}
	id := message.RecipientID(t.Recipient)
	events, err := p.store.Ledger(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		p.fail(w, r, http.StatusNotFound, "error.link")
		return
	}
	if err != nil {
		p.internal(w, r, "undo: ledger", err)
		return
	}
	l := negotiate(r, p.cfg.DefaultLocale)
	v := p.newView(w, r, "message")
	v.Title = l.T("unsub.title")
	d := unsubData{Prefs: p.preferencesURL(id)}
	v.Data = d

	key := consent.Key{Purpose: tg.purpose, Channel: tg.channel}
	now := p.now()
	cur := consent.Fold(events, now).Entries[key]
	idx := slices.IndexFunc(events, func(e consent.Event) bool { return e.ID != "" && e.ID == cur.EventID })
	if (cur.Status != consent.Withdrawn && cur.Status != consent.Objected) || idx < 0 || events[idx].RecordedBy != recordedByUnsub {
		v.Notice = l.T("unsub.undo.none")
		p.render(w, r, v)
		return
	}
	before := consent.Fold(events[:idx], events[idx].At).Entries[key]
	if before.Status != consent.Granted {
		v.Notice = l.T("unsub.undo.none")
		p.render(w, r, v)
		return
	}
	text := p.statement(l, stmtUndo, tg.purpose, tg.channel)
	ev := consent.Event{
		Kind: consent.Grant, Purpose: tg.purpose, Channel: tg.channel, At: now.UTC(), Source: consent.WebForm,
		IP: p.clientIP(r), UserAgent: r.UserAgent(), Text: text, TextVersion: textVersion(text), RecordedBy: recordedByUnsub,
	}
	add := []consent.Event{ev}
	if before.DOIConfirmed {
		req, conf := ev, ev
		req.Kind, conf.Kind = consent.DOIRequest, consent.DOIConfirm
		add = []consent.Event{req, conf}
	}
	if _, err := p.store.AppendConsent(ctx, id, add...); err != nil {
		p.internal(w, r, "undo: record", err)
		return
	}
	p.log.InfoContext(ctx, "pages: unsubscribe undone", "recipient_id", id, "purpose", tg.purpose, "channel", tg.channel)
	v.Notice = l.T("unsub.undo.done")
	p.render(w, r, v)
}
