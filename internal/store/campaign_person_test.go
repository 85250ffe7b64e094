package store_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/privacy"
	"github.com/heroldhq/herold/internal/store"
)

var campaignAt = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// campaignWith creates a running campaign id of type newsletter with the
// given committed chunks (name → ids).
func campaignWith(t *testing.T, s *store.Store, id string, chunks [][]message.RecipientID) []string {
	t.Helper()
	ctx := t.Context()
	if err := s.CreateCampaign(ctx, store.Campaign{ID: id, Name: "Winter " + id, Type: "newsletter",
		Class: message.Marketing, Channels: []message.Channel{message.Email}, CreatedAt: campaignAt}); err != nil {
		t.Fatal(err)
	}
	var names []string
	n := 0
	for i, ids := range chunks {
		name := "u1." + string(rune('0'+i))
		if err := s.StageChunk(ctx, id, name, ids); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		n += len(ids)
	}
	if _, _, err := s.CommitChunks(ctx, id, names, n); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := s.TransitionCampaign(ctx, id, store.CampaignRunning, campaignAt, store.CampaignScheduled); err != nil || !ok {
		t.Fatalf("start %s: %v %v", id, ok, err)
	}
	return names
}

// claim claims ids for chunk owner, as a chunk task does before sending.
func claim(t *testing.T, s *store.Store, id string, owner store.Owner, ids ...message.RecipientID) {
	t.Helper()
	st, claims, err := s.ClaimRecipients(t.Context(), id, owner, ids)
	if err != nil || st != store.CampaignRunning {
		t.Fatalf("claim in %s: %s %v", id, st, err)
	}
	for _, c := range claims {
		if !c.Claimed {
			t.Fatalf("claim in %s: %s not claimed (%q)", id, c.Recipient, c.Found)
		}
	}
}

func delivered(rid message.RecipientID, origin store.Owner) store.Finished {
	return store.Finished{Outcome: store.Outcome{Recipient: rid, Status: store.OutcomeDelivered, Origin: origin,
		Channel: message.Email, Basis: policy.Consent, Reason: policy.Allowed, Rule: "consent", Catalog: "2026-11.1",
		DecidedAt: campaignAt, DoneAt: campaignAt.Add(2 * time.Second), ProviderID: "=@mail.example"}}
}

func suppressedBy(rid message.RecipientID, origin store.Owner, reason policy.Reason) store.Finished {
	return store.Finished{Outcome: store.Outcome{Recipient: rid, Status: store.OutcomeSuppressed, Origin: origin,
		Channel: message.Email, Reason: reason, Catalog: "2026-11.1", DecidedAt: campaignAt, DoneAt: campaignAt}}
}

func waiting(rid message.RecipientID, origin store.Owner) store.Finished {
	return store.Finished{Outcome: store.Outcome{Recipient: rid, Origin: origin}, Due: campaignAt.Add(time.Hour), Retry: true}
}

func writeOutcomes(t *testing.T, s *store.Store, id string, items ...store.Finished) {
	t.Helper()
	if err := s.WriteOutcomes(t.Context(), store.Campaign{ID: id, Type: "promo_offer"}, items); err != nil {
		t.Fatal(err)
	}
}

func putCustomers(t *testing.T, s *store.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, _, err := s.PutRecipient(t.Context(), customer(t, id)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExportHoldsCampaignMessages(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	ctx := t.Context()
	putCustomers(t, b.s, "c-1", "c-2", "c-3")

	// a: c-1 delivered, c-2 suppressed, c-3 not reached yet.
	campaignWith(t, b.s, "cmp_a", [][]message.RecipientID{{"c-1", "c-2", "c-3"}})
	claim(t, b.s, "cmp_a", store.ChunkOwner(0), "c-1", "c-2")
	writeOutcomes(t, b.s, "cmp_a", delivered("c-1", store.ChunkOwner(0)), suppressedBy("c-2", store.ChunkOwner(0), policy.Objection))
	// b: c-1 waits for a retry; c: c-1 is not in it.
	campaignWith(t, b.s, "cmp_b", [][]message.RecipientID{{"c-2", "c-1"}})
	claim(t, b.s, "cmp_b", store.ChunkOwner(0), "c-1")
	writeOutcomes(t, b.s, "cmp_b", waiting("c-1", store.ChunkOwner(0)))
	campaignWith(t, b.s, "cmp_c", [][]message.RecipientID{{"c-2"}})

	exp, err := privacy.New(b.s, nil).Export(ctx, "c-1", campaignAt)
	if err != nil {
		t.Fatal(err)
	}
	if len(exp.CampaignMessages) != 2 {
		t.Fatalf("campaign messages of c-1: %+v", exp.CampaignMessages)
	}
	got := exp.CampaignMessages[0]
	msgID := store.CampaignMessageID("cmp_a", "c-1")
	d := got.Decision
	if got.CampaignID != "cmp_a" || got.CampaignName != "Winter cmp_a" || got.MessageID != msgID ||
		got.Type != "newsletter" || got.Status != "delivered" || got.Channel != message.Email ||
		got.ProviderID != msgID+"@mail.example" || !got.DoneAt.Equal(campaignAt.Add(2*time.Second)) || d == nil ||
		!d.Allowed || d.Basis != policy.Consent || d.Reason != policy.Allowed || d.Rule != "newsletter/email/consent" ||
		d.CatalogVersion != "2026-11.1" || !d.DecidedAt.Equal(campaignAt) || d.Recipient != "c-1" {
		t.Errorf("delivered campaign message: %+v decision %+v", got, d)
	}
	if w := exp.CampaignMessages[1]; w.CampaignID != "cmp_b" || w.Status != "waiting" || w.Decision != nil ||
		w.MessageID != store.CampaignMessageID("cmp_b", "c-1") {
		t.Errorf("waiting campaign message: %+v", w)
	}

	// c-2's export has its own outcomes and its place in c's audience, none of c-1's.
	exp, err = privacy.New(b.s, nil).Export(ctx, "c-2", campaignAt)
	if err != nil {
		t.Fatal(err)
	}
	var st []string
	for _, m := range exp.CampaignMessages {
		st = append(st, m.CampaignID+":"+m.Status)
		if m.Decision != nil && m.Decision.Recipient != "c-2" {
			t.Errorf("c-2's export holds %+v", m.Decision)
		}
	}
	if want := []string{"cmp_a:suppressed", "cmp_b:queued", "cmp_c:queued"}; !slices.Equal(st, want) {
		t.Errorf("c-2's campaign messages = %v, want %v", st, want)
	}
	if m := exp.CampaignMessages[0]; m.Decision == nil || m.Decision.Allowed || m.Decision.Reason != policy.Objection {
		t.Errorf("suppressed campaign message: %+v", m)
	}

	// Someone in no campaign: an empty array, not null.
	putCustomers(t, b.s, "c-9")
	exp, err = privacy.New(b.s, nil).Export(ctx, "c-9", campaignAt)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(exp)
	if !strings.Contains(string(j), `"campaign_messages":[]`) {
		t.Errorf("export of c-9: %s", j)
	}
}

// TestDeleteRecipientErasesCampaignEntries checks that erasure leaves the id
// in no campaign key: outcomes, later set, retries, committed and staged
// audience chunks, of running and finished campaigns. The id is cut out of
// the audience (not merely suppressed when reached: an erased person reached
// by a chunk gets an unknown_recipient outcome, which would bring the id
// back), and the counters still add up.
func TestDeleteRecipientErasesCampaignEntries(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	ctx := t.Context()
	putCustomers(t, b.s, "c-1", "c-2", "c-3", "c-4")

	// a runs: c-1 delivered from chunk 0 and given again in chunk 1 (not
	// reached); an upload in progress has staged c-1 once more.
	campaignWith(t, b.s, "cmp_a", [][]message.RecipientID{{"c-1", "c-2", "c-3"}, {"c-4", "c-1"}})
	claim(t, b.s, "cmp_a", store.ChunkOwner(0), "c-1", "c-2")
	writeOutcomes(t, b.s, "cmp_a", delivered("c-1", store.ChunkOwner(0)), delivered("c-2", store.ChunkOwner(0)))
	if err := b.s.StageChunk(ctx, "cmp_a", "u2.0", []message.RecipientID{"c-1", "c-5"}); err != nil {
		t.Fatal(err)
	}
	// b runs: its only chunk is done, c-1 and c-2 wait for a retry.
	campaignWith(t, b.s, "cmp_b", [][]message.RecipientID{{"c-1", "c-2"}})
	claim(t, b.s, "cmp_b", store.ChunkOwner(0), "c-1", "c-2")
	writeOutcomes(t, b.s, "cmp_b", waiting("c-1", store.ChunkOwner(0)), waiting("c-2", store.ChunkOwner(0)))
	if _, err := b.s.FinishChunk(ctx, "cmp_b", 0, campaignAt); err != nil {
		t.Fatal(err)
	}
	// c is done and released: only outcomes are left.
	campaignWith(t, b.s, "cmp_c", [][]message.RecipientID{{"c-1", "c-2"}})
	claim(t, b.s, "cmp_c", store.ChunkOwner(0), "c-1", "c-2")
	writeOutcomes(t, b.s, "cmp_c", delivered("c-1", store.ChunkOwner(0)), suppressedBy("c-2", store.ChunkOwner(0), policy.NoConsent))
	if done, err := b.s.FinishChunk(ctx, "cmp_c", 0, campaignAt); err != nil || !done {
		t.Fatalf("finish c: %v %v", done, err)
	}
	if err := b.s.ReleaseCampaign(ctx, "cmp_c", time.Hour); err != nil {
		t.Fatal(err)
	}
	before := map[string]store.Outcome{}
	for _, id := range []string{"cmp_a", "cmp_b", "cmp_c"} {
		o, err := b.s.CampaignOutcome(ctx, store.Campaign{ID: id, Type: "promo_offer"}, "c-2")
		if err != nil {
			t.Fatal(err)
		}
		before[id] = o
	}

	if err := privacy.New(b.s, nil).Erase(ctx, "c-1"); err != nil {
		t.Fatal(err)
	}

	// No key under the prefix names c-1, as key, field, member, element or line.
	for _, k := range b.keys(t) {
		if strings.Contains(k, "c-1") {
			t.Errorf("key %s is left", k)
		}
		var items []string
		switch typ := b.rdb.Type(ctx, k).Val(); typ {
		case "hash":
			for f, v := range b.rdb.HGetAll(ctx, k).Val() {
				items = append(items, f)
				items = append(items, strings.Split(v, "\n")...)
			}
		case "zset":
			items = b.rdb.ZRange(ctx, k, 0, -1).Val()
		case "set":
			items = b.rdb.SMembers(ctx, k).Val()
		case "list":
			items = b.rdb.LRange(ctx, k, 0, -1).Val()
		case "string":
			items = strings.Split(b.rdb.Get(ctx, k).Val(), "\n")
		default:
			t.Fatalf("key %s of type %s", k, typ)
		}
		if slices.Contains(items, "c-1") {
			t.Errorf("key %s still holds c-1: %q", k, items)
		}
	}

	// Everyone else is as before.
	for id, want := range before {
		if got, err := b.s.CampaignOutcome(ctx, store.Campaign{ID: id, Type: "promo_offer"}, "c-2"); err != nil || got != want {
			t.Errorf("%s: c-2's outcome %+v → %+v (%v)", id, want, got, err)
		}
	}
	for chunk, want := range map[string][]message.RecipientID{"u1.0": {"c-2", "c-3"}, "u1.1": {"c-4"}, "u2.0": {"c-5"}} {
		if got, err := b.s.ChunkRecipients(ctx, "cmp_a", chunk); err != nil || !slices.Equal(got, want) {
			t.Errorf("cmp_a chunk %s = %v (%v), want %v", chunk, got, err, want)
		}
	}
	if ids, err := b.s.LeaseDue(ctx, "cmp_b", campaignAt.Add(2*time.Hour), time.Minute, 10); err != nil || !slices.Equal(ids, []message.RecipientID{"c-2"}) {
		t.Errorf("cmp_b later set: %v %v", ids, err)
	}

	// Counters add up without c-1's place still to come: in a, c-1's delivery
	// stays counted and its second and staged places go (the upload in
	// progress then commits its staged count as it was).
	if _, _, err := b.s.CommitChunks(ctx, "cmp_a", []string{"u2.0"}, 2); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]store.CampaignCounters{
		"cmp_a": {Audience: 5, Queued: 3, Delivered: 2, Chunks: 3},              // c-1 d, c-2 d; c-3, c-4, c-5 queued
		"cmp_b": {Audience: 1, Queued: 1, Waiting: 1, Chunks: 1, ChunksDone: 1}, // c-2 waits
		"cmp_c": {Audience: 2, Delivered: 1, Chunks: 1, ChunksDone: 1},          // aggregates stay
	} {
		st, err := b.s.CampaignStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		c := st.Counters
		c.Suppressed, c.Failed = nil, nil
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("%s counters (-want +got):\n%s", id, diff)
		}
	}
}

func TestCampaignIndexDropsExpiredCampaigns(t *testing.T) {
	t.Parallel()
	b := setupRecipients(t)
	ctx := t.Context()
	putCustomers(t, b.s, "c-1")
	campaignWith(t, b.s, "cmp_a", [][]message.RecipientID{{"c-1"}})
	campaignWith(t, b.s, "cmp_gone", [][]message.RecipientID{{"c-1"}})
	if err := b.rdb.Del(ctx, b.prefix+"{c:cmp_gone}:meta", b.prefix+"{c:cmp_gone}:aud").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := privacy.New(b.s, nil).Export(ctx, "c-1", campaignAt); err != nil {
		t.Fatal(err)
	}
	if ids, err := b.s.CampaignIDs(ctx); err != nil || !slices.Equal(ids, []string{"cmp_a"}) {
		t.Errorf("campaign index = %v (%v), want [cmp_a]", ids, err)
	}
}
