package segment

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
)

// Loader reads the recipients a scan walks over (internal/store implements it).
type Loader interface {
	// RecipientIDs returns up to n recipient ids after `after` (exclusive;
	// "" starts at the beginning), in id order.
	RecipientIDs(ctx context.Context, after message.RecipientID, n int) ([]message.RecipientID, error)
	// Snapshots loads the profiles of ids in one round trip, with their
	// ledgers when ledger is set and their advertising deliveries since
	// advSince when it is not zero; unknown ids have Found false.
	Snapshots(ctx context.Context, ids []message.RecipientID, ledger bool, advSince time.Time) ([]recipient.Snapshot, error)
}

// ScanOptions tune Scan.
type ScanOptions struct {
	// After starts after this id (a page cursor); "" from the beginning.
	After message.RecipientID
	// Batch is how many recipients one round trip loads (default 500).
	Batch int
	// Workers is how many batches load and evaluate at once (default 4):
	// the wait for Redis of one batch overlaps the evaluation of another.
	Workers int
	// Limit stops the scan after this many matches (0: no limit).
	Limit int
	// Need loads more than the expression reads, for callers that use the
	// snapshots further (a dry run decides every match).
	Need Needs
}

// Stats say what a scan did.
type Stats struct {
	Scanned int // recipients looked at
	Matched int // of them in the segment (at most Limit)
	// Last is the id of the last match handed out when the scan stopped at
	// Limit; the next page starts after it.
	Last message.RecipientID
	// More: the scan stopped at Limit with recipients left to look at.
	More bool
}

// errLimit ends a scan that reached its limit.
var errLimit = errors.New("limit reached")

// Scan walks every recipient in id order (from o.After on), a batch at a
// time, and calls fn with each batch's members of seg (nil seg: every
// recipient) in id order. Only Workers batches are in memory at once, so a
// scan of millions holds a few thousand snapshots at a time. An error of fn
// or the loader ends the scan with that error.
func Scan(ctx context.Context, l Loader, seg *Segment, env Env, o ScanOptions, fn func(members []recipient.Snapshot) error) (Stats, error) {
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	need := o.Need
	if seg != nil {
		need.Ledger = need.Ledger || seg.needs.Ledger
		need.Advertising = need.Advertising || seg.needs.Advertising
	}
	var advSince time.Time
	if need.Advertising && env.Catalog != nil {
		advSince = env.Catalog.FrequencyCountSince(env.Now)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		scanned int
		members []recipient.Snapshot
		err     error
	}
	type job struct {
		ids []message.RecipientID
		out chan result
	}
	jobs := make(chan job)
	// order carries each batch's result channel in id order, so results are
	// handed out in order whatever worker finishes first.
	order := make(chan chan result, 2*o.Workers)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(order)
		defer close(jobs)
		after := o.After
		for {
			ids, err := l.RecipientIDs(ctx, after, o.Batch)
			if err != nil {
				out := make(chan result, 1)
				out <- result{err: err}
				select {
				case order <- out:
				case <-ctx.Done():
				}
				return
			}
			if len(ids) == 0 {
				return
			}
			out := make(chan result, 1)
			select {
			case order <- out:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- job{ids: ids, out: out}:
			case <-ctx.Done():
				out <- result{err: ctx.Err()}
				return
			}
			if len(ids) < o.Batch {
				return
			}
			after = ids[len(ids)-1]
		}
	})
	for range o.Workers {
		wg.Go(func() {
			for j := range jobs {
				snaps, err := l.Snapshots(ctx, j.ids, need.Ledger, advSince)
				if err != nil {
					j.out <- result{err: err}
					continue
				}
				members := snaps[:0]
				for _, sn := range snaps {
					if sn.Found && (seg == nil || seg.Match(sn, &env)) {
						members = append(members, sn)
					}
				}
				j.out <- result{scanned: len(j.ids), members: members}
			}
		})
	}

	var st Stats
	err := func() error {
		for out := range order {
			var r result
			select {
			case r = <-out:
			case <-ctx.Done():
				return ctx.Err()
			}
			if r.err != nil {
				return r.err
			}
			st.Scanned += r.scanned
			members := r.members
			if o.Limit > 0 && st.Matched+len(members) >= o.Limit {
				rest := o.Limit - st.Matched
				st.More = rest < len(members) || len(order) > 0 || r.scanned == o.Batch
				members = members[:rest]
				st.Matched += len(members)
				if len(members) > 0 {
					st.Last = members[len(members)-1].ID
					if err := fn(members); err != nil {
						return err
					}
				}
				return errLimit
			}
			st.Matched += len(members)
			if len(members) > 0 {
				if err := fn(members); err != nil {
					return err
				}
			}
		}
		return nil
	}()
	cancel()
	wg.Wait()
	if errors.Is(err, errLimit) {
		err = nil
	}
	return st, err
}
