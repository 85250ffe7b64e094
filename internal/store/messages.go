package store

// Message records.
//
// # Keys
//
//	<prefix>msg:<message id>              hash {r: revision, j: JSON MessageRecord}; TTL record TTL after the last change
//	<prefix>{r:<recipient id>}:messages   sorted set of message ids, score = creation time (unix ms); same TTL
//	<prefix>msgprov:<provider id>         string: message id, for provider status callbacks; same TTL
//
// A record is changed only through a compare-and-set on its revision (one Lua
// script round trip), so the worker, the cancel API and provider callbacks
// never overwrite each other's changes. The record and the recipient index
// live in different cluster slots: they are written in one pipeline, not one
// transaction, and readers tolerate an index entry whose record expired or was
// never written.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// MessageStatus is where a message stands. The strings are part of the API.
type MessageStatus string

// The statuses of a message.
const (
	StatusScheduled   MessageStatus = "scheduled"   // accepted, waits for send_at
	StatusQueued      MessageStatus = "queued"      // accepted, waits for a worker (also between retries)
	StatusSending     MessageStatus = "sending"     // a worker decided and is handing it to the provider
	StatusDelivered   MessageStatus = "delivered"   // the provider accepted it (or later confirmed delivery)
	StatusSuppressed  MessageStatus = "suppressed"  // the policy denied every channel: never sent
	StatusFailed      MessageStatus = "failed"      // permanent error, or retries exhausted
	StatusCanceled    MessageStatus = "canceled"    // canceled before it was sent
	StatusRead        MessageStatus = "read"        // the provider reports it was read
	StatusUndelivered MessageStatus = "undelivered" // the provider accepted it but could not deliver it
	StatusBounced     MessageStatus = "bounced"     // accepted, then the mailbox provider returned it for good (a hard bounce)
)

// Pending reports whether the message has not been handed to a worker's
// sender yet, so it may still be canceled.
func (s MessageStatus) Pending() bool { return s == StatusScheduled || s == StatusQueued }

// Final reports whether nothing more will be sent for the message. Provider
// callbacks may still move delivered to read or undelivered.
func (s MessageStatus) Final() bool {
	switch s {
	case StatusDelivered, StatusSuppressed, StatusFailed, StatusCanceled, StatusRead, StatusUndelivered, StatusBounced:
		return true
	}
	return false
}

// Attempt is one try to hand a message to a provider. Error never holds
// personal data: providers' errors are kept in their ProviderError form.
type Attempt struct {
	At        time.Time               `json:"at"`
	Channel   message.Channel         `json:"channel"`
	Retry     int                     `json:"retry"` // 0 for the first try
	Error     string                  `json:"error,omitempty"`
	Class     string                  `json:"error_class,omitempty"` // delivery.Class… code
	Provider  *channels.ProviderError `json:"provider_error,omitempty"`
	Permanent bool                    `json:"permanent,omitempty"`
	// PossibleDuplicate: an earlier try may have reached the provider
	// without its outcome being recorded (MessageRecord.Unconfirmed), so the
	// person may have the message twice. E-mail carries the same Message-ID
	// both times.
	PossibleDuplicate bool `json:"possible_duplicate,omitempty"`
}

// ReportRef links a bounce or complaint report to the message it is about.
type ReportRef struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind"`             // hard, soft, complaint
	Status string    `json:"status,omitempty"` // RFC 3463, e.g. "5.1.1"
	At     time.Time `json:"at"`
}

// MessageRecord is everything Herold knows about one message: what was asked,
// what the policy decided at delivery time and what the providers answered.
type MessageRecord struct {
	ID          string              `json:"id"`
	Type        message.Type        `json:"type"`
	Class       message.Class       `json:"class"`
	RecipientID message.RecipientID `json:"recipient_id"`
	// Channels is the producer's order of preference; empty means the type's
	// channels in catalog order.
	Channels []message.Channel `json:"channels,omitempty"`
	// Data is the template data by category. It is needed only until the
	// message is sent, so it is dropped when the record reaches a final status.
	Data       map[string]map[string]any `json:"data,omitempty"`
	Locale     string                    `json:"locale,omitempty"`
	SendAt     time.Time                 `json:"send_at,omitzero"`
	CampaignID string                    `json:"campaign_id,omitempty"`
	APIKey     string                    `json:"api_key,omitempty"` // name of the key that submitted it

	Status MessageStatus `json:"status"`
	// Decision is the one that settled the message: the allowed decision of
	// the channel used, or the denial of the first preferred channel.
	Decision *policy.Decision `json:"decision,omitempty"`
	// Decisions holds the decision of every channel considered, in order.
	Decisions []policy.Decision `json:"decisions,omitempty"`
	Channel   message.Channel   `json:"channel,omitempty"` // channel used
	// HeldUntil and HoldReason: an allowed message waits (status scheduled)
	// until then, e.g. for the end of quiet hours; it is decided again then.
	HeldUntil  time.Time     `json:"held_until,omitzero"`
	HoldReason policy.Reason `json:"hold_reason,omitempty"`
	// ErrorClass says why a failed message failed (the last attempt's class,
	// or retries_exhausted).
	ErrorClass        string    `json:"error_class,omitempty"`
	Attempts          []Attempt `json:"attempts,omitempty"`
	Provider          string    `json:"provider,omitempty"`
	ProviderID        string    `json:"provider_message_id,omitempty"`
	ProviderStatus    string    `json:"provider_status,omitempty"`
	ProviderErrorCode int       `json:"provider_error_code,omitempty"`
	// Reports are the bounce and complaint reports that came back for the
	// message, kept raw for HEROLD_BOUNCE_REPORT_TTL (GET /v1/bounces/{id}).
	Reports []ReportRef `json:"reports,omitempty"`

	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`

	// Unconfirmed: an earlier try ended without a known outcome — a worker
	// found the sending mark of one that never recorded its outcome (it died,
	// or Redis went away, between the provider call and the record write),
	// or the provider did not answer in time or the send was cut off — so
	// the provider may have the message. The next attempt recorded is marked
	// PossibleDuplicate and this is cleared (UpdateMessage does both, whoever
	// appends the attempt); a message that ends without another attempt
	// keeps it.
	Unconfirmed bool `json:"unconfirmed,omitempty"`

	// Rev is the revision the record was read at; 0 for a record not stored yet.
	Rev int64 `json:"-"`
}

func (s *Store) messageKey(id string) string      { return s.prefix + "msg:" + id }
func (s *Store) providerKey(provID string) string { return s.prefix + "msgprov:" + provID }
func (s *Store) messageIndexKey(id message.RecipientID) string {
	return s.recipientKey(string(id), "messages")
}

// casScript replaces the record only if it is still at the expected
// revision. KEYS[1] record; ARGV: expected rev ("0" = must not exist), new
// rev, JSON, TTL ms. Returns 1 on success, 0 on a lost race.
var casScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'r')
if (cur or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[2], 'j', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// CreateMessage stores a new record (it must not exist yet) and adds it to
// the recipient's index, both kept for ttl. It returns ErrConflict if a record
// with the id exists.
func (s *Store) CreateMessage(ctx context.Context, rec *MessageRecord, ttl time.Duration) error {
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = s.now().UTC()
	}
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = rec.CreatedAt
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("create message %s: encode: %w", rec.ID, err)
	}
	pipe := s.rdb.Pipeline()
	cas := casScript.Eval(ctx, pipe, []string{s.messageKey(rec.ID)}, "0", "1", b, ttl.Milliseconds())
	idx := s.messageIndexKey(rec.RecipientID)
	pipe.ZAdd(ctx, idx, redis.Z{Score: float64(rec.CreatedAt.UnixMilli()), Member: rec.ID})
	pipe.PExpire(ctx, idx, ttl)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("create message %s: %w", rec.ID, err)
	}
	if n, _ := cas.Int(); n != 1 {
		return fmt.Errorf("create message %s: %w: exists", rec.ID, ErrConflict)
	}
	rec.Rev = 1
	return nil
}

// GetMessage returns the record of message id, or ErrNotFound.
func (s *Store) GetMessage(ctx context.Context, id string) (MessageRecord, error) {
	vals, err := s.rdb.HMGet(ctx, s.messageKey(id), "r", "j").Result()
	if err != nil {
		return MessageRecord{}, fmt.Errorf("get message %s: %w", id, err)
	}
	return decodeMessage(id, vals)
}

// GetMessages returns the records of ids in one pipeline, in their order;
// errs[i] is what GetMessage would return for ids[i] (ErrNotFound, …).
func (s *Store) GetMessages(ctx context.Context, ids []string) (recs []MessageRecord, errs []error) {
	recs, errs = make([]MessageRecord, len(ids)), make([]error, len(ids))
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.messageKey(id), "r", "j")
		}
		return nil
	})
	for i, id := range ids {
		if err != nil && !isNil(err) {
			errs[i] = fmt.Errorf("get message %s: %w", id, err)
			continue
		}
		vals, cerr := cmds[i].Result()
		if cerr != nil {
			errs[i] = fmt.Errorf("get message %s: %w", id, cerr)
			continue
		}
		recs[i], errs[i] = decodeMessage(id, vals)
	}
	return recs, errs
}

func decodeMessage(id string, vals []any) (MessageRecord, error) {
	rs, ok1 := vals[0].(string)
	js, ok2 := vals[1].(string)
	if !ok1 || !ok2 {
		return MessageRecord{}, fmt.Errorf("get message %s: %w", id, ErrNotFound)
	}
	var rec MessageRecord
	if err := decodeExact([]byte(js), &rec); err != nil {
		return MessageRecord{}, fmt.Errorf("get message %s: %w: %w", id, ErrUndecodable, err)
	}
	rev, err := strconv.ParseInt(rs, 10, 64)
	if err != nil {
		return MessageRecord{}, fmt.Errorf("get message %s: revision %q: %w", id, rs, err)
	}
	rec.Rev = rev
	return rec, nil
}

// ErrSkipUpdate, returned by an UpdateMessage function, leaves the record as
// it is; UpdateMessage then returns the record unchanged and a nil error.
var ErrSkipUpdate = errors.New("skip update")

// UpdateMessage reads message id, applies fn and writes the result if nobody
// changed the record in between; on a lost race it reads again and retries.
// fn must not have side effects beyond the record: it may run more than once.
// An error from fn (other than ErrSkipUpdate) is returned as it is. The record
// is kept for ttl after this change. A final status drops the template data.
func (s *Store) UpdateMessage(ctx context.Context, id string, ttl time.Duration, fn func(*MessageRecord) error) (MessageRecord, error) {
	return s.updateMessage(ctx, id, nil, ttl, fn)
}

// UpdateMessageFrom is UpdateMessage starting from cur, a record read
// earlier (cur.Rev > 0), which saves a read when nobody changed it since.
func (s *Store) UpdateMessageFrom(ctx context.Context, cur MessageRecord, ttl time.Duration, fn func(*MessageRecord) error) (MessageRecord, error) {
	if cur.Rev == 0 {
		return s.updateMessage(ctx, cur.ID, nil, ttl, fn)
	}
	return s.updateMessage(ctx, cur.ID, &cur, ttl, fn)
}

func (s *Store) updateMessage(ctx context.Context, id string, first *MessageRecord, ttl time.Duration, fn func(*MessageRecord) error) (MessageRecord, error) {
	for range 20 {
		var rec MessageRecord
		if first != nil {
			rec, first = cloneMessage(*first), nil
		} else {
			var err error
			if rec, err = s.GetMessage(ctx, id); err != nil {
				return MessageRecord{}, err
			}
		}
		rec.UpdatedAt = s.now().UTC()
		tried := len(rec.Attempts)
		switch err := fn(&rec); {
		case errors.Is(err, ErrSkipUpdate):
			return rec, nil
		case err != nil:
			return rec, err
		}
		if rec.Unconfirmed && len(rec.Attempts) > tried {
			rec.Attempts[tried].PossibleDuplicate, rec.Unconfirmed = true, false
		}
		ok, err := s.writeMessage(ctx, &rec, ttl)
		if err != nil {
			return rec, err
		}
		if ok {
			return rec, nil
		}
	}
	return MessageRecord{}, fmt.Errorf("update message %s: %w: too many concurrent changes", id, ErrConflict)
}

// cloneMessage copies the slices fn may append to, so a retried fn never
// sees its own earlier changes.
func cloneMessage(r MessageRecord) MessageRecord {
	r.Attempts = slices.Clone(r.Attempts)
	r.Reports = slices.Clone(r.Reports)
	r.Decisions = slices.Clone(r.Decisions)
	r.Channels = slices.Clone(r.Channels)
	return r
}

// writeMessage stores rec if the stored revision is still rec.Rev, and the
// provider index if rec has a provider id. It reports false on a lost race.
func (s *Store) writeMessage(ctx context.Context, rec *MessageRecord, ttl time.Duration) (bool, error) {
	pipe := s.rdb.Pipeline()
	cas, err := s.queueWrite(ctx, pipe, rec, ttl)
	if err != nil {
		return false, err
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("update message %s: %w", rec.ID, err)
	}
	if n, _ := cas.Int(); n != 1 {
		return false, nil
	}
	rec.Rev++
	return true, nil
}

// queueWrite adds the compare-and-set of rec (at revision rec.Rev) and its
// index entries to pipe; the returned command answers 1 when it was written.
func (s *Store) queueWrite(ctx context.Context, pipe redis.Pipeliner, rec *MessageRecord, ttl time.Duration) (*redis.Cmd, error) {
	if rec.Status.Final() {
		rec.Data = nil // data minimisation: it was only needed to render
	}
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = s.now().UTC()
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("update message %s: encode: %w", rec.ID, err)
	}
	cas := casScript.Eval(ctx, pipe, []string{s.messageKey(rec.ID)}, strconv.FormatInt(rec.Rev, 10), strconv.FormatInt(rec.Rev+1, 10), b, ttl.Milliseconds())
	if rec.ProviderID != "" {
		pipe.Set(ctx, s.providerKey(rec.ProviderID), rec.ID, ttl)
	}
	if rec.Rev == 0 {
		idx := s.messageIndexKey(rec.RecipientID)
		pipe.ZAdd(ctx, idx, redis.Z{Score: float64(rec.CreatedAt.UnixMilli()), Member: rec.ID})
		pipe.PExpire(ctx, idx, ttl)
	}
	return cas, nil
}

// UpdateMessagesFrom is UpdateMessageFrom for many records read together
// (a batch chunk): fn(i, r) changes a copy of curs[i], and every change goes
// out in one pipeline. A record changed meanwhile is updated again on its
// own, as UpdateMessageFrom would.
func (s *Store) UpdateMessagesFrom(ctx context.Context, curs []MessageRecord, ttl time.Duration, fn func(i int, r *MessageRecord) error) ([]MessageRecord, []error) {
	out, errs := make([]MessageRecord, len(curs)), make([]error, len(curs))
	type write struct {
		i   int
		cas *redis.Cmd
	}
	var writes []write
	pipe := s.rdb.Pipeline()
	now := s.now().UTC()
	for i, cur := range curs {
		rec := cloneMessage(cur)
		rec.UpdatedAt = now
		tried := len(rec.Attempts)
		switch err := fn(i, &rec); {
		case errors.Is(err, ErrSkipUpdate):
			out[i] = rec
			continue
		case err != nil:
			out[i], errs[i] = rec, err
			continue
		}
		if rec.Unconfirmed && len(rec.Attempts) > tried {
			rec.Attempts[tried].PossibleDuplicate, rec.Unconfirmed = true, false
		}
		cas, err := s.queueWrite(ctx, pipe, &rec, ttl)
		if err != nil {
			out[i], errs[i] = rec, err
			continue
		}
		out[i] = rec
		writes = append(writes, write{i, cas})
	}
	if len(writes) == 0 {
		return out, errs
	}
	_, perr := pipe.Exec(ctx)
	for _, w := range writes {
		if n, _ := w.cas.Int(); n == 1 && (perr == nil || errors.Is(perr, redis.Nil)) {
			out[w.i].Rev++
			continue
		}
		// Changed meanwhile, or the pipeline failed: this one on its own.
		out[w.i], errs[w.i] = s.UpdateMessageFrom(ctx, curs[w.i], ttl, func(r *MessageRecord) error { return fn(w.i, r) })
	}
	return out, errs
}

// PutMessage stores rec as a whole if the stored revision is still rec.Rev
// (0: the record must not exist) and returns ErrConflict otherwise. The
// campaign sender uses it for records it creates while delivering.
func (s *Store) PutMessage(ctx context.Context, rec *MessageRecord, ttl time.Duration) error {
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = s.now().UTC()
	}
	ok, err := s.writeMessage(ctx, rec, ttl)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("put message %s: %w: changed concurrently", rec.ID, ErrConflict)
	}
	return nil
}

// DeleteMessage removes a record and its index entries, e.g. when enqueueing
// it failed. A missing record is not an error.
func (s *Store) DeleteMessage(ctx context.Context, id string) error {
	rec, err := s.GetMessage(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	pipe := s.rdb.Pipeline()
	pipe.Del(ctx, s.messageKey(id))
	pipe.ZRem(ctx, s.messageIndexKey(rec.RecipientID), id)
	if rec.ProviderID != "" {
		pipe.Del(ctx, s.providerKey(rec.ProviderID))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("delete message %s: %w", id, err)
	}
	return nil
}

// RecipientMessages returns the records of every message to recipient id
// still held, oldest first. A record that cannot be decoded is an error
// wrapping ErrUndecodable; export and erasure use ExportMessages, which
// never fails on one.
func (s *Store) RecipientMessages(ctx context.Context, id message.RecipientID) ([]MessageRecord, error) {
	recs, raw, err := s.ExportMessages(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(raw) > 0 {
		return nil, fmt.Errorf("recipient messages %s: message %s: %w", id, raw[0].ID, ErrUndecodable)
	}
	return recs, nil
}

// ExportMessages returns the records of every message to recipient id still
// held, oldest first, and, for the records that cannot be decoded (written by
// another version, or damaged), their stored bytes: no record can keep a
// person's data out of an export (Art. 15) or in Redis after an erasure.
func (s *Store) ExportMessages(ctx context.Context, id message.RecipientID) ([]MessageRecord, []RawRecord, error) {
	ids, err := s.rdb.ZRange(ctx, s.messageIndexKey(id), 0, -1).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("recipient messages %s: %w", id, err)
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, mid := range ids {
		cmds[i] = pipe.HMGet(ctx, s.messageKey(mid), "r", "j")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("recipient messages %s: %w", id, err)
	}
	out := make([]MessageRecord, 0, len(ids))
	var raw []RawRecord
	for i, cmd := range cmds {
		rec, err := decodeMessage(ids[i], cmd.Val())
		switch {
		case errors.Is(err, ErrNotFound):
			continue // expired: the index entry outlived it
		case errors.Is(err, ErrUndecodable):
			js, _ := cmd.Val()[1].(string)
			raw = append(raw, RawRecord{Kind: "message", ID: ids[i], Raw: js})
			continue
		case err != nil:
			return nil, nil, fmt.Errorf("recipient messages %s: %w", id, err)
		}
		out = append(out, rec)
	}
	return out, raw, nil
}

// DeleteRecipientMessages erases every message record of recipient id, with
// its provider index entries and the recipient's index (for erasure, Art. 17).
// A worker that later picks up one of these messages finds no record and
// sends nothing. Records that cannot be decoded are deleted too.
func (s *Store) DeleteRecipientMessages(ctx context.Context, id message.RecipientID) error {
	recs, raw, err := s.ExportMessages(ctx, id)
	if err != nil {
		return fmt.Errorf("delete recipient messages: %w", err)
	}
	ids, err := s.rdb.ZRange(ctx, s.messageIndexKey(id), 0, -1).Result()
	if err != nil {
		return fmt.Errorf("delete recipient messages %s: %w", id, err)
	}
	keys := []string{s.messageIndexKey(id)}
	for _, mid := range ids {
		keys = append(keys, s.messageKey(mid))
	}
	for _, r := range recs {
		if r.ProviderID != "" {
			keys = append(keys, s.providerKey(r.ProviderID))
		}
	}
	for _, r := range raw {
		if pid := r.providerID(); pid != "" {
			keys = append(keys, s.providerKey(pid))
		}
	}
	pipe := s.rdb.Pipeline()
	for chunk := range slices.Chunk(keys, 100) {
		for _, k := range chunk {
			pipe.Unlink(ctx, k) // one key per command: they live in different cluster slots
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("delete recipient messages %s: %w", id, err)
	}
	return nil
}

// MessageByProviderID returns the id of the message a provider knows as providerID.
func (s *Store) MessageByProviderID(ctx context.Context, providerID string) (string, error) {
	id, err := s.rdb.Get(ctx, s.providerKey(providerID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("message by provider id: %w", ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("message by provider id: %w", err)
	}
	return id, nil
}

// providerIndexGrace is how long a status callback for an unknown provider id
// waits for the worker's record write before it counts as unknown.
const providerIndexGrace = 250 * time.Millisecond

// providerStatusRank orders the statuses a callback may set, so a late
// "delivered" never overwrites "read".
func providerStatusRank(s MessageStatus) int {
	switch s {
	case StatusDelivered:
		return 1
	case StatusUndelivered, StatusFailed:
		return 2
	case StatusRead:
		return 3
	}
	return 0
}

// providerWordRank orders the provider's words, so a callback that arrives
// late (Twilio does not promise their order) or again changes nothing.
func providerWordRank(s string) int {
	switch s {
	case "sent":
		return 1
	case "delivered":
		return 2
	case "undelivered", "failed":
		return 3
	case "read":
		return 4
	}
	return 0
}

// UpdateProviderStatus records a provider's status callback for the message
// it knows as providerID. status is the provider's word (Twilio: queued,
// sending, sent, delivered, undelivered, failed, read; SMTP DSNs: delivered,
// failed). delivered, read, undelivered and failed move the message's status,
// never backwards; the others are kept as provider_status only. errorCode is
// the provider's error code (0: none). It returns the record as updated.
// Unknown provider ids are ErrNotFound.
// The record keeps its time to live from the last change (HEROLD_RECORD_TTL
// applies through the TTL the worker set; callbacks keep the current one).
func (s *Store) UpdateProviderStatus(ctx context.Context, providerID string, status string, errorCode int) (MessageRecord, error) {
	id, err := s.MessageByProviderID(ctx, providerID)
	if errors.Is(err, ErrNotFound) {
		// A provider may call back before the worker recorded the provider id
		// it got a moment earlier: look once more after that moment.
		select {
		case <-ctx.Done():
			return MessageRecord{}, fmt.Errorf("update provider status: %w", ctx.Err())
		case <-time.After(providerIndexGrace):
		}
		id, err = s.MessageByProviderID(ctx, providerID)
	}
	if err != nil {
		return MessageRecord{}, fmt.Errorf("update provider status: %w", err)
	}
	ttl, err := s.rdb.PTTL(ctx, s.messageKey(id)).Result()
	if err != nil {
		return MessageRecord{}, fmt.Errorf("update provider status %s: %w", id, err)
	}
	if ttl <= 0 {
		return MessageRecord{}, fmt.Errorf("update provider status %s: %w", id, ErrNotFound)
	}
	rec, err := s.UpdateMessage(ctx, id, ttl, func(rec *MessageRecord) error {
		was, wasWord, wasCode := rec.Status, rec.ProviderStatus, rec.ProviderErrorCode
		next := rec.Status
		switch status {
		case "delivered":
			next = StatusDelivered
		case "read":
			next = StatusRead
		case "undelivered":
			next = StatusUndelivered
		case "failed":
			next = StatusUndelivered // the provider accepted it, then gave up
		}
		if providerStatusRank(next) > providerStatusRank(rec.Status) && !rec.Status.Pending() {
			rec.Status = next
		}
		if providerWordRank(status) >= providerWordRank(rec.ProviderStatus) {
			rec.ProviderStatus = status // a late "sent" after "delivered" says nothing new
		}
		if errorCode != 0 {
			rec.ProviderErrorCode = errorCode
		}
		if rec.Status == was && rec.ProviderStatus == wasWord && rec.ProviderErrorCode == wasCode {
			// A replayed or stale callback: nothing changes, not even the
			// revision or the time of the last change.
			return ErrSkipUpdate
		}
		rec.UpdatedAt = s.now().UTC()
		return nil
	})
	if err != nil {
		return MessageRecord{}, fmt.Errorf("update provider status: %w", err)
	}
	return rec, nil
}

// RecordAdvertising counts a delivered advertising message to recipient id
// for the frequency cap (the same per-recipient set the campaigns write),
// keeping entries for window; member identifies the message so a repeated
// write counts once.
func (s *Store) RecordAdvertising(ctx context.Context, id message.RecipientID, member string, at time.Time, window time.Duration) error {
	k := s.advKey(id)
	pipe := s.rdb.Pipeline()
	pipe.ZAdd(ctx, k, redis.Z{Score: float64(at.UnixMilli()), Member: member})
	pipe.ZRemRangeByScore(ctx, k, "-inf", strconv.FormatInt(at.Add(-window).UnixMilli(), 10))
	pipe.PExpire(ctx, k, window)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("record advertising for %s: %w", id, err)
	}
	return nil
}

// CountSoftBounce notes a soft bounce (report id) of recipient id at at and
// returns how many the recipient had within window before at, this one
// included. The log expires with the window.
func (s *Store) CountSoftBounce(ctx context.Context, id message.RecipientID, report string, at time.Time, window time.Duration) (int, error) {
	k := s.recipientKey(string(id), "softbounce")
	pipe := s.rdb.TxPipeline()
	pipe.ZAdd(ctx, k, redis.Z{Score: float64(at.UnixMilli()), Member: report})
	pipe.ZRemRangeByScore(ctx, k, "-inf", strconv.FormatInt(at.Add(-window).UnixMilli(), 10))
	n := pipe.ZCard(ctx, k)
	pipe.PExpire(ctx, k, window)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("count soft bounce of %s: %w", id, err)
	}
	return int(n.Val()), nil
}
