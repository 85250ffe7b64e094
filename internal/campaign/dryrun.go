package campaign

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/heroldhq/herold/internal/delivery"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/segment"
	"github.com/heroldhq/herold/internal/store"
)

// The outcomes of a dry run, per recipient.
const (
	DryAllowed    = "allowed"    // would be sent now
	DryDelayed    = "delayed"    // allowed, but must wait (quiet hours): decided again then
	DrySuppressed = "suppressed" // the policy allows no channel
)

// dryRunBatch is how many recipients one pipeline of a dry run loads.
const dryRunBatch = 500

// dryRunWorkers is how many batches load and are decided at once.
const dryRunWorkers = 4

// dryRunSamples is how many recipient ids a dry run shows per row.
const dryRunSamples = 5

// DryRunRow counts the recipients of one channel with one outcome and reason.
type DryRunRow struct {
	Channel message.Channel `json:"channel"`
	Outcome string          `json:"outcome"` // allowed, delayed or suppressed
	// Reason is "allowed", the hold of a delay ("quiet_hours") or the
	// policy's reason code of a suppression ("objection", "no_consent", …).
	Reason string                `json:"reason"`
	Count  int64                 `json:"count"`
	Sample []message.RecipientID `json:"sample"` // the first few ids in id order
}

// DryRunReport is what a dry run found: every member of the audience
// decided at At, as sending would decide them, without sending anything.
// Allowed + the delays + the suppressions + Duplicates = Audience.
type DryRunReport struct {
	CampaignID string    `json:"campaign_id"`
	At         time.Time `json:"at"`
	// Audience counts every id, an id given twice twice (as the campaign's
	// audience counter does); Duplicates are the second and later ones,
	// which sending skips.
	Audience   int64            `json:"audience"`
	Duplicates int64            `json:"duplicates"`
	Allowed    int64            `json:"allowed"`
	Delayed    map[string]int64 `json:"delayed"`    // by hold: quiet_hours
	Suppressed map[string]int64 `json:"suppressed"` // by reason
	Rows       []DryRunRow      `json:"rows"`       // per channel, outcome and reason
	// Segment is the campaign's segment as this dry run evaluated it (the
	// start evaluates it again: the audience is the start's snapshot).
	Segment *DrySegment `json:"segment,omitempty"`
	Elapsed string      `json:"elapsed"`
}

// DrySegment is the segment a dry run evaluated.
type DrySegment struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Matched int64  `json:"matched"`
}

// tally is one worker's share of a report.
type tally struct {
	rows map[rowKey]*DryRunRow
	dups int64
}

type rowKey struct {
	ch      message.Channel
	outcome string
	reason  string
}

func newTally() *tally { return &tally{rows: map[rowKey]*DryRunRow{}} }

func (t *tally) add(k rowKey, id message.RecipientID) {
	r := t.rows[k]
	if r == nil {
		r = &DryRunRow{Channel: k.ch, Outcome: k.outcome, Reason: k.reason}
		t.rows[k] = r
	}
	r.Count++
	r.Sample = keepSmallest(r.Sample, id)
}

// keepSmallest keeps the dryRunSamples smallest ids, so the samples do not
// depend on which worker came first.
func keepSmallest(s []message.RecipientID, id message.RecipientID) []message.RecipientID {
	i, found := slices.BinarySearch(s, id)
	if found || i >= dryRunSamples {
		return s
	}
	s = slices.Insert(s, i, id)
	if len(s) > dryRunSamples {
		s = s[:dryRunSamples]
	}
	return s
}

func (t *tally) merge(o *tally) {
	t.dups += o.dups
	for k, r := range o.rows {
		cur := t.rows[k]
		if cur == nil {
			t.rows[k] = r
			continue
		}
		cur.Count += r.Count
		for _, id := range r.Sample {
			cur.Sample = keepSmallest(cur.Sample, id)
		}
	}
}

// DryRun decides every member of a draft's or a scheduled campaign's
// audience now, as sending would (delivery.Deliverer.Decide: the same
// decision an attempt makes, quiet hours included), without sending or
// recording anything but the report, which GET …/dry-run returns later.
// The audience is the ids uploaded so far and, for a campaign from a
// segment, the segment's members now. Recipients are loaded in pipelined
// batches and decided as they come, so memory does not grow with the
// audience. A running or finished campaign: ErrState.
func (e *Engine) DryRun(ctx context.Context, id string) (DryRunReport, error) {
	t0 := time.Now()
	p, st, err := e.plan(ctx, id)
	if err != nil {
		return DryRunReport{}, err
	}
	if st != store.CampaignDraft && st != store.CampaignScheduled {
		return DryRunReport{}, fmt.Errorf("dry run of campaign %s (%s): %w", id, st, ErrState)
	}
	src, err := e.st.CampaignSource(ctx, id)
	if err != nil {
		return DryRunReport{}, err
	}
	names, err := e.st.ChunkNames(ctx, id, 0)
	if err != nil {
		return DryRunReport{}, err
	}
	now := e.now()
	rep := DryRunReport{CampaignID: id, At: now, Delayed: map[string]int64{}, Suppressed: map[string]int64{}}
	var seg *segment.Segment
	if src.Segment != "" {
		def, err := e.st.Segment(ctx, src.Segment, 0)
		if errors.Is(err, store.ErrNotFound) {
			return DryRunReport{}, fmt.Errorf("dry run of campaign %s: its segment %s was deleted: %w", id, src.Segment, ErrState)
		}
		if err != nil {
			return DryRunReport{}, err
		}
		if seg, err = segment.Compile(def.Expression, e.cat); err != nil {
			return DryRunReport{}, fmt.Errorf("dry run of campaign %s: segment %s: %w", id, def.ID, err)
		}
		rep.Segment = &DrySegment{ID: def.ID, Version: def.Version}
	}
	var since time.Time
	if t, ok := e.cat.Type(p.c.Type); ok && t.Advertising {
		since = e.cat.FrequencyCountSince(now)
	}
	// An id may come twice only from uploads (a segment names everybody
	// once): then a set in Redis tells the first time from the others.
	dedupe := len(names) > 0
	if dedupe {
		defer func() {
			if err := e.st.ForgetSeen(context.WithoutCancel(ctx), id); err != nil {
				e.log.WarnContext(ctx, "drop a dry run's dedupe set", "campaign_id", id, "err", err)
			}
		}()
	}

	type batch struct {
		ids   []message.RecipientID
		snaps []recipient.Snapshot // set when the segment scan loaded them
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan batch, dryRunWorkers)
	var mu sync.Mutex
	total := newTally()
	var errs []error
	var wg sync.WaitGroup
	for range dryRunWorkers {
		wg.Go(func() {
			t := newTally()
			defer func() { mu.Lock(); total.merge(t); mu.Unlock() }()
			for b := range work {
				if err := e.dryBatch(ctx, p, id, b.ids, b.snaps, dedupe, since, now, t); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					cancel()
					return
				}
			}
		})
	}
	send := func(b batch) error {
		select {
		case work <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ferr := func() error {
		for _, name := range names {
			ids, err := e.st.ChunkRecipients(ctx, id, name)
			if err != nil {
				return err
			}
			rep.Audience += int64(len(ids))
			for part := range slices.Chunk(ids, dryRunBatch) {
				if err := send(batch{ids: part}); err != nil {
					return err
				}
			}
		}
		if seg == nil {
			return nil
		}
		stats, err := segment.Scan(ctx, e.st, seg, e.env(now), segment.ScanOptions{Batch: dryRunBatch, Need: segment.Needs{Ledger: true, Advertising: !since.IsZero()}},
			func(members []recipient.Snapshot) error {
				ids := make([]message.RecipientID, len(members))
				for i, m := range members {
					ids[i] = m.ID
				}
				return send(batch{ids: ids, snaps: members})
			})
		rep.Segment.Matched = int64(stats.Matched)
		rep.Audience += int64(stats.Matched)
		return err
	}()
	close(work)
	wg.Wait()
	if err := errors.Join(append(errs, ferr)...); err != nil {
		return DryRunReport{}, fmt.Errorf("dry run of campaign %s: %w", id, err)
	}

	rep.Duplicates = total.dups
	for _, k := range slices.SortedFunc(maps.Keys(total.rows), func(a, b rowKey) int {
		return cmp.Or(cmp.Compare(a.ch, b.ch), cmp.Compare(a.outcome, b.outcome), cmp.Compare(a.reason, b.reason))
	}) {
		r := total.rows[k]
		rep.Rows = append(rep.Rows, *r)
		switch r.Outcome {
		case DryAllowed:
			rep.Allowed += r.Count
		case DryDelayed:
			rep.Delayed[r.Reason] += r.Count
		case DrySuppressed:
			rep.Suppressed[r.Reason] += r.Count
		}
	}
	rep.Elapsed = time.Since(t0).Round(time.Millisecond).String()
	if err := e.st.SaveDryRun(ctx, id, rep); err != nil {
		return rep, err
	}
	e.log.InfoContext(ctx, "campaign dry run", "campaign_id", id, "audience", rep.Audience, "allowed", rep.Allowed, "took", rep.Elapsed)
	return rep, nil
}

// dryBatch decides one batch: the facts of ids (loaded here in one
// pipeline unless the segment scan brought them), each decided at now with
// the campaign's delivery spec.
func (e *Engine) dryBatch(ctx context.Context, p *plan, id string, ids []message.RecipientID, snaps []recipient.Snapshot,
	dedupe bool, since, now time.Time, t *tally) error {
	if dedupe {
		first, err := e.st.FirstSeen(ctx, id, ids)
		if err != nil {
			return err
		}
		keep := make([]int, 0, len(ids))
		for i, f := range first {
			if f {
				keep = append(keep, i)
			} else {
				t.dups++
			}
		}
		if len(keep) < len(ids) {
			uniq := make([]message.RecipientID, len(keep))
			var us []recipient.Snapshot
			for j, i := range keep {
				uniq[j] = ids[i]
				if snaps != nil {
					us = append(us, snaps[i])
				}
			}
			ids, snaps = uniq, us
		}
	}
	if snaps == nil && len(ids) > 0 {
		var err error
		if snaps, err = e.st.LoadFactsBatchSince(ctx, ids, since); err != nil {
			return err
		}
	}
	for _, sn := range snaps {
		t.add(e.dryDecide(p.spec, sn, now), sn.ID)
	}
	return nil
}

// dryDecide classifies one recipient as the attempt would: suppressed with
// the first preferred channel's denial, delayed by the hold of an allowed
// decision that must wait, or allowed on the chosen channel.
func (e *Engine) dryDecide(spec delivery.Spec, sn recipient.Snapshot, now time.Time) rowKey {
	decisions, chosen, prefs := e.core.Decide(spec, sn, now)
	if chosen < 0 {
		d := decisions[0]
		ch := cmp.Or(d.Channel, prefs[0], message.Email) // an unknown type names no channel, as the outcome writer does
		return rowKey{ch: ch, outcome: DrySuppressed, reason: string(cmp.Or(d.Reason, policy.UnknownType))}
	}
	d := decisions[chosen]
	if d.NotBefore.After(now) {
		return rowKey{ch: prefs[chosen], outcome: DryDelayed, reason: string(cmp.Or(d.Hold, policy.HoldQuietHours))}
	}
	return rowKey{ch: prefs[chosen], outcome: DryAllowed, reason: string(policy.Allowed)}
}

// LastDryRun returns the report of the campaign's last dry run (ErrNotFound: none).
func (e *Engine) LastDryRun(ctx context.Context, id string) (DryRunReport, error) {
	var rep DryRunReport
	if _, _, err := e.st.Campaign(ctx, id); err != nil {
		return rep, err
	}
	err := e.st.DryRun(ctx, id, &rep)
	return rep, err
}
