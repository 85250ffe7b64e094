// Package pages serves the people's pages: newsletter sign-up with double
// opt-in, the confirmation page, the preference centre and one-click
// unsubscribe (RFC 8058). They are server-rendered with html/template, work
// without JavaScript, speak German and English, and take brand name, logo,
// colours and legal links from configuration.
//
// # Proof
//
// Every change a person makes here is an append-only ledger event with
// source web_form, the client IP, the time and the exact words shown on the
// page next to the button (consent.Event.Text, versioned by TextVersion).
// Those words are complete first-person sentences built in statements.go;
// testdata/statements.golden lists every one in German and English. Sign-up
// also stores the user agent.
//
// # Preference centre
//
// A matrix of purpose × channel with one control per cell; a cell opens to
// show its status (in the person's time zone, else HEROLD_PAGES_TIME_ZONE)
// and each change with its full text.
//
// # Privacy notice
//
// With the catalog (Options.Catalog) the pages serve the communication
// section of the privacy notice, rendered from it by package notice, at
// /privacy/communication and link it from every page.
//
// # Tokens
//
// Links carry sealed tokens (package token): they name neither the person
// nor the address. Confirmation tokens are bound to recipient and list,
// expire (HEROLD_PAGES_DOI_TTL) and work once: their nonce is claimed in
// Redis when the confirmation is recorded.
//
// # Abuse
//
// Sign-up answers the same page whether or not the address is known, is
// rate-limited per client IP (429) and per address (silently: the same page,
// no further mail, so a mailbox cannot be flooded and nothing is revealed),
// and every form carries a signed double-submit CSRF token. The one-click
// unsubscribe POST is the exception RFC 8058 demands: a mailbox provider
// posts it without cookies, so the sealed token alone authenticates it.
//
// # Redis keys
//
// Under the configured prefix: pages:pending (sorted set of recipients with
// an unconfirmed sign-up, scored by its time), pages:used:<nonce> (claimed
// confirmation tokens, until they expire), pages:lock:<hash> (sign-up of one
// address in progress) and the rate limiter's rate:<prefix>pages:rl:… keys.
// Addresses and IPs appear in keys only as keyed hashes.
package pages

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/notice"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redisconn"
	"github.com/heroldhq/herold/internal/token"
)

//go:embed templates
var templateFS embed.FS

// Store is what the pages need of the recipient store (internal/store.Store).
type Store interface {
	GetRecipient(ctx context.Context, id message.RecipientID) (recipient.Recipient, error)
	PutRecipient(ctx context.Context, r recipient.Recipient) (recipient.Recipient, bool, error)
	RecipientByEmail(ctx context.Context, addr string) (message.RecipientID, error)
	AppendConsent(ctx context.Context, id message.RecipientID, events ...consent.Event) ([]consent.Event, error)
	Ledger(ctx context.Context, id message.RecipientID) ([]consent.Event, error)
	// DeleteSignup removes an unconfirmed sign-up without leaving a
	// suppression entry (a later sign-up must work).
	DeleteSignup(ctx context.Context, id message.RecipientID) error
}

// Submitter hands a message to the normal pipeline (dispatch.Service): the
// confirmation mail goes through policy, rendering and delivery like any other.
type Submitter interface {
	Submit(ctx context.Context, s dispatch.Submission) (dispatch.Accepted, error)
}

// Options are the dependencies of New.
type Options struct {
	Config    config.Pages
	Brand     config.Brand  // name, logo and colours of every page
	PublicURL string        // HEROLD_PUBLIC_URL, without trailing slash
	Secret    string        // HEROLD_TOKEN_SECRET: keys the CSRF tokens and the address hashes
	Sealer    *token.Sealer // seals and opens link tokens
	Store     Store
	Submitter Submitter
	Redis     redis.UniversalClient
	Prefix    string // Redis key prefix, e.g. "herold:"
	Log       *slog.Logger
	Now       func() time.Time // default time.Now
	// Catalog is the message catalog the dispatcher enforces. With it the
	// pages serve its privacy notice at /privacy/communication and name
	// message types by their notice titles; without it that page is not
	// served and types are named by their keys.
	Catalog *policy.Catalog
}

// Pages serves the people's pages. Build it with New.
type Pages struct {
	cfg           config.Pages
	brand         config.Brand
	public        string
	sealer        *token.Sealer
	store         Store
	submit        Submitter
	rdb           redis.UniversalClient
	limiter       *redis_rate.Limiter
	prefix        string
	log           *slog.Logger
	now           func() time.Time
	csrfKey       []byte
	addrKey       []byte
	secureCookies bool
	trustProxy    bool
	logoOrigin    string
	cop           *http.CrossOriginProtection
	tmpl          map[string]*template.Template
	css           []byte
	lists         map[string]config.NewsletterList
	catalog       *policy.Catalog
	zone          *time.Location // the brand's time zone, for people without one
	notice        map[string]template.HTML
}

// New checks opts and parses the embedded templates.
func New(opts Options) (*Pages, error) {
	var missing []string
	if opts.Sealer == nil {
		missing = append(missing, "Sealer")
	}
	if opts.Store == nil {
		missing = append(missing, "Store")
	}
	if opts.Submitter == nil {
		missing = append(missing, "Submitter")
	}
	if opts.Redis == nil {
		missing = append(missing, "Redis")
	}
	if opts.Log == nil {
		missing = append(missing, "Log")
	}
	if opts.Brand.Name == "" || opts.Brand.Color == "" || opts.Brand.TextColor == "" || opts.Brand.Background == "" {
		missing = append(missing, "Brand (load it with config.Load)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("pages: missing %s", strings.Join(missing, ", "))
	}
	if len(opts.Secret) < 32 {
		return nil, fmt.Errorf("pages: secret too short (%d bytes, want at least 32): set HEROLD_TOKEN_SECRET", len(opts.Secret))
	}
	pub, err := url.Parse(opts.PublicURL)
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" {
		return nil, fmt.Errorf("pages: public URL %q is not an absolute http(s) URL", opts.PublicURL)
	}
	cfg := opts.Config
	if len(cfg.Lists) == 0 {
		return nil, fmt.Errorf("pages: no newsletter lists configured (config.Pages.Validate fills them)")
	}
	zone, err := time.LoadLocation(cmp.Or(cfg.TimeZone, "Europe/Berlin"))
	if err != nil {
		return nil, fmt.Errorf("pages: time zone %q: %w (config.Pages.Validate checks it)", cfg.TimeZone, err)
	}
	if cfg.DOITTL <= 0 || cfg.Unconfirmed <= 0 || cfg.RateWindow <= 0 || cfg.RatePerIP < 1 || cfg.RatePerAddress < 1 || cfg.PreferencesTTL <= 0 {
		return nil, fmt.Errorf("pages: durations and rate limits must be positive (load the config with config.Load)")
	}
	p := &Pages{
		cfg:           cfg,
		brand:         opts.Brand,
		public:        strings.TrimRight(opts.PublicURL, "/"),
		sealer:        opts.Sealer,
		store:         opts.Store,
		submit:        opts.Submitter,
		rdb:           opts.Redis,
		limiter:       redis_rate.NewLimiter(opts.Redis),
		prefix:        opts.Prefix,
		log:           opts.Log,
		now:           opts.Now,
		csrfKey:       derive(opts.Secret, "herold pages csrf v1"),
		addrKey:       derive(opts.Secret, "herold pages address v1"),
		secureCookies: pub.Scheme == "https",
		trustProxy:    cfg.TrustProxy,
		cop:           http.NewCrossOriginProtection(),
		lists:         map[string]config.NewsletterList{},
		catalog:       opts.Catalog,
		zone:          zone,
	}
	if p.now == nil {
		p.now = time.Now
	}
	for _, l := range cfg.Lists {
		p.lists[l.Key] = l
	}
	if opts.Brand.LogoURL != "" {
		if u, err := url.Parse(opts.Brand.LogoURL); err == nil && u.Host != "" {
			p.logoOrigin = u.Scheme + "://" + u.Host
		}
	}
	if err := p.parseTemplates(); err != nil {
		return nil, err
	}
	if p.catalog != nil {
		// Rendered once: the catalog is immutable, and a catalog that cannot
		// render its notice is refused here rather than on the first visit.
		p.notice = map[string]template.HTML{}
		for _, tag := range []string{de, en} {
			var b strings.Builder
			if err := notice.Write(&b, p.catalog, notice.Options{Lang: tag, Format: notice.HTML, OmitTitle: true}); err != nil {
				return nil, fmt.Errorf("pages: privacy notice: %w", err)
			}
			p.notice[tag] = template.HTML(b.String()) // html/template escaped every text in it
		}
	}
	return p, nil
}

func derive(secret, label string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(label))
	return mac.Sum(nil)
}

// Routes registers the pages on mux.
func (p *Pages) Routes(mux *http.ServeMux) {
	h := func(f http.HandlerFunc) http.Handler { return p.securityHeaders(f) }
	mux.Handle("GET /pages/style.css", h(p.serveCSS))
	mux.Handle("GET /subscribe/{list}", h(p.getSubscribe))
	mux.Handle("POST /subscribe/{list}", h(p.postSubscribe))
	mux.Handle("GET /confirm/{token}", h(p.getConfirm))
	mux.Handle("POST /confirm/{token}", h(p.postConfirm))
	mux.Handle("GET /preferences/{token}", h(p.getPreferences))
	mux.Handle("POST /preferences/{token}", h(p.postPreferences))
	mux.Handle("GET /unsubscribe/{token}", h(p.getUnsubscribe))
	mux.Handle("POST /unsubscribe/{token}", h(p.postUnsubscribe))
	mux.Handle("POST /unsubscribe/{token}/undo", h(p.postUndo))
	if p.notice != nil {
		mux.Handle("GET "+NoticePath, h(p.getNotice))
	}
}

// NoticePath is where the pages serve the communication section of the
// privacy notice, rendered from the catalog (Options.Catalog).
const NoticePath = "/privacy/communication"

// getNotice shows the communication section of the privacy notice.
func (p *Pages) getNotice(w http.ResponseWriter, r *http.Request) {
	v := p.newView(w, r, "notice")
	v.Title = notice.Title(v.L.Tag)
	v.Data = p.notice[v.L.Tag]
	w.Header().Set("Cache-Control", "public, max-age=3600") // no token in this URL
	p.render(w, r, v)
}

// ---- rendering

// view is what every page template gets.
type view struct {
	L      Locale
	Brand  brand
	Title  string
	Error  string
	Notice string
	Langs  []langLink
	Footer []link
	Action string // path the page's main form posts to
	CSRF   string
	Data   any
	Page   string // template name, on <main data-page> so a test can tell one page from the next
	status int
	page   string
}

type brand struct {
	Name    string
	LogoURL string
}

type langLink struct {
	Tag, Name, URL string
	Current        bool
}

type link struct{ Text, URL string }

func (p *Pages) parseTemplates() error {
	sub, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return fmt.Errorf("pages: templates: %w", err)
	}
	names, err := fs.Glob(sub, "*.html")
	if err != nil {
		return fmt.Errorf("pages: templates: %w", err)
	}
	p.tmpl = map[string]*template.Template{}
	for _, n := range names {
		if n == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").ParseFS(sub, "layout.html", n)
		if err != nil {
			return fmt.Errorf("pages: template %s: %w", n, err)
		}
		p.tmpl[strings.TrimSuffix(n, ".html")] = t
	}
	css, err := texttemplate.New("style.css").ParseFS(sub, "style.css")
	if err != nil {
		return fmt.Errorf("pages: style.css: %w", err)
	}
	var b strings.Builder
	fg := "#ffffff"
	if config.ContrastRatio("#000000", p.brand.Color) > config.ContrastRatio("#ffffff", p.brand.Color) {
		fg = "#000000"
	}
	// Colours are checked here again (config.Pages.Validate did it for
	// loaded configs), since text/template does not escape CSS.
	for _, c := range []string{p.brand.Color, p.brand.TextColor, p.brand.Background} {
		if config.RelativeLuminance(c) == 0 && strings.Trim(strings.ToLower(c), "#0") != "" {
			return fmt.Errorf("pages: colour %q is not #rgb or #rrggbb", c)
		}
	}
	if err := css.Execute(&b, map[string]string{
		"Primary": p.brand.Color, "OnPrimary": fg, "Text": p.brand.TextColor, "Back": p.brand.Background,
	}); err != nil {
		return fmt.Errorf("pages: style.css: %w", err)
	}
	p.css = []byte(b.String())
	return nil
}

func (p *Pages) serveCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(p.css)
}

// newView prepares the page frame for r; it sets the language cookie when
// the person used the switch.
func (p *Pages) newView(w http.ResponseWriter, r *http.Request, page string) *view {
	l := negotiate(r, p.cfg.DefaultLocale)
	if q := r.URL.Query().Get("lang"); q == de || q == en {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: p.secureCookies, SameSite: http.SameSiteLaxMode})
	}
	v := &view{L: l, Brand: brand{Name: p.brand.Name, LogoURL: p.brand.LogoURL}, page: page, Page: page, status: http.StatusOK}
	for _, tag := range []string{de, en} {
		v.Langs = append(v.Langs, langLink{Tag: tag, Name: Locale{Tag: tag}.T("lang.name"),
			URL: r.URL.Path + "?lang=" + tag, Current: tag == l.Tag})
	}
	if p.cfg.ImprintURL != "" {
		v.Footer = append(v.Footer, link{l.T("footer.imprint"), p.cfg.ImprintURL})
	}
	if p.cfg.PrivacyURL != "" {
		v.Footer = append(v.Footer, link{l.T("footer.privacy"), p.cfg.PrivacyURL})
	}
	if p.notice != nil {
		v.Footer = append(v.Footer, link{l.T("footer.notice"), NoticePath + "?lang=" + l.Tag})
	}
	return v
}

func (p *Pages) render(w http.ResponseWriter, r *http.Request, v *view) {
	t, ok := p.tmpl[v.page]
	if !ok {
		p.log.ErrorContext(r.Context(), "pages: no template", "page", v.page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		p.log.ErrorContext(r.Context(), "pages: render", "page", v.page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", v.L.Tag)
	w.WriteHeader(v.status)
	_, _ = w.Write([]byte(b.String()))
}

// fail answers with the neutral message page: status, the text for key.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, status int, key string, args ...any) {
	v := p.newView(w, r, "message")
	v.status = status
	v.Title = v.L.T("error.title")
	v.Error = v.L.T(key, args...)
	p.render(w, r, v)
}

// retryAfterUnavailable is the Retry-After of a 503 page, in seconds: the
// same wait the API asks producers for (api.RetryAfter).
const retryAfterUnavailable = "5"

// internal logs err (it never holds personal data: ids and wrapped store
// errors only) and shows the neutral error page: a plain 503 with
// Retry-After when the store cannot be reached (the person may simply try
// again), else a 500.
func (p *Pages) internal(w http.ResponseWriter, r *http.Request, op string, err error) {
	// Redis cannot take the request now (down, a failover, a consent not
	// yet confirmed by the replicas): the person may simply try again.
	if redisconn.Unavailable(err) {
		p.log.WarnContext(r.Context(), "pages: "+op+": store unavailable", "err", err)
		w.Header().Set("Retry-After", retryAfterUnavailable)
		p.fail(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	p.log.ErrorContext(r.Context(), "pages: "+op, "err", err)
	p.fail(w, r, http.StatusInternalServerError, "error.internal")
}

// openToken opens the {token} path value for purpose and answers the neutral
// invalid-link page (410 when expired, 404 otherwise) when it does not open.
func (p *Pages) openToken(w http.ResponseWriter, r *http.Request, purpose token.Purpose) (token.Token, bool) {
	raw := r.PathValue("token")
	t, err := p.sealer.Open(raw, purpose, p.now())
	if err != nil {
		status := http.StatusNotFound
		if errors.Is(err, token.ErrExpired) {
			status = http.StatusGone
		}
		p.fail(w, r, status, "error.link")
		return token.Token{}, false
	}
	if _, err := message.ParseRecipientID(t.Recipient); err != nil {
		p.fail(w, r, http.StatusNotFound, "error.link")
		return token.Token{}, false
	}
	return t, true
}

// textVersion identifies the words of a text shown, so the ledger records
// which version applied even if the wording changes later.
func textVersion(text string) string {
	sum := sha256.Sum256([]byte(text))
	return fmt.Sprintf("sha256:%x", sum[:8])
}

// listTitle is the list's title in l, falling back to its key.
func (p *Pages) listTitle(list string, l Locale) string {
	if nl, ok := p.lists[list]; ok {
		if t := nl.Title[l.Tag]; t != "" {
			return strings.ReplaceAll(t, "{brand}", p.brand.Name)
		}
	}
	return list
}

// consentText is the exact consent text of list in l, with the brand filled in.
func (p *Pages) consentText(nl config.NewsletterList, l Locale) string {
	return strings.ReplaceAll(nl.Consent[l.Tag], "{brand}", p.brand.Name)
}

// key builds a Redis key under the prefix.
func (p *Pages) key(parts ...string) string {
	return p.prefix + "pages:" + strings.Join(parts, ":")
}
