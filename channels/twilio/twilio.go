// Package twilio is the piece that channels/sms, channels/whatsapp and
// channels/rcs share: one call of Twilio's Messages API with twilio-go, bound
// by a context, and the classification of what Twilio answers.
//
// Credentials are always passed in: twilio-go falls back to the
// TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN environment variables (and reads
// TWILIO_EDGE and TWILIO_REGION) when built the usual way, so this package
// builds its client.Client and RequestHandler itself.
//
// # Errors
//
// 429, 5xx, timeouts and network errors are retryable (a RetryAfterError when
// Twilio sent Retry-After); 21211, 21612, 21614 and 63003 are permanent and
// wrap channels.ErrInvalidAddress; 21610 is permanent and wraps
// channels.ErrUnsubscribed; 63016 (outside the WhatsApp session window) is
// permanent and wraps channels.ErrOutsideWindow; template errors and every
// other 4xx are permanent, except 401 (bad credentials: the operator's
// problem, not the message's). Errors are channels.ProviderError values with
// HTTP status and Twilio code: Twilio's message text repeats the number.
package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/heroldhq/herold/channels"
)

// StatusPath is where Twilio posts delivery status (see internal/api).
const StatusPath = "/webhooks/twilio/status"

var (
	accountSIDPattern = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	serviceSIDPattern = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	e164Pattern       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	alnumPattern      = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// Config configures a Client.
type Config struct {
	AccountSID string
	AuthToken  string
	// StatusCallback is the full URL Twilio posts status changes to, e.g.
	// "https://herold.example" + StatusPath; empty for none.
	StatusCallback string
	// Timeout bounds one API call; default 10s.
	Timeout time.Duration
	// Transport carries the requests; nil means a transport with room for
	// many idle connections to Twilio. Tests point it at an httptest server.
	Transport http.RoundTripper
}

// Client sends messages through Twilio. It is safe for concurrent use.
type Client struct {
	sid, token     string
	statusCallback string
	timeout        time.Duration
	transport      http.RoundTripper
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if !accountSIDPattern.MatchString(cfg.AccountSID) {
		return nil, errors.New("twilio: account SID must be AC followed by 32 hex digits")
	}
	if cfg.AuthToken == "" || !alnumPattern.MatchString(cfg.AuthToken) {
		return nil, errors.New("twilio: auth token must be set and alphanumeric")
	}
	c := &Client{sid: cfg.AccountSID, token: cfg.AuthToken, statusCallback: cfg.StatusCallback, timeout: cfg.Timeout, transport: cfg.Transport}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	if c.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// PERF.md: 8 goroutines, 8.5k/s with the default 2 idle connections
		// per host, 15.4k/s with 64.
		t.MaxIdleConnsPerHost = 64
		c.transport = t
	}
	return c, nil
}

// Params is one message. Exactly one of From and MessagingServiceSID is set.
type Params struct {
	To                  string // "+49…", "whatsapp:+49…" or "rcs:+49…"
	From                string
	MessagingServiceSID string
	Body                string
	ContentSID          string            // approved template (HX…)
	ContentVariables    map[string]string // template variables, "1" → "Anna"
}

// IsServiceSID reports whether s is a Messaging Service SID (MG…).
func IsServiceSID(s string) bool { return serviceSIDPattern.MatchString(s) }

// ValidE164 reports whether s is a number in E.164 form, e.g. +4915112345678.
func ValidE164(s string) bool { return e164Pattern.MatchString(s) }

// Send creates the message and returns its Twilio SID as ProviderID.
//
// twilio-go's CreateMessage takes no context: the call runs on a client
// whose transport carries ctx (bounded by the timeout), so a cancelled ctx
// aborts the request and Send returns ctx's error.
func (c *Client) Send(ctx context.Context, p Params) (channels.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return channels.Receipt{}, err
	}
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rt := &callTransport{base: c.transport, ctx: callCtx}
	cl := &twclient.Client{
		Credentials: twclient.NewCredentials(c.sid, c.token),
		HTTPClient: &http.Client{
			Transport:     rt,
			Timeout:       c.timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	cl.SetAccountSid(c.sid)
	// A RequestHandler built by hand: NewRequestHandler reads TWILIO_EDGE
	// and TWILIO_REGION from the environment.
	api := openapi.NewApiService(&twclient.RequestHandler{Client: cl})

	params := &openapi.CreateMessageParams{}
	params.SetTo(p.To)
	switch {
	case p.MessagingServiceSID != "":
		params.SetMessagingServiceSid(p.MessagingServiceSID)
		if p.From != "" {
			params.SetFrom(p.From)
		}
	case p.From != "":
		params.SetFrom(p.From)
	default:
		return channels.Receipt{}, channels.Permanent(&channels.ProviderError{Provider: "twilio", Detail: "no sender configured"})
	}
	if p.ContentSID != "" {
		params.SetContentSid(p.ContentSID)
		if len(p.ContentVariables) > 0 {
			vars, err := json.Marshal(p.ContentVariables)
			if err != nil {
				return channels.Receipt{}, channels.Permanent(fmt.Errorf("twilio: content variables: %w", err))
			}
			params.SetContentVariables(string(vars))
		}
	}
	if p.Body != "" {
		params.SetBody(p.Body)
	}
	if c.statusCallback != "" {
		params.SetStatusCallback(c.statusCallback)
	}

	msg, err := api.CreateMessage(params)
	if err != nil {
		if ctx.Err() != nil {
			return channels.Receipt{}, fmt.Errorf("twilio: %w", ctx.Err())
		}
		return channels.Receipt{}, classify(err, rt.status, rt.retryAfter)
	}
	r := channels.Receipt{Provider: "twilio"}
	if msg.Sid != nil {
		r.ProviderID = *msg.Sid
	}
	return r, nil
}

// callTransport carries one call's context and keeps what twilio-go drops:
// the HTTP status and Retry-After of an error answer.
type callTransport struct {
	base       http.RoundTripper
	ctx        context.Context
	status     int
	retryAfter time.Duration
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req.WithContext(t.ctx))
	if err != nil {
		return nil, err
	}
	t.status = resp.StatusCode
	if resp.StatusCode >= 400 {
		t.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		// twilio-go does not close an error answer's body: read it here, so
		// the connection goes back to the pool.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, nil
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Twilio error codes with a meaning beyond their HTTP status.
var codeDetail = map[int]string{
	21211: "invalid To number",
	21612: "To number not reachable on this channel",
	21614: "To number is not a mobile number",
	63003: "channel could not find the To address",
	21610: "recipient unsubscribed (STOP)",
	21408: "sending to this region is not enabled",
	21606: "From number cannot send to this recipient",
	63016: "outside the WhatsApp 24-hour window: an approved template is required",
	63024: "invalid WhatsApp recipient",
	63027: "template does not exist for this language",
	63028: "template parameters do not match",
	63032: "WhatsApp limitation for this user",
	63049: "Meta did not deliver this marketing message",
	63005: "channel did not accept the content",
	63013: "channel policy violation",
	63018: "channel rate limit exceeded",
	20003: "authentication failed",
	20429: "too many requests",
}

func classify(err error, status int, retryAfter time.Duration) error {
	code := 0
	var te *twclient.TwilioRestError
	if errors.As(err, &te) {
		code = te.Code
		if te.Status != 0 {
			status = te.Status
		}
	}
	perr := &channels.ProviderError{Provider: "twilio", Status: status, Code: code, Detail: codeDetail[code]}
	switch {
	case status == 0:
		// No answer: network or timeout. The error names Twilio's URL (with
		// the account SID, not a secret) but never the recipient.
		perr.Detail = "request failed"
		return fmt.Errorf("%w: %w", perr, err)
	case status == http.StatusTooManyRequests || status >= 500 || code == 63018 || code == 20429:
		if retryAfter > 0 {
			return &channels.RetryAfterError{After: retryAfter, Err: perr}
		}
		return perr
	case status == http.StatusUnauthorized:
		return perr
	case code == 21211 || code == 21612 || code == 21614 || code == 63003 || code == 63024:
		return channels.Permanent(fmt.Errorf("%w: %w", channels.ErrInvalidAddress, perr))
	case code == 21610:
		return channels.Permanent(fmt.Errorf("%w: %w", channels.ErrUnsubscribed, perr))
	case code == 63016:
		return channels.Permanent(fmt.Errorf("%w: %w", channels.ErrOutsideWindow, perr))
	default:
		if perr.Detail == "" {
			perr.Detail = "rejected"
		}
		return channels.Permanent(perr)
	}
}

// From names the senders of one channel by queue class. Each value is a
// number or alphanumeric sender id, a channel address ("rcs:agent") or a
// Messaging Service SID (MG…). Transactional and service messages come from
// Transactional; marketing only from Marketing and never falls back, so a
// STOP to an offer does not block invoices at the provider.
type From struct {
	Transactional string
	Marketing     string
}

// For returns the sender for a queue class, or "" when none is configured.
func (f From) For(class string) string {
	if class == "marketing" {
		return f.Marketing
	}
	return f.Transactional
}

// Empty reports whether no sender is configured.
func (f From) Empty() bool { return f.Transactional == "" && f.Marketing == "" }

// NoSender is the permanent error for a class without a sender.
func NoSender(channel, class string) error {
	return channels.Permanent(&channels.ProviderError{Provider: "twilio", Detail: fmt.Sprintf("no %s sender configured for class %q", channel, class)})
}

// InvalidNumber is the permanent error for a To that is not E.164.
func InvalidNumber() error {
	return channels.Permanent(fmt.Errorf("twilio: To is not an E.164 number: %w", channels.ErrInvalidAddress))
}

// Apply sets from as From or MessagingServiceSID.
func (p *Params) Apply(from string) {
	if IsServiceSID(from) {
		p.MessagingServiceSID = from
	} else {
		p.From = from
	}
}
