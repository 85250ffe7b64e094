package app

// The console's data sources (console.Plugins) are the services the JSON
// API serves: the campaign engine, the webhook hub and stats.Stats as they
// are, and the audience API's service (api.Audience) through the small
// adapters below, which only translate shapes. Validation, the policy and
// the store's audit trail stay in those services, so the console can
// bypass none of them; the console's roles take the place of API scopes.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/heroldhq/herold/internal/api"
	"github.com/heroldhq/herold/internal/console"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// consolePlugins wires every screen of the console.
func (a *App) consolePlugins(audience *api.Audience) console.Plugins {
	return console.Plugins{
		Segments:     consoleSegments{audience},
		Drafts:       a.Campaigns,
		Lists:        consoleLists{audience},
		Suppressions: consoleSuppressions{audience},
		Webhooks:     a.Hub,
		Stats:        a.Stats,
	}
}

// maxConsoleSegments is how many segments the console's list and the
// campaign form offer (segments are few: each is a saved definition).
const maxConsoleSegments = 1000

// consoleSegments is the segment service of /v1/segments for the console.
type consoleSegments struct{ a *api.Audience }

func segmentOf(s store.Segment) console.Segment {
	by := s.UpdatedBy
	if by == "" {
		by = s.CreatedBy
	}
	return console.Segment{ID: s.ID, Name: s.Name, Description: s.Description, Expression: s.Expression,
		Version: s.Version, UpdatedAt: s.UpdatedAt, UpdatedBy: by}
}

func (c consoleSegments) List(ctx context.Context) ([]console.Segment, error) {
	list, _, err := c.a.Store.Segments(ctx, "", maxConsoleSegments)
	if err != nil {
		return nil, err
	}
	out := make([]console.Segment, len(list))
	for i, s := range list {
		out[i] = segmentOf(s)
	}
	return out, nil
}

func (c consoleSegments) Get(ctx context.Context, id string) (console.Segment, error) {
	s, err := c.a.Store.Segment(ctx, id, 0)
	return segmentOf(s), err
}

func (c consoleSegments) Save(ctx context.Context, s console.Segment, by string) (console.Segment, error) {
	in := api.SegmentInput{Name: s.Name, Description: s.Description, Expression: s.Expression}
	var (
		saved store.Segment
		err   error
	)
	if s.ID == "" {
		saved, err = c.a.CreateSegment(ctx, in, by)
	} else {
		in.Version = s.Version
		saved, err = c.a.UpdateSegment(ctx, s.ID, in, by)
	}
	return segmentOf(saved), err
}

func (c consoleSegments) Delete(ctx context.Context, id string) error {
	return c.a.Store.DeleteSegment(ctx, id)
}

func (c consoleSegments) Count(ctx context.Context, id string, sample int) (int64, []message.RecipientID, error) {
	n, err := c.a.CountSegment(ctx, id, sample)
	return int64(n.Count), n.Sample, err
}

// consoleLists is the list service of /v1/lists for the console.
type consoleLists struct{ a *api.Audience }

func (c consoleLists) Lists(context.Context) ([]console.ListInfo, error) {
	var out []console.ListInfo
	for _, l := range c.a.Lists() {
		out = append(out, console.ListInfo{Name: l.Name, Type: message.Type(l.Type)})
	}
	return out, nil
}

func (c consoleLists) Members(ctx context.Context, list, state, cursor string, limit int) ([]console.ListMember, string, error) {
	var after message.RecipientID
	if cursor != "" {
		var err error
		if after, err = message.ParseRecipientID(cursor); err != nil {
			var bad invalid.List
			bad.Add("cursor", "not a cursor from a previous page")
			return nil, "", bad.Err()
		}
	}
	ms, next, err := c.a.ListMembers(ctx, list, state, after, limit)
	if err != nil {
		return nil, "", err
	}
	out := make([]console.ListMember, len(ms))
	for i, m := range ms {
		out[i] = console.ListMember{RecipientID: m.RecipientID, RequestedAt: m.RequestedAt, ConfirmedAt: m.ConfirmedAt,
			Source: string(m.Source)}
	}
	return out, next, nil
}

// consoleSuppressions is the suppression service of /v1/suppressions for
// the console: one search field takes an address or a number.
type consoleSuppressions struct{ a *api.Audience }

func (c consoleSuppressions) Find(ctx context.Context, query, cursor string, limit int) ([]console.SuppressionEntry, string, error) {
	q := api.SuppressionQuery{Cursor: cursor, Limit: limit}
	email := strings.Contains(query, "@")
	switch {
	case query == "":
	case email:
		q.Email = query
	default:
		q.Phone = query
	}
	list, next, err := c.a.FindSuppressions(ctx, q)
	if ie, ok := invalid.As(err); ok {
		// The console's one field is "q".
		var bad invalid.List
		for _, f := range ie.Fields {
			if f.Field == "email" || f.Field == "phone" {
				f.Field = "q"
			}
			bad.Add(f.Field, "%s", f.Message)
		}
		return nil, "", bad.Err()
	}
	if err != nil {
		return nil, "", err
	}
	// Entries hold hashes only; the person is known when an address was
	// searched, and then only if they still exist.
	var rid message.RecipientID
	if query != "" && len(list) > 0 {
		if rid, err = c.owner(ctx, query, email); err != nil {
			return nil, "", err
		}
	}
	out := make([]console.SuppressionEntry, len(list))
	for i, e := range list {
		out[i] = console.SuppressionEntry{ID: e.ID, Kind: e.Kind, Channel: e.Channel, Reason: e.Reason, Source: e.Source,
			At: e.At, By: e.By, Note: e.Note, RecipientID: rid}
	}
	return out, next, nil
}

// owner finds the recipient of an address FindSuppressions accepted.
func (c consoleSuppressions) owner(ctx context.Context, query string, email bool) (message.RecipientID, error) {
	var (
		id  message.RecipientID
		err error
	)
	if email {
		id, err = c.a.Store.RecipientByEmail(ctx, query)
	} else {
		num, nerr := recipient.NormalizeMobile(query, c.a.Region)
		if nerr != nil {
			return "", nil // FindSuppressions took it, so this does not happen
		}
		id, err = c.a.Store.RecipientByPhone(ctx, num)
	}
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("suppression owner: %w", err)
	}
	return id, nil
}

func (c consoleSuppressions) Lift(ctx context.Context, id, reason, by string) error {
	_, _, err := c.a.LiftSuppression(ctx, id, reason, by)
	return err
}
