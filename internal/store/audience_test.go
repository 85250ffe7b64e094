package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/privacy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

func prospect(t *testing.T, id, email string) recipient.Recipient {
	t.Helper()
	r, err := recipient.Parse(id, recipient.Input{Kind: "prospect", Emails: []recipient.EmailInput{{Address: email}}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func allIDs(t *testing.T, s *store.Store) []message.RecipientID {
	t.Helper()
	var out []message.RecipientID
	after := message.RecipientID("")
	for {
		ids, err := s.RecipientIDs(t.Context(), after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == 0 {
			return out
		}
		out = append(out, ids...)
		after = ids[len(ids)-1]
	}
}

// The recipients index follows writes, erasure and deleted sign-ups, and
// pages in id order.
func TestRecipientsIndexFollowsTheProfiles(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	ctx := t.Context()
	for _, id := range []string{"c_3", "c_1", "p_2", "c_2"} {
		if _, _, err := b.s.PutRecipient(ctx, prospect(t, id, id+"@example.de")); err != nil {
			t.Fatal(err)
		}
	}
	if got := allIDs(t, b.s); !slices.Equal(got, []message.RecipientID{"c_1", "c_2", "c_3", "p_2"}) {
		t.Fatalf("ids %v", got)
	}
	if _, err := b.s.AppendConsent(ctx, "p_2", consent.Event{Kind: consent.DOIRequest, Purpose: "newsletter:news",
		Channel: "email", Source: consent.WebForm, Text: "Ja"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := b.s.ListCandidates(ctx, "news", "", 10); !slices.Equal(c, []message.RecipientID{"p_2"}) {
		t.Fatalf("news candidates %v", c)
	}
	if err := b.s.DeleteSignup(ctx, "p_2"); err != nil {
		t.Fatal(err)
	}
	if err := privacy.New(b.s, nil).Erase(ctx, "c_2"); err != nil {
		t.Fatal(err)
	}
	if got := allIDs(t, b.s); !slices.Equal(got, []message.RecipientID{"c_1", "c_3"}) {
		t.Fatalf("after erasure and a deleted sign-up: %v", got)
	}
	if c, _ := b.s.ListCandidates(ctx, "news", "", 10); len(c) != 0 {
		t.Fatalf("a deleted sign-up is still a list candidate: %v", c)
	}
	if n, _ := b.s.CountRecipients(ctx); n != 2 {
		t.Fatalf("count %d", n)
	}
}

func TestSnapshotsLoadTheLedgerOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	ctx := t.Context()
	if _, _, err := b.s.PutRecipient(ctx, customer(t, "c_1")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.AppendConsent(ctx, "c_1", consent.Event{Kind: consent.Object, Purpose: "advertising", Channel: "all", Source: consent.Phone}); err != nil {
		t.Fatal(err)
	}
	bare, err := b.s.Snapshots(ctx, []message.RecipientID{"c_1", "nobody"}, false, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	full, err := b.s.Snapshots(ctx, []message.RecipientID{"c_1", "nobody"}, true, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !bare[0].Found || len(bare[0].Events) != 0 || bare[1].Found || bare[0].Recipient.FirstName != "Erika" {
		t.Fatalf("profile-only snapshots %+v", bare)
	}
	if !full[0].Found || len(full[0].Events) != 1 || full[1].Found {
		t.Fatalf("snapshots with the ledger %+v", full)
	}
}

func importItem(t *testing.T, id, email string, events ...consent.Event) store.ImportItem {
	t.Helper()
	return store.ImportItem{Recipient: prospect(t, id, email), Events: events}
}

func importGrant(id string, at time.Time) consent.Event {
	return consent.Event{ID: id, Kind: consent.Grant, Purpose: "advertising", Channel: "email", At: at, Source: consent.WebForm, Text: "Ja"}
}

func TestImportUpsertsAndAppendsEachEventOnce(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	ctx := t.Context()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// An address suppressed before the import comes in flagged.
	if _, err := b.s.ImportSuppressions(ctx, []store.SuppressionInput{{Contact: message.EmailAddress, Address: "gone@example.de",
		Channel: "all", Reason: "hard_bounce"}}, "crm", "old provider"); err != nil {
		t.Fatal(err)
	}
	items := []store.ImportItem{
		importItem(t, "i_1", "one@example.de", importGrant("e1", at), importGrant("e2", at.Add(time.Hour))),
		importItem(t, "i_2", "gone@example.de"),
	}
	res, err := b.s.ImportRecipients(ctx, items, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Created || res[0].Events != 2 || !res[1].Created || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("first import %+v", res)
	}
	first, _ := b.s.GetRecipient(ctx, "i_1")
	gone, _ := b.s.GetRecipient(ctx, "i_2")
	if !gone.SuppressedOn(message.Email) {
		t.Fatal("an imported profile with a suppressed address is not flagged")
	}
	// Again, with a changed name: the profile is updated, created_at kept,
	// the events are not appended twice.
	items[0].Recipient.FirstName = "Eva"
	res, err = b.s.ImportRecipients(ctx, items, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Created || res[0].Events != 0 {
		t.Fatalf("second import %+v", res[0])
	}
	again, _ := b.s.GetRecipient(ctx, "i_1")
	ledger, _ := b.s.Ledger(ctx, "i_1")
	if again.FirstName != "Eva" || !again.CreatedAt.Equal(first.CreatedAt) || len(ledger) != 2 {
		t.Fatalf("after the second import: name %q created %v (was %v), %d events", again.FirstName, again.CreatedAt, first.CreatedAt, len(ledger))
	}
	if id, err := b.s.RecipientByEmail(ctx, "one@example.de"); err != nil || id != "i_1" {
		t.Fatalf("e-mail index: %v %v", id, err)
	}
	if got := allIDs(t, b.s); !slices.Equal(got, []message.RecipientID{"i_1", "i_2"}) {
		t.Fatalf("recipients index %v", got)
	}
}

// A recipient written by someone else between the import's read and its
// write is not overwritten blindly: the import writes it again on top of
// the newer state, and its events are appended once.
func TestImportWritesAgainAfterAConcurrentChange(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	ctx := t.Context()
	if _, _, err := b.s.PutRecipient(ctx, prospect(t, "i_1", "old@example.de")); err != nil {
		t.Fatal(err)
	}
	vetted := 0
	res, err := b.s.ImportRecipients(ctx, []store.ImportItem{importItem(t, "i_1", "new@example.de", importGrant("e1", time.Now().Add(-time.Hour)))},
		func(i int, ledger []consent.Event) error {
			vetted++
			if vetted == 1 { // between the read and the write
				if _, err := b.s.AppendConsent(ctx, "i_1", importGrant("other", time.Now().Add(-2*time.Hour))); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].Events != 1 || vetted != 2 {
		t.Fatalf("result %+v, vetted %d times (want 2: the batch and the slow path)", res[0], vetted)
	}
	ledger, _ := b.s.Ledger(ctx, "i_1")
	r, _ := b.s.GetRecipient(ctx, "i_1")
	if len(ledger) != 2 || r.Emails[0].Address != "new@example.de" {
		t.Fatalf("ledger %d events, address %s", len(ledger), r.Emails[0].Address)
	}
	if _, err := b.s.RecipientByEmail(ctx, "old@example.de"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the old address is still indexed: %v", err)
	}
}

func TestImportLeavesOutWhatVetRefuses(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	refuse := errors.New("no pending signup")
	res, err := b.s.ImportRecipients(t.Context(), []store.ImportItem{
		importItem(t, "i_1", "a@example.de", importGrant("e1", time.Now().Add(-time.Hour))),
		importItem(t, "i_2", "b@example.de", importGrant("e2", time.Now().Add(-time.Hour))),
	}, func(i int, _ []consent.Event) error {
		if i == 0 {
			return refuse
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, refuse) || res[1].Err != nil {
		t.Fatalf("results %+v", res)
	}
	if _, err := b.s.GetRecipient(t.Context(), "i_1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a refused item was written")
	}
}

func TestSuppressionsImportLookupLiftAndAudit(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	ctx := t.Context()
	r := customer(t, "c_1")
	if _, _, err := b.s.PutRecipient(ctx, r); err != nil {
		t.Fatal(err)
	}
	imp, err := b.s.ImportSuppressions(ctx, []store.SuppressionInput{
		{Contact: message.MobileNumber, Address: "+4915123456789", Channel: "sms", Reason: "provider_stop"},
		{Contact: message.EmailAddress, Address: "other@example.de", Channel: "all", Reason: "hard_bounce"},
	}, "crm", "from the old ESP")
	if err != nil || imp.Added != 2 {
		t.Fatalf("import %+v %v", imp, err)
	}
	flagged, _ := b.s.GetRecipient(ctx, "c_1")
	if !flagged.SuppressedOn(message.SMS) || flagged.SuppressedOn(message.Email) {
		t.Fatal("the holder of the imported number is not flagged for sms only")
	}
	found, err := b.s.SuppressionsOf(ctx, message.MobileNumber, "+4915123456789")
	if err != nil || len(found) != 1 || found[0].Kind != store.KindPhone || found[0].Source != store.SourceImport ||
		found[0].By != "crm" || found[0].Note != "from the old ESP" || found[0].Reason != "provider_stop" {
		t.Fatalf("lookup %+v %v", found, err)
	}
	var listed []store.SuppressionEntry
	for cur := uint64(0); ; {
		page, next, err := b.s.Suppressions(ctx, cur, 1)
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, page...)
		if cur = next; cur == 0 {
			break
		}
	}
	if len(listed) != 2 {
		t.Fatalf("listed %d entries", len(listed))
	}
	for _, e := range listed {
		if strings.Contains(e.ID, "@") || strings.Contains(e.ID, "+49") {
			t.Fatalf("an entry id holds an address: %s", e.ID)
		}
	}
	if _, _, err := b.s.LiftSuppression(ctx, found[0].ID, "dpo", "person asked to get SMS again, ticket 42"); err != nil {
		t.Fatal(err)
	}
	lifted, _ := b.s.GetRecipient(ctx, "c_1")
	if lifted.SuppressedOn(message.SMS) {
		t.Fatal("the lifted number is still flagged on the profile")
	}
	if _, _, err := b.s.LiftSuppression(ctx, found[0].ID, "dpo", "again"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("lifting twice: %v", err)
	}
	recs, _, err := b.s.Audit(ctx, "", 10)
	if err != nil || len(recs) != 2 {
		t.Fatalf("audit %+v %v", recs, err)
	}
	if l := recs[1]; l.Kind != store.AuditSuppressionLifted || l.Subject != found[0].ID || l.By != "dpo" ||
		l.Reason != "person asked to get SMS again, ticket 42" || l.At.IsZero() {
		t.Fatalf("lift record %+v", l)
	}
	if rest, next, _ := b.s.Audit(ctx, recs[0].ID, 10); len(rest) != 1 || next != "" {
		t.Fatalf("page after the first record: %v %q", rest, next)
	}
}

func TestSegmentsAreVersioned(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	ctx := t.Context()
	seg, err := b.s.CreateSegment(ctx, store.Segment{ID: "seg_1", Name: "DSL", Expression: "kind = customer", CreatedBy: "crm"})
	if err != nil || seg.Version != 1 {
		t.Fatalf("create %+v %v", seg, err)
	}
	if _, err := b.s.CreateSegment(ctx, store.Segment{ID: "seg_1", Name: "x", Expression: "x"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create twice: %v", err)
	}
	v2, err := b.s.UpdateSegment(ctx, "seg_1", store.Segment{Name: "DSL de", Expression: "kind = customer and locale = de", UpdatedBy: "mkt"}, 1)
	if err != nil || v2.Version != 2 || v2.CreatedBy != "crm" || v2.UpdatedBy != "mkt" {
		t.Fatalf("update %+v %v", v2, err)
	}
	if _, err := b.s.UpdateSegment(ctx, "seg_1", store.Segment{Name: "stale", Expression: "x"}, 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("update from a stale version: %v", err)
	}
	old, _ := b.s.Segment(ctx, "seg_1", 1)
	cur, _ := b.s.Segment(ctx, "seg_1", 0)
	if old.Expression != "kind = customer" || cur.Expression != "kind = customer and locale = de" {
		t.Fatalf("v1 %q, current %q", old.Expression, cur.Expression)
	}
	if _, err := b.s.CreateSegment(ctx, store.Segment{ID: "seg_2", Name: "B", Expression: "kind = prospect"}); err != nil {
		t.Fatal(err)
	}
	page, next, _ := b.s.Segments(ctx, "", 1)
	rest, end, _ := b.s.Segments(ctx, next, 1)
	if len(page) != 1 || page[0].ID != "seg_1" || len(rest) != 1 || rest[0].ID != "seg_2" {
		t.Fatalf("pages %v / %v (%q, %q)", page, rest, next, end)
	}
	if err := b.s.DeleteSegment(ctx, "seg_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.Segment(ctx, "seg_1", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestCampaignListingNewestFirstByState(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	ctx := context.Background()
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		c := store.Campaign{ID: fmt.Sprintf("cmp_%d", i), Name: "n", Type: "promo_offer", CreatedAt: base.Add(time.Duration(i) * time.Minute)}
		if err := b.s.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, _, err := b.s.TransitionCampaign(ctx, c.ID, store.CampaignDraft, base, store.CampaignScheduled); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	cursor := ""
	for {
		page, next, err := b.s.Campaigns(ctx, cursor, 2, []store.CampaignState{store.CampaignDraft})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			got = append(got, c.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, []string{"cmp_4", "cmp_2", "cmp_0"}) {
		t.Fatalf("drafts newest first: %v", got)
	}
	if _, _, err := b.s.Campaigns(ctx, "garbage", 2, nil); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
}
