package store

// Managing the suppression list: listing, looking up, importing and lifting
// entries, and the audit trail of what was imported and lifted.
//
// # Keys
//
//	<prefix>suppression   hash <hmac>:<channel|all> → {"reason","at","kind","source","by","note"}
//	                      (suppression.go); the field is the entry's id in the API
//	<prefix>audit         stream: one entry per audited change of the list (an import,
//	                      a lift), field j = the AuditRecord as JSON; never trimmed
//
// Entries hold salted hashes only, never an address: a lookup hashes the
// address asked about. Lifting writes the audit record first and deletes the
// entry after it, so no lift happens unrecorded (a lift that fails after its
// record is recorded and can be repeated). The two keys are single keys used
// in commands of their own; on Redis Cluster they may live on different
// nodes, which this order makes safe.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/message"
)

// Kinds of suppressed contact points.
const (
	KindEmail = "email"
	KindPhone = "phone"
)

// Sources of suppression entries.
const (
	SourceErasure  = "erasure"  // the person was erased (Art. 17 GDPR)
	SourceDelivery = "delivery" // a provider refused a delivery (hard bounce, STOP)
	SourceImport   = "import"   // imported through the API (POST /v1/suppressions)
)

// ReasonImported is the default reason of an imported entry.
const ReasonImported = "imported"

// ValidReason reports whether s can be a suppression reason: a snake_case
// code such as hard_bounce.
func ValidReason(s string) bool { return reasonPattern.MatchString(s) }

func kindOf(cp message.ContactPoint) string {
	if cp == message.EmailAddress {
		return KindEmail
	}
	return KindPhone
}

func (s *Store) auditKey() string { return s.prefix + "audit" }

// SuppressionEntry is one entry of the suppression list as the API shows it.
type SuppressionEntry struct {
	ID      string    `json:"id"`      // <hash>:<channel>, for DELETE /v1/suppressions/{id}
	Kind    string    `json:"kind"`    // email or phone; "" for entries written before kinds were kept
	Channel string    `json:"channel"` // a channel, or "all"
	Reason  string    `json:"reason"`
	Source  string    `json:"source"`
	At      time.Time `json:"at"`
	By      string    `json:"by,omitempty"`
	Note    string    `json:"note,omitempty"`
}

func suppressionOf(field, raw string) (SuppressionEntry, error) {
	var e suppressionEntry
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return SuppressionEntry{}, fmt.Errorf("suppression %s: %w", field, err)
	}
	_, ch, _ := strings.Cut(field, ":")
	out := SuppressionEntry{ID: field, Kind: e.Kind, Channel: ch, Reason: e.Reason, Source: e.Source, At: e.At, By: e.By, Note: e.Note}
	if out.Kind == "" && ch != consent.AllChannels {
		out.Kind = kindOf(message.Channel(ch).Contact())
	}
	if out.Source == "" {
		out.Source = SourceDelivery
		if e.Reason == ReasonErased {
			out.Source = SourceErasure
		}
	}
	return out, nil
}

// Suppressions lists the suppression list page by page (HSCAN order):
// cursor 0 starts, the returned cursor is 0 at the end.
func (s *Store) Suppressions(ctx context.Context, cursor uint64, n int) ([]SuppressionEntry, uint64, error) {
	kv, next, err := s.rdb.HScan(ctx, s.suppressionKey(), cursor, "", int64(n)).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("list suppressions: %w", err)
	}
	out := make([]SuppressionEntry, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		e, err := suppressionOf(kv[i], kv[i+1])
		if err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	return out, next, nil
}

// SuppressionsOf returns the entries that cover a contact point: an e-mail
// address (cp EmailAddress, compared without case) or an E.164 number.
func (s *Store) SuppressionsOf(ctx context.Context, cp message.ContactPoint, addr string) ([]SuppressionEntry, error) {
	h := s.contactHash(cp, addr)
	sc := scopes(cp)
	fields := make([]string, len(sc))
	for i, c := range sc {
		fields[i] = h + ":" + c
	}
	vals, err := s.rdb.HMGet(ctx, s.suppressionKey(), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("look up suppressions: %w", err)
	}
	var out []SuppressionEntry
	for i, v := range vals {
		if str, ok := v.(string); ok {
			e, err := suppressionOf(fields[i], str)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// SuppressionInput is one entry to import: a normalised e-mail address or
// E.164 number, the channel it is suppressed on ("all" or a channel of its
// kind) and a snake_case reason.
type SuppressionInput struct {
	Contact message.ContactPoint
	Address string
	Channel string
	Reason  string
}

// ImportedSuppressions says what an import did.
type ImportedSuppressions struct {
	Added    int      `json:"added"`
	Existing int      `json:"existing"` // already suppressed on that channel: the first entry is kept
	IDs      []string `json:"ids"`      // of every entry given, in order
}

// ImportSuppressions adds entries (e.g. a previous provider's bounce and
// unsubscribe list) with source import, by (the API key) and note, and
// flags the profiles that hold the addresses, as SuppressAddress does. The
// import is recorded in the audit trail with its count, reason and note.
func (s *Store) ImportSuppressions(ctx context.Context, items []SuppressionInput, by, note string) (ImportedSuppressions, error) {
	var res ImportedSuppressions
	if len(items) == 0 {
		return res, nil
	}
	now := s.now().UTC()
	type pending struct {
		set    *redis.BoolCmd
		holder *redis.StringCmd
	}
	cmds := make([]pending, len(items))
	reasons := map[string]int{}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, it := range items {
			if !reasonPattern.MatchString(it.Reason) {
				return fmt.Errorf("import suppressions: reason %q is not a snake_case code", it.Reason)
			}
			h := s.contactHash(it.Contact, it.Address)
			entry, err := json.Marshal(suppressionEntry{Reason: it.Reason, At: now, Kind: kindOf(it.Contact), Source: SourceImport, By: by, Note: note})
			if err != nil {
				return err
			}
			id := h + ":" + it.Channel
			res.IDs = append(res.IDs, id)
			reasons[it.Reason]++
			cmds[i].set = p.HSetNX(ctx, s.suppressionKey(), id, entry)
			idx := s.emailIndexKey()
			if it.Contact == message.MobileNumber {
				idx = s.phoneIndexKey()
			}
			cmds[i].holder = p.HGet(ctx, idx, h)
		}
		return nil
	})
	if err != nil && !isNil(err) {
		return ImportedSuppressions{}, fmt.Errorf("import suppressions: %w", err)
	}
	holders := map[message.RecipientID]bool{}
	for _, c := range cmds {
		if c.set.Val() {
			res.Added++
		} else {
			res.Existing++
		}
		if id, err := c.holder.Result(); err == nil {
			holders[message.RecipientID(id)] = true
		}
	}
	if err := s.refreshHolders(ctx, holders); err != nil {
		return res, fmt.Errorf("import suppressions: %w", err)
	}
	if _, err := s.audit(ctx, AuditRecord{Kind: AuditSuppressionsImported, By: by, At: now, Reason: note,
		Detail: map[string]any{"added": res.Added, "existing": res.Existing, "reasons": reasons}}); err != nil {
		return res, fmt.Errorf("import suppressions: %w", err)
	}
	return res, nil
}

// refreshHolders makes the flags of these profiles agree with the list.
func (s *Store) refreshHolders(ctx context.Context, ids map[message.RecipientID]bool) error {
	for id := range ids {
		if _, err := s.refreshSuppressions(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// LiftSuppression removes entry id from the suppression list: the
// contact point may be used again on its channel (each message still needs
// its legal basis). The lift is first recorded in the audit trail with by
// (the API key), why and the entry as it was. Unknown id: ErrNotFound.
func (s *Store) LiftSuppression(ctx context.Context, id, by, why string) (SuppressionEntry, AuditRecord, error) {
	raw, err := s.rdb.HGet(ctx, s.suppressionKey(), id).Result()
	if errors.Is(err, redis.Nil) {
		return SuppressionEntry{}, AuditRecord{}, fmt.Errorf("lift suppression %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return SuppressionEntry{}, AuditRecord{}, fmt.Errorf("lift suppression %s: %w", id, err)
	}
	e, err := suppressionOf(id, raw)
	if err != nil {
		return SuppressionEntry{}, AuditRecord{}, err
	}
	rec, err := s.audit(ctx, AuditRecord{Kind: AuditSuppressionLifted, Subject: id, By: by, At: s.now().UTC(), Reason: why,
		Detail: map[string]any{"kind": e.Kind, "channel": e.Channel, "reason": e.Reason, "source": e.Source, "suppressed_at": e.At}})
	if err != nil {
		return SuppressionEntry{}, AuditRecord{}, fmt.Errorf("lift suppression %s: %w", id, err)
	}
	if err := s.rdb.HDel(ctx, s.suppressionKey(), id).Err(); err != nil {
		return SuppressionEntry{}, rec, fmt.Errorf("lift suppression %s: %w", id, err)
	}
	// The hash of the entry is the hash the e-mail and phone indexes use.
	h, _, _ := strings.Cut(id, ":")
	holders := map[message.RecipientID]bool{}
	for _, idx := range []string{s.emailIndexKey(), s.phoneIndexKey()} {
		if rid, err := s.rdb.HGet(ctx, idx, h).Result(); err == nil {
			holders[message.RecipientID(rid)] = true
		} else if !isNil(err) {
			return e, rec, fmt.Errorf("lift suppression %s: %w", id, err)
		}
	}
	if err := s.refreshHolders(ctx, holders); err != nil {
		return e, rec, fmt.Errorf("lift suppression %s: %w", id, err)
	}
	for rid := range holders {
		ev := events.SuppressionEvent(events.SuppressionLifted, rec.At, string(rid), e.Channel, e.Reason)
		ev.ID = events.DerivedID(events.SuppressionLifted, rec.ID, string(rid))
		_ = s.tell(ctx, ev) // the lift holds; telling it is a courtesy
	}
	return e, rec, nil
}

// Kinds of audit records.
const (
	AuditSuppressionLifted    = "suppression_lifted"
	AuditSuppressionsImported = "suppressions_imported"
)

// AuditRecord is one audited change: what, to what, who, when and why.
type AuditRecord struct {
	ID      string         `json:"id"` // the stream entry id: the export's cursor
	Kind    string         `json:"kind"`
	Subject string         `json:"subject,omitempty"` // e.g. the suppression entry's id
	By      string         `json:"by"`                // the API key
	At      time.Time      `json:"at"`
	Reason  string         `json:"reason,omitempty"` // why, in the words of whoever did it
	Detail  map[string]any `json:"detail,omitempty"`
}

func (s *Store) audit(ctx context.Context, r AuditRecord) (AuditRecord, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return r, fmt.Errorf("audit: %w", err)
	}
	id, err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.auditKey(), Values: []any{"j", b}}).Result()
	if err != nil {
		return r, fmt.Errorf("audit: %w", err)
	}
	r.ID = id
	return r, nil
}

// Audit returns up to n audit records after the record `after` ("" : from
// the first), oldest first, and the cursor of the next page ("" at the end).
func (s *Store) Audit(ctx context.Context, after string, n int) ([]AuditRecord, string, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	msgs, err := s.rdb.XRangeN(ctx, s.auditKey(), start, "+", int64(n)).Result()
	if err != nil {
		return nil, "", fmt.Errorf("audit: %w", err)
	}
	out := make([]AuditRecord, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values["j"].(string)
		var r AuditRecord
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, "", fmt.Errorf("audit %s: %w", m.ID, err)
		}
		r.ID = m.ID
		out = append(out, r)
	}
	next := ""
	if len(msgs) == n {
		next = msgs[len(msgs)-1].ID
	}
	return out, next, nil
}
