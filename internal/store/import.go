package store

// Bulk import: many profiles (and their consent events) upserted with
// PutRecipient's rules in a few pipelined round trips per batch instead of
// several per recipient. ImportRecipients changes the recipients of the
// items it is given (their stored form): callers hand them over.
//
// # Keys
//
// The same as one PutRecipient and AppendConsent write (recipients.go,
// audience.go): profile and ledger under the recipient's hash tag, written
// together by one script; the indexes in commands of their own.
//
// A batch takes three pipelines: (1) read every profile, its suppression
// list entries and, for lines with events, its ledger; (2) write each
// profile with its new events in one script that checks the profile (and the
// ledger length) did not change since (1), together with the index updates;
// (3) read the suppression entries again, since a suppression recorded
// meanwhile must not be lost (see writeProfile). A recipient whose script
// finds a change written meanwhile is written again the slow way
// (PutRecipient, AppendConsent), so concurrent writers never lose an update.

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/recipient"
)

// importScript writes one imported profile and appends its events, if
// neither the profile nor the ledger changed since they were read.
// KEYS[1] profile, KEYS[2] ledger. ARGV[1] SHA-1 of the profile read ("" :
// there was none), ARGV[2] the new profile, ARGV[3] the ledger length read
// (-1: no events, not checked), ARGV[4..] events as JSON. Returns 1 when
// written, 0 when something changed meanwhile.
var importScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local sha = ''
if cur then sha = redis.sha1hex(cur) end
if sha ~= ARGV[1] then return 0 end
local want = tonumber(ARGV[3])
if want >= 0 and redis.call('LLEN', KEYS[2]) ~= want then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if #ARGV > 3 then redis.call('RPUSH', KEYS[2], unpack(ARGV, 4)) end
return 1
`)

// ImportItem is one recipient to import: a profile as recipient.Parse
// returns it and the consent events to append. Events need an ID: one
// already in the ledger is skipped, so importing a file twice appends its
// events once (derive the id from the event, as the import API does).
type ImportItem struct {
	Recipient recipient.Recipient
	Events    []consent.Event
}

// ImportResult is what happened to one item.
type ImportResult struct {
	Created bool  // the profile is new
	Events  int   // events appended
	Err     error // the item was not written (Vet refused it, or an invalid event)
}

// ImportVet checks item i against the ledger as it is before the import (a
// doi_confirm needs its pending doi_request); an error leaves the item out.
type ImportVet func(i int, ledger []consent.Event) error

// ImportRecipients upserts items with PutRecipient's rules: created_at
// survives, suppression flags come from the suppression list, the e-mail,
// phone and recipients indexes follow. It returns one result per item; an
// error of its own means Redis failed, and items may be half done (each
// item's profile and events are written together or not at all).
func (s *Store) ImportRecipients(ctx context.Context, items []ImportItem, vet ImportVet) ([]ImportResult, error) {
	res := make([]ImportResult, len(items))
	if len(items) == 0 {
		return res, nil
	}
	type read struct {
		profile *redis.StringCmd
		sup     *redis.SliceCmd
		ledger  *redis.StringSliceCmd
		q       suppressionQuery
		emails  []string // contact hashes, computed once per item
		phones  []string
	}
	reads := make([]read, len(items))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, it := range items {
			id := it.Recipient.ID
			r := &reads[i]
			r.profile = p.Get(ctx, s.profileKey(id))
			r.emails, r.phones = s.contactHashes(&it.Recipient)
			r.q = suppressionQueryOf(r.emails, r.phones)
			if len(r.q.fields) > 0 {
				r.sup = p.HMGet(ctx, s.suppressionKey(), r.q.fields...)
			}
			if len(it.Events) > 0 {
				r.ledger = p.LRange(ctx, s.ledgerKey(id), 0, -1)
			}
		}
		return nil
	})
	if err != nil && !isNil(err) {
		return nil, fmt.Errorf("import %d recipients: read: %w", len(items), err)
	}

	// ---- what to write
	type write struct {
		skip    bool
		old     *recipient.Recipient
		next    recipient.Recipient
		sum     string
		llen    int64
		events  [][]byte
		applied map[string][]recipient.Suppression
		script  *redis.Cmd
	}
	writes := make([]write, len(items))
	now := s.now().UTC()
	for i, it := range items {
		w := &writes[i]
		r := &reads[i]
		raw, err := r.profile.Bytes()
		switch {
		case isNil(err):
		case err != nil:
			return nil, fmt.Errorf("import %s: %w", it.Recipient.ID, err)
		default:
			old, err := decodeProfile(raw)
			if err != nil {
				return nil, fmt.Errorf("import %s: %w", it.Recipient.ID, err)
			}
			w.old = &old
			h := sha1.Sum(raw)
			w.sum = hex.EncodeToString(h[:])
		}
		w.llen = -1
		if r.ledger != nil {
			raw, err := r.ledger.Result()
			if err != nil {
				return nil, fmt.Errorf("import %s: ledger: %w", it.Recipient.ID, err)
			}
			ledger, err := decodeLedger(raw)
			if err != nil {
				return nil, fmt.Errorf("import %s: %w", it.Recipient.ID, err)
			}
			if vet != nil {
				if err := vet(i, ledger); err != nil {
					w.skip, res[i].Err = true, err
					continue
				}
			}
			w.llen = int64(len(raw))
			if w.events, err = newEvents(it.Events, ledger); err != nil {
				w.skip, res[i].Err = true, err
				continue
			}
		}
		w.applied = map[string][]recipient.Suppression{}
		if r.sup != nil {
			if w.applied, err = r.q.parse(r.sup.Val()); err != nil {
				return nil, fmt.Errorf("import %s: %w", it.Recipient.ID, err)
			}
		}
		w.next = it.Recipient // the caller's items are ours to change
		w.next.CreatedAt, w.next.UpdatedAt = now, now
		if w.old != nil {
			w.next.CreatedAt = w.old.CreatedAt
		}
		applySuppressionsOf(&w.next, r.emails, r.phones, w.applied)
	}

	// ---- write: one script per recipient; the indexes as reindex keeps
	// them, but in one command per index for the whole batch. EVALSHA
	// spares Redis hashing the script's text for every recipient; it is
	// loaded first (on every primary of a cluster).
	if err := importScript.Load(ctx, s.rdb).Err(); err != nil {
		return nil, fmt.Errorf("import %d recipients: load script: %w", len(items), err)
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		var emailIdx, phoneIdx []any
		var listed []redis.Z
		for i := range writes {
			w := &writes[i]
			if w.skip {
				continue
			}
			b, err := json.Marshal(w.next)
			if err != nil {
				return err
			}
			args := make([]any, 0, 3+len(w.events))
			args = append(args, w.sum, b, w.llen)
			for _, e := range w.events {
				args = append(args, e)
			}
			id := w.next.ID
			w.script = importScript.EvalSha(ctx, p, []string{s.profileKey(id), s.ledgerKey(id)}, args...)
			r := &reads[i]
			if w.old != nil {
				oldE, oldP := s.contactHashes(w.old)
				for _, h := range oldE {
					if !slices.Contains(r.emails, h) {
						casDelScript.Eval(ctx, p, []string{s.emailIndexKey()}, h, string(id))
					}
				}
				for _, h := range oldP {
					if !slices.Contains(r.phones, h) {
						casDelScript.Eval(ctx, p, []string{s.phoneIndexKey()}, h, string(id))
					}
				}
			}
			for _, h := range r.emails {
				emailIdx = append(emailIdx, h, string(id))
			}
			for _, h := range r.phones {
				phoneIdx = append(phoneIdx, h, string(id))
			}
			listed = append(listed, redis.Z{Member: string(id)})
			if lists := eventLists(items[i].Events); len(lists) > 0 {
				s.noteListsIn(ctx, p, id, lists)
			}
		}
		if len(emailIdx) > 0 {
			p.HSet(ctx, s.emailIndexKey(), emailIdx...)
		}
		if len(phoneIdx) > 0 {
			p.HSet(ctx, s.phoneIndexKey(), phoneIdx...)
		}
		if len(listed) > 0 {
			p.ZAdd(ctx, s.recipientsKey(), listed...)
		}
		return nil
	})
	if err != nil && !isNil(err) {
		return nil, fmt.Errorf("import %d recipients: write: %w", len(items), err)
	}

	// ---- check: suppressions recorded meanwhile; conflicts the slow way
	type check struct {
		i   int
		sup *redis.SliceCmd
		q   suppressionQuery
	}
	var checks []check
	var conflicts []int
	for i := range writes {
		w := &writes[i]
		if w.skip {
			continue
		}
		n, err := w.script.Int()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			n, err = 0, nil // the script cache was flushed meanwhile: write it the slow way
		}
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", w.next.ID, err)
		}
		if n == 0 {
			conflicts = append(conflicts, i)
			continue
		}
		res[i] = ImportResult{Created: w.old == nil, Events: len(w.events)}
		if q := reads[i].q; len(q.fields) > 0 {
			checks = append(checks, check{i: i, q: q})
		}
	}
	if len(checks) > 0 {
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for k := range checks {
				checks[k].sup = p.HMGet(ctx, s.suppressionKey(), checks[k].q.fields...)
			}
			return nil
		})
		if err != nil && !isNil(err) {
			return nil, fmt.Errorf("import %d recipients: check suppressions: %w", len(items), err)
		}
		for _, c := range checks {
			after, err := c.q.parse(c.sup.Val())
			if err != nil {
				return nil, err
			}
			w := &writes[c.i]
			if !sameSuppressions(w.applied, after) {
				if _, err := s.refreshSuppressions(ctx, w.next.ID); err != nil && !errors.Is(err, ErrNotFound) {
					return nil, fmt.Errorf("import %s: %w", w.next.ID, err)
				}
			}
		}
	}
	for _, i := range conflicts {
		res[i] = s.importSlowly(ctx, i, items[i], vet)
	}
	return res, nil
}

// sameSuppressions reports whether two readings of the suppression list
// entries of one profile agree.
func sameSuppressions(a, b map[string][]recipient.Suppression) bool {
	return maps.EqualFunc(a, b, func(x, y []recipient.Suppression) bool {
		return slices.EqualFunc(x, y, func(p, q recipient.Suppression) bool {
			return p.Channel == q.Channel && p.Reason == q.Reason && p.At.Equal(q.At)
		})
	})
}

// importSlowly writes one item the way single requests do, for a recipient
// that someone else wrote while the batch was underway.
func (s *Store) importSlowly(ctx context.Context, i int, it ImportItem, vet ImportVet) ImportResult {
	var res ImportResult
	var events [][]byte
	if len(it.Events) > 0 {
		ledger, err := s.Ledger(ctx, it.Recipient.ID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return ImportResult{Err: err}
		}
		if vet != nil {
			if err := vet(i, ledger); err != nil {
				return ImportResult{Err: err}
			}
		}
		if events, err = newEvents(it.Events, ledger); err != nil {
			return ImportResult{Err: err}
		}
	}
	_, created, err := s.PutRecipient(ctx, it.Recipient)
	if err != nil {
		return ImportResult{Err: err}
	}
	res.Created = created
	if len(events) > 0 {
		var add []consent.Event
		for _, e := range it.Events {
			if slices.ContainsFunc(events, func(b []byte) bool { return eventID(b) == e.ID }) {
				add = append(add, e)
			}
		}
		if _, err := s.AppendConsent(ctx, it.Recipient.ID, add...); err != nil {
			return ImportResult{Created: created, Err: err}
		}
		res.Events = len(add)
	}
	return res
}

// newEvents validates events and encodes those whose id the ledger does
// not hold yet.
func newEvents(events []consent.Event, ledger []consent.Event) ([][]byte, error) {
	if len(events) > maxAppend {
		return nil, fmt.Errorf("%d events, at most %d at once", len(events), maxAppend)
	}
	var out [][]byte
	for k, e := range events {
		if e.ID == "" {
			return nil, fmt.Errorf("event %d: missing id", k)
		}
		e.At = e.At.UTC()
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("event %d: %w", k, err)
		}
		if slices.ContainsFunc(ledger, func(l consent.Event) bool { return l.ID == e.ID }) {
			continue
		}
		b, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func eventID(b []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(b, &v)
	return v.ID
}
