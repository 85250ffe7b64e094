package apptest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
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
	Status                                              int
	SID                                                 string // answered SID on success
}

// TwilioFake is an httptest server that answers twilio-go's CreateMessage
// like the Twilio API: it checks the path /2010-04-01/Accounts/{sid}/Messages.json,
// HTTP basic auth with the account SID and token, the form content type and
// the To field (E.164, optionally whatsapp:/rcs:), and From or
// MessagingServiceSid and Body or ContentSid. A request that breaks these
// rules gets 400 and is counted in Bad.
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
	switch {
	case !validTo(req.To):
		f.refuse(w, "To %q is not E.164", req.To)
		return
	case req.From == "" && req.MessagingServiceSid == "":
		f.refuse(w, "neither From nor MessagingServiceSid")
		return
	case req.Body == "" && req.ContentSid == "":
		f.refuse(w, "neither Body nor ContentSid")
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
