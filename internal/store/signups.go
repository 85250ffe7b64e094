package store

import (
	"context"
	"fmt"

	"github.com/heroldhq/herold/internal/message"
)

// DeleteSignup removes a sign-up that was never confirmed: the prospect's
// profile, consent ledger, e-mail and phone index entries and message log
// (its confirmation mail). Unlike DeleteRecipient (erasure, Art. 17) it puts
// nothing on the suppression list: the person never became a contact, and
// signing up again later must work ("Sofern Sie Ihre Anmeldung nicht
// bestätigen, wird Ihre Anmeldung automatisch gelöscht").
//
// The caller (the people's pages' pruner, area H) decides that id is such a
// sign-up: a prospect whose ledger holds only old doi_request events. Unknown
// recipient: ErrNotFound.
func (s *Store) DeleteSignup(ctx context.Context, id message.RecipientID) error {
	r, err := s.GetRecipient(ctx, id)
	if err != nil {
		return fmt.Errorf("delete sign-up: %w", err)
	}
	if err := s.reindex(ctx, &r, nil); err != nil {
		return fmt.Errorf("delete sign-up %s: %w", id, err)
	}
	if err := s.DeleteRecipientMessages(ctx, id); err != nil {
		return fmt.Errorf("delete sign-up %s: %w", id, err)
	}
	if err := s.rdb.Del(ctx, s.recipientKeys(id)...).Err(); err != nil {
		return fmt.Errorf("delete sign-up %s: %w", id, err)
	}
	return nil
}
