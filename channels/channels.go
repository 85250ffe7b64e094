// Package channels is the small interface between Herold's dispatcher and the
// providers that deliver messages: one Sender per channel, given rendered
// content and an address, never a policy decision to make.
//
// Errors are classified where the provider returns them: Permanent errors are
// not retried (bad address, hard bounce, recipient unsubscribed, bad content);
// every other error is retried, after RetryAfterError.After when the provider
// said so. Errors never carry an address or phone number: keep provider codes
// in a ProviderError and drop provider text that may echo them.
package channels

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Outbound is one rendered message ready for a provider.
type Outbound struct {
	MessageID string // Herold's message id; stable across retries
	Type      string // message type key, e.g. "invoice"
	Class     string // queue class: transactional, service or marketing; picks the sender
	Locale    string
	To        string // e-mail address, or E.164 number for phone channels

	// E-mail.
	Subject string
	Text    string // plain text; for sms, whatsapp and rcs the message body
	HTML    string

	// Unsubscribe (RFC 2369, RFC 8058) for advertising, newsletters and surveys;
	// empty for transactional mail.
	UnsubscribeURL    string // https one-click endpoint
	UnsubscribeMailto string // mailto: address
	ListID            string // List-Id, e.g. "newsletter.example.com"

	// Twilio Content template (ContentSid: WhatsApp's approved template, an
	// RCS rich card) and its variables, "1" → "Anna".
	ContentSID       string
	ContentVariables map[string]string
	// FreeForm: WhatsApp may carry Text without a template (the caller
	// checked the person's session window). Without it and without a
	// ContentSID the WhatsApp sender refuses the message.
	FreeForm bool

	// RCS: the decision allows falling back to SMS for phones without RCS.
	SMSFallback bool
}

// Receipt is what the provider answered for an accepted message.
type Receipt struct {
	Provider   string `json:"provider"`              // "smtp", "twilio", "outbox"
	ProviderID string `json:"provider_id,omitempty"` // e.g. a Twilio SM… sid or the Message-ID
}

// Sender delivers one message on one channel. Send must honour ctx, be safe for
// concurrent use, and return errors classified as described in the package doc.
type Sender interface {
	Send(ctx context.Context, m Outbound) (Receipt, error)
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, m Outbound) (Receipt, error)

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, m Outbound) (Receipt, error) { return f(ctx, m) }

// PermanentError marks a delivery that fails the same way every time.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that it is not retried.
func Permanent(err error) error { return &PermanentError{Err: err} }

// IsPermanent reports whether err or any error it wraps is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfterError asks for the next attempt no sooner than After (a provider's
// Retry-After). It is retryable.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns the delay err asks for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var r *RetryAfterError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}

// ProviderError keeps what a provider said in a form safe to store and log:
// status and code, never the provider's text (it can echo the address).
type ProviderError struct {
	Provider string `json:"provider"`
	Status   int    `json:"status,omitempty"` // HTTP status or SMTP reply code
	Code     int    `json:"code,omitempty"`   // provider error code, e.g. Twilio 21211
	Detail   string `json:"detail,omitempty"` // a fixed description chosen by the adapter, never provider text
}

func (e *ProviderError) Error() string {
	s := fmt.Sprintf("%s: status %d", e.Provider, e.Status)
	if e.Code != 0 {
		s += fmt.Sprintf(" code %d", e.Code)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Sentinel causes that the dispatcher acts on beyond not retrying.
var (
	// ErrUnsubscribed: the provider says the recipient opted out (Twilio 21610,
	// a WhatsApp block). The dispatcher records an objection for the channel.
	ErrUnsubscribed = errors.New("recipient unsubscribed at the provider")
	// ErrHardBounce: the mailbox does not exist or refuses mail for good. The
	// dispatcher puts the address on the suppression list.
	ErrHardBounce = errors.New("hard bounce")
	// ErrInvalidAddress: the address or number cannot receive this channel.
	ErrInvalidAddress = errors.New("invalid address")
	// ErrOutsideWindow: the channel takes only approved templates now — the
	// person's session window is closed (Twilio 63016 on WhatsApp).
	ErrOutsideWindow = errors.New("outside the session window: only approved templates may go")
	// ErrNoTemplate: the message has no approved template and may not go as
	// free text.
	ErrNoTemplate = errors.New("no approved template")
)
