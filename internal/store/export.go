package store

import (
	"context"
	"fmt"
	"time"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
)

// ExportFormat names the layout of an Export document.
const ExportFormat = "herold.recipient-export/v1"

// Export is everything Herold holds on one person, for the rights of access
// and portability (GDPR Art. 15 and 20): the profile with its suppression
// flags, the consent ledger with the state it folds to, and every message
// record still kept, each with the decisions that settled it, and every
// campaign message (kept per campaign as a compact outcome entry, not as a
// message record) with its decision.
type Export struct {
	Format           string              `json:"format"`
	ExportedAt       time.Time           `json:"exported_at"`
	RecipientID      message.RecipientID `json:"recipient_id"`
	Profile          recipient.Recipient `json:"profile"`
	Consents         Consents            `json:"consents"`
	Messages         []MessageRecord     `json:"messages"`
	CampaignMessages []CampaignMessage   `json:"campaign_messages"`
}

// Export gathers everything held on id at now. Unknown recipient: ErrNotFound.
func (s *Store) Export(ctx context.Context, id message.RecipientID, now time.Time) (Export, error) {
	snap, err := s.LoadFacts(ctx, id)
	if err != nil {
		return Export{}, fmt.Errorf("export recipient: %w", err)
	}
	if !snap.Found {
		return Export{}, fmt.Errorf("export recipient %s: %w", id, ErrNotFound)
	}
	msgs, err := s.RecipientMessages(ctx, id)
	if err != nil {
		return Export{}, fmt.Errorf("export recipient: %w", err)
	}
	if msgs == nil {
		msgs = []MessageRecord{}
	}
	cms, err := s.CampaignMessages(ctx, id)
	if err != nil {
		return Export{}, fmt.Errorf("export recipient: %w", err)
	}
	return Export{
		Format:           ExportFormat,
		ExportedAt:       now,
		RecipientID:      id,
		Profile:          snap.Recipient,
		Consents:         consentsOf(id, snap.Events, now),
		Messages:         msgs,
		CampaignMessages: cms,
	}, nil
}
