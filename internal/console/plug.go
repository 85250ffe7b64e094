package console

// The screens whose data other parts of Herold provide take it through
// these interfaces: the audience work (segments, drafts and dry runs, lists,
// suppressions) and the events work (webhooks, delivery statistics). Each
// is shaped after the service behind it: the campaign engine, the webhook
// hub and stats.Stats satisfy theirs as they are; internal/app adapts the
// audience API's service (api.Audience) to the others. A nil one hides its
// screen and its navigation entry, and its routes answer 404.

import (
	"context"
	"time"

	"github.com/heroldhq/herold/internal/campaign"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/stats"
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
	ID          string
	Name        string
	Description string
	Expression  string // the segment language as the API takes it
	Version     int
	UpdatedAt   time.Time
	UpdatedBy   string
}

// Segments stores and evaluates segments: internal/app adapts the
// audience API's service (api.Audience) to it. Save validates as POST and
// PUT /v1/segments do and returns an *invalid.Error naming the bad part
// (field "expression", the message saying where) and writes nothing then.
// Get, Delete and Count of an unknown id: store.ErrNotFound.
type Segments interface {
	List(ctx context.Context) ([]Segment, error)
	Get(ctx context.Context, id string) (Segment, error)
	// Save creates (s.ID "") or updates a segment, by console user by, and
	// returns it as stored. An update based on s.Version when another
	// version is current by now is store.ErrConflict.
	Save(ctx context.Context, s Segment, by string) (Segment, error)
	Delete(ctx context.Context, id string) error
	// Count evaluates the segment now, as a campaign's start would: how
	// many recipients it holds and the first sample of their ids. A saved
	// expression that no longer fits the catalog is an *invalid.Error.
	Count(ctx context.Context, id string, sample int) (int64, []message.RecipientID, error)
}

// Drafts creates campaigns that wait to be started (with an audience from
// a segment, evaluated at the start), dry-runs and starts them: the
// campaign engine itself. CreateWith's campaign is validated first, by
// api.Campaigns.Validate, like every campaign the console creates.
type Drafts interface {
	CreateWith(ctx context.Context, c store.Campaign, audience []message.RecipientID, o campaign.CreateOptions) error
	DryRun(ctx context.Context, id string) (campaign.DryRunReport, error)
	// LastDryRun is the stored report of the last dry run (store.ErrNotFound: none).
	LastDryRun(ctx context.Context, id string) (campaign.DryRunReport, error)
	// Start starts a draft (its audience is the segment's at this moment).
	Start(ctx context.Context, id string) error
}

var _ Drafts = (*campaign.Engine)(nil)

// ListInfo is one newsletter list of the catalog.
type ListInfo struct {
	Name string
	Type message.Type // the message type whose list it is
}

// ListMember is one subscriber of a list (an id, never an address).
type ListMember struct {
	RecipientID message.RecipientID
	RequestedAt time.Time
	ConfirmedAt time.Time // zero while pending
	Source      string    // where the sign-up came from (web_form, …)
}

// Lists lists newsletter lists and their members, each person's state
// folded from the ledger now (the audience API's service). state is
// "confirmed" or "pending"; cursor "" starts, the returned "" ends. An
// unknown list is store.ErrNotFound, a bad cursor an *invalid.Error.
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
	By      string
	Note    string
	// RecipientID is the person the searched address belongs to, if one
	// exists (entries hold hashes only, so a listing cannot tell).
	RecipientID message.RecipientID
}

// Suppressions searches and lifts suppression entries (the audience API's
// service). query is "" for all, or an address or number to look up (a bad
// one: *invalid.Error on "q"); Lift records who lifted it and why in the
// store's audit trail, and fails with *invalid.Error on "reason" for an
// empty reason, store.ErrNotFound for an unknown entry.
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

// Stats answers the overview's questions over time (*stats.Stats, counted
// from the events): deliveries per class and final status, suppressions
// per reason, bounce and complaint rates, and a campaign's deliveries per
// minute. Failing webhook endpoints come from Webhooks' delivery logs.
type Stats interface {
	// Deliveries per class and final status since since, in buckets of step.
	Deliveries(ctx context.Context, since time.Time, step time.Duration) ([]stats.Series, error)
	// Suppressions per reason since since.
	Suppressions(ctx context.Context, since time.Time) ([]stats.Count, error)
	// BounceRates are the shares of delivered e-mails that bounced, per
	// kind hard|soft|complaint, since since.
	BounceRates(ctx context.Context, since time.Time) ([]stats.Count, error)
	// CampaignRate is campaign id's deliveries per minute since since.
	CampaignRate(ctx context.Context, id string, since time.Time) (stats.Series, error)
}

var _ Stats = (*stats.Stats)(nil)
