package apptest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/heroldhq/herold/internal/api"
)

// TwilioReply is one scripted answer of the fake: an HTTP status and, for
// errors, a Twilio error code (e.g. 21211 invalid To, 21610 unsubscribed).
type TwilioReply struct {
	Status int
	Code   int
	// Hang: never answer; the call ends when the client gives up.
	Hang bool
}

// TwilioRequest is one accepted or refused CreateMessage call as the fake saw it.
type TwilioRequest struct {
	To, From, Body, MessagingServiceSid, StatusCallback string
	ContentSid, ContentVariables                        string
	// Variables is ContentVariables decoded (the fake refuses anything but
	// a JSON object of strings).
	Variables map[string]string
	Status    int
	SID       string // answered SID on success
}

// TwilioFake is an httptest server that answers twilio-go's CreateMessage
// like the Twilio API: it checks the path /2010-04-01/Accounts/{sid}/Messages.json,
// HTTP basic auth with the account SID and token, the form content type, the
// To field (E.164, optionally whatsapp:/rcs:), From on the same channel as To
// or a MessagingServiceSid (MG and 32 hex digits), and Body or a ContentSid
// (HX and 32 hex digits) — never both — whose ContentVariables, if any, are
// a JSON object of strings. A request that breaks these rules gets 400 and
// is counted in Bad.
type TwilioFake struct {
	AccountSID, AuthToken string
	srv                   *httptest.Server

	mu     sync.Mutex
	script map[string][]TwilioReply // by To: replies used in order, then success
	reqs   []TwilioRequest
	bad    []string
}

// NewTwilioFake starts the fake for the account SID and auth token.
func NewTwilioFake(accountSID, authToken string) *TwilioFake {
	f := &TwilioFake{AccountSID: accountSID, AuthToken: authToken, script: map[string][]TwilioReply{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// Close stops the server.
func (f *TwilioFake) Close() { f.srv.Close() }

// URL is the fake's base URL.
func (f *TwilioFake) URL() string { return f.srv.URL }

// Transport rewrites every request's scheme and host to the fake, so a
// client built for api.twilio.com talks to it.
func (f *TwilioFake) Transport() http.RoundTripper {
	u, _ := url.Parse(f.srv.URL)
	base := f.srv.Client().Transport
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, u.Host
		return base.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Script queues replies for messages to the number to; when they are used
// up, messages are accepted again.
func (f *TwilioFake) Script(to string, replies ...TwilioReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[to] = append(f.script[to], replies...)
}

// Requests returns the well-formed calls so far, refused ones included.
func (f *TwilioFake) Requests() []TwilioRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TwilioRequest(nil), f.reqs...)
}

// Accepted counts the calls that were answered with success.
func (f *TwilioFake) Accepted() int {
	n := 0
	for _, r := range f.Requests() {
		if r.Status == http.StatusCreated {
			n++
		}
	}
	return n
}

// Bad returns why malformed calls were refused.
func (f *TwilioFake) Bad() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bad...)
}

func (f *TwilioFake) refuse(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.bad = append(f.bad, msg)
	f.mu.Unlock()
	writeTwilioError(w, http.StatusBadRequest, 20001, msg)
}

func (f *TwilioFake) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+f.AccountSID+"/Messages.json" {
		f.refuse(w, "unexpected %s %s", r.Method, r.URL.Path)
		return
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != f.AccountSID || pass != f.AuthToken {
		w.WriteHeader(http.StatusUnauthorized)
		f.mu.Lock()
		f.bad = append(f.bad, "bad basic auth")
		f.mu.Unlock()
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.refuse(w, "content type %q", ct)
		return
	}
	if err := r.ParseForm(); err != nil {
		f.refuse(w, "form: %v", err)
		return
	}
	req := TwilioRequest{
		To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), Body: r.PostForm.Get("Body"),
		MessagingServiceSid: r.PostForm.Get("MessagingServiceSid"), StatusCallback: r.PostForm.Get("StatusCallback"),
		ContentSid: r.PostForm.Get("ContentSid"), ContentVariables: r.PostForm.Get("ContentVariables"),
	}
	if problem := checkCreate(&req); problem != "" {
		f.refuse(w, "%s", problem)
		return
	}
	f.mu.Lock()
	reply := TwilioReply{Status: http.StatusCreated}
	if q := f.script[req.To]; len(q) > 0 {
		reply, f.script[req.To] = q[0], q[1:]
	}
	req.Status = reply.Status
	if reply.Status == http.StatusCreated {
		req.SID = newSID()
	}
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()

	if reply.Hang {
		<-r.Context().Done()
		return
	}
	if reply.Status != http.StatusCreated {
		// Twilio's error text repeats the number; the adapter must drop it.
		writeTwilioError(w, reply.Status, reply.Code, fmt.Sprintf("The 'To' number %s is not valid.", req.To))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sid": req.SID, "account_sid": f.AccountSID, "to": req.To, "from": req.From,
		"body": req.Body, "status": "queued", "num_segments": "1", "direction": "outbound-api",
	})
}

func writeTwilioError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": msg, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status,
	})
}

var (
	contentSIDPattern = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)
	serviceSIDPattern = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
)

// checkCreate says what is wrong with a CreateMessage form, or "".
func checkCreate(req *TwilioRequest) string {
	switch {
	case !validTo(req.To):
		return fmt.Sprintf("To %q is not E.164", req.To)
	case req.From == "" && req.MessagingServiceSid == "":
		return "neither From nor MessagingServiceSid"
	case req.MessagingServiceSid != "" && !serviceSIDPattern.MatchString(req.MessagingServiceSid):
		return fmt.Sprintf("MessagingServiceSid %q is not MG and 32 hex digits", req.MessagingServiceSid)
	case req.From != "" && channelOf(req.From) != channelOf(req.To):
		return fmt.Sprintf("From %q and To %q are on different channels", req.From, req.To)
	case req.Body == "" && req.ContentSid == "":
		return "neither Body nor ContentSid"
	case req.Body != "" && req.ContentSid != "":
		return "both Body and ContentSid: Twilio would drop the Body"
	case req.ContentSid != "" && !contentSIDPattern.MatchString(req.ContentSid):
		return fmt.Sprintf("ContentSid %q is not HX and 32 hex digits", req.ContentSid)
	case req.ContentVariables != "" && req.ContentSid == "":
		return "ContentVariables without a ContentSid"
	}
	if req.ContentVariables != "" {
		if err := json.Unmarshal([]byte(req.ContentVariables), &req.Variables); err != nil {
			return fmt.Sprintf("ContentVariables is not a JSON object of strings: %v", err)
		}
	}
	return ""
}

// channelOf is the channel prefix of a Twilio address ("whatsapp:", "rcs:"), or "".
func channelOf(addr string) string {
	if i := strings.IndexByte(addr, ':'); i > 0 {
		return addr[:i+1]
	}
	return ""
}

func validTo(to string) bool {
	for _, p := range []string{"whatsapp:", "rcs:"} {
		if len(to) > len(p) && to[:len(p)] == p {
			to = to[len(p):]
		}
	}
	if len(to) < 8 || len(to) > 16 || to[0] != '+' || to[1] == '0' {
		return false
	}
	for _, c := range to[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func newSID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "SM" + hex.EncodeToString(b)
}

// SignTwilio computes X-Twilio-Signature as Twilio documents it, without
// twilio-go: base64(HMAC-SHA1(token, URL + each key and value, keys sorted)).
func SignTwilio(token, u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(u)
	for _, k := range keys {
		b.WriteString(k + form.Get(k))
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// TwilioInbound posts form to Herold's inbound webhook as Twilio does, signed
// with sig (SignTwilio of the auth token and HEROLD_PUBLIC_URL's webhook URL
// when sig is ""), and returns the status.
func (h *Herold) TwilioInbound(t testing.TB, form url.Values, sig string) int {
	t.Helper()
	if sig == "" {
		sig = SignTwilio(AuthToken, strings.TrimRight(h.Config.HTTP.PublicURL, "/")+api.TwilioInboundPath, form)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, h.URL+api.TwilioInboundPath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
