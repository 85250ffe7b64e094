// Package twiliotest runs an in-process stand-in for Twilio's Messages API
// on 127.0.0.1 (httptest), for the tests of the Twilio channels. It checks
// what twilio-go sends (path, basic auth, form fields) and answers with the
// JSON bodies Twilio answers with, including its error bodies.
//
// The recipient number steers the answer: Number(code) gives a number that
// makes the server answer with that Twilio error code (or HTTP status, for
// 429, 500 and 503), and Number(Stall) one that makes it hang until the
// client gives up. Every other number is accepted.
package twiliotest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heroldhq/herold/channels/twilio"
)

// Test credentials.
const (
	AccountSID = "AC0123456789abcdef0123456789abcdef"
	AuthToken  = "0123456789abcdef0123456789abcdef"
)

// Stall is the pseudo code of a number whose request never gets an answer.
const Stall = 99999

// Request is one accepted or refused CreateMessage call.
type Request struct {
	Form url.Values
}

// Server is the fake Messages API.
type Server struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	requests []Request
}

// New starts a Server that stops when the test ends.
func New(t testing.TB) *Server {
	s := &Server{t: t}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	return s
}

// Number returns an E.164 number that makes the server answer with code.
func Number(code int) string { return fmt.Sprintf("+4915100%05d", code) }

// OKNumber is a number the server accepts.
const OKNumber = "+4917655501928"

// Transport sends every request, whatever its host, to the server.
func (s *Server) Transport() http.RoundTripper {
	u, _ := url.Parse(s.srv.URL)
	return rewrite{base: s.srv.Client().Transport, host: u.Host}
}

// Config returns a twilio.Config pointing at the server.
func (s *Server) Config() twilio.Config {
	return twilio.Config{
		AccountSID:     AccountSID,
		AuthToken:      AuthToken,
		StatusCallback: "https://herold.example" + twilio.StatusPath,
		Timeout:        10 * time.Second,
		Transport:      s.Transport(),
	}
}

// Unreachable returns a twilio.Client whose requests go to a loopback port
// nobody listens on: a network error.
func Unreachable(t testing.TB) *twilio.Client {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := twilio.Config{AccountSID: AccountSID, AuthToken: AuthToken, Timeout: 5 * time.Second,
		Transport: rewrite{base: http.DefaultTransport, host: addr}}
	c, err := twilio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Client returns a twilio.Client pointing at the server.
func (s *Server) Client(t testing.TB) *twilio.Client {
	c, err := twilio.New(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Requests returns the form of every request so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

type rewrite struct {
	base http.RoundTripper
	host string
}

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = "http", r.host
	return r.base.RoundTrip(req)
}

// knownFields are the form fields twilio-go's CreateMessage may send that Herold uses.
var knownFields = map[string]bool{
	"To": true, "From": true, "MessagingServiceSid": true, "Body": true,
	"ContentSid": true, "ContentVariables": true, "StatusCallback": true,
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	want := "/2010-04-01/Accounts/" + AccountSID + "/Messages.json"
	if r.Method != http.MethodPost || r.URL.Path != want {
		s.t.Errorf("twiliotest: %s %s, want POST %s", r.Method, r.URL.Path, want)
		writeError(w, http.StatusNotFound, 20404, "The requested resource was not found")
		return
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != AccountSID || pass != AuthToken {
		s.t.Errorf("twiliotest: basic auth %q, want the account SID and token", user)
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		s.t.Errorf("twiliotest: Content-Type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		s.t.Errorf("twiliotest: form: %v", err)
		writeError(w, http.StatusBadRequest, 20001, "bad form")
		return
	}
	for k := range r.PostForm {
		if !knownFields[k] {
			s.t.Errorf("twiliotest: unexpected form field %s", k)
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Form: r.PostForm})
	s.mu.Unlock()

	to := r.PostForm.Get("To")
	if to == "" || (r.PostForm.Get("From") == "" && r.PostForm.Get("MessagingServiceSid") == "") {
		writeError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	}
	if r.PostForm.Get("Body") == "" && r.PostForm.Get("ContentSid") == "" {
		writeError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	number := to[strings.IndexByte(to, '+')+1:]
	code := 0
	if strings.HasPrefix(number, "4915100") && len(number) == 12 {
		code, _ = strconv.Atoi(number[7:])
	}
	switch code {
	case 0:
	case Stall:
		<-r.Context().Done()
		return
	case 429:
		w.Header().Set("Retry-After", "7")
		writeError(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
		return
	case 500:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "<html><body>Internal Server Error</body></html>")
		return
	case 503:
		writeError(w, http.StatusServiceUnavailable, 20503, "Service Unavailable")
		return
	default:
		// Real Twilio errors repeat the number in their message.
		writeError(w, http.StatusBadRequest, code, fmt.Sprintf("The 'To' number %s is not valid for this request (error %d).", to, code))
		return
	}
	sid := "SM" + randomHex()
	now := time.Now().UTC().Format(time.RFC1123Z)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{
		"account_sid":           AccountSID,
		"api_version":           "2010-04-01",
		"body":                  r.PostForm.Get("Body"),
		"date_created":          now,
		"date_sent":             nil,
		"date_updated":          now,
		"direction":             "outbound-api",
		"error_code":            nil,
		"error_message":         nil,
		"from":                  r.PostForm.Get("From"),
		"messaging_service_sid": nilIfEmpty(r.PostForm.Get("MessagingServiceSid")),
		"num_media":             "0",
		"num_segments":          "1",
		"price":                 nil,
		"price_unit":            "USD",
		"sid":                   sid,
		"status":                "queued",
		"subresource_uris":      map[string]string{"media": "/2010-04-01/Accounts/" + AccountSID + "/Messages/" + sid + "/Media.json"},
		"to":                    to,
		"uri":                   "/2010-04-01/Accounts/" + AccountSID + "/Messages/" + sid + ".json",
	})
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"code":      code,
		"message":   msg,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
		"status":    status,
	})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func randomHex() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
