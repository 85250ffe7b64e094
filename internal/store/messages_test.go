package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/store"
)

func newMessageStore(t *testing.T) *store.Store {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	return store.New(rdb, prefix)
}

func TestMessageRecordLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newMessageStore(t)
	rec := &store.MessageRecord{
		ID: "msg_a", Type: "invoice", Class: message.Transactional, RecipientID: "c-1",
		Data:   map[string]map[string]any{"invoice": {"amount": "12.00"}},
		Status: store.StatusQueued,
	}
	if err := s.CreateMessage(ctx, rec, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMessage(ctx, rec, time.Hour); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: got %v, want ErrConflict", err)
	}
	got, err := s.GetMessage(ctx, "msg_a")
	if err != nil || got.Status != store.StatusQueued || got.Data["invoice"]["amount"] != "12.00" || got.Rev != 1 {
		t.Fatalf("get: %+v, %v", got, err)
	}
	got, err = s.UpdateMessage(ctx, "msg_a", time.Hour, func(r *store.MessageRecord) error {
		r.Status = store.StatusDelivered
		r.Decision = &policy.Decision{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed}
		r.ProviderID = "SM123"
		return nil
	})
	if err != nil || got.Rev != 2 {
		t.Fatalf("update: %+v, %v", got, err)
	}
	got, _ = s.GetMessage(ctx, "msg_a")
	if got.Data != nil {
		t.Errorf("final record still holds template data: %v", got.Data)
	}
	if _, err := s.UpdateProviderStatus(ctx, "SM123", "read", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateProviderStatus(ctx, "SM123", "delivered", 0); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetMessage(ctx, "msg_a")
	// A late "delivered" after "read" changes nothing (issue 14: a stale or
	// replayed callback must not move the record, not even its words).
	if got.Status != store.StatusRead || got.ProviderStatus != "read" {
		t.Errorf("after callbacks: status %s provider status %s, want read/read", got.Status, got.ProviderStatus)
	}
	if _, err := s.UpdateProviderStatus(ctx, "SMnope", "read", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown provider id: %v", err)
	}
	list, err := s.RecipientMessages(ctx, "c-1")
	if err != nil || len(list) != 1 || list[0].ID != "msg_a" {
		t.Fatalf("recipient messages: %+v, %v", list, err)
	}
	if err := s.DeleteRecipientMessages(ctx, "c-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMessage(ctx, "msg_a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after erase: %v", err)
	}
	if _, err := s.MessageByProviderID(ctx, "SM123"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("provider index after erase: %v", err)
	}
	if list, _ := s.RecipientMessages(ctx, "c-1"); len(list) != 0 {
		t.Errorf("index after erase: %v", list)
	}
}

func TestUpdateMessageConcurrent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newMessageStore(t)
	if err := s.CreateMessage(ctx, &store.MessageRecord{ID: "m", RecipientID: "r", Status: store.StatusQueued}, time.Hour); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := s.UpdateMessage(ctx, "m", time.Hour, func(r *store.MessageRecord) error {
				r.Attempts = append(r.Attempts, store.Attempt{Channel: message.Email})
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, _ := s.GetMessage(ctx, "m")
	if len(got.Attempts) != 10 {
		t.Errorf("got %d attempts, want 10: a concurrent change was lost", len(got.Attempts))
	}
}

func TestClaimIdempotency(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newMessageStore(t)
	first := store.Idempotency{BodyHash: "h1", MessageID: "m1", At: time.Now().UTC()}
	var wg sync.WaitGroup
	claims := make(chan bool, 8)
	for range 8 {
		wg.Go(func() {
			_, ok, err := s.ClaimIdempotency(ctx, "billing", "k", first, time.Hour)
			if err != nil {
				t.Error(err)
			}
			claims <- ok
		})
	}
	wg.Wait()
	close(claims)
	n := 0
	for ok := range claims {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d concurrent claims succeeded, want exactly 1", n)
	}
	prev, ok, err := s.ClaimIdempotency(ctx, "billing", "k", store.Idempotency{BodyHash: "h1", MessageID: "m2"}, time.Hour)
	if ok || err != nil || prev.MessageID != "m1" {
		t.Errorf("repeat: %+v %v %v, want m1", prev, ok, err)
	}
	if _, _, err := s.ClaimIdempotency(ctx, "billing", "k", store.Idempotency{BodyHash: "h2", MessageID: "m3"}, time.Hour); !errors.Is(err, store.ErrConflict) {
		t.Errorf("other body: %v, want ErrConflict", err)
	}
	if _, ok, _ := s.ClaimIdempotency(ctx, "marketing", "k", store.Idempotency{BodyHash: "h2", MessageID: "m4"}, time.Hour); !ok {
		t.Error("the same key of another API key must be independent")
	}
	if err := s.ReleaseIdempotency(ctx, "billing", "k", first); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.ClaimIdempotency(ctx, "billing", "k", store.Idempotency{BodyHash: "h2", MessageID: "m5"}, time.Hour); !ok {
		t.Error("released key could not be claimed again")
	}
}

// TestProviderCallbackBeforeRecordWrite: a callback that arrives just before
// the worker recorded the provider id still finds the message.
func TestProviderCallbackBeforeRecordWrite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newMessageStore(t)
	if err := s.CreateMessage(ctx, &store.MessageRecord{ID: "m", RecipientID: "r", Status: store.StatusSending}, time.Hour); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.UpdateProviderStatus(ctx, "SMearly", "delivered", 0); done <- err }()
	time.Sleep(50 * time.Millisecond)
	if _, err := s.UpdateMessage(ctx, "m", time.Hour, func(r *store.MessageRecord) error {
		r.Status, r.ProviderID = store.StatusDelivered, "SMearly"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("early callback: %v", err)
	}
	if got, _ := s.GetMessage(ctx, "m"); got.ProviderStatus != "delivered" {
		t.Errorf("provider status %q, want delivered", got.ProviderStatus)
	}
}

// UpdateMessagesFrom writes many records in one pipeline; one changed since
// it was read is updated again from what is stored, and a skipped or failing
// change leaves its record as it is.
func TestUpdateMessagesFrom(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newMessageStore(t)
	for _, id := range []string{"msg_1", "msg_2", "msg_3", "msg_4"} {
		if err := s.CreateMessage(ctx, &store.MessageRecord{ID: id, Type: "invoice", Class: message.Transactional,
			RecipientID: "c-1", Status: store.StatusQueued}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	read, errs := s.GetMessages(ctx, []string{"msg_1", "msg_2", "msg_3", "msg_4", "msg_none"})
	if !errors.Is(errs[4], store.ErrNotFound) {
		t.Fatalf("an unknown id: %v, want ErrNotFound", errs[4])
	}
	read = read[:4]
	// msg_2 changes after it was read.
	if _, err := s.UpdateMessage(ctx, "msg_2", time.Hour, func(r *store.MessageRecord) error {
		r.Attempts = append(r.Attempts, store.Attempt{Class: "temporary"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	got, errs := s.UpdateMessagesFrom(ctx, read, time.Hour, func(i int, r *store.MessageRecord) error {
		switch i {
		case 2:
			return store.ErrSkipUpdate
		case 3:
			return boom
		}
		r.Status = store.StatusSending
		return nil
	})
	if errs[0] != nil || errs[1] != nil || errs[2] != nil || !errors.Is(errs[3], boom) {
		t.Fatalf("errors %v", errs)
	}
	for i, want := range []struct {
		status   store.MessageStatus
		rev      int64
		attempts int
	}{{store.StatusSending, 2, 0}, {store.StatusSending, 3, 1}, {store.StatusQueued, 1, 0}, {store.StatusQueued, 1, 0}} {
		stored, err := s.GetMessage(ctx, read[i].ID)
		if err != nil || stored.Status != want.status || stored.Rev != want.rev || len(stored.Attempts) != want.attempts {
			t.Errorf("%s stored: %s rev %d, %d attempts (%v); want %s rev %d, %d attempts", read[i].ID, stored.Status, stored.Rev,
				len(stored.Attempts), err, want.status, want.rev, want.attempts)
		}
		if i < 2 && (got[i].Rev != stored.Rev || got[i].Status != stored.Status) {
			t.Errorf("%s returned rev %d %s, stored rev %d %s", read[i].ID, got[i].Rev, got[i].Status, stored.Rev, stored.Status)
		}
	}
}
