package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/message"
)

// maxAppend bounds the events of one AppendConsent call (one script call).
const maxAppend = 1000

// appendScript appends events to a recipient's ledger only while the profile
// exists, atomically with respect to an erasure (both keys share the
// recipient's hash tag). KEYS[1] profile, KEYS[2] ledger; ARGV events as JSON.
// Returns the ledger length, or -1 for an unknown recipient.
var appendScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('RPUSH', KEYS[2], unpack(ARGV))`)

func (s *Store) ledgerKey(id message.RecipientID) string { return s.recipientKey(string(id), "ledger") }

// appliedKey is the set of references (such as "twilio:SM…", the provider's
// id of an inbound STOP) whose events are in the ledger already. It shares
// the recipient's hash tag with the ledger, so the check and the append are
// one script on Redis Cluster too, and erasure deletes it with the ledger.
func (s *Store) appliedKey(id message.RecipientID) string {
	return s.recipientKey(string(id), "applied")
}

// appendOnceScript is appendScript that appends only if ARGV[1] is not in
// the set KEYS[3] yet, and adds it. Returns the ledger length, -1 for an
// unknown recipient, -2 when the reference was applied before.
var appendOnceScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SADD', KEYS[3], ARGV[1]) == 0 then return -2 end
return redis.call('RPUSH', KEYS[2], unpack(ARGV, 2))`)

// ErrApplied means AppendConsentOnce found its reference applied already:
// the events came before (a provider replayed its webhook) and nothing was
// appended.
var ErrApplied = errors.New("already applied")

// AppendConsent appends events to the consent ledger of id and returns them
// as stored. It sets a missing ID (a time-ordered UUID) and a missing At (now);
// every event must then pass consent.Event.Validate. Events are never changed
// or deleted afterwards. The ledger is a Redis list and the state is folded
// from it on every read, so there is no cache that could disagree with the
// events, whatever the number of concurrent writers. Unknown recipient:
// ErrNotFound, and nothing is written. With WithDurability it returns only
// once the replicas asked for have the events, else a *redisconn.NotAckedError.
func (s *Store) AppendConsent(ctx context.Context, id message.RecipientID, in ...consent.Event) ([]consent.Event, error) {
	out, args, err := s.encodeEvents(id, in)
	if err != nil {
		return nil, err
	}
	if err := s.noteLists(ctx, id, out); err != nil { // audience.go: list candidates before the events
		return nil, fmt.Errorf("append consent %s: %w", id, err)
	}
	n, err := s.appendEvents(ctx, appendScript, []string{s.profileKey(id), s.ledgerKey(id)}, args)
	if err != nil {
		return nil, fmt.Errorf("append consent %s: %w", id, err)
	}
	if n < 0 {
		return nil, fmt.Errorf("append consent %s: %w", id, ErrNotFound)
	}
	s.recorded(ctx, id, out)
	return out, nil
}

// recorded tells the event hub about consent events appended for id. The
// consent is recorded; a webhook that cannot be told now does not undo it.
func (s *Store) recorded(ctx context.Context, id message.RecipientID, out []consent.Event) {
	evs := make([]events.Event, len(out))
	for i, e := range out {
		evs[i] = events.ConsentEvent(string(id), e.Channel, events.Consent{EventID: e.ID, Kind: string(e.Kind),
			Purpose: e.Purpose, Source: string(e.Source), At: e.At, TextVersion: e.TextVersion,
			TextSHA256: events.TextHash(e.Text), RecordedBy: e.RecordedBy})
		evs[i].ID = events.DerivedID(events.ConsentRecorded, e.ID)
	}
	_ = s.tell(ctx, evs...)
}

// appendEvents runs an append script on keys (the profile and the ledger
// first). When writes wait for replicas, WAIT goes
// in the same pipeline as the script (one round trip, on the connection of
// the write): a consent or withdrawal is confirmed only once it would survive
// the loss of the primary. Unconfirmed (*redisconn.NotAckedError), the event
// is on the primary all the same; a retry appends it again, which folds to
// the same state.
func (s *Store) appendEvents(ctx context.Context, script *redis.Script, keys []string, args []any) (int64, error) {
	if s.dur.Replicas() == 0 {
		return script.Run(ctx, s.rdb, keys, args...).Int64()
	}
	var cmd *redis.Cmd
	if _, err := s.dur.Pipelined(ctx, s.rdb, keys[1], func(p redis.Pipeliner) error {
		cmd = script.Eval(ctx, p, keys, args...) // Eval: a pipeline cannot fall back on NOSCRIPT
		return nil
	}); err != nil {
		return 0, err
	}
	return cmd.Int64()
}

// AppendConsentOnce is AppendConsent for events that come with a reference
// that identifies their cause, such as the provider's id of an inbound
// message ("twilio:SM…"): the events are appended once per reference, so a
// replayed webhook changes nothing. A reference seen before: ErrApplied.
func (s *Store) AppendConsentOnce(ctx context.Context, id message.RecipientID, ref string, in ...consent.Event) ([]consent.Event, error) {
	if ref == "" {
		return nil, fmt.Errorf("append consent %s: empty reference", id)
	}
	out, args, err := s.encodeEvents(id, in)
	if err != nil {
		return nil, err
	}
	if err := s.noteLists(ctx, id, out); err != nil {
		return nil, fmt.Errorf("append consent %s: %w", id, err)
	}
	keys := []string{s.profileKey(id), s.ledgerKey(id), s.appliedKey(id)}
	n, err := s.appendEvents(ctx, appendOnceScript, keys, append([]any{ref}, args...))
	switch {
	case err != nil:
		return nil, fmt.Errorf("append consent %s: %w", id, err)
	case n == -1:
		return nil, fmt.Errorf("append consent %s: %w", id, ErrNotFound)
	case n == -2:
		return nil, fmt.Errorf("append consent %s: %s: %w", id, ref, ErrApplied)
	}
	s.recorded(ctx, id, out)
	return out, nil
}

// encodeEvents checks and encodes events for the ledger (see AppendConsent).
func (s *Store) encodeEvents(id message.RecipientID, in []consent.Event) ([]consent.Event, []any, error) {
	if len(in) == 0 {
		return nil, nil, fmt.Errorf("append consent %s: no events", id)
	}
	if len(in) > maxAppend {
		return nil, nil, fmt.Errorf("append consent %s: %d events, at most %d at once", id, len(in), maxAppend)
	}
	out := make([]consent.Event, len(in))
	args := make([]any, len(in))
	now := s.now().UTC()
	for i, e := range in {
		if e.ID == "" {
			u, err := uuid.NewV7()
			if err != nil {
				return nil, nil, fmt.Errorf("append consent %s: event id: %w", id, err)
			}
			e.ID = u.String()
		}
		if e.At.IsZero() {
			e.At = now
		}
		e.At = e.At.UTC()
		if err := e.Validate(); err != nil {
			return nil, nil, fmt.Errorf("append consent %s: event %d: %w", id, i, err)
		}
		b, err := json.Marshal(e)
		if err != nil {
			return nil, nil, fmt.Errorf("append consent %s: %w", id, err)
		}
		out[i], args[i] = e, b
	}
	return out, args, nil
}

// Ledger returns every consent event of id in the order recorded, or an
// error wrapping ErrNotFound for an unknown recipient.
func (s *Store) Ledger(ctx context.Context, id message.RecipientID) ([]consent.Event, error) {
	snap, err := s.LoadFacts(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load ledger: %w", err)
	}
	if !snap.Found {
		return nil, fmt.Errorf("load ledger %s: %w", id, ErrNotFound)
	}
	return snap.Events, nil
}

func decodeLedger(raw []string) ([]consent.Event, error) {
	events := make([]consent.Event, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal([]byte(r), &events[i]); err != nil {
			return nil, fmt.Errorf("decode ledger event %d: %w", i, err)
		}
	}
	return events, nil
}

// ConsentEntry is the state of one purpose on one channel, for display.
type ConsentEntry struct {
	Purpose string `json:"purpose"`
	Channel string `json:"channel"`
	consent.Entry
}

// StateEntries lists st in its stable Keys order.
func StateEntries(st consent.State) []ConsentEntry {
	keys := st.Keys()
	out := make([]ConsentEntry, len(keys))
	for i, k := range keys {
		out[i] = ConsentEntry{Purpose: k.Purpose, Channel: k.Channel, Entry: st.Entries[k]}
	}
	return out
}

// Consents is a recipient's consent state at a moment and the full history
// it was folded from.
type Consents struct {
	RecipientID message.RecipientID `json:"recipient_id"`
	At          time.Time           `json:"at"`
	State       []ConsentEntry      `json:"state"`
	History     []consent.Event     `json:"history"`
}

// Consents returns the consent state of id at the moment at (consent.Fold)
// and the full ledger. Unknown recipient: ErrNotFound.
func (s *Store) Consents(ctx context.Context, id message.RecipientID, at time.Time) (Consents, error) {
	events, err := s.Ledger(ctx, id)
	if err != nil {
		return Consents{}, fmt.Errorf("consents: %w", err)
	}
	return ConsentsOf(id, events, at), nil
}

// ConsentsOf is the consent state of id at the moment at, folded from events,
// with the full history.
func ConsentsOf(id message.RecipientID, events []consent.Event, at time.Time) Consents {
	if events == nil {
		events = []consent.Event{}
	}
	return Consents{
		RecipientID: id,
		At:          at,
		State:       StateEntries(consent.Fold(events, at)),
		History:     events,
	}
}

// isNil reports whether err is go-redis's "no such key".
func isNil(err error) bool { return errors.Is(err, redis.Nil) }
