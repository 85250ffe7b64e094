package delivery_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// ending is how one road left a recipient: what the message came to, and
// what it changed about the person.
type ending struct {
	Status      string
	Class       string
	Objections  []string // kind/purpose/channel/source of ledger events after the grant
	Suppression []string // channel/reason of the contact point's suppression entries
}

// A single message (POST /v1/messages) and a campaign recipient meet the same
// provider outcomes and must end the same way: one road, one set of rules.
func TestBothRoadsEndTheSameWay(t *testing.T) {
	t.Parallel()
	hang := apptest.TwilioReply{Hang: true}
	tests := []struct {
		name    string
		channel message.Channel
		local   string // e-mail local part, steering the SMTP sink
		reply   *apptest.TwilioReply
		want    ending
	}{
		{name: "accepted", channel: message.Email, local: "ok",
			want: ending{Status: "delivered"}},
		{name: "twilio 21610 unsubscribed", channel: message.SMS, reply: &apptest.TwilioReply{Status: 400, Code: 21610},
			want: ending{Status: "failed", Class: "unsubscribed", Objections: []string{"object/advertising/sms/provider"}}},
		{name: "twilio 21211 invalid number", channel: message.SMS, reply: &apptest.TwilioReply{Status: 400, Code: 21211},
			want: ending{Status: "failed", Class: "invalid_address"}},
		{name: "smtp 550 at rcpt", channel: message.Email, local: "bounce",
			want: ending{Status: "failed", Class: "hard_bounce", Suppression: []string{"email/hard_bounce"}}},
		{name: "smtp 421", channel: message.Email, local: "busy",
			want: ending{Status: "failed", Class: "retries_exhausted"}},
		{name: "provider hangs past the send timeout", channel: message.SMS, reply: &hang,
			want: ending{Status: "failed", Class: "retries_exhausted"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := apptest.New(t, apptest.Options{Env: map[string]string{
				"HEROLD_MAX_RETRY":             "0", // one try on each road
				"HEROLD_CAMPAIGN_MAX_ATTEMPTS": "1",
				"HEROLD_SEND_TIMEOUT":          "1s",
			}})
			zone := apptest.DayZone()
			put := func(id string, n int) message.RecipientID {
				in := recipient.Input{Kind: "customer", Locale: "de", TimeZone: zone,
					Emails:   []recipient.EmailInput{{Address: fmt.Sprintf("%s%d@example.com", tt.local, n), CollectedInSale: true}},
					Mobile:   &recipient.MobileInput{Number: fmt.Sprintf("+491511234%02d%02d", i, n)},
					Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}}
				r, err := recipient.Parse(id, in, "DE")
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := h.Store.PutRecipient(t.Context(), r); err != nil {
					t.Fatal(err)
				}
				if _, err := h.Store.AppendConsent(t.Context(), r.ID, consent.Event{Kind: consent.Grant, Purpose: consent.Advertising,
					Channel: string(tt.channel), At: time.Now().Add(-time.Hour), Source: consent.WebForm, Text: "Ja, Angebote."}); err != nil {
					t.Fatal(err)
				}
				if tt.reply != nil {
					h.Twilio.Script(r.Mobile.Number, *tt.reply)
				}
				return r.ID
			}
			single, member := put("single", 1), put("member", 2)
			data := map[string]map[string]any{"offer": {"title": "Allnet Flat", "price": 19.99, "valid_until": "2026-12-31", "url": "https://example.com/o"}}

			acc, err := h.Messages.Submit(t.Context(), dispatch.Submission{Type: "promo_offer", RecipientID: single,
				Channels: []message.Channel{tt.channel}, Data: data})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC()
			camp := store.Campaign{ID: "cmp_" + strconv.Itoa(i), Name: tt.name, Type: "promo_offer", Class: message.Marketing,
				Channels: []message.Channel{tt.channel}, Data: data, CreatedAt: now, StartAt: now}
			if err := h.Campaigns.Create(t.Context(), camp, []message.RecipientID{member}); err != nil {
				t.Fatal(err)
			}

			var rec store.MessageRecord
			waitFor(t, "the single message to settle", func() bool {
				rec, err = h.Store.GetMessage(t.Context(), acc.ID)
				return err == nil && rec.Status.Final()
			})
			waitFor(t, "the campaign to finish", func() bool {
				st, err := h.Campaigns.Status(t.Context(), camp.ID)
				return err == nil && st.State == store.CampaignDone
			})
			out, err := h.Campaigns.Outcome(t.Context(), camp.ID, member)
			if err != nil {
				t.Fatal(err)
			}

			got := map[string]ending{
				"single message":     {Status: string(rec.Status), Class: rec.ErrorClass},
				"campaign recipient": {Status: out.Status, Class: out.ErrorClass},
			}
			for road, id := range map[string]message.RecipientID{"single message": single, "campaign recipient": member} {
				e := got[road]
				e.Objections, e.Suppression = effects(t, h, id, tt.channel)
				got[road] = e
			}
			for road, e := range got {
				if diff := cmp.Diff(tt.want, e); diff != "" {
					t.Errorf("%s (-want +got):\n%s", road, diff)
				}
			}
			if tt.reply != nil && tt.reply.Hang && (len(rec.Attempts) != 1 || rec.Attempts[0].Class != "timeout") {
				t.Errorf("single message attempts %+v: want one that timed out", rec.Attempts)
			}
		})
	}
}

// effects lists what the road changed about recipient id: the ledger
// events after its grant, and its contact point's suppression entries.
func effects(t *testing.T, h *apptest.Herold, id message.RecipientID, ch message.Channel) (events, suppression []string) {
	t.Helper()
	ledger, err := h.Store.Ledger(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ledger[1:] {
		events = append(events, fmt.Sprintf("%s/%s/%s/%s", e.Kind, e.Purpose, e.Channel, e.Source))
	}
	r, err := h.Store.GetRecipient(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var sup []recipient.Suppression
	if ch == message.Email {
		sup = r.Emails[0].Suppressed
	} else {
		sup = r.Mobile.Suppressed
	}
	for _, s := range sup {
		suppression = append(suppression, s.Channel+"/"+s.Reason)
	}
	slices.Sort(suppression)
	return events, suppression
}

// waitFor polls cond until it holds. What it waits for happens within
// seconds; the minute is a bound for a machine that is very slow, not a
// timing the test asserts.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
