package store

// Segments: saved, named, versioned definitions of an audience.
//
// # Keys
//
//	<prefix>segments     sorted set segment id → creation time (unix ms): the listing
//	<prefix>{s:<id>}     hash: cur → the current version number, v<N> → version N as JSON
//
// Every version is kept, so a campaign can say which version chose its
// audience (it records the number it started with) and an auditor can read
// it. A change writes the next version in one script on the segment's own
// hash (a compare-and-set on cur), so two editors never both become version
// N+1. The index is a key of its own, written after the hash (a listing
// skips ids whose hash is gone). The store does not parse expressions:
// internal/segment checks them before they are saved.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Segment is one version of a saved segment.
type Segment struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Expression  string    `json:"expression"`
	Version     int       `json:"version"`
	CreatedAt   time.Time `json:"created_at"` // of the segment (version 1)
	UpdatedAt   time.Time `json:"updated_at"` // of this version
	CreatedBy   string    `json:"created_by,omitempty"`
	UpdatedBy   string    `json:"updated_by,omitempty"`
}

func (s *Store) segmentKey(id string) string { return s.prefix + "{s:" + id + "}" }
func (s *Store) segmentIndexKey() string     { return s.prefix + "segments" }

// putVersionScript writes version ARGV[2] (JSON ARGV[3]) if cur is still
// ARGV[1] ("" : the segment must not exist). Returns 1, or 0 when cur moved.
var putVersionScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'cur') or ''
if cur ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v' .. ARGV[2], ARGV[3], 'cur', ARGV[2])
return 1
`)

// CreateSegment stores version 1 of a new segment (ID, Name and Expression
// set by the caller). ErrConflict if the id is taken.
func (s *Store) CreateSegment(ctx context.Context, seg Segment) (Segment, error) {
	now := s.now().UTC()
	seg.Version, seg.CreatedAt, seg.UpdatedAt = 1, now, now
	seg.UpdatedBy = seg.CreatedBy
	b, err := json.Marshal(seg)
	if err != nil {
		return Segment{}, fmt.Errorf("create segment %s: %w", seg.ID, err)
	}
	ok, err := putVersionScript.Run(ctx, s.rdb, []string{s.segmentKey(seg.ID)}, "", 1, b).Int()
	if err != nil {
		return Segment{}, fmt.Errorf("create segment %s: %w", seg.ID, err)
	}
	if ok == 0 {
		return Segment{}, fmt.Errorf("create segment %s: %w", seg.ID, ErrConflict)
	}
	if err := s.rdb.ZAdd(ctx, s.segmentIndexKey(), redis.Z{Score: float64(now.UnixMilli()), Member: seg.ID}).Err(); err != nil {
		return Segment{}, fmt.Errorf("create segment %s: index: %w", seg.ID, err)
	}
	return seg, nil
}

// UpdateSegment stores the next version of segment id with the name,
// description and expression of next. ifVersion > 0 makes it conditional:
// ErrConflict when the current version is another. Unknown id: ErrNotFound.
func (s *Store) UpdateSegment(ctx context.Context, id string, next Segment, ifVersion int) (Segment, error) {
	for try := 0; try < maxWriteTries; try++ {
		cur, err := s.Segment(ctx, id, 0)
		if err != nil {
			return Segment{}, fmt.Errorf("update segment: %w", err)
		}
		if ifVersion > 0 && cur.Version != ifVersion {
			return Segment{}, fmt.Errorf("update segment %s: version %d is current, not %d: %w", id, cur.Version, ifVersion, ErrConflict)
		}
		v := cur
		v.Name, v.Description, v.Expression = next.Name, next.Description, next.Expression
		v.Version, v.UpdatedAt, v.UpdatedBy = cur.Version+1, s.now().UTC(), next.UpdatedBy
		b, err := json.Marshal(v)
		if err != nil {
			return Segment{}, fmt.Errorf("update segment %s: %w", id, err)
		}
		ok, err := putVersionScript.Run(ctx, s.rdb, []string{s.segmentKey(id)}, strconv.Itoa(cur.Version), v.Version, b).Int()
		if err != nil {
			return Segment{}, fmt.Errorf("update segment %s: %w", id, err)
		}
		if ok == 1 {
			return v, nil
		}
		if ifVersion > 0 {
			return Segment{}, fmt.Errorf("update segment %s: changed meanwhile: %w", id, ErrConflict)
		}
	}
	return Segment{}, fmt.Errorf("update segment %s: %w", id, ErrConflict)
}

// Segment returns version `version` of segment id (0: the current one).
func (s *Store) Segment(ctx context.Context, id string, version int) (Segment, error) {
	key := s.segmentKey(id)
	field := "v" + strconv.Itoa(version)
	if version <= 0 {
		cur, err := s.rdb.HGet(ctx, key, "cur").Result()
		if errors.Is(err, redis.Nil) {
			return Segment{}, fmt.Errorf("segment %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return Segment{}, fmt.Errorf("segment %s: %w", id, err)
		}
		field = "v" + cur
	}
	b, err := s.rdb.HGet(ctx, key, field).Bytes()
	if errors.Is(err, redis.Nil) {
		return Segment{}, fmt.Errorf("segment %s version %d: %w", id, version, ErrNotFound)
	}
	if err != nil {
		return Segment{}, fmt.Errorf("segment %s: %w", id, err)
	}
	var seg Segment
	if err := json.Unmarshal(b, &seg); err != nil {
		return Segment{}, fmt.Errorf("segment %s: decode: %w", id, err)
	}
	return seg, nil
}

// Segments lists the current versions of up to n segments created after
// the segment `after` ("" : from the oldest), oldest first, and the cursor
// of the next page ("" at the end).
func (s *Store) Segments(ctx context.Context, after string, n int) ([]Segment, string, error) {
	start := int64(0)
	if after != "" {
		r, err := s.rdb.ZRank(ctx, s.segmentIndexKey(), after).Result()
		if errors.Is(err, redis.Nil) {
			return nil, "", fmt.Errorf("segments after %s: %w", after, ErrNotFound)
		}
		if err != nil {
			return nil, "", fmt.Errorf("segments: %w", err)
		}
		start = r + 1
	}
	ids, err := s.rdb.ZRange(ctx, s.segmentIndexKey(), start, start+int64(n)-1).Result()
	if err != nil {
		return nil, "", fmt.Errorf("segments: %w", err)
	}
	out := make([]Segment, 0, len(ids))
	for _, id := range ids {
		seg, err := s.Segment(ctx, id, 0)
		if errors.Is(err, ErrNotFound) {
			continue // deleted between the index and the hash
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, seg)
	}
	next := ""
	if len(ids) == n {
		next = ids[len(ids)-1]
	}
	return out, next, nil
}

// DeleteSegment deletes segment id with all its versions. Campaigns that
// already started keep the audience it chose; a draft that names it can no
// longer start. Unknown id: ErrNotFound.
func (s *Store) DeleteSegment(ctx context.Context, id string) error {
	n, err := s.rdb.Del(ctx, s.segmentKey(id)).Result()
	if err != nil {
		return fmt.Errorf("delete segment %s: %w", id, err)
	}
	if err := s.rdb.ZRem(ctx, s.segmentIndexKey(), id).Err(); err != nil {
		return fmt.Errorf("delete segment %s: index: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete segment %s: %w", id, ErrNotFound)
	}
	return nil
}
