package store

// Recipients, the consent ledger, suppression and indexes.
//
// # Keys
//
//	<prefix>{r:<id>}:profile   string: the recipient.Recipient as JSON, with suppression flags per contact point
//	<prefix>{r:<id>}:ledger    list: consent.Event JSON, appended only (RPUSH in a script that checks the profile)
//	<prefix>{r:<id>}:applied   set: references whose events are in the ledger ("twilio:SM…", an inbound STOP), so a replay appends nothing
//	<prefix>suppression        hash: <hmac>:<channel|all> → {"reason","at"}; kept after erasure
//	<prefix>idx:email          hash: <hmac of the address, case-folded> → recipient id
//	<prefix>idx:phone          hash: <hmac of the E.164 number> → recipient id
//
// <hmac> is hex HMAC-SHA256 keyed with HEROLD_HASH_SALT over "email:<address>"
// or "phone:<e164>": no clear address is kept outside the profile. The
// profile and the ledger share the recipient's hash tag, so facts load in one
// pipeline and an append is atomic with an erasure on Redis Cluster too; the
// three global hashes are single keys, always used in commands of their own.
// The consent state is never stored: it is folded from the ledger on every
// read (consent.Fold), so it cannot disagree with the events.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // time zones validate the same on hosts without a zoneinfo database

	gojson "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
)

// maxWriteTries bounds the optimistic retries of a profile write.
const maxWriteTries = 20

// ---- storage

func (s *Store) profileKey(id message.RecipientID) string {
	return s.recipientKey(string(id), "profile")
}

// GetRecipient returns the profile of id, or an error wrapping ErrNotFound.
func (s *Store) GetRecipient(ctx context.Context, id message.RecipientID) (recipient.Recipient, error) {
	b, err := s.rdb.Get(ctx, s.profileKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return recipient.Recipient{}, fmt.Errorf("get recipient %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return recipient.Recipient{}, fmt.Errorf("get recipient %s: %w", id, err)
	}
	r, err := decodeProfile(b)
	if err != nil {
		return recipient.Recipient{}, fmt.Errorf("get recipient %s: %w", id, err)
	}
	return r, nil
}

func decodeProfile(b []byte) (recipient.Recipient, error) {
	var r recipient.Recipient
	// go-json reads the profiles encoding/json wrote about four times faster:
	// a segment or a dry run decodes a million of them.
	if err := gojson.Unmarshal(b, &r); err != nil {
		return recipient.Recipient{}, fmt.Errorf("decode profile: %w", err)
	}
	if r.Emails == nil {
		r.Emails = []recipient.Email{}
	}
	return r, nil
}

// PutRecipient creates or replaces the profile r (as ParseRecipient returns
// it) and reports whether it was created. created_at survives a replace;
// suppression flags come from the suppression list, whatever r holds, so an
// erased person's address comes back suppressed. The e-mail and phone indexes
// follow the new addresses. An invalid r is a *invalid.Error, and nothing
// is written.
func (s *Store) PutRecipient(ctx context.Context, r recipient.Recipient) (recipient.Recipient, bool, error) {
	if err := r.Validate(); err != nil {
		return recipient.Recipient{}, false, fmt.Errorf("put recipient %s: %w", r.ID, err)
	}
	stored, created, err := s.writeProfile(ctx, r, nil)
	if err != nil {
		return recipient.Recipient{}, false, fmt.Errorf("put recipient %s: %w", r.ID, err)
	}
	return stored, created, nil
}

// PatchRecipient applies a JSON merge patch (RFC 7396) to the profile of id
// (recipient.Patch: the result is validated like a PUT, region is the default
// phone region) and stores it with PutRecipient's rules. Unknown recipient:
// ErrNotFound; bad result: *invalid.Error, nothing written.
func (s *Store) PatchRecipient(ctx context.Context, id message.RecipientID, patch map[string]any, region string) (recipient.Recipient, error) {
	for try := 0; try < maxWriteTries; try++ {
		cur, err := s.GetRecipient(ctx, id)
		if err != nil {
			return recipient.Recipient{}, fmt.Errorf("patch recipient: %w", err)
		}
		next, err := recipient.Patch(cur, patch, region)
		if err != nil {
			return recipient.Recipient{}, fmt.Errorf("patch recipient %s: %w", id, err)
		}
		updatedAt := cur.UpdatedAt
		stored, _, err := s.writeProfile(ctx, next, &updatedAt)
		if errors.Is(err, ErrConflict) {
			continue // somebody wrote in between: patch the newer version
		}
		if err != nil {
			return recipient.Recipient{}, fmt.Errorf("patch recipient %s: %w", id, err)
		}
		return stored, nil
	}
	return recipient.Recipient{}, fmt.Errorf("patch recipient %s: %w", id, ErrConflict)
}

// writeProfile stores r, keeping created_at, with suppression flags from the
// suppression list, and updates the indexes. With ifUpdatedAt it writes only
// while the stored profile exists and still has that updated_at (else
// ErrNotFound or ErrConflict).
func (s *Store) writeProfile(ctx context.Context, r recipient.Recipient, ifUpdatedAt *time.Time) (recipient.Recipient, bool, error) {
	sup, err := s.suppressionsFor(ctx, r)
	if err != nil {
		return recipient.Recipient{}, false, err
	}
	var old *recipient.Recipient
	stored, err := s.updateProfile(ctx, r.ID, func(cur *recipient.Recipient, now time.Time) (*recipient.Recipient, error) {
		if ifUpdatedAt != nil {
			if cur == nil {
				return nil, ErrNotFound
			}
			if !cur.UpdatedAt.Equal(*ifUpdatedAt) {
				return nil, ErrConflict
			}
		}
		old = cur
		next := cloneRecipient(r) // the caller's r stays as it was
		next.CreatedAt, next.UpdatedAt = now, now
		if cur != nil {
			next.CreatedAt = cur.CreatedAt
		}
		s.applySuppressions(&next, sup)
		return &next, nil
	})
	if err != nil {
		return recipient.Recipient{}, false, err
	}
	if err := s.reindex(ctx, old, &stored); err != nil {
		return recipient.Recipient{}, false, err
	}
	// A suppression recorded while we wrote must not be lost: SuppressAddress
	// writes the list before the profile, so reading the list after our write
	// sees every suppression whose profile flag we may have overwritten.
	after, err := s.suppressionsFor(ctx, stored)
	if err != nil {
		return recipient.Recipient{}, false, err
	}
	check := cloneRecipient(stored)
	s.applySuppressions(&check, after)
	if !sameFlags(stored, check) {
		if stored, err = s.refreshSuppressions(ctx, r.ID); err != nil {
			return recipient.Recipient{}, false, err
		}
	}
	return stored, old == nil, nil
}

// updateProfile runs fn on the current profile (nil if none) in an
// optimistic transaction and stores what it returns. fn may be called more
// than once. It returns the stored profile.
func (s *Store) updateProfile(ctx context.Context, id message.RecipientID, fn func(cur *recipient.Recipient, now time.Time) (*recipient.Recipient, error)) (recipient.Recipient, error) {
	key := s.profileKey(id)
	var stored recipient.Recipient
	txf := func(tx *redis.Tx) error {
		var cur *recipient.Recipient
		b, err := tx.Get(ctx, key).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return err
		default:
			r, err := decodeProfile(b)
			if err != nil {
				return err
			}
			cur = &r
		}
		next, err := fn(cur, s.now().UTC())
		if err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		out, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if _, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, out, 0)
			return nil
		}); err != nil {
			return err
		}
		stored = *next
		return nil
	}
	for try := 0; try < maxWriteTries; try++ {
		err := s.rdb.Watch(ctx, txf, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return recipient.Recipient{}, err
		}
		return stored, nil
	}
	return recipient.Recipient{}, ErrConflict
}

// RecipientExists reports whether recipient id has a profile, without
// reading it (accepting a message needs no more).
func (s *Store) RecipientExists(ctx context.Context, id message.RecipientID) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.profileKey(id)).Result()
	if err != nil {
		return false, fmt.Errorf("recipient %s exists: %w", id, err)
	}
	return n == 1, nil
}
