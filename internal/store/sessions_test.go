package store_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/store"
)

// TestSessionWindow: the window is per channel and number, lives as long as
// the channel says, and its key does not spell the number.
func TestSessionWindow(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	const number = "+4915123456789"
	if open, err := b.s.SessionOpen(t.Context(), message.WhatsApp, number); err != nil || open {
		t.Fatalf("before any message: open = %v, %v", open, err)
	}
	if err := b.s.OpenSession(t.Context(), message.WhatsApp, number, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if open, err := b.s.SessionOpen(t.Context(), message.WhatsApp, number); err != nil || !open {
		t.Errorf("after a message: open = %v, %v", open, err)
	}
	if open, _ := b.s.SessionOpen(t.Context(), message.RCS, number); open {
		t.Error("a WhatsApp message opened the RCS window")
	}
	keys := b.keys(t)
	if len(keys) != 1 {
		t.Fatalf("keys = %v, want the one session key", keys)
	}
	ttl, err := b.rdb.TTL(t.Context(), keys[0]).Result()
	if err != nil || ttl <= 23*time.Hour || ttl > 24*time.Hour {
		t.Errorf("TTL = %s, %v; want 24 hours", ttl, err)
	}
	for _, k := range keys {
		if strings.Contains(k, "4915123456789") {
			t.Errorf("key %q spells the number", k)
		}
	}
}

// TestAppendConsentOnce: the same proof id is appended once, also when the
// provider's retry races the first delivery.
func TestAppendConsentOnce(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	if _, _, err := b.s.PutRecipient(t.Context(), customer(t, "c-1")); err != nil {
		t.Fatal(err)
	}
	e := consent.OptOutEvent(consent.OptOut{Channel: message.WhatsApp, At: time.Now(), Keyword: "STOP",
		Provider: "twilio", ProviderMessageID: "SMonce"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	recorded := 0
	for range 8 {
		wg.Go(func() {
			_, err := b.s.AppendConsentOnce(t.Context(), "c-1", e.ID, e)
			if err != nil && !errors.Is(err, store.ErrApplied) {
				t.Error(err)
			}
			if err == nil {
				mu.Lock()
				recorded++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	ledger, err := b.s.Ledger(t.Context(), "c-1")
	if err != nil {
		t.Fatal(err)
	}
	if recorded != 1 || len(ledger) != 1 || ledger[0].ID != e.ID {
		t.Errorf("recorded %d times, ledger %+v; want one event %s", recorded, ledger, e.ID)
	}
	other := consent.OptOutEvent(consent.OptOut{Channel: message.WhatsApp, At: time.Now(), Keyword: "STOP",
		Provider: "twilio", ProviderMessageID: "SMother"})
	if _, err := b.s.AppendConsentOnce(t.Context(), "c-1", other.ID, other); err != nil {
		t.Errorf("another message's opt-out: %v", err)
	}
	if _, err := b.s.AppendConsentOnce(t.Context(), "nobody", other.ID, other); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown recipient: %v, want ErrNotFound", err)
	}
	if _, err := b.s.AppendConsentOnce(t.Context(), "c-1", "", consent.Event{Kind: consent.Object}); err == nil {
		t.Error("an event without a reference was appended")
	}
}
