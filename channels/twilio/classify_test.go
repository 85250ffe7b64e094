package twilio

import (
	"errors"
	"strings"
	"testing"
	"time"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/heroldhq/herold/channels"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		" 120 ":                         2 * time.Minute,
		"-3":                            0,
		"soon":                          0,
		"Wed, 25 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Wed, 25 Nov 2026 11:00:00 GMT": 0, // in the past
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	rest := func(status, code int) error {
		return &twclient.TwilioRestError{Status: status, Code: code, Message: "The 'To' number +4915112345678 is not valid"}
	}
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		retryAfter time.Duration
		permanent  bool
		is         error
		after      time.Duration
	}{
		{"21211 invalid number", rest(400, 21211), 400, 0, true, channels.ErrInvalidAddress, 0},
		{"21614 not mobile", rest(400, 21614), 400, 0, true, channels.ErrInvalidAddress, 0},
		{"21610 unsubscribed", rest(400, 21610), 400, 0, true, channels.ErrUnsubscribed, 0},
		{"63016 window", rest(400, 63016), 400, 0, true, channels.ErrOutsideWindow, 0},
		{"other 4xx", rest(400, 21602), 400, 0, true, nil, 0},
		{"429 with Retry-After", rest(429, 20429), 429, 9 * time.Second, false, nil, 9 * time.Second},
		{"503", rest(503, 20503), 503, 0, false, nil, 0},
		{"non-JSON 502", errors.New("error decoding the response for an HTTP error code: 502"), 502, 0, false, nil, 0},
		{"401 credentials", rest(401, 20003), 401, 0, false, nil, 0},
		{"63018 channel rate", rest(400, 63018), 400, 0, false, nil, 0},
		{"network", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), 0, 0, false, nil, 0},
	} {
		err := classify(tc.err, tc.status, tc.retryAfter)
		if channels.IsPermanent(err) != tc.permanent {
			t.Errorf("%s: %v, permanent = %v, want %v", tc.name, err, !tc.permanent, tc.permanent)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v does not wrap %v", tc.name, err, tc.is)
		}
		if after, _ := channels.RetryAfter(err); after != tc.after {
			t.Errorf("%s: retry after %s, want %s", tc.name, after, tc.after)
		}
		var perr *channels.ProviderError
		if !errors.As(err, &perr) || perr.Provider != "twilio" || perr.Status != tc.status {
			t.Errorf("%s: %v, want a twilio ProviderError with status %d", tc.name, err, tc.status)
		}
		if s := err.Error(); strings.Contains(s, "4915112345678") {
			t.Errorf("%s: %q repeats the number", tc.name, s)
		}
	}
}
