// Package console is the operator console at /console/: a server-rendered
// web UI (html/template, assets embedded, no JavaScript needed but for live
// campaign progress over Server-Sent Events) for marketing, compliance and
// operations, in German and English.
//
// # Services, not HTTP
//
// Every screen calls the Go services the JSON API calls — the store, the
// campaign engine, the delivery core's Decide, privacy.Rights — never the
// API over HTTP, so nothing the console does bypasses validation
// (api.Campaigns.Validate) or the policy. Screens whose data other parts
// provide (segments, drafts and dry runs, lists, suppressions, webhooks,
// delivery statistics) take it through the small interfaces in plug.go; a
// nil one hides its screen.
//
// # Sign-in, roles, audit
//
// Users come from HEROLD_CONSOLE_USERS_FILE (name, role, argon2id hash).
// Sessions live in Redis (session.go) with idle and absolute timeouts;
// failed sign-ins back off per user name and per client IP. Each route
// needs a Permission (roles.go); a role without it gets a 403 page, and the
// UI never offers it. Every change is written to the audit log (audit.go).
//
// # Security headers
//
// A strict CSP (nothing but this origin; no inline script or style),
// frame-ancestors 'none', Cache-Control: no-store on every page (most show
// personal data), a per-session CSRF token on every form, and
// net/http.CrossOriginProtection against cross-origin POSTs.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/api"
	"github.com/heroldhq/herold/internal/campaign"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/delivery"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/privacy"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/store"
)

//go:embed templates assets
var files embed.FS

// Options are the console's dependencies.
type Options struct {
	Config    config.Console
	PublicURL string // HEROLD_PUBLIC_URL: https there makes the cookies Secure
	// Secret keys the HMACs of user names and IPs in Redis keys
	// (HEROLD_TOKEN_SECRET; a key of its own is derived from it).
	Secret string
	Redis  redis.UniversalClient
	Prefix string // the store's key prefix
	Log    *slog.Logger
	Now    func() time.Time // default time.Now

	Store     *store.Store
	Campaigns *campaign.Engine
	// CampaignForm validates a new campaign exactly as POST /v1/campaigns does.
	CampaignForm  *api.Campaigns
	Delivery      *delivery.Deliverer // the policy matrix decides through it
	Rights        *privacy.Rights
	Inspector     *asynq.Inspector
	Queues        queue.Queues // the message queues the overview shows, one per class
	CampaignQueue string       // and the campaign queue (with its suffix)
	Region        string       // HEROLD_DEFAULT_REGION: national phone numbers in the search

	// Users, if set, replaces the users file (tests and tools).
	Users map[string]User

	Plugins // screens whose data other packages provide (plug.go)
}

// Console serves /console/. Build it with New.
type Console struct {
	cfg     config.Console
	rdb     redis.UniversalClient
	prefix  string
	log     *slog.Logger
	now     func() time.Time
	users   map[string]User
	keyKey  []byte
	secure  bool
	cop     *http.CrossOriginProtection
	pages   map[string]*template.Template
	assets  fs.FS
	st      *store.Store
	camps   *campaign.Engine
	form    *api.Campaigns
	core    *delivery.Deliverer
	rights  *privacy.Rights
	insp    *asynq.Inspector
	queues  []string
	region  string
	plugins Plugins
	mux     *http.ServeMux
}

// New builds the console. Without users (no users file) it returns nil and
// no error: the console is off.
func New(o Options) (*Console, error) {
	users := o.Users
	if users == nil {
		if o.Config.UsersFile == "" {
			return nil, nil
		}
		var err error
		if users, err = LoadUsers(o.Config.UsersFile); err != nil {
			return nil, err
		}
	}
	switch {
	case o.Redis == nil || o.Store == nil || o.Campaigns == nil || o.CampaignForm == nil || o.Delivery == nil || o.Rights == nil:
		return nil, errors.New("console: Redis, Store, Campaigns, CampaignForm, Delivery and Rights are required")
	case len(o.Secret) < 16:
		return nil, errors.New("console: Secret too short")
	}
	pub, err := url.Parse(o.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("console: public URL: %w", err)
	}
	c := &Console{
		cfg: o.Config, rdb: o.Redis, prefix: o.Prefix, log: o.Log, now: o.Now, users: users,
		keyKey: deriveKey(o.Secret, "console keys"), secure: pub.Scheme == "https",
		cop: http.NewCrossOriginProtection(), st: o.Store, camps: o.Campaigns, form: o.CampaignForm,
		core: o.Delivery, rights: o.Rights, insp: o.Inspector, region: o.Region, plugins: o.Plugins,
	}
	for _, cl := range message.Classes() {
		c.queues = append(c.queues, o.Queues.Name(cl))
	}
	if o.CampaignQueue != "" {
		c.queues = append(c.queues, o.CampaignQueue)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if c.assets, err = fs.Sub(files, "assets"); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// Mount builds the console and serves it on mux at /console/. With the
// console off (no HEROLD_CONSOLE_USERS_FILE) it logs so and mounts nothing.
func Mount(mux *http.ServeMux, o Options) error {
	c, err := New(o)
	if err != nil {
		return err
	}
	if c == nil {
		if o.Log != nil {
			o.Log.Info("operator console off: set HEROLD_CONSOLE_USERS_FILE to serve it at /console/")
		}
		return nil
	}
	mux.Handle("/console/", c)
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	return nil
}

// ServeHTTP serves the console with its security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if !strings.HasPrefix(r.URL.Path, "/console/assets/") {
		h.Set("Cache-Control", "no-store")
	}
	if l := r.URL.Query().Get("lang"); l == de || l == en {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/console/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
	}
	c.mux.ServeHTTP(w, r)
}

// newRequest starts the request's data: language, zone and client IP.
func (c *Console) newRequest(r *http.Request) *request {
	l := negotiate(r)
	l.Zone = c.zone()
	return &request{L: l, IP: c.clientIP(r)}
}

// ---- routing

// handler is a console handler with the signed-in user.
type handler func(w http.ResponseWriter, r *http.Request, rq *request)

// request is what every handler knows about its request.
type request struct {
	User    User
	Session *session
	L       Locale
	IP      string
}

// audit records a change by the request's user.
func (rq *request) entry(action, target, detail string) AuditEntry {
	return AuditEntry{User: rq.User.Name, Role: rq.User.Role, Action: action, Target: target, IP: rq.IP, Detail: detail}
}

func (c *Console) routes() {
	m := http.NewServeMux()
	c.mux = m
	m.Handle("GET /console/assets/", http.StripPrefix("/console/assets/", c.assetHandler()))
	m.HandleFunc("GET /console/signin", c.signinPage)
	m.HandleFunc("POST /console/signin", c.signin)
	m.HandleFunc("POST /console/signout", c.auth("", c.signout))
	m.HandleFunc("GET /console/{$}", c.auth(SeeOverview, c.overview))
	m.HandleFunc("/console/", c.auth("", func(w http.ResponseWriter, r *http.Request, rq *request) {
		c.fail(w, r, rq, http.StatusNotFound, "error.notfound")
	}))
	c.campaignRoutes(m)
	c.peopleRoutes(m)
	m.HandleFunc("GET /console/catalog", c.auth(SeeCatalog, c.catalogPage))
	m.HandleFunc("GET /console/audit", c.auth(SeeAudit, c.auditPage))
	m.HandleFunc("POST /console/audit/export", c.auth(SeeAudit, c.auditExport))
	m.HandleFunc("GET /console/users", c.auth(SeeUsers, c.usersPage))
	c.pluginRoutes(m)
}

// auth wraps h: it needs a live session (else GET and HEAD go to the
// sign-in page, anything else gets 403), permission perm ("" for none
// beyond signing in), and for every method but GET and HEAD a same-origin
// request with the session's CSRF token.
func (c *Console) auth(perm Permission, h handler) http.HandlerFunc {
	return c.guard(perm, false, h)
}

// authStream is auth for a handler that reads a multipart form as a stream
// (an audience upload): the form's first part must be the CSRF token, which
// the handler checks with streamCSRF before it reads anything else.
func (c *Console) authStream(perm Permission, h handler) http.HandlerFunc {
	return c.guard(perm, true, h)
}

func (c *Console) guard(perm Permission, stream bool, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rq := c.newRequest(r)
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead
		var s *session
		if ck, err := r.Cookie(sessionCookie); err == nil {
			s, err = c.loadSession(r.Context(), ck.Value)
			if err != nil && !errors.Is(err, errNoSession) {
				c.internal(w, r, rq, err)
				return
			}
		}
		var u User
		if s != nil {
			var ok bool
			if u, ok = c.users[s.User]; !ok {
				s = nil // the user was removed from the users file
			}
		}
		if s == nil {
			if safe {
				http.Redirect(w, r, "/console/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, rq, http.StatusForbidden, "error.session")
			return
		}
		rq.User, rq.Session = u, s
		if !safe {
			if err := c.cop.Check(r); err != nil {
				c.fail(w, r, rq, http.StatusForbidden, "error.csrf")
				return
			}
		}
		if perm != "" && !u.Role.Can(perm) {
			if !safe {
				if err := c.audit(r.Context(), rq.entry("denied", r.URL.Path, string(perm))); err != nil {
					c.log.ErrorContext(r.Context(), "audit", "err", err)
				}
			}
			c.fail(w, r, rq, http.StatusForbidden, "error.forbidden")
			return
		}
		multipart := strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/")
		switch {
		case safe:
		case stream != multipart:
			c.fail(w, r, rq, http.StatusBadRequest, "error.form")
			return
		case stream:
			// The handler checks the token in the stream.
		default:
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if !c.checkCSRF(r, s) {
				c.fail(w, r, rq, http.StatusForbidden, "error.csrf")
				return
			}
		}
		h(w, r, rq)
	}
}

// record writes a change to the audit log. A change that was made but could
// not be recorded is reported to the user and logged as an error: the change
// stands, and the operator must know the log misses it.
func (c *Console) record(ctx context.Context, w http.ResponseWriter, r *http.Request, rq *request, e AuditEntry) bool {
	if err := c.audit(ctx, e); err != nil {
		c.log.ErrorContext(ctx, "change not in the audit log", "action", e.Action, "target", e.Target, "user", e.User, "err", err)
		c.fail(w, r, rq, http.StatusInternalServerError, "error.audit")
		return false
	}
	return true
}

// seeOther redirects after a successful POST (post/redirect/get).
func seeOther(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// withTimeout bounds a handler's Redis work.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 10*time.Second)
}
