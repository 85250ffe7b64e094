package store

// The audience: every recipient in id order, for listings and segment scans,
// and the candidates of each newsletter list.
//
// # Keys
//
//	<prefix>idx:recipients       sorted set, every score 0: the id of every stored profile,
//	                             paged in id order with ZRANGEBYLEX (about 60 B per recipient)
//	<prefix>idx:list:<list>      sorted set, every score 0: ids that have a ledger event for
//	                             newsletter:<list> (candidates; the folded ledger decides the
//	                             state, so a stale candidate is filtered, never answered)
//	<prefix>idx:lists            set of the list names that have a candidate index
//
// Each is a single key used in commands of its own, never together with a
// recipient's keys, so they work on Redis Cluster as they are. The
// recipients index is written in the same pipeline as the e-mail and phone
// indexes (reindex): a profile write adds the id, an erasure or a deleted
// sign-up removes it and the id's list candidacies.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
)

func (s *Store) recipientsKey() string      { return s.prefix + "idx:recipients" }
func (s *Store) listKey(list string) string { return s.prefix + "idx:list:" + list }
func (s *Store) listNamesKey() string       { return s.prefix + "idx:lists" }

// lexAfter is the ZRANGEBYLEX start after an id ("" : from the first).
func lexAfter(after message.RecipientID) string {
	if after == "" {
		return "-"
	}
	return "(" + string(after)
}

// indexAudience keeps the recipients index in step with a profile write
// (cur set) or removal (cur nil) in reindex's pipeline p; a removal also
// drops the id from every list's candidates, so no index outlives the person.
func (s *Store) indexAudience(ctx context.Context, p redis.Pipeliner, old, cur *recipient.Recipient) error {
	switch {
	case cur != nil:
		p.ZAdd(ctx, s.recipientsKey(), redis.Z{Member: string(cur.ID)})
	case old != nil:
		p.ZRem(ctx, s.recipientsKey(), string(old.ID))
		lists, err := s.rdb.SMembers(ctx, s.listNamesKey()).Result()
		if err != nil {
			return fmt.Errorf("list names: %w", err)
		}
		for _, l := range lists {
			p.ZRem(ctx, s.listKey(l), string(old.ID))
		}
	}
	return nil
}

// noteLists makes id a candidate of every newsletter list events name.
// AppendConsent calls it before it appends, so the index is never behind
// the ledger (a candidate without events is filtered out on read).
func (s *Store) noteLists(ctx context.Context, id message.RecipientID, events []consent.Event) error {
	lists := eventLists(events)
	if len(lists) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		s.noteListsIn(ctx, p, id, lists)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list candidates of %s: %w", id, err)
	}
	return nil
}

// eventLists are the newsletter lists events name.
func eventLists(events []consent.Event) []string {
	var lists []string
	for _, e := range events {
		if l, ok := strings.CutPrefix(e.Purpose, consent.NewsletterPrefix); ok && l != "" && !slices.Contains(lists, l) {
			lists = append(lists, l)
		}
	}
	return lists
}

func (s *Store) noteListsIn(ctx context.Context, p redis.Pipeliner, id message.RecipientID, lists []string) {
	for _, l := range lists {
		p.SAdd(ctx, s.listNamesKey(), l)
		p.ZAdd(ctx, s.listKey(l), redis.Z{Member: string(id)})
	}
}

// RecipientIDs returns up to n recipient ids after `after` ("" : from the
// first) in id order. With Snapshots it is the segment.Loader of the store.
func (s *Store) RecipientIDs(ctx context.Context, after message.RecipientID, n int) ([]message.RecipientID, error) {
	return s.lexPage(ctx, s.recipientsKey(), after, n)
}

// ListCandidates returns up to n ids after `after` that have a ledger event
// for newsletter list `list`, in id order.
func (s *Store) ListCandidates(ctx context.Context, list string, after message.RecipientID, n int) ([]message.RecipientID, error) {
	return s.lexPage(ctx, s.listKey(list), after, n)
}

// DropListCandidates removes ids that are gone from a list's candidates.
func (s *Store) DropListCandidates(ctx context.Context, list string, ids []message.RecipientID) error {
	if len(ids) == 0 {
		return nil
	}
	m := make([]any, len(ids))
	for i, id := range ids {
		m[i] = string(id)
	}
	if err := s.rdb.ZRem(ctx, s.listKey(list), m...).Err(); err != nil {
		return fmt.Errorf("drop list candidates: %w", err)
	}
	return nil
}

func (s *Store) lexPage(ctx context.Context, key string, after message.RecipientID, n int) ([]message.RecipientID, error) {
	ids, err := s.rdb.ZRangeByLex(ctx, key, &redis.ZRangeBy{Min: lexAfter(after), Max: "+", Count: int64(n)}).Result()
	if err != nil {
		return nil, fmt.Errorf("page %s: %w", strings.TrimPrefix(key, s.prefix), err)
	}
	out := make([]message.RecipientID, len(ids))
	for i, id := range ids {
		out[i] = message.RecipientID(id)
	}
	return out, nil
}

// CountRecipients returns how many recipients are stored.
func (s *Store) CountRecipients(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, s.recipientsKey()).Result()
	if err != nil {
		return 0, fmt.Errorf("count recipients: %w", err)
	}
	return n, nil
}

// Snapshots loads ids in one pipeline: the profiles, and with ledger the
// ledgers and (advSince not zero) the recent advertising counts, as
// LoadFactsBatchSince does. Without ledger only the profiles are read, which
// is what most segments need. Unknown ids have Found false.
func (s *Store) Snapshots(ctx context.Context, ids []message.RecipientID, ledger bool, advSince time.Time) ([]recipient.Snapshot, error) {
	if ledger {
		return s.LoadFactsBatchSince(ctx, ids, advSince)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.StringCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.profileKey(id))
		}
		return nil
	})
	if err != nil && !isNil(err) {
		return nil, fmt.Errorf("load %d profiles: %w", len(ids), err)
	}
	out := make([]recipient.Snapshot, len(ids))
	for i, id := range ids {
		out[i].ID = id
		b, err := cmds[i].Bytes()
		if isNil(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load profile %s: %w", id, err)
		}
		r, err := decodeProfile(b)
		if err != nil {
			return nil, fmt.Errorf("load profile %s: %w", id, err)
		}
		out[i] = recipient.Snapshot{ID: id, Found: true, Recipient: r}
	}
	return out, nil
}

// Recipients returns the stored profiles of ids in one pipeline, in order,
// leaving out those that do not exist.
func (s *Store) Recipients(ctx context.Context, ids []message.RecipientID) ([]recipient.Recipient, error) {
	snaps, err := s.Snapshots(ctx, ids, false, time.Time{})
	if err != nil {
		return nil, err
	}
	out := make([]recipient.Recipient, 0, len(snaps))
	for _, sn := range snaps {
		if sn.Found {
			out = append(out, sn.Recipient)
		}
	}
	return out, nil
}
