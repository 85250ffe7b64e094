package store

import (
	"context"
	"fmt"
)

// SyncMessage waits until the replicas that WithDurability asks for have
// everything accepting message rec wrote: its record, its recipient's keys
// (an inline recipient, the message index) and the address indexes, the
// idempotency claim of idempotencyKey (the producer's key; "" for none) and
// the keys outside the store in also, such as the asynq queue the task went
// to (redisconn.AsynqQueueKey). It costs one round trip per primary involved
// (one, except on a cluster) and nothing without durability.
//
// A *redisconn.NotAckedError means the message is accepted on the primary but
// could still be lost with it: the producer is told to retry, and a retry with
// the same idempotency key finds this message instead of making a second one.
func (s *Store) SyncMessage(ctx context.Context, rec *MessageRecord, idempotencyKey string, also ...string) error {
	if s.dur.Replicas() == 0 {
		return nil
	}
	keys := append([]string{s.messageKey(rec.ID), s.messageIndexKey(rec.RecipientID), s.emailIndexKey(), s.phoneIndexKey()}, also...)
	if idempotencyKey != "" {
		keys = append(keys, s.idempotencyKey(rec.APIKey, idempotencyKey))
	}
	if err := s.dur.Sync(ctx, s.rdb, keys...); err != nil {
		return fmt.Errorf("message %s: %w", rec.ID, err)
	}
	return nil
}

// SyncMessages is SyncMessage for many messages at once (a batch): one
// barrier per primary for all of them. idempotencyKeys[i] belongs to
// recs[i] ("" for none).
func (s *Store) SyncMessages(ctx context.Context, recs []*MessageRecord, idempotencyKeys []string, also ...string) error {
	if s.dur.Replicas() == 0 || len(recs) == 0 {
		return nil
	}
	keys := append([]string{s.emailIndexKey(), s.phoneIndexKey()}, also...)
	for i, rec := range recs {
		keys = append(keys, s.messageKey(rec.ID), s.messageIndexKey(rec.RecipientID))
		if i < len(idempotencyKeys) && idempotencyKeys[i] != "" {
			keys = append(keys, s.idempotencyKey(rec.APIKey, idempotencyKeys[i]))
		}
	}
	if err := s.dur.Sync(ctx, s.rdb, keys...); err != nil {
		return fmt.Errorf("%d messages: %w", len(recs), err)
	}
	return nil
}

// SyncCampaign is SyncMessage for a created campaign or an uploaded
// audience: its keys, the campaign index and the keys in also (the campaign
// queue).
func (s *Store) SyncCampaign(ctx context.Context, id string, also ...string) error {
	if s.dur.Replicas() == 0 {
		return nil
	}
	keys := append([]string{s.campaignKey(id, "meta"), s.campaignIndexKey()}, also...)
	if err := s.dur.Sync(ctx, s.rdb, keys...); err != nil {
		return fmt.Errorf("campaign %s: %w", id, err)
	}
	return nil
}
