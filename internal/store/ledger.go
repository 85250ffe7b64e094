package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// appendOnceScript appends one event unless the ledger already holds an
// event with its id: KEYS as appendScript; ARGV[1] the event as JSON,
// ARGV[2] its id as it appears in the JSON ("id":"…"). Returns the ledger
// length, 0 when the event was there already, -1 for an unknown recipient.
// Ledgers hold tens of events, so reading one whole is cheap.
var appendOnceScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
for _, e in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if string.find(e, ARGV[2], 1, true) then return 0 end
end
return redis.call('RPUSH', KEYS[2], ARGV[1])`)

func (s *Store) ledgerKey(id message.RecipientID) string { return s.recipientKey(string(id), "ledger") }

// recordedEvent is consent.recorded for ledger event e of recipient id.
func recordedEvent(id message.RecipientID, e consent.Event) events.Event {
	ev := events.ConsentEvent(string(id), e.Channel, events.Consent{EventID: e.ID, Kind: string(e.Kind),
		Purpose: e.Purpose, Source: string(e.Source), At: e.At, TextVersion: e.TextVersion,
		TextSHA256: events.TextHash(e.Text), RecordedBy: e.RecordedBy})
	ev.ID = events.DerivedID(events.ConsentRecorded, e.ID)
	return ev
}

// AppendConsentOnce appends e, whose ID the caller derived from what the
// event proves (a provider's message id), unless the ledger holds an event
// with that ID already: a report the provider sends twice, or a replayed
// webhook, is recorded once. It returns the event as stored and whether it
// was appended now. Unknown recipient: ErrNotFound.
func (s *Store) AppendConsentOnce(ctx context.Context, id message.RecipientID, e consent.Event) (consent.Event, bool, error) {
	if e.ID == "" {
		return consent.Event{}, false, fmt.Errorf("append consent %s once: the event needs its id", id)
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.At = e.At.UTC()
	if err := e.Validate(); err != nil {
		return consent.Event{}, false, fmt.Errorf("append consent %s once: %w", id, err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return consent.Event{}, false, fmt.Errorf("append consent %s once: %w", id, err)
	}
	idField, _ := json.Marshal(map[string]string{"id": e.ID})
	n, err := appendOnceScript.Run(ctx, s.rdb, []string{s.profileKey(id), s.ledgerKey(id)}, b,
		strings.Trim(string(idField), "{}")).Int64()
	switch {
	case err != nil:
		return consent.Event{}, false, fmt.Errorf("append consent %s once: %w", id, err)
	case n < 0:
		return consent.Event{}, false, fmt.Errorf("append consent %s once: %w", id, ErrNotFound)
	case n == 0:
		return e, false, nil
	}
	_ = s.tell(ctx, recordedEvent(id, e)) // recorded; a webhook that cannot be told now does not undo it
	return e, true, nil
}

// AppendConsent appends events to the consent ledger of id and returns them
// as stored. It sets a missing ID (a time-ordered UUID) and a missing At (now);
// every event must then pass consent.Event.Validate. Events are never changed
// or deleted afterwards. The ledger is a Redis list and the state is folded
// from it on every read, so there is no cache that could disagree with the
// events, whatever the number of concurrent writers. Unknown recipient:
// ErrNotFound, and nothing is written.
func (s *Store) AppendConsent(ctx context.Context, id message.RecipientID, in ...consent.Event) ([]consent.Event, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("append consent %s: no events", id)
	}
	if len(in) > maxAppend {
		return nil, fmt.Errorf("append consent %s: %d events, at most %d at once", id, len(in), maxAppend)
	}
	out := make([]consent.Event, len(in))
	args := make([]any, len(in))
	now := s.now().UTC()
	for i, e := range in {
		if e.ID == "" {
			u, err := uuid.NewV7()
			if err != nil {
				return nil, fmt.Errorf("append consent %s: event id: %w", id, err)
			}
			e.ID = u.String()
		}
		if e.At.IsZero() {
			e.At = now
		}
		e.At = e.At.UTC()
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("append consent %s: event %d: %w", id, i, err)
		}
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("append consent %s: %w", id, err)
		}
		out[i], args[i] = e, b
	}
	n, err := appendScript.Run(ctx, s.rdb, []string{s.profileKey(id), s.ledgerKey(id)}, args...).Int64()
	if err != nil {
		return nil, fmt.Errorf("append consent %s: %w", id, err)
	}
	if n < 0 {
		return nil, fmt.Errorf("append consent %s: %w", id, ErrNotFound)
	}
	evs := make([]events.Event, len(out))
	for i, e := range out {
		evs[i] = recordedEvent(id, e)
	}
	// The consent is recorded; a webhook that cannot be told now does not undo it.
	_ = s.tell(ctx, evs...)
	return out, nil
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
