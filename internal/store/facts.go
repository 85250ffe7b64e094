package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
)

// LoadFacts reads the profile and the ledger of id in one round trip (one
// pipeline over keys of one hash tag). An unknown recipient is not an error:
// the recipient.Snapshot has Found false, and the policy answers unknown_recipient.
func (s *Store) LoadFacts(ctx context.Context, id message.RecipientID) (recipient.Snapshot, error) {
	return s.LoadFactsSince(ctx, id, time.Time{})
}

// LoadFactsSince is LoadFacts that also counts, in the same round trip, the
// advertising deliveries since advSince (the frequency cap's window start;
// zero: not counted). The send path uses it: one round trip per message.
func (s *Store) LoadFactsSince(ctx context.Context, id message.RecipientID, advSince time.Time) (recipient.Snapshot, error) {
	snaps, err := s.LoadFactsBatchSince(ctx, []message.RecipientID{id}, advSince)
	if err != nil {
		return recipient.Snapshot{}, err
	}
	return snaps[0], nil
}

// LoadFactsBatch reads the snapshots of many recipients in one pipeline, in
// the order of ids; missing ones have Found false. On Redis Cluster go-redis
// splits the pipeline by node.
func (s *Store) LoadFactsBatch(ctx context.Context, ids []message.RecipientID) ([]recipient.Snapshot, error) {
	return s.LoadFactsBatchSince(ctx, ids, time.Time{})
}

// LoadFactsBatchSince is LoadFactsBatch that also counts each recipient's
// advertising deliveries since advSince in the same pipeline (zero: not counted).
func (s *Store) LoadFactsBatchSince(ctx context.Context, ids []message.RecipientID, advSince time.Time) ([]recipient.Snapshot, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	type triple struct {
		profile *redis.StringCmd
		ledger  *redis.StringSliceCmd
		adv     *redis.IntCmd
	}
	cmds := make([]triple, len(ids))
	advMin := strconv.FormatInt(advSince.UnixMilli(), 10)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = triple{profile: p.Get(ctx, s.profileKey(id)), ledger: p.LRange(ctx, s.ledgerKey(id), 0, -1)}
			if !advSince.IsZero() {
				cmds[i].adv = p.ZCount(ctx, s.advKey(id), advMin, "+inf")
			}
		}
		return nil
	})
	if err != nil && !isNil(err) {
		return nil, fmt.Errorf("load facts of %d recipients: %w", len(ids), err)
	}
	out := make([]recipient.Snapshot, len(ids))
	for i, id := range ids {
		out[i].ID = id
		b, err := cmds[i].profile.Bytes()
		if isNil(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load facts %s: %w", id, err)
		}
		r, err := decodeProfile(b)
		if err != nil {
			return nil, fmt.Errorf("load facts %s: %w", id, err)
		}
		raw, err := cmds[i].ledger.Result()
		if err != nil {
			return nil, fmt.Errorf("load facts %s: ledger: %w", id, err)
		}
		events, err := decodeLedger(raw)
		if err != nil {
			return nil, fmt.Errorf("load facts %s: %w", id, err)
		}
		out[i] = recipient.Snapshot{ID: id, Found: true, Recipient: r, Events: events}
		if c := cmds[i].adv; c != nil {
			n, err := c.Result()
			if err != nil {
				return nil, fmt.Errorf("load facts %s: recent advertising: %w", id, err)
			}
			out[i].RecentAdvertising = int(n)
		}
	}
	return out, nil
}
