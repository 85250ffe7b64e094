// Package outbox is the channel of last resort and the quick-start default:
// when a channel has no provider configured, each message is written to a
// folder instead, as an .eml file for e-mail (the same MIME message the SMTP
// sender would send, built by the same email.Composer) and as JSON for SMS,
// WhatsApp and RCS.
//
// Files live in <dir>/<channel>/ and are named
// <UTC time>_<message id>.<ext>, so `ls` sorts them by time. Each file is
// written to a temporary name and renamed, so a reader never sees half a
// message. The files hold addresses and content: the folder is as sensitive
// as a mailbox.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/email"
	"github.com/heroldhq/herold/channels/twilio"
	"github.com/heroldhq/herold/internal/message"
)

// Option configures a Sender.
type Option func(*Sender)

// WithComposer builds e-mail with c (the SMTP sender's, when there is one),
// so the .eml files carry the configured From and DKIM signature.
func WithComposer(c *email.Composer) Option { return func(s *Sender) { s.composer = c } }

// WithClock sets the clock used for file names.
func WithClock(now func() time.Time) Option { return func(s *Sender) { s.now = now } }

// Sender writes messages of one channel into a folder. It is safe for
// concurrent use.
type Sender struct {
	dir      string
	channel  message.Channel
	log      *slog.Logger
	composer *email.Composer
	now      func() time.Time
	made     atomic.Bool // the folder exists
}

// New returns a Sender writing into <dir>/<ch>, which is created with the
// first message (so a process that sends nothing leaves no folders behind).
func New(dir string, ch message.Channel, log *slog.Logger, opts ...Option) (*Sender, error) {
	if !ch.Valid() {
		return nil, fmt.Errorf("outbox: unknown channel %q", ch)
	}
	s := &Sender{dir: filepath.Join(dir, string(ch)), channel: ch, log: log, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if ch == message.Email && s.composer == nil {
		c, err := email.NewComposer(email.ComposeConfig{From: "herold@localhost", FromName: "Herold"})
		if err != nil {
			return nil, err
		}
		s.composer = c
	}
	return s, nil
}

// Dir returns the folder the Sender writes to.
func (s *Sender) Dir() string { return s.dir }

// record is the JSON written for a phone channel.
type record struct {
	MessageID        string            `json:"message_id"`
	Channel          message.Channel   `json:"channel"`
	Type             string            `json:"type"`
	Class            string            `json:"class"`
	Locale           string            `json:"locale,omitempty"`
	To               string            `json:"to"`
	Body             string            `json:"body,omitempty"`
	ContentSID       string            `json:"content_sid,omitempty"`
	ContentVariables map[string]string `json:"content_variables,omitempty"`
	SMSFallback      bool              `json:"sms_fallback,omitempty"`
	WrittenAt        time.Time         `json:"written_at"`
}

// Send writes m to a new file. The receipt's ProviderID is the file name.
// A bad address is permanent (as it would be at a provider); a failed write
// is retryable.
func (s *Sender) Send(ctx context.Context, m channels.Outbound) (channels.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return channels.Receipt{}, err
	}
	now := s.now().UTC()
	var (
		ext   string
		write func(io.Writer) error
	)
	if s.channel == message.Email {
		msg, err := s.composer.Compose(nil, m)
		if err != nil {
			return channels.Receipt{}, err
		}
		ext = ".eml"
		write = func(w io.Writer) error { _, err := w.Write(msg.Data); return err }
	} else {
		if !twilio.ValidE164(m.To) {
			return channels.Receipt{}, twilio.InvalidNumber()
		}
		if m.Text == "" && m.ContentSID == "" {
			return channels.Receipt{}, channels.Permanent(errors.New("outbox: empty message"))
		}
		ext = ".json"
		rec := record{
			MessageID: m.MessageID, Channel: s.channel, Type: m.Type, Class: m.Class, Locale: m.Locale,
			To: m.To, Body: m.Text, ContentSID: m.ContentSID, ContentVariables: m.ContentVariables,
			SMSFallback: m.SMSFallback, WrittenAt: now,
		}
		write = func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(rec)
		}
	}
	name := now.Format("20060102T150405.000000000Z") + "_" + safeName(m.MessageID) + ext
	if err := s.writeAtomic(name, write); err != nil {
		return channels.Receipt{}, fmt.Errorf("%w: %w", &channels.ProviderError{Provider: "outbox", Detail: "write failed"}, err)
	}
	s.log.DebugContext(ctx, "message written to outbox", "channel", s.channel, "message_id", m.MessageID, "file", name)
	return channels.Receipt{Provider: "outbox", ProviderID: name}, nil
}

// writeAtomic writes to a temporary file in the same folder, syncs it and
// renames it into place. Its errors name only the folder and file name.
func (s *Sender) writeAtomic(name string, write func(io.Writer) error) error {
	if !s.made.Load() {
		if err := os.MkdirAll(s.dir, 0o750); err != nil {
			return pathless(err)
		}
		s.made.Store(true)
	}
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return pathless(err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := write(f); err != nil {
		f.Close()
		return pathless(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return pathless(err)
	}
	if err := f.Close(); err != nil {
		return pathless(err)
	}
	return pathless(os.Rename(tmp, filepath.Join(s.dir, name)))
}

// pathless keeps the OS error but drops paths (they hold the message id only,
// but short errors read better in a message record).
func pathless(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return err
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(id string) string {
	s := strings.Trim(unsafeChars.ReplaceAllString(id, "-"), ".-")
	if s == "" {
		s = "message"
	}
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}
