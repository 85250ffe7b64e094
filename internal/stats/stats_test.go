package stats_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/stats"
)

func classOf(t message.Type) (message.Class, bool) {
	switch t {
	case "invoice":
		return message.Transactional, true
	case "promo_offer":
		return message.Marketing, true
	}
	return "", false
}

func setup(t *testing.T, now time.Time) *stats.Stats {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	return stats.New(stats.Options{Redis: rdb, Prefix: prefix, ClassOf: classOf, Now: func() time.Time { return now }})
}

func msg(typ, ch, campaign string) events.Message {
	return events.Message{ID: "msg_1", RecipientID: "c_1", Type: typ, Channel: ch, CampaignID: campaign}
}

func TestStatsCountsFlushedEvents(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 12, 30, 0, 0, time.UTC)
	s := setup(t, now)
	ctx := t.Context()
	earlier := now.Add(-5 * time.Hour)
	evs := []events.Event{
		events.Delivered(now.Add(-time.Minute), msg("promo_offer", "email", "cmp_1"), "consent"),
		events.Delivered(now.Add(-time.Minute), msg("promo_offer", "email", "cmp_1"), "consent"),
		events.Delivered(now, msg("promo_offer", "email", "cmp_1"), "consent"),
		events.Delivered(earlier, msg("invoice", "sms", ""), "contract"),
		events.Suppressed(now, msg("promo_offer", "email", "cmp_1"), "objection"),
		events.Suppressed(now, msg("promo_offer", "sms", ""), "no_consent"),
		events.Suppressed(earlier, msg("promo_offer", "sms", ""), "no_consent"),
		events.Failed(now, msg("unknown_type", "email", ""), "permanent"),
		events.Bounced(now, msg("promo_offer", "email", ""), events.Bounce{Kind: "hard"}),
		events.Bounced(now, msg("promo_offer", "email", ""), events.Bounce{Kind: "complaint"}),
		events.SuppressionEvent(events.SuppressionAdded, now, "c_1", "email", "hard_bounce"), // not charted
	}
	if err := s.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	// Nothing is read before the flush: the counts are in memory.
	if got, err := s.Suppressions(ctx, now.Add(-time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("before the flush: %v %v", got, err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	got, err := s.Deliveries(ctx, now.Add(-24*time.Hour), 3*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Class, Status string
		Sum           float64
		Buckets       int
	}
	var rows []row
	for _, sr := range got {
		var n float64
		for _, v := range sr.Values {
			n += v
		}
		rows = append(rows, row{sr.Class, sr.Status, n, len(sr.Values)})
		if sr.Step != 3*time.Hour {
			t.Errorf("%s %s: step %s", sr.Class, sr.Status, sr.Step)
		}
	}
	want := []row{
		{"marketing", "delivered", 3, 9}, {"marketing", "suppressed", 3, 9}, {"marketing", "bounced", 1, 9},
		{"other", "failed", 1, 9}, {"transactional", "delivered", 1, 9},
	}
	if d := cmp.Diff(want, rows); d != "" {
		t.Errorf("deliveries (-want +got):\n%s", d)
	}

	sup, err := s.Suppressions(ctx, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]stats.Count{{"no_consent", 1}, {"objection", 1}}, sup); d != "" {
		t.Errorf("suppressions of the last hour (-want +got):\n%s", d)
	}
	if sup, _ = s.Suppressions(ctx, now.Add(-7*24*time.Hour)); sup[0] != (stats.Count{Key: "no_consent", Value: 2}) {
		t.Errorf("suppressions of 7 days: %v", sup)
	}

	rates, err := s.BounceRates(ctx, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]stats.Count{{"hard", 1.0 / 3}, {"soft", 0}, {"complaint", 1.0 / 3}}, rates); d != "" {
		t.Errorf("bounce rates: 3 e-mails delivered (-want +got):\n%s", d)
	}

	rate, err := s.CampaignRate(ctx, "cmp_1", now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]float64{2, 1}, rate.Values); d != "" || !rate.Start.Equal(now.Add(-time.Minute).Truncate(time.Minute)) {
		t.Errorf("campaign rate from %s (-want +got):\n%s", rate.Start, d)
	}
	if rate, _ := s.CampaignRate(ctx, "cmp_none", now.Add(-time.Hour)); len(rate.Values) != 0 {
		t.Errorf("a campaign without deliveries has a rate: %v", rate.Values)
	}
}

// TestStatsFlushAddsUp checks that two processes' flushes add up and that a
// second flush of the same process writes only what is new.
func TestStatsFlushAddsUp(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 12, 30, 0, 0, time.UTC)
	rdb, prefix := redistest.Client(t)
	a := stats.New(stats.Options{Redis: rdb, Prefix: prefix, ClassOf: classOf, Now: func() time.Time { return now }})
	b := stats.New(stats.Options{Redis: rdb, Prefix: prefix, ClassOf: classOf, Now: func() time.Time { return now }})
	ctx := t.Context()
	ev := events.Delivered(now, msg("invoice", "email", ""), "contract")
	for range 2 {
		_ = a.Publish(ctx, ev)
		_ = b.Publish(ctx, ev)
		if err := errors.Join(a.Flush(ctx), b.Flush(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.Deliveries(ctx, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Values[0] != 4 {
		t.Errorf("deliveries: %+v, want one series of 4", got)
	}
}
