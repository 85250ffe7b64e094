package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/store"
)

// heard keeps the events a store tells.
type heard struct {
	mu  sync.Mutex
	evs []events.Event
}

func (h *heard) Publish(_ context.Context, evs ...events.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.evs = append(h.evs, evs...)
	return nil
}

// Putting a contact point on the suppression list and lifting it again are
// both told, with the recipient id, channel and reason and no address.
func TestSuppressionAddedAndLiftedAreTold(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	h := &heard{}
	s := store.New(rdb, prefix, store.WithSalt(testSalt), store.WithEvents(h))
	ctx := t.Context()
	if _, _, err := s.PutRecipient(ctx, customer(t, "c-1")); err != nil {
		t.Fatal(err)
	}
	if err := s.SuppressAddress(ctx, "c-1", message.SMS, "provider_stop"); err != nil {
		t.Fatal(err)
	}
	found, err := s.SuppressionsOf(ctx, message.MobileNumber, "+4915123456789")
	if err != nil || len(found) != 1 {
		t.Fatalf("suppressions of the number: %+v %v", found, err)
	}
	if _, _, err := s.LiftSuppression(ctx, found[0].ID, "dpo", "asked for SMS again"); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var got []string
	for _, e := range h.evs {
		if e.Type == events.SuppressionAdded || e.Type == events.SuppressionLifted {
			got = append(got, string(e.Type)+" "+e.Data.RecipientID+" "+e.Data.Channel+" "+e.Data.Reason)
		}
	}
	want := []string{"suppression.added c-1 sms provider_stop", "suppression.lifted c-1 sms provider_stop"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("events %q, want %q", got, want)
	}
}
