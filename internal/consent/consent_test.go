package consent

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/message"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func ev(id string, k Kind, purpose, ch string, at time.Time) Event {
	return Event{ID: id, Kind: k, Purpose: purpose, Channel: ch, At: at, Source: API}
}

func TestFold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		events  []Event
		at      time.Time
		purpose string
		ch      message.Channel
		want    Entry
	}{
		{
			name: "no events: no consent",
			at:   t0, purpose: Advertising, ch: message.SMS,
			want: Entry{},
		},
		{
			name:   "grant on the channel",
			events: []Event{ev("e1", Grant, Advertising, "sms", t0)},
			at:     t0, purpose: Advertising, ch: message.SMS,
			want: Entry{Status: Granted, Since: t0, EventID: "e1", Source: API},
		},
		{
			name:   "grant on another channel does not count",
			events: []Event{ev("e1", Grant, Advertising, "email", t0)},
			at:     t0, purpose: Advertising, ch: message.SMS,
			want: Entry{},
		},
		{
			name:   "grant for all channels counts on sms",
			events: []Event{ev("e1", Grant, Advertising, AllChannels, t0)},
			at:     t0, purpose: Advertising, ch: message.SMS,
			want: Entry{Status: Granted, Since: t0, EventID: "e1", Source: API},
		},
		{
			name:   "event after the moment is ignored",
			events: []Event{ev("e1", Grant, Advertising, "sms", t0.Add(time.Second))},
			at:     t0, purpose: Advertising, ch: message.SMS,
			want: Entry{},
		},
		{
			name: "withdrawal one second before now wins",
			events: []Event{
				ev("e1", Grant, Advertising, "sms", t0),
				ev("e2", Withdraw, Advertising, "sms", t0.Add(time.Hour-time.Second)),
			},
			at: t0.Add(time.Hour), purpose: Advertising, ch: message.SMS,
			want: Entry{Status: Withdrawn, Since: t0.Add(time.Hour - time.Second), EventID: "e2", Source: API},
		},
		{
			name: "consent re-given after withdrawal counts again",
			events: []Event{
				ev("e1", Grant, Advertising, "sms", t0),
				ev("e2", Withdraw, Advertising, "sms", t0.Add(time.Minute)),
				ev("e3", Grant, Advertising, "sms", t0.Add(2*time.Minute)),
			},
			at: t0.Add(time.Hour), purpose: Advertising, ch: message.SMS,
			want: Entry{Status: Granted, Since: t0.Add(2 * time.Minute), EventID: "e3", Source: API},
		},
		{
			name: "objection for all channels after a channel grant wins",
			events: []Event{
				ev("e1", Grant, Advertising, "sms", t0),
				ev("e2", Object, Advertising, AllChannels, t0.Add(time.Minute)),
			},
			at: t0.Add(time.Hour), purpose: Advertising, ch: message.SMS,
			want: Entry{Status: Objected, Since: t0.Add(time.Minute), EventID: "e2", Source: API},
		},
		{
			name: "channel grant after an objection for all channels wins on that channel",
			events: []Event{
				ev("e1", Object, Advertising, AllChannels, t0),
				ev("e2", Grant, Advertising, "sms", t0.Add(time.Minute)),
			},
			at: t0.Add(time.Hour), purpose: Advertising, ch: message.SMS,
			want: Entry{Status: Granted, Since: t0.Add(time.Minute), EventID: "e2", Source: API},
		},
		{
			name: "events out of order are replayed in time order",
			events: []Event{
				ev("e2", Withdraw, Survey, "email", t0.Add(time.Minute)),
				ev("e1", Grant, Survey, "email", t0),
			},
			at: t0.Add(time.Hour), purpose: Survey, ch: message.Email,
			want: Entry{Status: Withdrawn, Since: t0.Add(time.Minute), EventID: "e2", Source: API},
		},
		{
			name:   "double opt-in requested: pending, not consent",
			events: []Event{ev("e1", DOIRequest, "newsletter:news", "email", t0)},
			at:     t0.Add(time.Hour), purpose: "newsletter:news", ch: message.Email,
			want: Entry{Status: DOIPending, Since: t0, EventID: "e1", Source: API},
		},
		{
			name: "double opt-in confirmed: granted",
			events: []Event{
				ev("e1", DOIRequest, "newsletter:news", "email", t0),
				ev("e2", DOIConfirm, "newsletter:news", "email", t0.Add(time.Minute)),
			},
			at: t0.Add(time.Hour), purpose: "newsletter:news", ch: message.Email,
			want: Entry{Status: Granted, DOIConfirmed: true, RequestedAt: t0, Since: t0.Add(time.Minute), EventID: "e2", Source: API},
		},
		{
			name:   "confirmation without a request proves nothing",
			events: []Event{ev("e1", DOIConfirm, "newsletter:news", "email", t0)},
			at:     t0.Add(time.Hour), purpose: "newsletter:news", ch: message.Email,
			want: Entry{},
		},
		{
			name: "signing up again keeps a confirmed consent",
			events: []Event{
				ev("e1", DOIRequest, "newsletter:news", "email", t0),
				ev("e2", DOIConfirm, "newsletter:news", "email", t0.Add(time.Minute)),
				ev("e3", DOIRequest, "newsletter:news", "email", t0.Add(2*time.Minute)),
			},
			at: t0.Add(time.Hour), purpose: "newsletter:news", ch: message.Email,
			want: Entry{Status: Granted, DOIConfirmed: true, RequestedAt: t0, Since: t0.Add(time.Minute), EventID: "e2", Source: API},
		},
		{
			name: "an unconfirmed grant can still be confirmed by double opt-in",
			events: []Event{
				ev("e1", Grant, "newsletter:news", "email", t0),
				ev("e2", DOIRequest, "newsletter:news", "email", t0.Add(time.Minute)),
				ev("e3", DOIConfirm, "newsletter:news", "email", t0.Add(2*time.Minute)),
			},
			at: t0.Add(time.Hour), purpose: "newsletter:news", ch: message.Email,
			want: Entry{Status: Granted, DOIConfirmed: true, RequestedAt: t0.Add(time.Minute), Since: t0.Add(2 * time.Minute), EventID: "e3", Source: API},
		},
		{
			name: "withdrawal after confirmation",
			events: []Event{
				ev("e1", DOIRequest, "newsletter:news", "email", t0),
				ev("e2", DOIConfirm, "newsletter:news", "email", t0.Add(time.Minute)),
				ev("e3", Withdraw, "newsletter:news", "email", t0.Add(2*time.Minute)),
			},
			at: t0.Add(time.Hour), purpose: "newsletter:news", ch: message.Email,
			want: Entry{Status: Withdrawn, Since: t0.Add(2 * time.Minute), EventID: "e3", Source: API},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Fold(tt.events, tt.at).Lookup(tt.purpose, tt.ch)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%s, %s) mismatch (-want +got):\n%s", tt.purpose, tt.ch, diff)
			}
		})
	}
}

func TestFoldDoesNotReorderInput(t *testing.T) {
	t.Parallel()
	events := []Event{ev("b", Grant, Survey, "email", t0.Add(time.Minute)), ev("a", Grant, Survey, "email", t0)}
	Fold(events, t0.Add(time.Hour))
	if events[0].ID != "b" {
		t.Fatal("Fold sorted the caller's slice")
	}
}

func TestKeysStable(t *testing.T) {
	t.Parallel()
	s := Fold([]Event{
		ev("1", Grant, Survey, "email", t0),
		ev("2", Grant, Advertising, "sms", t0),
		ev("3", Grant, Advertising, "email", t0),
	}, t0)
	want := []Key{{Advertising, "email"}, {Advertising, "sms"}, {Survey, "email"}}
	if diff := cmp.Diff(want, s.Keys()); diff != "" {
		t.Errorf("Keys mismatch (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := Event{Kind: Grant, Purpose: "newsletter:news", Channel: "email", At: t0, Source: WebForm, IP: netip.MustParseAddr("192.0.2.1")}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid event rejected: %v", err)
	}
	bad := Event{Kind: "agree", Purpose: "newsletter:", Channel: "fax", Source: "pigeon"}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid event accepted")
	}
	for _, field := range []string{"kind:", "purpose:", "channel:", "at:", "source:"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
	for _, p := range []string{"advertising", "survey", "usage_data", "customer_tip", "newsletter:tech-news"} {
		if err := ValidatePurpose(p); err != nil {
			t.Errorf("ValidatePurpose(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "Advertising", "newsletter:", "a b", strings.Repeat("x", 65)} {
		if err := ValidatePurpose(p); err == nil {
			t.Errorf("ValidatePurpose(%q) accepted", p)
		}
	}
}

func FuzzFold(f *testing.F) {
	f.Add("grant", "advertising", "sms", int64(0), "withdraw", int64(10))
	f.Fuzz(func(t *testing.T, k1, p, ch string, s1 int64, k2 string, s2 int64) {
		events := []Event{
			{ID: "1", Kind: Kind(k1), Purpose: p, Channel: ch, At: t0.Add(time.Duration(s1) * time.Second)},
			{ID: "2", Kind: Kind(k2), Purpose: p, Channel: ch, At: t0.Add(time.Duration(s2) * time.Second)},
		}
		st := Fold(events, t0.Add(time.Hour))
		e := st.Lookup(p, message.Channel(ch))
		if e.Status == Granted && e.EventID == "" {
			t.Fatal("granted without evidence")
		}
	})
}
