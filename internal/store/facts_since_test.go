package store_test

import (
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/message"
)

// The send path reads the frequency-cap count with the facts, in one round
// trip; only deliveries inside the window count, and only when asked.
func TestLoadFactsSinceCountsAdvertising(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	ctx := t.Context()
	if _, _, err := b.s.PutRecipient(ctx, customer(t, "c-cap")); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	for i, at := range []time.Time{now.Add(-8 * 24 * time.Hour), now.Add(-2 * 24 * time.Hour), now.Add(-time.Hour)} {
		// A long window keeps the old entry, so the count must come from since.
		if err := b.s.RecordAdvertising(ctx, "c-cap", "m"+string(rune('0'+i)), at, 30*24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}

	snap, err := b.s.LoadFactsSince(ctx, "c-cap", now.Add(-week))
	if err != nil {
		t.Fatal(err)
	}
	if snap.RecentAdvertising != 2 {
		t.Errorf("RecentAdvertising = %d, want 2 (the two deliveries inside the week)", snap.RecentAdvertising)
	}
	if f := snap.Facts("promo_offer", message.Email, now, time.UTC); f.RecentAdvertising != 2 {
		t.Errorf("Facts.RecentAdvertising = %d, want 2", f.RecentAdvertising)
	}

	snap, err = b.s.LoadFacts(ctx, "c-cap")
	if err != nil {
		t.Fatal(err)
	}
	if snap.RecentAdvertising != 0 {
		t.Errorf("LoadFacts without a window counted %d, want 0", snap.RecentAdvertising)
	}

	snaps, err := b.s.LoadFactsBatchSince(ctx, []message.RecipientID{"c-cap", "nobody"}, now.Add(-week))
	if err != nil {
		t.Fatal(err)
	}
	if snaps[0].RecentAdvertising != 2 || snaps[1].Found || snaps[1].RecentAdvertising != 0 {
		t.Errorf("batch: %+v / found=%v recent=%d", snaps[0].RecentAdvertising, snaps[1].Found, snaps[1].RecentAdvertising)
	}
}
