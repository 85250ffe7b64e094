package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/events"
)

var at = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

var invoice = events.Message{ID: "msg_abcdefghijklmnopqrstuvwxyz", RecipientID: "c-1001", Type: "invoice", Channel: "email"}

func TestConstructorsAreValid(t *testing.T) {
	t.Parallel()
	consent := events.Consent{EventID: "0192f0e4-7c1a-7000-8000-000000000001", Kind: "grant", Purpose: "newsletter:news",
		Source: "web_form", At: at, TextVersion: "v3", TextSHA256: events.TextHash("Ja, ich möchte …")}
	all := []events.Event{
		events.Queued(at, invoice),
		events.Delivered(at, invoice, "contract"),
		events.Suppressed(at, invoice, "no_consent"),
		events.Failed(at, invoice, "permanent"),
		events.Read(at, invoice),
		events.Undelivered(at, invoice, "twilio_30003"),
		events.Bounced(at, invoice, events.Bounce{Kind: "hard", Status: "5.1.1", ReportID: "rpt_x"}),
		events.Bounced(at, invoice, events.Bounce{Kind: "complaint"}),
		events.Replied(at, invoice, "YES_PLEASE"),
		events.Replied(at, events.Message{RecipientID: "c-1001", Channel: "whatsapp"}, "MORE_INFO"), // answers a message Herold no longer knows
		events.ConsentEvent("c-1001", "email", consent),
		events.Erased(at, "c-1001"),
		events.SuppressionEvent(events.SuppressionAdded, at, "c-1001", "email", "bounced"),
		events.SuppressionEvent(events.SuppressionLifted, at, "", "sms", "operator"),
		events.CampaignEvent(events.CampaignStarted, at, "cmp_0011223344556677", "promo_offer", nil),
		events.CampaignEvent(events.CampaignDone, at, "cmp_0011223344556677", "promo_offer", &events.CampaignCounts{Audience: 3, Delivered: 2, Suppressed: 1}),
	}
	seen := map[events.Type]bool{}
	for _, e := range all {
		if err := e.Validate(); err != nil {
			t.Errorf("%s: %v", e.Type, err)
		}
		seen[e.Type] = true
	}
	for _, typ := range events.Types() {
		if !seen[typ] && typ != events.CampaignPaused {
			t.Errorf("no constructor tested for %s", typ)
		}
	}
	if all[7].Type != events.MessageComplained {
		t.Errorf("complaint bounce has type %s, want message.complained", all[7].Type)
	}
}

func TestValidateRefusesPersonalData(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		e     events.Event
		field string
	}{
		{"address as recipient id", events.Delivered(at, events.Message{ID: "msg_1", RecipientID: "anna@example.com"}, ""), "data.recipient_id"},
		{"E.164 number as recipient id", events.Queued(at, events.Message{ID: "msg_1", RecipientID: "+4915112345678"}), "data.recipient_id"},
		{"number without plus as recipient id", events.Queued(at, events.Message{ID: "msg_1", RecipientID: "015112345678"}), "data.recipient_id"},
		{"address as message id", events.Queued(at, events.Message{ID: "anna@example.com"}), "data.message_id"},
		{"free text as reply payload", events.Replied(at, events.Message{ID: "msg_1", RecipientID: "c-1"}, "Ja gerne, ruft mich an"), "data.reply.payload"},
		{"reply without the person", events.Replied(at, events.Message{ID: "msg_1"}, "MORE"), "data.recipient_id"},
		{"free text as reason", events.Suppressed(at, events.Message{ID: "msg_1"}, "User anna@example.com unknown"), "data.reason"},
		{"missing reason", events.Suppressed(at, events.Message{ID: "msg_1"}, ""), "data.reason"},
		{"missing message id", events.Read(at, events.Message{}), "data.message_id"},
		{"bad bounce status", events.Bounced(at, events.Message{ID: "msg_1"}, events.Bounce{Kind: "hard", Status: "550"}), "data.bounce.status"},
		{"unknown type", events.Event{Type: "message.sent", At: at}, "type"},
		{"no time", events.Event{Type: events.RecipientErased, Data: events.Data{RecipientID: "c-1"}}, "timestamp"},
		{"consent without proof", events.Event{Type: events.ConsentRecorded, At: at, Data: events.Data{RecipientID: "c-1"}}, "data.consent"},
	}
	for _, c := range cases {
		err := c.e.Validate()
		if !errors.Is(err, events.ErrInvalid) || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("%s: Validate() = %v, want an error naming %s", c.name, err, c.field)
		}
	}
	// A producer id that is all digits but short (a customer number) is fine.
	if err := events.Queued(at, events.Message{ID: "msg_1", RecipientID: "100234"}).Validate(); err != nil {
		t.Errorf("short numeric customer id refused: %v", err)
	}
}

func TestJSONShape(t *testing.T) {
	t.Parallel()
	e := events.Delivered(at, invoice, "contract")
	e.ID = "evt_1"
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"evt_1","type":"message.delivered","timestamp":"2026-11-25T12:00:00Z","data":{"message_id":"msg_abcdefghijklmnopqrstuvwxyz","recipient_id":"c-1001","message_type":"invoice","channel":"email","basis":"contract"}}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func TestConsentPayloadHasNoIP(t *testing.T) {
	t.Parallel()
	e := events.ConsentEvent("c-1", "email", events.Consent{EventID: "e1", Kind: "grant", Purpose: "advertising", Source: "web_form", At: at})
	b, _ := json.Marshal(e)
	for _, k := range []string{`"ip"`, `"user_agent"`, `"text"`} {
		if strings.Contains(string(b), k) {
			t.Errorf("consent payload has %s: %s", k, b)
		}
	}
}

func TestIDs(t *testing.T) {
	t.Parallel()
	a, b := events.NewID(), events.NewID()
	if a == b || len(a) != 30 || !strings.HasPrefix(a, "evt_") {
		t.Errorf("NewID() = %q, %q", a, b)
	}
	d1 := events.DerivedID(events.MessageDelivered, "msg_1")
	if d1 != events.DerivedID(events.MessageDelivered, "msg_1") {
		t.Error("DerivedID is not stable")
	}
	if d1 == events.DerivedID(events.MessageFailed, "msg_1") || d1 == events.DerivedID(events.MessageDelivered, "msg_", "1") {
		t.Error("DerivedID collides across types or part boundaries")
	}
	if _, err := events.ParseType("message.delivered"); err != nil {
		t.Error(err)
	}
}

type failing struct{ n *int }

func (f failing) Publish(context.Context, ...events.Event) error { *f.n++; return errors.New("down") }

func TestMultiCallsEveryPublisher(t *testing.T) {
	t.Parallel()
	var a, b int
	err := events.Multi(failing{&a}, events.Nop{}, failing{&b}).Publish(t.Context(), events.Erased(at, "c-1"))
	if a != 1 || b != 1 || err == nil {
		t.Errorf("calls %d, %d, err %v; want 1, 1 and an error", a, b, err)
	}
}
