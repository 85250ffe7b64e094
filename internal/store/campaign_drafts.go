package store

// Campaign drafts, audiences from segments, dry runs and the campaign listing.
//
// # Keys
//
// A campaign's meta hash (campaigns.go) holds, besides j and state:
//
//	seg        the segment the campaign's audience comes from
//	segv       the segment version evaluated when the campaign started
//	segn       how many recipients that evaluation put in the audience
//	dry        the last dry run's report as JSON
//
// so they expire with the campaign (ReleaseCampaign). And, under the
// campaign's hash tag:
//
//	<prefix>{c:<id>}:dryseen   set of the ids a running dry run has decided, to count an id
//	                           given twice once, as sending does; deleted when the dry run
//	                           ends, expiring after an hour if it never does
//
// A segment's snapshot is staged as chunks named "s.<n>" (ChunkPrefixSegment)
// and committed in one step, so a start that runs again after a crash sees
// from the chunk list that the segment is already in the audience.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/message"
)

// CampaignDraft is a campaign that was created to be prepared (audience,
// dry run) and started later (POST /v1/campaigns/{id}/start).
const CampaignDraft CampaignState = "draft"

// ChunkPrefixSegment starts the names of the chunks that hold a segment's
// snapshot.
const ChunkPrefixSegment = "s."

// dryRunSeenTTL bounds how long a dry run's dedupe set outlives a crash.
const dryRunSeenTTL = time.Hour

// CampaignSource is where a campaign's audience comes from besides the ids
// uploaded to it.
type CampaignSource struct {
	Segment        string `json:"segment,omitempty"`
	SegmentVersion int    `json:"segment_version,omitempty"` // evaluated at the start; 0 before
	SegmentMatched int64  `json:"segment_matched,omitempty"`
}

// SetCampaignSegment records that the audience of campaign id comes from segment seg.
func (s *Store) SetCampaignSegment(ctx context.Context, id, seg string) error {
	if err := s.rdb.HSet(ctx, s.campaignKey(id, "meta"), "seg", seg).Err(); err != nil {
		return fmt.Errorf("campaign %s: segment: %w", id, err)
	}
	return nil
}

// CampaignSource returns where campaign id's audience comes from.
func (s *Store) CampaignSource(ctx context.Context, id string) (CampaignSource, error) {
	v, err := s.rdb.HMGet(ctx, s.campaignKey(id, "meta"), "seg", "segv", "segn").Result()
	if err != nil {
		return CampaignSource{}, fmt.Errorf("campaign %s: source: %w", id, err)
	}
	var src CampaignSource
	src.Segment, _ = v[0].(string)
	if sv, ok := v[1].(string); ok {
		src.SegmentVersion, _ = strconv.Atoi(sv)
	}
	if sn, ok := v[2].(string); ok {
		src.SegmentMatched, _ = strconv.ParseInt(sn, 10, 64)
	}
	return src, nil
}

// MarkSegmentEvaluated records the segment version a start evaluated and
// how many recipients it matched.
func (s *Store) MarkSegmentEvaluated(ctx context.Context, id string, version int, matched int64) error {
	if err := s.rdb.HSet(ctx, s.campaignKey(id, "meta"), "segv", version, "segn", matched).Err(); err != nil {
		return fmt.Errorf("campaign %s: segment evaluated: %w", id, err)
	}
	return nil
}

// SaveDryRun keeps the report of campaign id's last dry run.
func (s *Store) SaveDryRun(ctx context.Context, id string, report any) error {
	b, err := json.Marshal(report)
	if err != nil {
		return fmt.Errorf("campaign %s: dry run: %w", id, err)
	}
	if err := s.rdb.HSet(ctx, s.campaignKey(id, "meta"), "dry", b).Err(); err != nil {
		return fmt.Errorf("campaign %s: dry run: %w", id, err)
	}
	return nil
}

// DryRun reads the report of campaign id's last dry run into v; ErrNotFound
// when it never had one.
func (s *Store) DryRun(ctx context.Context, id string, v any) error {
	b, err := s.rdb.HGet(ctx, s.campaignKey(id, "meta"), "dry").Bytes()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("campaign %s: dry run: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("campaign %s: dry run: %w", id, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("campaign %s: dry run: %w", id, err)
	}
	return nil
}

// FirstSeen reports, for each of ids, whether this dry run of campaign id
// meets it for the first time (SADD in one pipeline on the dedupe set).
func (s *Store) FirstSeen(ctx context.Context, id string, ids []message.RecipientID) ([]bool, error) {
	key := s.campaignKey(id, "dryseen")
	cmds := make([]*redis.IntCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, rid := range ids {
			cmds[i] = p.SAdd(ctx, key, string(rid))
		}
		p.Expire(ctx, key, dryRunSeenTTL)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("campaign %s: dry run dedupe: %w", id, err)
	}
	out := make([]bool, len(ids))
	for i, c := range cmds {
		out[i] = c.Val() == 1
	}
	return out, nil
}

// ForgetSeen deletes a dry run's dedupe set.
func (s *Store) ForgetSeen(ctx context.Context, id string) error {
	if err := s.rdb.Unlink(ctx, s.campaignKey(id, "dryseen")).Err(); err != nil {
		return fmt.Errorf("campaign %s: dry run dedupe: %w", id, err)
	}
	return nil
}

// Campaigns lists campaigns newest first, page by page: up to n campaigns
// created before the one the cursor names ("" : from the newest), only
// those in states (none: every state), and the next cursor ("" at the end).
// Campaigns whose keys have expired are left out.
func (s *Store) Campaigns(ctx context.Context, cursor string, n int, states []CampaignState) ([]CampaignStatus, string, error) {
	max := "+inf"
	if cursor != "" {
		ms, _, ok := ParseTimeCursor(cursor)
		if !ok {
			return nil, "", fmt.Errorf("campaigns: cursor %q: %w", cursor, ErrBadCursor)
		}
		max = strconv.FormatInt(ms, 10)
	}
	var out []CampaignStatus
	offset := int64(0)
	const page = 200
	for len(out) < n {
		zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, s.campaignIndexKey(), &redis.ZRangeBy{Max: max, Min: "-inf", Offset: offset, Count: page}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("campaigns: %w", err)
		}
		for _, z := range zs {
			id, _ := z.Member.(string)
			key := TimeCursor(int64(z.Score), id)
			if cursor != "" && !AfterCursor(key, cursor) {
				continue // the cursor's campaign and those of the same millisecond before it
			}
			st, err := s.CampaignStatus(ctx, id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, "", err
			}
			if len(states) > 0 && !slices.Contains(states, st.State) {
				continue
			}
			out = append(out, st)
			if len(out) == n {
				return out, key, nil
			}
		}
		if len(zs) < page {
			return out, "", nil
		}
		offset += page
	}
	return out, "", nil
}

// TimeCursor is the cursor of a listing that goes newest first: the
// item's time (unix ms) and its id, "<ms>.<id>".
func TimeCursor(ms int64, id string) string { return strconv.FormatInt(ms, 10) + "." + id }

// ParseTimeCursor splits a TimeCursor; ok is false for anything else.
func ParseTimeCursor(c string) (ms int64, id string, ok bool) {
	s, id, found := strings.Cut(c, ".")
	ms, err := strconv.ParseInt(s, 10, 64)
	return ms, id, found && err == nil && id != ""
}

// AfterCursor reports whether TimeCursor a comes after b in a listing
// newest first: older, or as old with a smaller id.
func AfterCursor(a, b string) bool {
	am, aid, _ := ParseTimeCursor(a)
	bm, bid, _ := ParseTimeCursor(b)
	if am != bm {
		return am < bm
	}
	return aid < bid
}

// ErrBadCursor means a listing cursor this store did not hand out.
var ErrBadCursor = errors.New("invalid cursor")
