package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// Snapshot is what Herold knows about one recipient at one read: the profile
// (with its suppression flags) and the whole consent ledger. Found is false
// for an unknown (or erased) recipient.
type Snapshot struct {
	ID        message.RecipientID
	Found     bool
	Recipient Recipient
	Events    []consent.Event
	// RecentAdvertising counts the advertising deliveries since the window
	// start given to LoadFactsSince (the frequency cap); 0 without one.
	RecentAdvertising int
}

// LoadFacts reads the profile and the ledger of id in one round trip (one
// pipeline over keys of one hash tag). An unknown recipient is not an error:
// the Snapshot has Found false, and the policy answers unknown_recipient.
func (s *Store) LoadFacts(ctx context.Context, id message.RecipientID) (Snapshot, error) {
	return s.LoadFactsSince(ctx, id, time.Time{})
}

// LoadFactsSince is LoadFacts that also counts, in the same round trip, the
// advertising deliveries since advSince (the frequency cap's window start;
// zero: not counted). The send path uses it: one round trip per message.
func (s *Store) LoadFactsSince(ctx context.Context, id message.RecipientID, advSince time.Time) (Snapshot, error) {
	snaps, err := s.LoadFactsBatchSince(ctx, []message.RecipientID{id}, advSince)
	if err != nil {
		return Snapshot{}, err
	}
	return snaps[0], nil
}

// LoadFactsBatch reads the snapshots of many recipients in one pipeline, in
// the order of ids; missing ones have Found false. On Redis Cluster go-redis
// splits the pipeline by node.
func (s *Store) LoadFactsBatch(ctx context.Context, ids []message.RecipientID) ([]Snapshot, error) {
	return s.LoadFactsBatchSince(ctx, ids, time.Time{})
}

// LoadFactsBatchSince is LoadFactsBatch that also counts each recipient's
// advertising deliveries since advSince in the same pipeline (zero: not counted).
func (s *Store) LoadFactsBatchSince(ctx context.Context, ids []message.RecipientID, advSince time.Time) ([]Snapshot, error) {
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
	out := make([]Snapshot, len(ids))
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
		out[i] = Snapshot{ID: id, Found: true, Recipient: r, Events: events}
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

// Facts builds the policy's facts for a message of type t on channel ch at
// now: the recipient's facts (contract, open request, contact points of ch
// and whether they are suppressed) and the ledger folded at now. For a
// snapshot that was not found the Recipient is nil (unknown_recipient).
func (sn Snapshot) Facts(t message.Type, ch message.Channel, now time.Time) policy.Facts {
	f := policy.Facts{
		Type:    t,
		Channel: ch,
		Now:     now,
		Consent: consent.Fold(sn.Events, now),
		// The frequency cap counts deliveries on every channel.
		RecentAdvertising: sn.RecentAdvertising,
	}
	if !sn.Found {
		return f
	}
	r := sn.Recipient
	pr := &policy.Recipient{
		ID:               sn.ID,
		Kind:             r.Kind,
		OpenRequest:      r.OpenRequest,
		HasEmail:         len(r.Emails) > 0,
		HasPhone:         r.Mobile != nil && r.Mobile.Number != "",
		Suppressed:       r.SuppressedOn(ch),
		Suppressions:     suppressionsOn(r, ch),
		ContractEvidence: contractEvidence(r.Contract),
	}
	if pr.ID == "" {
		pr.ID = r.ID
	}
	if pr.HasEmail {
		// UWG §7(3) no. 1: only the address collected in the sale counts, and
		// only the primary address is written to.
		pr.EmailFromSale = r.Emails[0].CollectedInSale
	}
	if pr.HasPhone {
		pr.PhoneVerifiedAt = r.Mobile.VerifiedAt
	}
	if c := r.Contract; c != nil {
		pr.ContractStart, pr.ContractEnd = c.StartedAt, c.EndedAt
	}
	f.Recipient = pr
	return f
}

// contractEvidence gives the contract dates the decision relied on as an
// ISO 8601 interval ("contract_dates:2024-01-01/.." while it runs); "" without
// a contract.
func contractEvidence(c *Contract) string {
	switch {
	case c == nil || c.StartedAt.IsZero():
		return ""
	case c.EndedAt.IsZero():
		return "contract_dates:" + c.StartedAt.Format(time.DateOnly) + "/.."
	default:
		return "contract_dates:" + c.StartedAt.Format(time.DateOnly) + "/" + c.EndedAt.Format(time.DateOnly)
	}
}

// suppressionsOn lists the suppression entries behind r.SuppressedOn(ch),
// with reason and time, so the policy can tell whether a later contract or
// consent lifts them.
func suppressionsOn(r Recipient, ch message.Channel) []policy.Suppression {
	var list []Suppression
	switch {
	case ch == message.Email && len(r.Emails) > 0:
		list = r.Emails[0].Suppressed
	case ch.Phone() && r.Mobile != nil:
		list = r.Mobile.Suppressed
	}
	var out []policy.Suppression
	for _, s := range list {
		if s.Channel == consent.AllChannels || s.Channel == string(ch) {
			out = append(out, policy.Suppression{Reason: s.Reason, At: s.At})
		}
	}
	return out
}
