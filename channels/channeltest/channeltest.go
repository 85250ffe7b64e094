// Package channeltest is the contract every channels.Sender passes: success
// returns a receipt, permanent and retryable failures are told apart, a
// cancelled context ends a send promptly with the context's error, and no
// returned error carries the address or number it was sent to.
//
// An adapter's test builds a Harness against a real (in-process) provider
// and calls Run:
//
//	channeltest.Run(t, func(t *testing.T) channeltest.Harness { … })
package channeltest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/channels"
)

// Case is one message and the sender to send it with.
type Case struct {
	Sender channels.Sender // nil: Harness.Sender
	Msg    channels.Outbound
	// Is, when set, must be found in the error's chain (e.g. channels.ErrHardBounce).
	Is error
}

// Harness is what Run needs to exercise one adapter.
type Harness struct {
	Sender channels.Sender

	// OK is delivered successfully.
	OK Case
	// Permanent fails for good: a bounce, an invalid number, rejected content.
	Permanent []Case
	// Retryable fails for now: a 4xx, a 429, a 5xx from an HTTP API.
	Retryable []Case
	// Stall makes the provider hang until the client gives up; with a zero
	// Msg, only a context cancelled before Send is checked.
	Stall Case
	// Receipt, when set, checks the receipt of OK.
	Receipt func(t *testing.T, r channels.Receipt)
}

// Run runs the contract against newHarness, one fresh harness per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("success", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		r, err := send(t.Context(), h, h.OK)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if r.Provider == "" {
			t.Errorf("receipt %+v names no provider", r)
		}
		if h.Receipt != nil {
			h.Receipt(t, r)
		}
	})
	t.Run("permanent", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if len(h.Permanent) == 0 {
			t.Fatal("harness has no permanent case")
		}
		for _, c := range h.Permanent {
			_, err := send(t.Context(), h, c)
			if err == nil {
				t.Fatalf("Send(%s) = nil error, want a permanent one", c.Msg.MessageID)
			}
			if !channels.IsPermanent(err) {
				t.Errorf("Send(%s) = %v, want permanent", c.Msg.MessageID, err)
			}
			if c.Is != nil && !errors.Is(err, c.Is) {
				t.Errorf("Send(%s) = %v, want it to wrap %v", c.Msg.MessageID, err, c.Is)
			}
			noPersonalData(t, err, c.Msg)
		}
	})
	t.Run("retryable", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if len(h.Retryable) == 0 {
			t.Fatal("harness has no retryable case")
		}
		for _, c := range h.Retryable {
			_, err := send(t.Context(), h, c)
			if err == nil {
				t.Fatalf("Send(%s) = nil error, want a retryable one", c.Msg.MessageID)
			}
			if channels.IsPermanent(err) {
				t.Errorf("Send(%s) = %v, want retryable", c.Msg.MessageID, err)
			}
			if c.Is != nil && !errors.Is(err, c.Is) {
				t.Errorf("Send(%s) = %v, want it to wrap %v", c.Msg.MessageID, err, c.Is)
			}
			noPersonalData(t, err, c.Msg)
		}
	})
	t.Run("cancelled before send", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := send(ctx, h, h.OK)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Send with a cancelled context = %v, want context.Canceled", err)
		}
		if channels.IsPermanent(err) {
			t.Errorf("a cancelled send must stay retryable, got %v", err)
		}
	})
	t.Run("cancelled during send", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.Stall.Msg.MessageID == "" {
			t.Log("adapter does not wait on a provider; covered by 'cancelled before send'")
			return
		}
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		done := make(chan error, 1)
		go func() {
			_, err := send(ctx, h, h.Stall)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Send cancelled while the provider stalls = %v, want context.Canceled", err)
			}
			noPersonalData(t, err, h.Stall.Msg)
		case <-time.After(10 * time.Second):
			// A bound on correctness (the send must notice the cancel at
			// all), far above any real duration; not a performance check.
			t.Fatal("Send did not return within 10s of its context being cancelled")
		}
	})
}

func send(ctx context.Context, h Harness, c Case) (channels.Receipt, error) {
	s := c.Sender
	if s == nil {
		s = h.Sender
	}
	return s.Send(ctx, c.Msg)
}

// noPersonalData fails when err's text holds the address, the number (with
// or without its +), or an e-mail's local part.
func noPersonalData(t *testing.T, err error, m channels.Outbound) {
	t.Helper()
	if err == nil || m.To == "" {
		return
	}
	text := err.Error()
	needles := []string{m.To}
	if local, _, ok := strings.Cut(m.To, "@"); ok && len(local) >= 3 {
		needles = append(needles, local)
	}
	if digits := strings.TrimPrefix(m.To, "+"); digits != m.To && len(digits) >= 6 {
		needles = append(needles, digits, digits[len(digits)-6:])
	}
	for _, n := range needles {
		if strings.Contains(text, n) {
			t.Errorf("error %q contains personal data %q", text, n)
		}
	}
}
