package api

import (
	"html/template"
	"net/http"
	"strings"
)

// Fallback wraps mux so that a request it has no route for still gets an
// answer in the API's format rather than net/http's plain text: a JSON
// Problem 404 not_found for an unknown path, and 405 method_not_allowed with
// the Allow header for a known path asked with another method. GET and HEAD
// of "/", unless mux routes "/" itself, answer a small HTML page that links
// the console, the API description and the documentation. Requests mux has a
// route for (redirects to a cleaned path included) go to mux unchanged.
func Fallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // sets r.Pattern and the path values
			return
		}
		if r.URL.Path == "/" {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", "GET, HEAD")
				WriteError(w, Errorf(http.StatusMethodNotAllowed, "method_not_allowed",
					"method %s is not allowed on /; allowed: GET, HEAD", r.Method))
				return
			}
			home(w, mux)
			return
		}
		// Without a pattern, mux answers either 404 or 405 with the methods
		// the path has in Allow; ask its handler which, without a body.
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			allow := probe.header.Get("Allow")
			w.Header().Set("Allow", allow)
			WriteError(w, Errorf(http.StatusMethodNotAllowed, "method_not_allowed",
				"method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
			return
		}
		WriteError(w, Errorf(http.StatusNotFound, "not_found", "no route for %s %s", r.Method, r.URL.Path))
	})
}

// headerProbe records the status and header a handler writes and drops the body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }

func (p *headerProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

func (p *headerProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// DocsURL is where Herold's documentation (the README) is read online.
const DocsURL = "https://github.com/heroldhq/herold#readme"

// homeLinks are the pages "/" may point to, each shown only when mux routes
// it, so the page never links to something this process does not serve.
func homeLinks() []homeLink {
	return []homeLink{
		{Path: "/console/", Title: "Console", About: "the operator's web console"},
		{Path: "/v1/openapi.json", Title: "API description", About: "the /v1 API as OpenAPI"},
		{Path: "/healthz", Title: "Health", About: "200 while the process runs; /readyz: 200 when Redis answers"},
	}
}

type homeLink struct{ Path, Title, About string }

var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herold</title>
</head>
<body>
<h1>Herold</h1>
<p>This is a Herold server: it dispatches outbound messages (e-mail, SMS, WhatsApp, RCS) and checks
the legal basis of every one. Producers use the JSON API under <code>/v1/</code> with an API key.</p>
<ul>
{{- range .Links}}
<li><a href="{{.Path}}">{{.Title}}</a>: {{.About}}</li>
{{- end}}
<li><a href="{{.Docs}}">Documentation</a>: setup, configuration and the API, in the README</li>
</ul>
</body>
</html>
`))

// home writes the page of "/".
func home(w http.ResponseWriter, mux *http.ServeMux) {
	var links []homeLink
	for _, l := range homeLinks() {
		if routes(mux, l.Path) {
			links = append(links, l)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	_ = homePage.Execute(w, struct {
		Links []homeLink
		Docs  string
	}{links, DocsURL}) // the client went away; nothing to do
}

// routes reports whether mux has a route of its own for GET path: one whose
// pattern names path itself, not merely a subtree it lies in (such as the
// authenticated "/v1/", which answers every path below it).
func routes(mux *http.ServeMux, path string) bool {
	r, err := http.NewRequest(http.MethodGet, path, nil)
	if err != nil {
		return false
	}
	_, pattern := mux.Handler(r)
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p // drop the method
	}
	return pattern == path
}
