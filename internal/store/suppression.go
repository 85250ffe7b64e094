package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
)

// ErrNoContactPoint means a recipient has no address for the channel asked about.
var ErrNoContactPoint = errors.New("no contact point")

// recipient.Suppression reasons Herold itself records.
const (
	ReasonErased = "erased" // the person was erased (Art. 17 GDPR)
)

var reasonPattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// casDelScript deletes a hash field only while it still holds the expected
// value, so an index entry that another recipient took over stays.
var casDelScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
	return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0`)

// Global keys (one each, not per recipient, so never in a multi-key command
// with a recipient's keys).
func (s *Store) suppressionKey() string { return s.prefix + "suppression" }
func (s *Store) emailIndexKey() string  { return s.prefix + "idx:email" }
func (s *Store) phoneIndexKey() string  { return s.prefix + "idx:phone" }

// emailHash is the salted hash of an e-mail address, case-folded so that
// "Max@X.de" and "max@x.de" meet in the suppression list.
func (s *Store) emailHash(addr string) string { return s.hash("email:" + strings.ToLower(addr)) }

// phoneHash is the salted hash of an E.164 number.
func (s *Store) phoneHash(e164 string) string { return s.hash("phone:" + e164) }

// contactHash is the salted hash of a contact point of kind cp.
func (s *Store) contactHash(cp message.ContactPoint, addr string) string {
	if cp == message.EmailAddress {
		return s.emailHash(addr)
	}
	return s.phoneHash(addr)
}

func (s *Store) hash(v string) string {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(v))
	var sum [sha256.Size]byte
	out := hex.EncodeToString(m.Sum(sum[:0]))
	s.macs.Put(m)
	return out
}

// scopes returns the channel scopes a suppression entry of contact point cp
// may have: every channel, or one channel that delivers to it.
func scopes(cp message.ContactPoint) []string {
	out := []string{consent.AllChannels}
	for _, ch := range message.ChannelsOf(cp) {
		out = append(out, string(ch))
	}
	return out
}

// suppressionEntry is the stored value of a suppression list field (see
// suppression_admin.go for kind, source, by and note).
type suppressionEntry struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	Kind   string    `json:"kind,omitempty"`   // email or phone
	Source string    `json:"source,omitempty"` // erasure, delivery, import
	By     string    `json:"by,omitempty"`     // the API key that imported it
	Note   string    `json:"note,omitempty"`   // the importer's note, e.g. the previous provider
}

// suppressionsFor reads the suppression list entries of r's contact points,
// keyed by contact hash, in one command.
func (s *Store) suppressionsFor(ctx context.Context, r recipient.Recipient) (map[string][]recipient.Suppression, error) {
	q := s.suppressionQuery(r)
	if len(q.fields) == 0 {
		return map[string][]recipient.Suppression{}, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.suppressionKey(), q.fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("read suppression list: %w", err)
	}
	return q.parse(vals)
}

// suppressionQuery is the suppression list fields of a profile's contact
// points, each with the hash and scope it stands for.
type suppressionQuery struct{ fields, hashes, scopeOf []string }

func (s *Store) suppressionQuery(r recipient.Recipient) suppressionQuery {
	var emails, phones []string
	for _, e := range r.Emails {
		emails = append(emails, s.emailHash(e.Address))
	}
	if r.Mobile != nil && r.Mobile.Number != "" {
		phones = append(phones, s.phoneHash(r.Mobile.Number))
	}
	return suppressionQueryOf(emails, phones)
}

// suppressionQueryOf is suppressionQuery from the contact hashes already
// computed (a bulk import hashes each address once).
func suppressionQueryOf(emails, phones []string) suppressionQuery {
	var q suppressionQuery
	add := func(h string, sc []string) {
		for _, c := range sc {
			q.fields = append(q.fields, h+":"+c)
			q.hashes = append(q.hashes, h)
			q.scopeOf = append(q.scopeOf, c)
		}
	}
	for _, h := range emails {
		add(h, scopes(message.EmailAddress))
	}
	for _, h := range phones {
		add(h, scopes(message.MobileNumber))
	}
	return q
}

// parse reads the HMGET answer to q, keyed by contact hash.
func (q suppressionQuery) parse(vals []any) (map[string][]recipient.Suppression, error) {
	hashes, scopeOf := q.hashes, q.scopeOf
	out := map[string][]recipient.Suppression{}
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var e suppressionEntry
		if err := json.Unmarshal([]byte(str), &e); err != nil {
			return nil, fmt.Errorf("read suppression list: entry %d: %w", i, err)
		}
		out[hashes[i]] = append(out[hashes[i]], recipient.Suppression{Channel: scopeOf[i], Reason: e.Reason, At: e.At})
	}
	return out, nil
}

// applySuppressions sets r's suppression flags from the list entries.
func (s *Store) applySuppressions(r *recipient.Recipient, sup map[string][]recipient.Suppression) {
	emails, phones := s.contactHashes(r)
	applySuppressionsOf(r, emails, phones, sup)
}

// applySuppressionsOf is applySuppressions with r's contact hashes given
// (contactHashes order).
func applySuppressionsOf(r *recipient.Recipient, emails, phones []string, sup map[string][]recipient.Suppression) {
	for i := range r.Emails {
		r.Emails[i].Suppressed = slices.Clone(sup[emails[i]])
	}
	if r.Mobile != nil {
		r.Mobile.Suppressed = slices.Clone(sup[phones[0]])
	}
}

// refreshSuppressions makes the stored profile's flags agree with the
// suppression list and returns the profile.
func (s *Store) refreshSuppressions(ctx context.Context, id message.RecipientID) (recipient.Recipient, error) {
	for try := 0; try < maxWriteTries; try++ {
		cur, err := s.GetRecipient(ctx, id)
		if err != nil {
			return recipient.Recipient{}, err
		}
		sup, err := s.suppressionsFor(ctx, cur)
		if err != nil {
			return recipient.Recipient{}, err
		}
		next := cloneRecipient(cur)
		s.applySuppressions(&next, sup)
		if sameFlags(cur, next) {
			return cur, nil
		}
		stored, err := s.updateProfile(ctx, id, func(now *recipient.Recipient, _ time.Time) (*recipient.Recipient, error) {
			if now == nil {
				return nil, ErrNotFound
			}
			if !now.UpdatedAt.Equal(cur.UpdatedAt) {
				return nil, ErrConflict // rewritten meanwhile: read the new addresses
			}
			return &next, nil
		})
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return recipient.Recipient{}, err
		}
		return stored, nil
	}
	return recipient.Recipient{}, ErrConflict
}

func cloneRecipient(r recipient.Recipient) recipient.Recipient { return r.Clone() }

func sameFlags(a, b recipient.Recipient) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// reindex points the e-mail and phone indexes at the new profile's addresses
// and drops those of the old profile that it no longer has. Entries are keyed
// by salted hash, never by the clear address.
func (s *Store) reindex(ctx context.Context, old, cur *recipient.Recipient) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { return s.reindexIn(ctx, p, old, cur) })
	if err != nil {
		return fmt.Errorf("update indexes: %w", err)
	}
	return nil
}

// reindexIn queues reindex's commands on p (a bulk import's pipeline).
func (s *Store) reindexIn(ctx context.Context, p redis.Pipeliner, old, cur *recipient.Recipient) error {
	oldE, oldP := s.contactHashes(old)
	newE, newP := s.contactHashes(cur)
	id := ""
	if cur != nil {
		id = string(cur.ID)
	} else if old != nil {
		id = string(old.ID)
	}
	for _, h := range oldE {
		if !slices.Contains(newE, h) {
			casDelScript.Eval(ctx, p, []string{s.emailIndexKey()}, h, id)
		}
	}
	for _, h := range oldP {
		if !slices.Contains(newP, h) {
			casDelScript.Eval(ctx, p, []string{s.phoneIndexKey()}, h, id)
		}
	}
	for _, h := range newE {
		p.HSet(ctx, s.emailIndexKey(), h, id)
	}
	for _, h := range newP {
		p.HSet(ctx, s.phoneIndexKey(), h, id)
	}
	return s.indexAudience(ctx, p, old, cur) // audience.go
}

func (s *Store) contactHashes(r *recipient.Recipient) (emails, phones []string) {
	if r == nil {
		return nil, nil
	}
	for _, e := range r.Emails {
		emails = append(emails, s.emailHash(e.Address))
	}
	if r.Mobile != nil {
		phones = append(phones, s.phoneHash(r.Mobile.Number))
	}
	return emails, phones
}

// RecipientByEmail returns the recipient holding addr (compared without
// case), or an error wrapping ErrNotFound.
func (s *Store) RecipientByEmail(ctx context.Context, addr string) (message.RecipientID, error) {
	norm, err := recipient.NormalizeEmail(addr)
	if err != nil {
		return "", fmt.Errorf("recipient by email: %w", ErrNotFound)
	}
	id, err := s.lookupIndex(ctx, s.emailIndexKey(), s.emailHash(norm), func(r recipient.Recipient) bool {
		return slices.ContainsFunc(r.Emails, func(e recipient.Email) bool { return strings.EqualFold(e.Address, norm) })
	})
	if err != nil {
		return "", fmt.Errorf("recipient by email: %w", err)
	}
	return id, nil
}

// RecipientByPhone returns the recipient whose mobile number is e164, or an
// error wrapping ErrNotFound.
func (s *Store) RecipientByPhone(ctx context.Context, e164 string) (message.RecipientID, error) {
	e164 = strings.TrimSpace(e164)
	id, err := s.lookupIndex(ctx, s.phoneIndexKey(), s.phoneHash(e164), func(r recipient.Recipient) bool {
		return r.Mobile != nil && r.Mobile.Number == e164
	})
	if err != nil {
		return "", fmt.Errorf("recipient by phone: %w", err)
	}
	return id, nil
}

// lookupIndex reads an index entry and checks that the profile still holds
// the address, so a stale entry (left by racing writers) is never answered.
func (s *Store) lookupIndex(ctx context.Context, key, field string, holds func(recipient.Recipient) bool) (message.RecipientID, error) {
	v, err := s.rdb.HGet(ctx, key, field).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", err
	}
	id := message.RecipientID(v)
	r, err := s.GetRecipient(ctx, id)
	if err != nil {
		return "", err
	}
	if !holds(r) {
		return "", ErrNotFound
	}
	return id, nil
}

// SuppressAddress puts the contact point that id has for ch (the primary
// e-mail address, or the mobile number for sms, whatsapp and rcs) on the
// suppression list for ch, and flags it on the profile: every later message
// on ch to that address, of any type and to any recipient holding it, is
// denied with reason suppressed. Use it for hard bounces and provider-level
// STOPs; reason is a snake_case code such as "hard_bounce". The first
// suppression of an address on a channel is kept. Unknown recipient:
// ErrNotFound; no address for ch: ErrNoContactPoint.
func (s *Store) SuppressAddress(ctx context.Context, id message.RecipientID, ch message.Channel, reason string) error {
	if !ch.Valid() {
		return fmt.Errorf("suppress address %s: unknown channel %q", id, ch)
	}
	if !reasonPattern.MatchString(reason) {
		return fmt.Errorf("suppress address %s: reason %q is not a snake_case code", id, reason)
	}
	r, err := s.GetRecipient(ctx, id)
	if err != nil {
		return fmt.Errorf("suppress address: %w", err)
	}
	addr := r.Address(ch)
	if addr == "" {
		return fmt.Errorf("suppress address %s on %s: %w", id, ch, ErrNoContactPoint)
	}
	h := s.contactHash(ch.Contact(), addr)
	entry, err := json.Marshal(suppressionEntry{Reason: reason, At: s.now().UTC(), Kind: kindOf(ch.Contact()), Source: SourceDelivery})
	if err != nil {
		return fmt.Errorf("suppress address %s: %w", id, err)
	}
	// The list first, then the profile: see writeProfile.
	added, err := s.rdb.HSetNX(ctx, s.suppressionKey(), h+":"+string(ch), entry).Result()
	if err != nil {
		return fmt.Errorf("suppress address %s: %w", id, err)
	}
	if _, err := s.refreshSuppressions(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("suppress address %s: %w", id, err)
	}
	if added {
		ev := events.SuppressionEvent(events.SuppressionAdded, s.now().UTC(), string(id), string(ch), reason)
		ev.ID = events.DerivedID(events.SuppressionAdded, string(id), string(ch), reason)
		_ = s.tell(ctx, ev) // the suppression holds; telling it is a courtesy
	}
	return nil
}

// IsSuppressed reports whether an e-mail address (ch email) or E.164 number
// is on the suppression list for ch, e.g. for a recipient given inline.
func (s *Store) IsSuppressed(ctx context.Context, ch message.Channel, addr string) (bool, error) {
	h := s.contactHash(ch.Contact(), addr)
	fields := []string{h + ":" + consent.AllChannels, h + ":" + string(ch)}
	vals, err := s.rdb.HMGet(ctx, s.suppressionKey(), fields...).Result()
	if err != nil {
		return false, fmt.Errorf("is suppressed: %w", err)
	}
	return slices.ContainsFunc(vals, func(v any) bool { return v != nil }), nil
}

// SuppressErased puts every e-mail address and the number of r on the
// suppression list as a salted hash only (reason "erased", every channel), so
// that a later profile with the same address is suppressed instead of
// contacted. Erasure writes it first, so an erasure that fails half-way never
// loses the suppression.
func (s *Store) SuppressErased(ctx context.Context, r recipient.Recipient) error {
	now := s.now().UTC()
	emailEntry, err := json.Marshal(suppressionEntry{Reason: ReasonErased, At: now, Kind: KindEmail, Source: SourceErasure})
	if err != nil {
		return fmt.Errorf("suppress erased %s: %w", r.ID, err)
	}
	phoneEntry, err := json.Marshal(suppressionEntry{Reason: ReasonErased, At: now, Kind: KindPhone, Source: SourceErasure})
	if err != nil {
		return fmt.Errorf("suppress erased %s: %w", r.ID, err)
	}
	emails, phones := s.contactHashes(&r)
	if len(emails)+len(phones) == 0 {
		return nil
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, h := range emails {
			p.HSetNX(ctx, s.suppressionKey(), h+":"+consent.AllChannels, emailEntry)
		}
		for _, h := range phones {
			p.HSetNX(ctx, s.suppressionKey(), h+":"+consent.AllChannels, phoneEntry)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("suppress erased %s: %w", r.ID, err)
	}
	ev := events.SuppressionEvent(events.SuppressionAdded, s.now().UTC(), string(r.ID), consent.AllChannels, ReasonErased)
	ev.ID = events.DerivedID(events.SuppressionAdded, string(r.ID), consent.AllChannels, ReasonErased)
	_ = s.tell(ctx, ev) // the suppression holds; telling it is a courtesy
	return nil
}

// Unindex drops r's addresses from the e-mail and phone indexes.
func (s *Store) Unindex(ctx context.Context, r recipient.Recipient) error {
	if err := s.reindex(ctx, &r, nil); err != nil {
		return fmt.Errorf("unindex %s: %w", r.ID, err)
	}
	return nil
}

// DeleteRecipientKeys deletes id's profile, consent ledger and frequency-cap
// log in one DEL (they share a hash tag, so it is atomic on Redis Cluster too).
func (s *Store) DeleteRecipientKeys(ctx context.Context, id message.RecipientID) error {
	if err := s.rdb.Del(ctx, s.recipientKeys(id)...).Err(); err != nil {
		return fmt.Errorf("delete recipient %s: %w", id, err)
	}
	return nil
}

// recipientKeys are the keys of id that erasure deletes in one DEL besides
// the message log: profile, ledger, the references applied to the ledger and
// the frequency-cap log of advertising deliveries.
func (s *Store) recipientKeys(id message.RecipientID) []string {
	return []string{s.profileKey(id), s.ledgerKey(id), s.appliedKey(id), s.advKey(id), s.recipientKey(string(id), "softbounce")}
}
