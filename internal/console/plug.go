package console

// The screens whose data other parts of Herold provide take it through
// these interfaces: the audience work (segments, drafts and dry runs, lists,
// suppressions) and the events work (webhooks, delivery statistics). Each
// is small and shaped after the service that will implement it, so wiring
// one is a line in internal/app. A nil one hides its screen and its
// navigation entry, and its routes answer 404.

import (
	"context"
	"time"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/webhooks"
)

// Plugins are the optional data sources of the console.
type Plugins struct {
	Segments     Segments
	Drafts       Drafts
	Lists        Lists
	Suppressions Suppressions
	Webhooks     Webhooks
	Stats        Stats
}

func (p Plugins) has(name string) bool {
	switch name {
	case "segments":
		return p.Segments != nil
	case "drafts":
		return p.Drafts != nil
	case "lists":
		return p.Lists != nil
	case "suppressions":
		return p.Suppressions != nil
	case "webhooks":
		return p.Webhooks != nil
	case "stats":
		return p.Stats != nil
	}
	return false
}

// Segment is a saved audience definition.
type Segment struct {
	ID         string
	Name       string
	Expression string // the segment language as the API takes it
	Version    int
	UpdatedAt  time.Time
}

// Segments stores and evaluates segments (the audience work's segment
// service). Save validates the expression and returns an *invalid.Error
// naming the bad part (field "expression" or "expression.<path>") and
// writes nothing then. Get of an unknown id: store.ErrNotFound.
type Segments interface {
	List(ctx context.Context) ([]Segment, error)
	Get(ctx context.Context, id string) (Segment, error)
	// Save creates (s.ID "") or updates a segment and returns it as stored.
	Save(ctx context.Context, s Segment) (Segment, error)
	Delete(ctx context.Context, id string) error
	// Count evaluates the segment now: how many recipients it holds and a
	// few of their ids.
	Count(ctx context.Context, id string, sample int) (int64, []message.RecipientID, error)
}

// DryRunRow is one line of a dry run: how many of the audience a channel
// would reach, or which reason stops them, with a few sample ids.
type DryRunRow struct {
	Channel message.Channel
	Reason  string // a policy.Reason, or "allowed", or quiet_hours for a delay
	Count   int64
	Sample  []message.RecipientID
}

// DryRun is the answer of a dry run: every audience member decided now.
type DryRun struct {
	At       time.Time
	Audience int64
	Rows     []DryRunRow
}

// Drafts creates campaigns that wait to be started, and dry-runs them (the
// audience work's draft campaigns). CreateDraft validates like
// campaign.Engine.Create; segmentID, when not empty, is the audience instead
// of ids (evaluated at Start).
type Drafts interface {
	CreateDraft(ctx context.Context, c store.Campaign, audience []message.RecipientID, segmentID string) error
	DryRun(ctx context.Context, id string) (DryRun, error)
	// Start starts a draft now (its audience is the segment's at this moment).
	Start(ctx context.Context, id string) error
}

// ListInfo is one newsletter list with its member counts.
type ListInfo struct {
	Key       string
	Name      string
	Confirmed int64
	Pending   int64
}

// ListMember is one subscriber of a list (an id, never an address).
type ListMember struct {
	RecipientID message.RecipientID
	RequestedAt time.Time
	ConfirmedAt time.Time // zero while pending
}

// Lists lists newsletter lists and their members (the audience work's
// list service). state is "confirmed" or "pending"; cursor "" starts,
// the returned "" ends.
type Lists interface {
	Lists(ctx context.Context) ([]ListInfo, error)
	Members(ctx context.Context, list, state, cursor string, limit int) ([]ListMember, string, error)
}

// SuppressionEntry is one entry of the suppression list.
type SuppressionEntry struct {
	ID      string
	Kind    string // email or phone
	Channel string // a channel or "all"
	Reason  string
	Source  string
	At      time.Time
	// RecipientID is the person it belongs to, if one still exists.
	RecipientID message.RecipientID
}

// Suppressions searches and lifts suppression entries (the audience work's
// suppression service). query is "" for all, or an address or number to
// look up; Lift records who lifted it and why, and fails with
// *invalid.Error for an empty reason.
type Suppressions interface {
	Find(ctx context.Context, query, cursor string, limit int) ([]SuppressionEntry, string, error)
	Lift(ctx context.Context, id, reason, by string) error
}

// Webhooks shows the producers' webhook endpoints and their delivery log,
// and replays a delivery. *webhooks.Hub implements it.
type Webhooks interface {
	List(ctx context.Context) ([]webhooks.Endpoint, error)
	Get(ctx context.Context, id string) (webhooks.Endpoint, error)
	Deliveries(ctx context.Context, id string, limit int) ([]webhooks.Delivery, error)
	Replay(ctx context.Context, eid, did string) (webhooks.Delivery, error)
}

var _ Webhooks = (*webhooks.Hub)(nil)

// Count is one number of a statistic, e.g. class=marketing status=delivered.
type Count struct {
	Labels map[string]string
	Value  float64
}

// Series is a statistic over time: one value per bucket from Start on.
type Series struct {
	Name   string // e.g. "marketing delivered"
	Start  time.Time
	Step   time.Duration
	Values []float64
}

// Stats answers the overview's questions over time (the events work's
// counters): deliveries per class and final status, suppressions per
// reason, bounce and complaint rates, failing webhook endpoints, and a
// campaign's deliveries per minute.
type Stats interface {
	// Deliveries per class and final status since since, in buckets of step.
	Deliveries(ctx context.Context, since time.Time, step time.Duration) ([]Series, error)
	// Suppressions per reason since since (labels: reason).
	Suppressions(ctx context.Context, since time.Time) ([]Count, error)
	// BounceRates are the shares of delivered e-mails that bounced (labels:
	// kind hard|soft|complaint) since since.
	BounceRates(ctx context.Context, since time.Time) ([]Count, error)
	// FailingWebhooks lists endpoints with failed deliveries since since
	// (labels: endpoint).
	FailingWebhooks(ctx context.Context, since time.Time) ([]Count, error)
	// CampaignRate is campaign id's deliveries per minute since since.
	CampaignRate(ctx context.Context, id string, since time.Time) (Series, error)
}
