package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// sessionCookie holds the session token. It is HttpOnly, SameSite=Strict and
// scoped to /console/, so no other page of Herold's origin sends it.
const sessionCookie = "herold_console"

// deriveKey makes a key of its own for purpose from the shared secret, so
// no key the console uses equals another component's.
func deriveKey(secret, purpose string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("herold console: " + purpose))
	return mac.Sum(nil)
}

// checkCSRF accepts a POST only from a same-origin browser request
// (Sec-Fetch-Site / Origin) that carries the session's token in the form.
func (c *Console) checkCSRF(r *http.Request, s *session) bool {
	if err := c.cop.Check(r); err != nil {
		return false
	}
	return hmac.Equal([]byte(r.FormValue("csrf")), []byte(s.CSRF))
}

// clientIP is the TCP peer, or with TrustProxy the last X-Forwarded-For entry.
func (c *Console) clientIP(r *http.Request) string {
	if c.cfg.TrustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
				return a.Unmap().String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

func (c *Console) setSessionCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/console/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode})
}

// maxForm bounds a posted form that is not an upload.
const maxForm = 1 << 20

// signinPage shows the sign-in form (or, when signed in, goes on).
func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	rq := c.newRequest(r)
	c.render(w, r, rq, http.StatusOK, "signin", "signin.title", signinData{Next: safeNext(r.URL.Query().Get("next"))})
}

type signinData struct {
	Next  string
	Name  string
	Error string // a text key
	Wait  string // how long to wait, in words
}

// safeNext keeps a post-sign-in redirect inside the console.
func safeNext(s string) string {
	if strings.HasPrefix(s, "/console/") && !strings.HasPrefix(s, "//") && !strings.ContainsAny(s, "\\\r\n") {
		return s
	}
	return "/console/"
}

// signin checks name and password. Wrong ones count toward the back-off of
// the name and of the client IP; while either must wait, the password is not
// even checked (429 with Retry-After). Every answer but success is the
// same, so the page does not tell which names exist.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	rq := c.newRequest(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, rq, http.StatusBadRequest, "error.form")
		return
	}
	if err := c.cop.Check(r); err != nil {
		c.fail(w, r, rq, http.StatusForbidden, "error.csrf")
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	name, password := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password")
	data := signinData{Next: safeNext(r.PostFormValue("next")), Name: name}
	if wait, err := c.mustWait(ctx, name, rq.IP); err != nil {
		c.internal(w, r, rq, err)
		return
	} else if wait > 0 {
		c.refuseWait(w, r, rq, data, wait)
		return
	}
	var u *User
	if found, ok := c.users[name]; ok {
		u = &found
	}
	if !verify(u, password) {
		wait, err := c.failed(ctx, name, rq.IP)
		if err != nil {
			c.internal(w, r, rq, err)
			return
		}
		if u != nil {
			if err := c.audit(ctx, AuditEntry{User: u.Name, Role: u.Role, Action: "signin.failed", IP: rq.IP}); err != nil {
				c.log.ErrorContext(ctx, "audit", "err", err)
			}
		}
		if wait > 0 {
			c.refuseWait(w, r, rq, data, wait)
			return
		}
		data.Error = "signin.wrong"
		c.render(w, r, rq, http.StatusUnauthorized, "signin", "signin.title", data)
		return
	}
	if err := c.succeeded(ctx, name); err != nil {
		c.internal(w, r, rq, err)
		return
	}
	tok, err := c.startSession(ctx, u.Name, rq.IP)
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	rq.User = *u
	if !c.record(ctx, w, r, rq, rq.entry("signin", "", "")) {
		return
	}
	c.setSessionCookie(w, tok, 0)
	seeOther(w, r, data.Next)
}

func (c *Console) refuseWait(w http.ResponseWriter, r *http.Request, rq *request, data signinData, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	data.Error, data.Wait = "signin.wait", rq.L.Seconds(secs)
	c.render(w, r, rq, http.StatusTooManyRequests, "signin", "signin.title", data)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := c.endSession(r.Context(), rq.Session); err != nil {
		c.internal(w, r, rq, err)
		return
	}
	if !c.record(r.Context(), w, r, rq, rq.entry("signout", "", "")) {
		return
	}
	c.setSessionCookie(w, "", -1)
	seeOther(w, r, "/console/signin")
}

// constantEqual compares two tokens in constant time.
func constantEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }
