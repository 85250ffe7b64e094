package store_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/privacy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/store"
)

const testSalt = "test-salt-0123456789abcdef"

// cmpAddr lets cmp compare consent events, which hold a netip.Addr.
var cmpAddr = cmpopts.EquateComparable(netip.Addr{})

type recipientBundle struct {
	s      *store.Store
	rdb    redis.UniversalClient
	prefix string
}

func setupRecipients(t *testing.T) recipientBundle {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	return recipientBundle{s: store.New(rdb, prefix, store.WithSalt(testSalt)), rdb: rdb, prefix: prefix}
}

// keys returns every key under the test's prefix.
func (b recipientBundle) keys(t *testing.T) []string {
	t.Helper()
	return redistest.Keys(t, b.rdb, b.prefix+"*")
}

func customer(t *testing.T, id string) recipient.Recipient {
	t.Helper()
	r, err := recipient.Parse(id, recipient.Input{
		Kind: "customer", Salutation: "Frau", FirstName: "Erika", LastName: "Mustermann",
		Emails:   []recipient.EmailInput{{Address: "Erika.M@Example.DE", CollectedInSale: true}, {Address: "erika@privat.example"}},
		Mobile:   &recipient.MobileInput{Number: "0151 23456789", VerifiedAt: "2025-01-02T10:00:00Z"},
		Locale:   "de",
		TimeZone: "Europe/Berlin",
		Contract: &recipient.ContractInput{StartedAt: "2024-01-01"},
	}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPutGetPatchRecipient(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := setupRecipients(t)
	clock := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s := store.New(b.rdb, b.prefix, store.WithSalt(testSalt), store.WithClock(func() time.Time { return clock }))

	if _, err := s.GetRecipient(ctx, "c-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
	r := customer(t, "c-1")
	got, created, err := s.PutRecipient(ctx, r)
	if err != nil || !created {
		t.Fatalf("put: created=%v err=%v", created, err)
	}
	if !got.CreatedAt.Equal(clock) || !got.UpdatedAt.Equal(clock) {
		t.Fatalf("timestamps: %v %v", got.CreatedAt, got.UpdatedAt)
	}
	read, err := s.GetRecipient(ctx, "c-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, read); diff != "" {
		t.Fatalf("get after put (-put +get):\n%s", diff)
	}

	clock = clock.Add(time.Hour)
	r.FirstName = "Eri"
	got, created, err = s.PutRecipient(ctx, r)
	if err != nil || created || !got.CreatedAt.Equal(clock.Add(-time.Hour)) || !got.UpdatedAt.Equal(clock) || got.FirstName != "Eri" {
		t.Fatalf("replace: %+v created=%v err=%v", got, created, err)
	}

	clock = clock.Add(time.Hour)
	patched, err := s.PatchRecipient(ctx, "c-1", map[string]any{
		"last_name": "Musterfrau", "company": nil, "salutation": nil,
		"mobile":   map[string]any{"number": "+49 160 1234567"},
		"contract": map[string]any{"ended_at": "2025-05-31"},
	}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if patched.LastName != "Musterfrau" || patched.Salutation != "" || patched.FirstName != "Eri" ||
		patched.Mobile.Number != "+491601234567" || !patched.Mobile.VerifiedAt.IsZero() ||
		!patched.Contract.StartedAt.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		!patched.Contract.EndedAt.Equal(time.Date(2025, 5, 31, 0, 0, 0, 0, time.UTC)) || len(patched.Emails) != 2 {
		t.Fatalf("patch: %+v mobile %+v contract %+v", patched, patched.Mobile, patched.Contract)
	}

	if _, err := s.PatchRecipient(ctx, "c-1", map[string]any{"kind": "boss", "locale": "xx"}, "DE"); err == nil {
		t.Fatal("bad patch accepted")
	} else {
		var ve *invalid.Error
		if !errors.As(err, &ve) || len(ve.Fields) != 2 {
			t.Fatalf("bad patch: %v", err)
		}
	}
	if again, _ := s.GetRecipient(ctx, "c-1"); again.LastName != "Musterfrau" || again.Kind != policy.Customer {
		t.Fatalf("a bad patch changed the profile: %+v", again)
	}
	if _, err := s.PatchRecipient(ctx, "nobody", map[string]any{"kind": "prospect"}, "DE"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("patch unknown: %v", err)
	}
}

func TestPutRecipientRejectsUnnormalised(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	r := customer(t, "c-1")
	r.Mobile.Number = "0151 23456789"
	if _, _, err := b.s.PutRecipient(t.Context(), r); err == nil {
		t.Fatal("national number stored")
	}
	if keys := b.keys(t); len(keys) != 0 {
		t.Fatalf("keys written: %v", keys)
	}
}

func TestIndexes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := setupRecipients(t)
	if _, _, err := b.s.PutRecipient(ctx, customer(t, "c-1")); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"erika.m@example.de", "ERIKA.M@EXAMPLE.DE", "erika@privat.example"} {
		if id, err := b.s.RecipientByEmail(ctx, addr); err != nil || id != "c-1" {
			t.Errorf("by email %q: %q %v", addr, id, err)
		}
	}
	if id, err := b.s.RecipientByPhone(ctx, "+4915123456789"); err != nil || id != "c-1" {
		t.Errorf("by phone: %q %v", id, err)
	}
	// Clear addresses never appear in Redis.
	for _, k := range b.keys(t) {
		if strings.HasSuffix(k, ":profile") {
			continue
		}
		vals, err := b.rdb.HGetAll(ctx, k).Result()
		if err != nil {
			continue
		}
		for f, v := range vals {
			if strings.Contains(f+v, "@") || strings.Contains(f+v, "+49") {
				t.Errorf("clear contact point in %s: %s=%s", k, f, v)
			}
		}
	}
	// A changed address leaves the index.
	if _, err := b.s.PatchRecipient(ctx, "c-1", map[string]any{"emails": []any{map[string]any{"address": "new@example.de"}}, "mobile": nil}, "DE"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.RecipientByEmail(ctx, "erika.m@example.de"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old address still indexed: %v", err)
	}
	if _, err := b.s.RecipientByPhone(ctx, "+4915123456789"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old number still indexed: %v", err)
	}
	if id, err := b.s.RecipientByEmail(ctx, "new@example.de"); err != nil || id != "c-1" {
		t.Errorf("new address: %q %v", id, err)
	}
}

func grant(purpose, ch string, at time.Time) consent.Event {
	return consent.Event{Kind: consent.Grant, Purpose: purpose, Channel: ch, At: at, Source: consent.WebForm, Text: "Ja, ich will Angebote."}
}

func TestAppendConsentAndLoadFacts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := setupRecipients(t)
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

	if _, err := b.s.AppendConsent(ctx, "ghost", grant(consent.Advertising, "sms", t0)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("append to unknown: %v", err)
	}
	if keys := b.keys(t); len(keys) != 0 {
		t.Fatalf("append to unknown wrote %v", keys)
	}
	if _, _, err := b.s.PutRecipient(ctx, customer(t, "c-1")); err != nil {
		t.Fatal(err)
	}
	bad := grant("", "fax", t0)
	if _, err := b.s.AppendConsent(ctx, "c-1", grant(consent.Advertising, "sms", t0), bad); err == nil {
		t.Fatal("bad event accepted")
	}
	if ev, _ := b.s.Ledger(ctx, "c-1"); len(ev) != 0 {
		t.Fatalf("a rejected batch wrote %d events", len(ev))
	}

	stored, err := b.s.AppendConsent(ctx, "c-1",
		grant(consent.Advertising, "sms", t0),
		consent.Event{Kind: consent.Withdraw, Purpose: consent.Advertising, Channel: "sms", At: t0.Add(time.Hour), Source: consent.Phone},
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 || stored[0].ID == "" || stored[0].ID == stored[1].ID {
		t.Fatalf("ids: %+v", stored)
	}
	snap, err := b.s.LoadFacts(ctx, "c-1")
	if err != nil || !snap.Found {
		t.Fatalf("load: %+v %v", snap, err)
	}
	if diff := cmp.Diff(stored, snap.Events, cmpAddr); diff != "" {
		t.Fatalf("ledger (-appended +loaded):\n%s", diff)
	}

	f := snap.Facts("promo_offer", message.SMS, t0.Add(30*time.Minute), time.UTC)
	if f.Recipient == nil || f.Consent.Lookup(consent.Advertising, message.SMS).Status != consent.Granted {
		t.Fatalf("facts before withdrawal: %+v", f)
	}
	f = snap.Facts("promo_offer", message.SMS, t0.Add(2*time.Hour), time.UTC)
	if st := f.Consent.Lookup(consent.Advertising, message.SMS).Status; st != consent.Withdrawn {
		t.Fatalf("after withdrawal: %s", st)
	}
	want := policy.Recipient{
		ID: "c-1", Kind: policy.Customer, HasEmail: true, EmailFromSale: true, HasPhone: true,
		PhoneVerifiedAt:  time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC),
		ContractStart:    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		ContractEvidence: "contract_dates:2024-01-01/..",
	}
	if diff := cmp.Diff(want, *f.Recipient); diff != "" {
		t.Fatalf("recipient facts (-want +got):\n%s", diff)
	}
	if f.Type != "promo_offer" || f.Channel != message.SMS || !f.Now.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("facts header: %+v", f)
	}

	missing, err := b.s.LoadFacts(ctx, "nobody")
	if err != nil || missing.Found || missing.Facts("invoice", message.Email, t0, time.UTC).Recipient != nil {
		t.Fatalf("unknown: %+v %v", missing, err)
	}
	batch, err := b.s.LoadFactsBatch(ctx, []message.RecipientID{"nobody", "c-1", "also-nobody"})
	if err != nil || len(batch) != 3 || batch[0].Found || !batch[1].Found || batch[2].Found || len(batch[1].Events) != 2 || batch[2].ID != "also-nobody" {
		t.Fatalf("batch: %+v %v", batch, err)
	}
}

func TestConcurrentLedgerWriters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := setupRecipients(t)
	if _, _, err := b.s.PutRecipient(ctx, customer(t, "c-1")); err != nil {
		t.Fatal(err)
	}
	const writers, each = 32, 25
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	kinds := []consent.Kind{consent.Grant, consent.Withdraw, consent.Object}
	channels := []string{"sms", "email", "all"}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := consent.Event{
					Kind: kinds[(w+i)%3], Purpose: consent.Advertising, Channel: channels[(w*7+i)%3],
					At: t0.Add(time.Duration(w*each+i) * time.Second), Source: consent.API, Text: "t",
				}
				if _, err := b.s.AppendConsent(ctx, "c-1", e); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c, err := b.s.Consents(ctx, "c-1", t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.History) != writers*each {
		t.Fatalf("history has %d events, want %d", len(c.History), writers*each)
	}
	ids := map[string]bool{}
	for _, e := range c.History {
		ids[e.ID] = true
	}
	if len(ids) != writers*each {
		t.Fatalf("%d distinct ids for %d events", len(ids), writers*each)
	}
	want := store.StateEntries(consent.Fold(c.History, t0.Add(24*time.Hour)))
	if diff := cmp.Diff(want, c.State, cmpAddr); diff != "" {
		t.Fatalf("state is not the fold of the events (-fold +state):\n%s", diff)
	}
	// The last event of each key decides: the writer with the highest At.
	last := c.History[0]
	for _, e := range c.History {
		if e.At.After(last.At) {
			last = e
		}
	}
	var hit bool
	for _, e := range c.State {
		if e.Purpose == last.Purpose && e.Channel == last.Channel {
			hit = e.EventID == last.ID
		}
	}
	if !hit {
		t.Fatalf("newest event %+v does not govern its key in %+v", last, c.State)
	}
}

func TestEraseKeepsOnlySuppressionHashes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := setupRecipients(t)
	r := customer(t, "c-1")
	if _, _, err := b.s.PutRecipient(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.AppendConsent(ctx, "c-1", grant(consent.Advertising, "sms", time.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := privacy.New(b.s, nil).Erase(ctx, "c-1"); err != nil {
		t.Fatal(err)
	}
	if err := privacy.New(b.s, nil).Erase(ctx, "c-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second erase: %v", err)
	}
	if got, want := b.keys(t), []string{b.prefix + "suppression"}; !slices.Equal(got, want) {
		t.Fatalf("keys after erase: %v, want %v", got, want)
	}
	entries, err := b.rdb.HGetAll(ctx, b.prefix+"suppression").Result()
	if err != nil || len(entries) != 3 {
		t.Fatalf("suppression entries: %v %v", entries, err)
	}
	for f, v := range entries {
		if strings.Contains(f+v, "@") || strings.Contains(f+v, "+49") || strings.Contains(f+v, "c-1") {
			t.Fatalf("personal data kept: %s=%s", f, v)
		}
	}
	if _, err := b.s.AppendConsent(ctx, "c-1", grant(consent.Advertising, "sms", time.Now())); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("append after erase: %v", err)
	}

	// Re-created under another id with the same (differently written) address and number.
	again, err := recipient.Parse("c-2", recipient.Input{
		Kind: "customer", Emails: []recipient.EmailInput{{Address: "erika.m@EXAMPLE.de", CollectedInSale: true}},
		Mobile: &recipient.MobileInput{Number: "+49 151 23456789"}, Contract: &recipient.ContractInput{StartedAt: "2024-01-01"},
	}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	stored, _, err := b.s.PutRecipient(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := b.s.LoadFacts(ctx, "c-2")
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range message.Channels() {
		if f := snap.Facts("invoice", ch, time.Now(), time.UTC); !f.Recipient.Suppressed {
			t.Errorf("%s not suppressed after erase and re-create", ch)
		}
	}
	if len(stored.Emails[0].Suppressed) != 1 || stored.Emails[0].Suppressed[0].Reason != store.ReasonErased {
		t.Fatalf("flag: %+v", stored.Emails[0])
	}
	for _, ch := range []message.Channel{message.Email, message.SMS} {
		if ok, err := b.s.IsSuppressed(ctx, ch, stored.Address(ch)); err != nil || !ok {
			t.Errorf("IsSuppressed(%s) = %v, %v", ch, ok, err)
		}
	}
	if ok, err := b.s.IsSuppressed(ctx, message.Email, "other@example.de"); err != nil || ok {
		t.Errorf("IsSuppressed(other) = %v, %v", ok, err)
	}
}

func TestSuppressAddress(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := setupRecipients(t)
	if _, _, err := b.s.PutRecipient(ctx, customer(t, "c-1")); err != nil {
		t.Fatal(err)
	}
	if err := b.s.SuppressAddress(ctx, "c-1", message.SMS, "provider_stop"); err != nil {
		t.Fatal(err)
	}
	snap, err := b.s.LoadFacts(ctx, "c-1")
	if err != nil {
		t.Fatal(err)
	}
	for ch, want := range map[message.Channel]bool{message.SMS: true, message.WhatsApp: false, message.RCS: false, message.Email: false} {
		if got := snap.Facts("invoice", ch, time.Now(), time.UTC).Recipient.Suppressed; got != want {
			t.Errorf("%s suppressed = %v, want %v", ch, got, want)
		}
	}
	// A full replace keeps the flag: the suppression list is the source.
	r := customer(t, "c-1")
	r.FirstName = "Changed"
	stored, _, err := b.s.PutRecipient(ctx, r)
	if err != nil || !stored.SuppressedOn(message.SMS) || stored.SuppressedOn(message.WhatsApp) {
		t.Fatalf("after replace: %+v %v", stored.Mobile, err)
	}
	if err := b.s.SuppressAddress(ctx, "c-1", message.Email, "hard_bounce"); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.s.GetRecipient(ctx, "c-1"); !got.SuppressedOn(message.Email) || got.Emails[1].Suppressed != nil {
		t.Fatalf("email flags: %+v", got.Emails)
	}
	if err := b.s.SuppressAddress(ctx, "nobody", message.Email, "hard_bounce"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if err := b.s.SuppressAddress(ctx, "c-1", message.SMS, "Bad Reason"); err == nil {
		t.Fatal("bad reason accepted")
	}
	noPhone, _ := recipient.Parse("p-1", recipient.Input{Kind: "prospect"}, "DE")
	if _, _, err := b.s.PutRecipient(ctx, noPhone); err != nil {
		t.Fatal(err)
	}
	if err := b.s.SuppressAddress(ctx, "p-1", message.SMS, "provider_stop"); !errors.Is(err, store.ErrNoContactPoint) {
		t.Fatalf("no number: %v", err)
	}
}

func TestConcurrentPutAndSuppressKeepsFlag(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := setupRecipients(t)
	for round := range 10 {
		id := message.RecipientID(fmt.Sprintf("c-%d", round))
		r := customer(t, string(id))
		r.Emails = []recipient.Email{{Address: fmt.Sprintf("r%d@example.de", round)}}
		if _, _, err := b.s.PutRecipient(ctx, r); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if _, _, err := b.s.PutRecipient(ctx, r); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Go(func() {
			if err := b.s.SuppressAddress(ctx, id, message.Email, "hard_bounce"); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		got, err := b.s.GetRecipient(ctx, id)
		if err != nil || !got.SuppressedOn(message.Email) {
			t.Fatalf("round %d: suppression flag lost: %+v %v", round, got.Emails, err)
		}
	}
}

// BenchmarkLoadFacts reads one recipient's facts (one pipeline) and folds
// them into policy facts, as every delivery does.
func BenchmarkLoadFacts(b *testing.B) {
	rdb, prefix := redistest.Client(b)
	s := store.New(rdb, prefix, store.WithSalt(testSalt))
	r, err := recipient.Parse("bench-1", recipient.Input{
		Kind: "customer", Emails: []recipient.EmailInput{{Address: "bench@example.de", CollectedInSale: true}},
		Mobile: &recipient.MobileInput{Number: "+4915123456789"}, Contract: &recipient.ContractInput{StartedAt: "2024-01-01"},
	}, "DE")
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if _, _, err := s.PutRecipient(ctx, r); err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		if _, err := s.AppendConsent(ctx, "bench-1", grant(consent.Advertising, []string{"sms", "email"}[i%2], t0.Add(time.Duration(i)*time.Hour))); err != nil {
			b.Fatal(err)
		}
	}
	now := t0.Add(24 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		snap, err := s.LoadFacts(ctx, "bench-1")
		if err != nil || !snap.Found {
			b.Fatal(err)
		}
		_ = snap.Facts("promo_offer", message.SMS, now, time.UTC)
	}
}
