package pages

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// csrfCookie holds the random half of the signed double-submit CSRF token.
const csrfCookie = "herold_csrf"

// securityHeaders sets the headers every page answers with: a CSP that
// allows nothing but this origin (and the logo's), no framing, no referrer
// (page URLs carry tokens), no MIME sniffing and no caching of token pages.
func (p *Pages) securityHeaders(next http.Handler) http.Handler {
	imgSrc := "'self'"
	if p.logoOrigin != "" {
		imgSrc += " " + p.logoOrigin
	}
	csp := "default-src 'self'; img-src " + imgSrc + "; style-src 'self'; script-src 'none'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// csrfToken returns the form field value for action (the path the form
// posts to), setting the cookie it is bound to when the browser has none.
// The field is HMAC(key, cookie | action): a signed double-submit token
// (OWASP), so a form of one page cannot be replayed against another and an
// attacker who cannot read our cookie cannot make a valid field.
func (p *Pages) csrfToken(w http.ResponseWriter, r *http.Request, action string) string {
	seed := ""
	if c, err := r.Cookie(csrfCookie); err == nil && validSeed(c.Value) {
		seed = c.Value
	} else if s, ok := w.Header()["Set-Cookie"]; ok && len(s) > 0 {
		// A seed was set earlier in this response.
		for _, line := range s {
			if v, ok := strings.CutPrefix(line, csrfCookie+"="); ok {
				seed, _, _ = strings.Cut(v, ";")
			}
		}
	}
	if seed == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
		seed = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{
			Name: csrfCookie, Value: seed, Path: "/", HttpOnly: true,
			Secure: p.secureCookies, SameSite: http.SameSiteLaxMode,
		})
	}
	return p.csrfMAC(seed, action)
}

func (p *Pages) csrfMAC(seed, action string) string {
	mac := hmac.New(sha256.New, p.csrfKey)
	mac.Write([]byte(seed))
	mac.Write([]byte{0})
	mac.Write([]byte(action))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func validSeed(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

// checkCSRF accepts a form POST only from a same-origin browser request
// (Sec-Fetch-Site / Origin, net/http's CrossOriginProtection) that carries
// the cookie and the matching signed field for this path.
func (p *Pages) checkCSRF(r *http.Request) bool {
	if err := p.cop.Check(r); err != nil {
		return false
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validSeed(c.Value) {
		return false
	}
	want := p.csrfMAC(c.Value, r.URL.Path)
	return hmac.Equal([]byte(want), []byte(r.PostFormValue("csrf")))
}

// clientIP is the address the request came from: the TCP peer, or with
// TrustProxy the last X-Forwarded-For entry (the one our proxy appended).
func (p *Pages) clientIP(r *http.Request) netip.Addr {
	if p.trustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
				return a.Unmap()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// addressKey is a keyed hash of an e-mail address, for Redis keys that must
// not hold the address itself (rate limits, sign-up locks).
func (p *Pages) addressKey(addr string) string {
	mac := hmac.New(sha256.New, p.addrKey)
	mac.Write([]byte(strings.ToLower(addr)))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// maxForm bounds a form post: the pages' forms are a few fields.
const maxForm = 16 << 10

// readForm parses a posted form of at most maxForm bytes, URL-encoded or
// multipart/form-data (RFC 8058 §3.1: the one-click POST may come as
// either, and a sender SHOULD accept both), and, with csrf, checks its CSRF
// token. On failure it has answered, and returns false.
func (p *Pages) readForm(w http.ResponseWriter, r *http.Request, csrf bool) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	var err error
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		// The whole body is at most maxForm, so every part stays in memory;
		// RemoveAll drops anything the parser may still have spooled.
		err = r.ParseMultipartForm(maxForm)
		if r.MultipartForm != nil {
			_ = r.MultipartForm.RemoveAll()
		}
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		p.fail(w, r, http.StatusBadRequest, "error.form")
		return false
	}
	if csrf && !p.checkCSRF(r) {
		p.fail(w, r, http.StatusForbidden, "error.csrf")
		return false
	}
	return true
}
