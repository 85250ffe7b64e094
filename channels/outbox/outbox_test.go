package outbox_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/channeltest"
	"github.com/heroldhq/herold/channels/email"
	"github.com/heroldhq/herold/channels/outbox"
	"github.com/heroldhq/herold/internal/message"
)

func newOutbox(t *testing.T, dir string, ch message.Channel, opts ...outbox.Option) *outbox.Sender {
	t.Helper()
	s, err := outbox.New(dir, ch, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// broken returns an outbox whose folder is taken by a file: every write
// fails, as on a full or read-only disk.
func broken(t *testing.T, ch message.Channel) *outbox.Sender {
	dir := t.TempDir()
	s := newOutbox(t, dir, ch)
	if err := os.WriteFile(s.Dir(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFolderMadeOnFirstMessage(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	s := newOutbox(t, dir, message.SMS)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("New made the folder already (stat: %v)", err)
	}
	if _, err := s.Send(t.Context(), channels.Outbound{MessageID: "m", To: "+4917655501928", Text: "Hallo"}); err != nil {
		t.Fatal(err)
	}
	if entries, err := os.ReadDir(s.Dir()); err != nil || len(entries) != 1 {
		t.Fatalf("folder holds %d files (%v), want 1", len(entries), err)
	}
}

func TestContract(t *testing.T) {
	t.Parallel()
	for _, ch := range message.Channels() {
		t.Run(string(ch), func(t *testing.T) {
			t.Parallel()
			to, bad := "+4917655501928", "0176 55501928"
			if ch == message.Email {
				to, bad = "anna.schmidt@example.org", "anna.schmidt at example.org"
			}
			m := func(id, to string) channels.Outbound {
				return channels.Outbound{MessageID: id, Type: "invoice", Class: "transactional", To: to, Subject: "Rechnung", Text: "Grüße"}
			}
			channeltest.Run(t, func(t *testing.T) channeltest.Harness {
				return channeltest.Harness{
					Sender:    newOutbox(t, t.TempDir(), ch),
					OK:        channeltest.Case{Msg: m("o-ok", to)},
					Permanent: []channeltest.Case{{Msg: m("o-bad", bad), Is: channels.ErrInvalidAddress}},
					Retryable: []channeltest.Case{{Sender: broken(t, ch), Msg: m("o-disk", to)}},
					Receipt: func(t *testing.T, r channels.Receipt) {
						if r.Provider != "outbox" || r.ProviderID == "" {
							t.Errorf("receipt = %+v", r)
						}
					},
				}
			})
		})
	}
}

// TestEmailMatchesSMTP: the .eml file is the message the SMTP sender builds
// with the same composer, header for header.
func TestEmailMatchesSMTP(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 9, 14, 0, 0, time.UTC)
	composer, err := email.NewComposer(email.ComposeConfig{
		From: "news@herold.example", FromName: "Herold Nachrichten", UnsubscribeMailto: "unsub@herold.example",
		Now: func() time.Time { return at },
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := newOutbox(t, dir, message.Email, outbox.WithComposer(composer), outbox.WithClock(func() time.Time { return at }))
	m := channels.Outbound{
		MessageID: "msg/1", Type: "newsletter", Class: "marketing", To: "anna@example.org",
		Subject: "Neuigkeiten für Sie", Text: "Hallo Anna", HTML: "<p>Hallo Anna</p>",
		UnsubscribeURL: "https://herold.example/unsubscribe/t", ListID: "news.herold.example",
	}
	r, err := s.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "20261125T091400.000000000Z_msg-1.eml" {
		t.Errorf("file name %q", r.ProviderID)
	}
	file, err := os.ReadFile(filepath.Join(dir, "email", r.ProviderID))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := composer.Compose(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, msg.Data) {
		t.Errorf("the .eml file is not the message on the wire:\n%s\n----\n%s", file, msg.Data)
	}
	a, b := parse(t, file), parse(t, msg.Data)
	if len(a.Header) != len(b.Header) {
		t.Errorf("outbox has %d headers, wire %d", len(a.Header), len(b.Header))
	}
	for k, v := range b.Header {
		if !slices.Equal(a.Header[k], v) {
			t.Errorf("header %s: outbox %q, wire %q", k, a.Header[k], v)
		}
	}
	if a.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("no one-click header in the .eml")
	}
}

func TestJSONAndOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	s := newOutbox(t, dir, message.WhatsApp, outbox.WithClock(func() time.Time { clock = clock.Add(time.Millisecond); return clock }))
	for _, id := range []string{"c", "a", "b"} {
		if _, err := s.Send(t.Context(), channels.Outbound{MessageID: id, Type: "messenger_offer", Class: "marketing", To: "+4917655501928",
			ContentSID: "HX0123456789abcdef0123456789abcdef", ContentVariables: map[string]string{"1": "Jörg"}}); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "whatsapp"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries { // ReadDir sorts by name: that is time order
		b, err := os.ReadFile(filepath.Join(dir, "whatsapp", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			MessageID        string            `json:"message_id"`
			Channel          string            `json:"channel"`
			To               string            `json:"to"`
			ContentVariables map[string]string `json:"content_variables"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if rec.Channel != "whatsapp" || rec.To != "+4917655501928" || rec.ContentVariables["1"] != "Jörg" {
			t.Errorf("%s: %+v", e.Name(), rec)
		}
		ids = append(ids, rec.MessageID)
	}
	if !slices.Equal(ids, []string{"c", "a", "b"}) {
		t.Errorf("files in name order hold %v, want the sending order c a b", ids)
	}
}

func parse(t *testing.T, b []byte) *mail.Message {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
