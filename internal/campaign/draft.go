package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/delivery"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/segment"
	"github.com/heroldhq/herold/internal/store"
)

// Start starts a draft: it becomes scheduled and starts at its start time
// (now, for a campaign without a later send_at). A scheduled campaign starts
// now (StartNow). A draft without any audience (no ids, no segment) cannot
// start: ErrState.
func (e *Engine) Start(ctx context.Context, id string) error {
	c, st, err := e.st.Campaign(ctx, id)
	if err != nil {
		return err
	}
	switch st {
	case store.CampaignScheduled:
		return e.StartNow(ctx, id)
	case store.CampaignDraft:
	default:
		return fmt.Errorf("start campaign %s (%s): %w", id, st, ErrState)
	}
	src, err := e.st.CampaignSource(ctx, id)
	if err != nil {
		return err
	}
	if src.Segment == "" {
		names, err := e.st.ChunkNames(ctx, id, 0)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return fmt.Errorf("start campaign %s: no audience: upload ids or create it with a segment: %w", id, ErrState)
		}
	} else if _, err := e.st.Segment(ctx, src.Segment, 0); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("start campaign %s: its segment %s was deleted: %w", id, src.Segment, ErrState)
	} else if err != nil {
		return err
	}
	ok, cur, err := e.st.TransitionCampaign(ctx, id, store.CampaignScheduled, e.now(), store.CampaignDraft)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("start campaign %s (%s): %w", id, cur, ErrState)
	}
	at := c.StartAt
	if now := e.now(); at.Before(now) {
		at = now
	}
	e.log.InfoContext(ctx, "campaign draft started", "campaign_id", id, "start_at", at)
	return e.enqueueStart(ctx, id, at)
}

// Source returns where a campaign's audience comes from besides its ids.
func (e *Engine) Source(ctx context.Context, id string) (store.CampaignSource, error) {
	return e.st.CampaignSource(ctx, id)
}

// env is the segment environment of the engine at now: reachable is the
// delivery core's own decision for a message of the type on that channel.
func (e *Engine) env(now time.Time) segment.Env {
	return segment.Env{Now: now, Catalog: e.cat,
		Reachable: func(t message.Type, ch message.Channel, snap recipient.Snapshot, at time.Time) bool {
			decisions, chosen, _ := e.core.Decide(delivery.Spec{Type: t, Channels: []message.Channel{ch}}, snap, at)
			return chosen >= 0 && decisions[chosen].Allowed
		}}
}

// SegmentEnv is the environment segments are evaluated in at now, with the
// delivery core's decision behind reachable (for the API's counts and
// listings).
func (e *Engine) SegmentEnv(now time.Time) segment.Env { return e.env(now) }

// evaluateSegment puts the members of the campaign's segment into its
// audience, once: the start task calls it when the campaign starts, and a
// start that runs again after a crash finds the segment's chunks (named
// store.ChunkPrefixSegment…) committed and does nothing. A segment that was
// deleted or no longer compiles adds nobody (logged). A campaign left with
// no audience at all is done at once.
func (e *Engine) evaluateSegment(ctx context.Context, id string) error {
	src, err := e.st.CampaignSource(ctx, id)
	if err != nil || src.Segment == "" {
		return err
	}
	names, err := e.st.ChunkNames(ctx, id, 0)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, store.ChunkPrefixSegment) }) {
		return nil
	}
	def, err := e.st.Segment(ctx, src.Segment, 0)
	if errors.Is(err, store.ErrNotFound) {
		e.log.WarnContext(ctx, "campaign segment was deleted before the start; it adds nobody", "campaign_id", id, "segment_id", src.Segment)
		return e.finishIfEmpty(ctx, id, len(names))
	}
	if err != nil {
		return err
	}
	seg, err := segment.Compile(def.Expression, e.cat)
	if err != nil {
		e.log.WarnContext(ctx, "campaign segment does not compile against the catalog; it adds nobody", "campaign_id", id,
			"segment_id", def.ID, "version", def.Version, "err", err)
		return e.finishIfEmpty(ctx, id, len(names))
	}
	t0 := time.Now()
	var matched int64
	_, err = e.stageAndCommit(ctx, id, store.ChunkPrefixSegment, func(add func(message.RecipientID) error) error {
		_, err := segment.Scan(ctx, e.st, seg, e.env(e.now()), segment.ScanOptions{}, func(members []recipient.Snapshot) error {
			for _, m := range members {
				if err := add(m.ID); err != nil {
					return err
				}
			}
			matched += int64(len(members))
			return nil
		})
		return err
	})
	if err != nil && !errors.Is(err, ErrNothingValid) {
		return fmt.Errorf("campaign %s: evaluate segment %s: %w", id, def.ID, err)
	}
	if err := e.st.MarkSegmentEvaluated(ctx, id, def.Version, matched); err != nil {
		return err
	}
	e.log.InfoContext(ctx, "campaign segment evaluated", "campaign_id", id, "segment_id", def.ID, "version", def.Version,
		"matched", matched, "took", time.Since(t0).Round(time.Millisecond))
	if matched == 0 {
		return e.finishIfEmpty(ctx, id, len(names))
	}
	return nil
}

// finishIfEmpty ends a running campaign that has no chunk at all: nothing
// will ever come for it to send.
func (e *Engine) finishIfEmpty(ctx context.Context, id string, chunks int) error {
	if chunks > 0 {
		return nil
	}
	ok, _, err := e.st.TransitionCampaign(ctx, id, store.CampaignDone, e.now(), store.CampaignRunning)
	if err != nil || !ok {
		return err
	}
	e.forget(id)
	e.log.InfoContext(ctx, "campaign done: its audience is empty", "campaign_id", id)
	return e.st.ReleaseCampaign(ctx, id, e.cfg.RecordTTL)
}
