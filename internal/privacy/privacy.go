// Package privacy carries out a person's rights over what Herold holds on
// them, across every area of the store — profile and consent ledger, message
// records, campaign outcomes, suppression list: access and portability
// (Export, GDPR Art. 15 and 20) and erasure (Erase, Art. 17). The store offers
// each area's part; the order in which they are done, and why, lives here.
package privacy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// ExportFormat names the layout of an Export document.
const ExportFormat = "herold.recipient-export/v1"

// Export is everything Herold holds on one person: the profile with its
// suppression flags, the consent ledger with the state it folds to, and every
// message record still kept, each with the decisions that settled it, and
// every campaign message (kept per campaign as a compact outcome entry, not
// as a message record) with its decision. Message records Herold cannot
// decode (written by another version, or damaged) are exported as their
// stored bytes in Undecodable, so no record keeps a person's data out of it.
type Export struct {
	Format           string                  `json:"format"`
	ExportedAt       time.Time               `json:"exported_at"`
	RecipientID      message.RecipientID     `json:"recipient_id"`
	Profile          recipient.Recipient     `json:"profile"`
	Consents         store.Consents          `json:"consents"`
	Messages         []store.MessageRecord   `json:"messages"`
	CampaignMessages []store.CampaignMessage `json:"campaign_messages"`
	Undecodable      []store.RawRecord       `json:"undecodable,omitempty"`
}

// Rights exports and erases people. It is safe for concurrent use.
type Rights struct {
	st     *store.Store
	events events.Publisher
	log    *slog.Logger
}

// Option configures Rights.
type Option func(*Rights)

// WithLog sets where Rights reports records it could not decode (by id
// only); default: nowhere.
func WithLog(l *slog.Logger) Option { return func(r *Rights) { r.log = l } }

// New returns Rights over st; pub hears recipient.erased (nil: nobody).
func New(st *store.Store, pub events.Publisher, opts ...Option) *Rights {
	if pub == nil {
		pub = events.Nop{}
	}
	r := &Rights{st: st, events: pub, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Export gathers everything held on id at now. Unknown recipient:
// store.ErrNotFound.
func (r *Rights) Export(ctx context.Context, id message.RecipientID, now time.Time) (Export, error) {
	snap, err := r.st.LoadFacts(ctx, id)
	if err != nil {
		return Export{}, fmt.Errorf("export recipient: %w", err)
	}
	if !snap.Found {
		return Export{}, fmt.Errorf("export recipient %s: %w", id, store.ErrNotFound)
	}
	msgs, raw, err := r.st.ExportMessages(ctx, id)
	if err != nil {
		return Export{}, fmt.Errorf("export recipient: %w", err)
	}
	r.reportUndecodable(ctx, "export", id, raw)
	if msgs == nil {
		msgs = []store.MessageRecord{}
	}
	cms, err := r.st.CampaignMessages(ctx, id)
	if err != nil {
		return Export{}, fmt.Errorf("export recipient: %w", err)
	}
	return Export{
		Format:           ExportFormat,
		ExportedAt:       now,
		RecipientID:      id,
		Profile:          snap.Recipient,
		Consents:         store.ConsentsOf(id, snap.Events, now),
		Messages:         msgs,
		CampaignMessages: cms,
		Undecodable:      raw,
	}, nil
}

// reportUndecodable logs the ids of records that could not be decoded, so an
// operator can find out why; the records themselves are exported or erased.
func (r *Rights) reportUndecodable(ctx context.Context, op string, id message.RecipientID, raw []store.RawRecord) {
	for _, rr := range raw {
		r.log.WarnContext(ctx, "record cannot be decoded: handled as its stored bytes", "op", op,
			"recipient_id", id, "kind", rr.Kind, "record_id", rr.ID)
	}
}

// Erase erases id: its profile, consent ledger, index entries, frequency-cap
// log and message log go, and so does every entry it has in a campaign
// (outcome, waiting and retry entries, and its place in the audience chunks
// of campaigns not finished yet); each of its e-mail addresses and its number
// stays on the suppression list as a salted hash only, so that a later profile
// with the same address is suppressed instead of contacted. Unknown
// recipient: store.ErrNotFound.
//
// The order matters: the suppression first, so an erasure that fails
// half-way never loses it; the campaigns before the profile, so an erasure
// that fails there can be asked again (the profile is what finds the
// person); the campaigns once more at the end, for a chunk that claimed the
// person before the profile went and wrote an outcome meanwhile. A chunk that
// still holds the id in memory after that finds no profile and records
// unknown_recipient: the person is not contacted, but that outcome entry
// (the id only) comes back; the ids of erased people are not kept anywhere
// to stop it.
func (r *Rights) Erase(ctx context.Context, id message.RecipientID) error {
	rec, err := r.st.GetRecipient(ctx, id)
	if err != nil {
		return fmt.Errorf("erase recipient: %w", err)
	}
	if _, raw, err := r.st.ExportMessages(ctx, id); err == nil {
		r.reportUndecodable(ctx, "erase", id, raw) // DeleteRecipientMessages deletes them too
	}
	steps := []func() error{
		func() error { return r.st.SuppressErased(ctx, rec) },
		func() error { return r.st.Unindex(ctx, rec) },
		func() error { return r.st.DeleteRecipientMessages(ctx, id) },
		func() error { return r.st.EraseFromCampaigns(ctx, id) },
		func() error { return r.st.DeleteRecipientKeys(ctx, id) },
		func() error { return r.st.ForgetInCampaigns(ctx, id) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("erase recipient %s: %w", id, err)
		}
	}
	ev := events.Erased(time.Now().UTC(), string(id))
	ev.ID = events.DerivedID(events.RecipientErased, string(id))
	if err := r.events.Publish(context.WithoutCancel(ctx), ev); err != nil {
		return fmt.Errorf("erased recipient %s, but telling it failed: %w", id, err)
	}
	return nil
}
