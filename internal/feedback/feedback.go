// Package feedback applies what providers and mailboxes report about a
// person — an SMS STOP, a messenger block, a hard bounce — to the consent
// ledger and the suppression list. Every road that learns such a fact (a
// delivery the provider refused, the inbound webhook, a bounce report) calls
// it here, so what each fact means exists once.
package feedback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/bounce"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/store"
)

// Suppression reasons recorded here.
const (
	// ReasonHardBounce: the mailbox or number does not exist or refuses
	// mail for good.
	ReasonHardBounce = "hard_bounce"
	// ReasonSoftBounce: the mailbox refused mail for a while too often
	// (HEROLD_BOUNCE_SOFT_LIMIT within HEROLD_BOUNCE_SOFT_WINDOW).
	ReasonSoftBounce = "soft_bounce"
)

// Feedback applies reports. It is safe for concurrent use.
type Feedback struct {
	st  *store.Store
	log *slog.Logger
	// For bounce reports (Bounced); set with WithBounces.
	bounces bool
	events  events.Publisher
	soft    SoftBounces
	ttl     time.Duration
}

// SoftBounces says when soft bounces suppress an address: Limit of them
// within Window (HEROLD_BOUNCE_SOFT_LIMIT, HEROLD_BOUNCE_SOFT_WINDOW).
type SoftBounces struct {
	Limit  int
	Window time.Duration
}

// WithEvents lets f tell pub what it applied that producers hear of
// (message.reply; bounces with WithBounces).
func (f *Feedback) WithEvents(pub events.Publisher) *Feedback {
	if pub != nil {
		f.events = pub
	}
	return f
}

// New returns a Feedback writing to st.
func New(st *store.Store, log *slog.Logger) *Feedback {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Feedback{st: st, log: log, events: events.Nop{}}
}

// WithBounces lets f apply bounce and complaint reports (Bounced): it marks
// message records (kept for recordTTL), tells pub of each applied report,
// and suppresses after soft bounces as soft says.
func (f *Feedback) WithBounces(pub events.Publisher, soft SoftBounces, recordTTL time.Duration) *Feedback {
	f.bounces, f.soft, f.ttl = true, soft, recordTTL
	if pub != nil {
		f.events = pub
	}
	return f
}

// OptedOut records an opt-out of recipient id: an objection to advertising
// on the opt-out's channel (consent.OptOutEvent says why exactly that). An
// opt-out that names the provider's message is recorded once however often
// it is reported; recorded is false for a report already in the ledger.
func (f *Feedback) OptedOut(ctx context.Context, id message.RecipientID, o consent.OptOut) (ev consent.Event, recorded bool, err error) {
	e := consent.OptOutEvent(o)
	ctx = context.WithoutCancel(ctx)
	if e.ID != "" {
		// The id is derived from the provider's message (consent.ProofID):
		// it is also the reference that makes the append happen once.
		var evs []consent.Event
		evs, err = f.st.AppendConsentOnce(ctx, id, e.ID, e)
		switch {
		case errors.Is(err, store.ErrApplied):
			ev, err = e, nil
		case err == nil:
			ev, recorded = evs[0], true
		}
	} else {
		var evs []consent.Event
		if evs, err = f.st.AppendConsent(ctx, id, e); err == nil {
			ev, recorded = evs[0], true
		}
	}
	if err != nil {
		return consent.Event{}, false, fmt.Errorf("record opt-out of %s on %s: %w", id, o.Channel, err)
	}
	if recorded {
		f.log.InfoContext(ctx, "objection recorded from an opt-out", "recipient_id", id, "channel", o.Channel,
			"source", ev.Source, "provider", o.Provider)
	}
	return ev, recorded, nil
}

// HardBounced suppresses recipient id's contact point of channel ch: the
// address does not exist (SMTP 550 at RCPT, a DSN with a permanent status).
func (f *Feedback) HardBounced(ctx context.Context, id message.RecipientID, ch message.Channel) error {
	if err := f.st.SuppressAddress(context.WithoutCancel(ctx), id, ch, ReasonHardBounce); err != nil {
		return fmt.Errorf("suppress the bounced address of %s on %s: %w", id, ch, err)
	}
	f.log.InfoContext(ctx, "address suppressed after a hard bounce", "recipient_id", id, "channel", ch)
	return nil
}

// ErrUnknownMessage means a report names a message whose person cannot be
// found (the record expired, the person was erased): nothing to apply.
var ErrUnknownMessage = errors.New("report names a message whose recipient is unknown")

// Bounced applies a bounce or complaint report that came back for an e-mail
// (bounce.Effects):
//   - hard (the address does not exist): the address is suppressed, as after
//     a 550 at RCPT, and the message record moves to bounced;
//   - soft (mailbox full, refused for now): counted; SoftBounces.Limit of
//     them within the window suppress the address;
//   - complaint (the person marked it as spam): an objection to advertising
//     by e-mail with source complaint (Art. 21 GDPR: a complaint is the
//     clearest way of saying "no more").
//
// The report is linked from a single message's record; a campaign message
// keeps only its compact outcome, so the event and the ledger or
// suppression entry are its trace. A report whose person cannot be found
// changes nothing and is not an error the sender could fix by trying again.
func (f *Feedback) Bounced(ctx context.Context, r bounce.Report) error {
	if !f.bounces {
		return errors.New("feedback: bounce reports are not configured (WithBounces)")
	}
	ctx = context.WithoutCancel(ctx)
	rid, rec, err := f.recipientOf(ctx, r)
	if errors.Is(err, ErrUnknownMessage) {
		f.log.InfoContext(ctx, "bounce report for a message without a known recipient; no effect", "report_id", r.ReportID, "message_id", r.MessageID)
		return nil
	}
	if err != nil {
		return err
	}
	at := r.ReceivedAt
	if at.IsZero() {
		at = time.Now().UTC()
	}
	switch r.Kind {
	case bounce.Hard:
		if err := f.HardBounced(ctx, rid, message.Email); err != nil && !errors.Is(err, store.ErrNoContactPoint) {
			return err
		}
	case bounce.Soft:
		n, err := f.st.CountSoftBounce(ctx, rid, r.ReportID, at, f.soft.Window)
		if err != nil {
			return err
		}
		if f.soft.Limit > 0 && n >= f.soft.Limit {
			if err := f.st.SuppressAddress(ctx, rid, message.Email, ReasonSoftBounce); err != nil && !errors.Is(err, store.ErrNoContactPoint) {
				return fmt.Errorf("suppress %s after %d soft bounces: %w", rid, n, err)
			}
			f.log.InfoContext(ctx, "address suppressed after soft bounces", "recipient_id", rid, "soft_bounces", n)
		}
	case bounce.Complaint:
		if _, err := f.st.AppendConsent(ctx, rid, consent.Event{Kind: consent.Object, Purpose: consent.Advertising,
			Channel: string(message.Email), At: at, Source: consent.Complaint, RecordedBy: "bounce",
			Text: fmt.Sprintf("complaint (feedback report %s) about message %s", r.ReportID, r.MessageID)}); err != nil {
			return fmt.Errorf("record the complaint of %s: %w", rid, err)
		}
	default:
		return nil
	}
	if rec != nil {
		if err := f.mark(ctx, *rec, r, at); err != nil {
			return err
		}
	}
	m := events.Message{ID: r.MessageID, RecipientID: string(rid), Channel: string(message.Email)}
	if rec != nil {
		m.Type, m.CampaignID = string(rec.Type), rec.CampaignID
	} else if cid, ok := campaignOf(r.MessageID); ok {
		m.CampaignID = cid
	}
	ev := events.Bounced(at, m, events.Bounce{Kind: string(r.Kind), Status: r.Status, ReportID: r.ReportID})
	ev.ID = events.DerivedID(ev.Type, r.ReportID)
	if err := f.events.Publish(ctx, ev); err != nil {
		f.log.WarnContext(ctx, "publish bounce event", "report_id", r.ReportID, "err", err)
	}
	f.log.InfoContext(ctx, "bounce report applied", "report_id", r.ReportID, "kind", r.Kind, "recipient_id", rid, "message_id", r.MessageID)
	return nil
}

// recipientOf finds the person a report is about: a single message's record
// names them; a campaign message's id is derived from campaign and person, so
// the address the report names is looked up and must give that very id.
func (f *Feedback) recipientOf(ctx context.Context, r bounce.Report) (message.RecipientID, *store.MessageRecord, error) {
	if cid, ok := campaignOf(r.MessageID); ok {
		rid := message.RecipientID(r.RecipientID)
		if rid == "" && r.Address != "" {
			found, err := f.st.RecipientByEmail(ctx, r.Address)
			if errors.Is(err, store.ErrNotFound) {
				return "", nil, ErrUnknownMessage
			}
			if err != nil {
				return "", nil, err
			}
			rid = found
		}
		if rid == "" || store.CampaignMessageID(cid, rid) != r.MessageID {
			return "", nil, ErrUnknownMessage
		}
		return rid, nil, nil
	}
	rec, err := f.st.GetMessage(ctx, r.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, ErrUnknownMessage
	}
	if err != nil {
		return "", nil, err
	}
	return rec.RecipientID, &rec, nil
}

// mark links the report from the message record; a hard bounce moves a sent
// message to bounced.
func (f *Feedback) mark(ctx context.Context, rec store.MessageRecord, r bounce.Report, at time.Time) error {
	_, err := f.st.UpdateMessageFrom(ctx, rec, f.ttl, func(m *store.MessageRecord) error {
		for _, ref := range m.Reports {
			if ref.ID == r.ReportID {
				return store.ErrSkipUpdate
			}
		}
		m.Reports = append(m.Reports, store.ReportRef{ID: r.ReportID, Kind: string(r.Kind), Status: r.Status, At: at})
		if r.Kind == bounce.Hard && (m.Status == store.StatusDelivered || m.Status == store.StatusRead || m.Status == store.StatusUndelivered) {
			m.Status = store.StatusBounced
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("mark message %s: %w", rec.ID, err)
	}
	return nil
}

// campaignOf returns the campaign id of a campaign message id ("cm.<campaign>.<hash>").
func campaignOf(msgID string) (string, bool) {
	rest, ok := strings.CutPrefix(msgID, "cm.")
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}
