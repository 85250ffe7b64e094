package pages

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/token"
)

// DOIType is the message type of the confirmation mail (catalog:
// transactional, allowed while a doi_pending newsletter entry exists).
const DOIType message.Type = "doi_confirmation"

// recordedBy marks ledger events written by these pages.
const recordedBy = "pages"

// maxNameLen bounds the optional name on the sign-up form.
const maxNameLen = 100

type subscribeData struct {
	List        string
	Consent     string
	TextVersion string
	Email       string
	Name        string
	EmailError  string
	NameError   string
	AgreeError  string
	Done        string
	Privacy     string
}

func (p *Pages) getSubscribe(w http.ResponseWriter, r *http.Request) {
	nl, ok := p.lists[r.PathValue("list")]
	if !ok {
		p.fail(w, r, http.StatusNotFound, "error.nolist")
		return
	}
	p.showSubscribe(w, r, nl, subscribeData{}, http.StatusOK)
}

func (p *Pages) showSubscribe(w http.ResponseWriter, r *http.Request, nl config.NewsletterList, d subscribeData, status int) {
	v := p.newView(w, r, "subscribe")
	v.status = status
	v.Title = v.L.T("subscribe.title", p.listTitle(nl.Key, v.L))
	v.Action = r.URL.Path
	v.CSRF = p.csrfToken(w, r, v.Action)
	d.List = nl.Key
	d.Consent = p.consentText(nl, v.L)
	d.TextVersion = textVersion(d.Consent)
	d.Privacy = p.cfg.PrivacyURL
	if d.Privacy == "" && p.notice != nil {
		d.Privacy = NoticePath + "?lang=" + v.L.Tag
	}
	if d.EmailError != "" || d.NameError != "" || d.AgreeError != "" {
		v.Error = v.L.T("error.form")
	}
	v.Data = d
	p.render(w, r, v)
}

// postSubscribe takes a sign-up. Whatever the address, a valid request gets
// the same page: known, unknown, already subscribed or over its rate limit.
func (p *Pages) postSubscribe(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	nl, ok := p.lists[r.PathValue("list")]
	if !ok {
		p.fail(w, r, http.StatusNotFound, "error.nolist")
		return
	}
	if !p.readForm(w, r, true) {
		return
	}
	ip := p.clientIP(r)
	if ok, retry, err := p.allow(ctx, "ip", ip.String(), p.cfg.RatePerIP); err != nil {
		p.internal(w, r, "rate limit", err)
		return
	} else if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds()+0.5)))
		p.fail(w, r, http.StatusTooManyRequests, "error.rate")
		return
	}

	l := negotiate(r, p.cfg.DefaultLocale)
	d := subscribeData{Email: r.PostFormValue("email"), Name: strings.TrimSpace(r.PostFormValue("name"))}
	addr, err := recipient.NormalizeEmail(d.Email)
	if err != nil {
		d.EmailError = l.T("error.email")
	}
	if utf8.RuneCountInString(d.Name) > maxNameLen || strings.ContainsFunc(d.Name, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		d.NameError = l.T("error.name")
	}
	text := p.consentText(nl, l)
	if r.PostFormValue("agree") != "yes" || r.PostFormValue("text_version") != textVersion(text) {
		// Unticked, or the text changed since the page was shown: show the
		// current text again, so what is stored is what was agreed to.
		d.AgreeError = l.T("error.consent")
	}
	if d.EmailError != "" || d.NameError != "" || d.AgreeError != "" {
		p.showSubscribe(w, r, nl, d, http.StatusBadRequest)
		return
	}

	ok, _, err = p.allow(ctx, "addr", p.addressKey(addr), p.cfg.RatePerAddress)
	if err != nil {
		p.internal(w, r, "rate limit", err)
		return
	}
	if ok {
		req := signup{list: nl.Key, addr: addr, name: d.Name, ip: ip, ua: r.UserAgent(), text: text, locale: l}
		if err := p.signUp(ctx, req); err != nil {
			p.internal(w, r, "sign-up", err)
			return
		}
	}
	v := p.newView(w, r, "message")
	v.Title = l.T("subscribe.done.title")
	v.Notice = l.T("subscribe.done", l.Duration(p.cfg.DOITTL))
	p.render(w, r, v)
}

// allow counts one request against the limit of kind for key.
func (p *Pages) allow(ctx context.Context, kind, key string, perWindow int) (bool, time.Duration, error) {
	if kind == "ip" {
		key = p.addressKey("ip:" + key)
	}
	res, err := p.limiter.Allow(ctx, p.key("rl", kind, key), redis_rate.Limit{Rate: perWindow, Burst: perWindow, Period: p.cfg.RateWindow})
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", kind, err)
	}
	return res.Allowed > 0, res.RetryAfter, nil
}

// signup is one valid sign-up request.
type signup struct {
	list, addr, name, ua, text string
	ip                         netip.Addr
	locale                     Locale
}

// signUp finds or creates the prospect, records the doi_request and sends
// the confirmation mail. A person who already holds the newsletter consent
// gets nothing new (and the page says the same).
func (p *Pages) signUp(ctx context.Context, s signup) error {
	unlock, err := p.lock(ctx, p.addressKey(s.addr))
	if err != nil {
		return err
	}
	defer unlock()

	id, err := p.store.RecipientByEmail(ctx, s.addr)
	switch {
	case errors.Is(err, store.ErrNotFound):
		id, err = p.createProspect(ctx, s)
		if err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("find recipient: %w", err)
	}
	events, err := p.store.Ledger(ctx, id)
	if err != nil {
		return fmt.Errorf("ledger of %s: %w", id, err)
	}
	purpose := consent.Newsletter(s.list)
	now := p.now().UTC()
	if consent.Fold(events, now).Lookup(purpose, message.Email).Status == consent.Granted {
		return nil
	}
	return p.requestDOI(ctx, id, s.list, consent.Event{
		Kind: consent.DOIRequest, Purpose: purpose, Channel: string(message.Email), At: now,
		Source: consent.WebForm, IP: s.ip, UserAgent: s.ua, Text: s.text, TextVersion: textVersion(s.text),
		RecordedBy: recordedBy,
	}, s.locale)
}

// requestDOI records ev (a doi_request), marks the sign-up as pending for
// pruning and sends the confirmation mail.
func (p *Pages) requestDOI(ctx context.Context, id message.RecipientID, list string, ev consent.Event, l Locale) error {
	if _, err := p.store.AppendConsent(ctx, id, ev); err != nil {
		return fmt.Errorf("record doi_request for %s: %w", id, err)
	}
	if err := p.rdb.ZAdd(ctx, p.key("pending"), redis.Z{Score: float64(ev.At.UnixMilli()), Member: string(id)}).Err(); err != nil {
		return fmt.Errorf("mark sign-up of %s pending: %w", id, err)
	}
	raw, err := p.sealer.Seal(token.Token{
		Purpose: token.Confirm, Recipient: string(id), Scope: consent.Newsletter(list),
		Channel: string(message.Email), Expires: ev.At.Add(p.cfg.DOITTL),
	})
	if err != nil {
		return fmt.Errorf("seal confirmation token: %w", err)
	}
	if err := p.sendConfirmation(ctx, id, list, p.public+"/confirm/"+raw, l); err != nil {
		return fmt.Errorf("send confirmation to %s: %w", id, err)
	}
	p.log.InfoContext(ctx, "pages: double opt-in requested", "recipient_id", id, "list", list)
	return nil
}

// createProspect stores a new prospect with an opaque id for the address.
func (p *Pages) createProspect(ctx context.Context, s signup) (message.RecipientID, error) {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("prospect id: %w", err)
	}
	id := message.RecipientID("p_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)))
	first, last := splitName(s.name)
	r := recipient.Recipient{
		ID: id, Kind: policy.Prospect, FirstName: first, LastName: last,
		Emails: []recipient.Email{{Address: s.addr}}, Locale: s.locale.Tag,
	}
	if _, _, err := p.store.PutRecipient(ctx, r); err != nil {
		return "", fmt.Errorf("create prospect %s: %w", id, err)
	}
	return id, nil
}

// splitName puts the last word of a name into the last name.
func splitName(name string) (first, last string) {
	name = strings.Join(strings.Fields(name), " ")
	if i := strings.LastIndexByte(name, ' '); i > 0 {
		return name[:i], name[i+1:]
	}
	return "", name
}

// lock serialises sign-ups (and pruning) of one address across processes,
// so two parallel sign-ups of a new address make one prospect.
func (p *Pages) lock(ctx context.Context, addrKey string) (func(), error) {
	k := p.key("lock", addrKey)
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	val := string(b)
	for try := 0; ; try++ {
		ok, err := p.rdb.SetNX(ctx, k, val, 10*time.Second).Result()
		if err != nil {
			return nil, fmt.Errorf("sign-up lock: %w", err)
		}
		if ok {
			break
		}
		if try == 100 {
			return nil, errors.New("sign-up lock: address busy")
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("sign-up lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return func() {
		// Delete only our own lock (it may have expired and been taken).
		const script = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`
		_ = p.rdb.Eval(context.WithoutCancel(ctx), script, []string{k}, val).Err()
	}, nil
}

// ---- confirmation

type confirmData struct {
	Text  string
	Done  bool
	Prefs string
}

// confirmTarget opens the confirmation token and checks that it is unused
// and that its recipient has a pending sign-up for its list.
func (p *Pages) confirmTarget(w http.ResponseWriter, r *http.Request) (token.Token, string, bool) {
	t, ok := p.openToken(w, r, token.Confirm)
	if !ok {
		return t, "", false
	}
	list, ok := strings.CutPrefix(t.Scope, consent.NewsletterPrefix)
	if !ok {
		list = t.Scope // tolerate a bare list name
	}
	if _, known := p.lists[list]; !known {
		p.fail(w, r, http.StatusNotFound, "error.link")
		return t, "", false
	}
	used, err := p.rdb.Exists(r.Context(), p.key("used", t.Nonce)).Result()
	if err != nil {
		p.internal(w, r, "confirm: check token", err)
		return t, "", false
	}
	if used > 0 {
		p.settled(w, r, t, list, "confirm.used")
		return t, "", false
	}
	return t, list, true
}

// settled answers a confirmation link that has nothing left to confirm (it
// was used, or its sign-up was confirmed another way or has expired) with a
// page that says which and links the preference centre, not a dead end.
// An already confirmed sign-up is a success (200); otherwise 410 with
// failKey.
func (p *Pages) settled(w http.ResponseWriter, r *http.Request, t token.Token, list, failKey string) {
	id := message.RecipientID(t.Recipient)
	events, err := p.store.Ledger(r.Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.internal(w, r, "confirm: ledger", err)
		return
	}
	v := p.newView(w, r, "message")
	e := consent.Fold(events, p.now()).Lookup(consent.Newsletter(list), message.Email)
	if e.Status == consent.Granted && e.DOIConfirmed {
		v.Title = v.L.T("confirm.already.title")
		v.Notice = v.L.T("confirm.already", p.listTitle(list, v.L))
	} else {
		v.status = http.StatusGone
		v.Title = v.L.T("error.title")
		v.Error = v.L.T(failKey)
	}
	if err == nil {
		// The person still exists: their preference centre is the way on.
		v.Data = confirmData{Prefs: p.preferencesURL(id)}
	}
	p.render(w, r, v)
}

func (p *Pages) getConfirm(w http.ResponseWriter, r *http.Request) {
	t, list, ok := p.confirmTarget(w, r)
	if !ok {
		return
	}
	pending, err := p.pendingFor(r.Context(), message.RecipientID(t.Recipient), list)
	if err != nil {
		p.internal(w, r, "confirm: ledger", err)
		return
	}
	if !pending {
		p.settled(w, r, t, list, "confirm.gone")
		return
	}
	v := p.newView(w, r, "confirm")
	title := p.listTitle(list, v.L)
	v.Title = v.L.T("confirm.title", title)
	v.Action = r.URL.Path
	v.CSRF = p.csrfToken(w, r, v.Action)
	v.Data = confirmData{Text: p.confirmStatement(v.L, list)}
	p.render(w, r, v)
}

// pendingFor reports whether id's newsletter list is waiting for confirmation.
func (p *Pages) pendingFor(ctx context.Context, id message.RecipientID, list string) (bool, error) {
	events, err := p.store.Ledger(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger of %s: %w", id, err)
	}
	e := consent.Fold(events, p.now()).Lookup(consent.Newsletter(list), message.Email)
	return e.Status == consent.DOIPending, nil
}

// postConfirm records the doi_confirm. The token's nonce is claimed first,
// so a second POST (or a race of two) records nothing; if recording fails,
// the claim is released and the link works again.
func (p *Pages) postConfirm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.readForm(w, r, false) {
		return
	}
	t, list, ok := p.confirmTarget(w, r)
	if !ok {
		return
	}
	id := message.RecipientID(t.Recipient)
	pending, err := p.pendingFor(ctx, id, list)
	if err != nil {
		p.internal(w, r, "confirm: ledger", err)
		return
	}
	if !pending {
		p.settled(w, r, t, list, "confirm.gone")
		return
	}
	if !p.checkCSRF(r) {
		p.fail(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	usedKey := p.key("used", t.Nonce)
	claimed, err := p.rdb.SetNX(ctx, usedKey, "1", time.Until(t.Expires)+time.Hour).Result()
	if err != nil {
		p.internal(w, r, "confirm: claim token", err)
		return
	}
	if !claimed {
		p.fail(w, r, http.StatusGone, "error.used")
		return
	}
	l := negotiate(r, p.cfg.DefaultLocale)
	title := p.listTitle(list, l)
	text := p.confirmStatement(l, list)
	now := p.now().UTC()
	_, err = p.store.AppendConsent(ctx, id, consent.Event{
		Kind: consent.DOIConfirm, Purpose: consent.Newsletter(list), Channel: string(message.Email), At: now,
		Source: consent.WebForm, IP: p.clientIP(r), UserAgent: r.UserAgent(), Text: text, TextVersion: textVersion(text),
		RecordedBy: recordedBy,
	})
	if err != nil {
		_ = p.rdb.Del(context.WithoutCancel(ctx), usedKey).Err()
		p.internal(w, r, "confirm: record", err)
		return
	}
	if err := p.rdb.ZRem(ctx, p.key("pending"), string(id)).Err(); err != nil {
		// The pruner re-checks the ledger and drops the entry itself.
		p.log.WarnContext(ctx, "pages: unmark pending sign-up", "recipient_id", id, "err", err)
	}
	p.log.InfoContext(ctx, "pages: double opt-in confirmed", "recipient_id", id, "list", list)
	v := p.newView(w, r, "confirm")
	v.Title = l.T("confirm.done.title")
	v.Notice = l.T("confirm.done", title)
	v.Data = confirmData{Done: true, Prefs: p.preferencesURL(id)}
	p.render(w, r, v)
}

// preferencesURL is a fresh preference-centre link for id, or "" if sealing fails.
func (p *Pages) preferencesURL(id message.RecipientID) string {
	raw, err := p.sealer.Seal(token.Token{Purpose: token.Preferences, Recipient: string(id), Expires: p.now().Add(p.cfg.PreferencesTTL)})
	if err != nil {
		return ""
	}
	return "/preferences/" + raw
}

// sendConfirmation submits the doi_confirmation mail to the normal pipeline
// (policy at delivery time: allowed while the sign-up is pending). The
// idempotency key is the confirmation link's own, so a retried submit never
// mails twice.
func (p *Pages) sendConfirmation(ctx context.Context, id message.RecipientID, list, confirmURL string, l Locale) error {
	_, err := p.submit.Submit(ctx, dispatch.Submission{
		Type:        DOIType,
		RecipientID: id,
		Channels:    []message.Channel{message.Email},
		Data: map[string]map[string]any{"doi": {
			"list":        list,
			"list_name":   p.listTitle(list, l),
			"confirm_url": confirmURL,
		}},
		Locale:         l.Tag,
		IdempotencyKey: "doi:" + textVersion(confirmURL),
	})
	if err != nil {
		return fmt.Errorf("submit %s: %w", DOIType, err)
	}
	return nil
}
