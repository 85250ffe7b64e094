package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/pages"
)

// wirePages serves the people's pages (sign-up with double opt-in,
// confirmation, preference centre, one-click unsubscribe) on a.mux, handles
// the clean-up of unconfirmed sign-ups on a.asynqMux and schedules it on
// a.scheduler (in the service queue, every HEROLD_PAGES_PRUNE_EVERY). The
// confirmation mails go through a.messages, the normal pipeline.
func (a *app) wirePages(ctx context.Context) error {
	log := a.log.With("component", "pages")
	// The pages key their CSRF tokens and address hashes from the token
	// secret (configured, or the one generated and shared in Redis); they
	// derive keys of their own from it, so none equals the sealing key.
	secret, _, err := sharedSecret(ctx, a.rdb, a.cfg.Redis.KeyPrefix+"secret:token", a.cfg.Core.TokenSecret)
	if err != nil {
		return fmt.Errorf("pages: %w", err)
	}
	pg, err := pages.New(pages.Options{
		Config: a.cfg.Pages, PublicURL: a.cfg.HTTP.PublicURL, Secret: secret, Sealer: a.tokens,
		Store: a.store, Submitter: a.messages, Redis: a.rdb, Prefix: a.cfg.Redis.KeyPrefix, Log: log,
	})
	if err != nil {
		return err
	}
	pg.Routes(a.mux)
	a.asynqMux.Handle(pages.PruneTaskType, pg)
	if _, err := a.scheduler.Register(pg.PruneSchedule(), pages.NewPruneTask(a.queues.Name(message.Service))); err != nil {
		return fmt.Errorf("pages: schedule %s: %w", pages.PruneTaskType, err)
	}
	// A list the catalog's newsletter type does not name can be signed up
	// to, but its newsletters would all be denied: say so at start-up.
	if spec, ok := a.catalog.Type("newsletter"); ok {
		for _, l := range a.cfg.Pages.Lists {
			if !slices.Contains(spec.Lists, l.Key) {
				log.Warn("newsletter list offered on the sign-up page is not in the catalog's newsletter lists; its newsletters will be denied",
					"list", l.Key, "catalog_lists", spec.Lists)
			}
		}
	}
	return nil
}
