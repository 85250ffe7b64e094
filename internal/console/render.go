package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/webhooks"
)

// page is what the layout and every page template get.
type page struct {
	L       Locale
	User    *User
	CSRF    string
	Title   string // a text key
	Heading string // the page's heading as plain text, instead of Title
	Page    string // the template's name (data-page)
	Nav     string // the section of the navigation that is current
	Path    string // the request path, for the language switch
	Status  int
	Notice  string // a text key: what the last change did
	Fields  []invalid.Field
	Data    any
	plugins Plugins
}

// Can reports whether the signed-in user holds permission p.
func (p *page) Can(perm string) bool { return p.User != nil && p.User.Role.Can(Permission(perm)) }

// Has reports whether the screen of a plug-in is there (issue 15/16 data).
func (p *page) Has(name string) bool { return p.plugins.has(name) }

// FieldError returns the message for a form field, "" if none.
func (p *page) FieldError(name string) string {
	for _, f := range p.Fields {
		if f.Field == name || strings.HasPrefix(f.Field, name+"[") || strings.HasPrefix(f.Field, name+".") {
			return f.Field + ": " + f.Message
		}
	}
	return ""
}

var funcs = template.FuncMap{
	"add": func(a, b int) int { return a + b },
	"join": func(sep string, v any) string {
		switch s := v.(type) {
		case []string:
			return strings.Join(s, sep)
		default:
			return fmt.Sprint(v)
		}
	},
	"pct": func(f float64) string { return fmt.Sprintf("%.1f", f*100) },
	"str": func(v any) string { return fmt.Sprint(v) },
	"timeline": func(l Locale, events []consent.Event) any {
		return struct {
			L      Locale
			Events []consent.Event
		}{l, events}
	},
}

// parsePages parses each page template together with the layout.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/parts.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || base == "parts.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(files, n)
		if err != nil {
			return nil, fmt.Errorf("console templates: %s: %w", base, err)
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

// render writes page name with data. The page is rendered into a buffer
// first, so a template error becomes a 500, not half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, rq *request, status int, name, title string, data any) {
	c.renderPage(w, r, rq, status, name, &page{Title: title, Data: data})
}

func (c *Console) renderPage(w http.ResponseWriter, r *http.Request, rq *request, status int, name string, p *page) {
	t, ok := c.pages[name]
	if !ok {
		c.log.ErrorContext(r.Context(), "no console page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.L, p.Path, p.Status, p.plugins, p.Page = rq.L, r.URL.Path, status, c.plugins, name
	if rq.Session != nil {
		p.User, p.CSRF = &rq.User, rq.Session.CSRF
	}
	if p.Nav == "" {
		p.Nav = navOf(r.URL.Path)
	}
	if p.Notice == "" {
		p.Notice = noticeKey(r.URL.Query().Get("done"))
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		c.log.ErrorContext(r.Context(), "render console page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", rq.L.Tag)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// navOf names the navigation entry of a path.
func navOf(p string) string {
	rest := strings.TrimPrefix(p, "/console/")
	first, _, _ := strings.Cut(rest, "/")
	if first == "messages" {
		return "people"
	}
	return first
}

// noticeKey maps the ?done= of a redirect after a change to its text; only
// known values are shown.
func noticeKey(done string) string {
	switch done {
	case "created", "started", "paused", "resumed", "canceled", "erased", "saved", "deleted", "lifted", "replayed", "dryrun":
		return "done." + done
	}
	return ""
}

// errorData is the data of the error page.
type errorData struct {
	Message string // a text key
}

// fail answers status with the error page saying key.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, rq *request, status int, key string) {
	c.render(w, r, rq, status, "error", "error.title."+fmt.Sprint(status), errorData{Message: key})
}

// internal logs err and answers 500.
func (c *Console) internal(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	c.log.ErrorContext(r.Context(), "console request failed", "path", r.URL.Path, "err", err)
	c.fail(w, r, rq, http.StatusInternalServerError, "error.internal")
}

// loaded answers a failed read of what a page shows: 404 for something
// that does not exist (a store or webhook id), 500 for anything else. It
// reports whether err was nil, so the page goes on.
func (c *Console) loaded(w http.ResponseWriter, r *http.Request, rq *request, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrNotFound), errors.Is(err, webhooks.ErrNotFound):
		c.fail(w, r, rq, http.StatusNotFound, "error.notfound")
	default:
		c.internal(w, r, rq, err)
	}
	return false
}

// assetHandler serves the embedded CSS and script; they change only with
// the binary, so browsers may keep them an hour.
func (c *Console) assetHandler() http.Handler {
	fsrv := http.FileServerFS(c.assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// ---- formats shared by the pages

// zoneOf is the zone the console shows times in: the installation's
// default zone (HEROLD_DEFAULT_TIME_ZONE).
func (c *Console) zone() *time.Location { return c.core.Zones().Default() }
