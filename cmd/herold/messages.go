package main

import (
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/api"
	msgdispatch "github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/queue"
)

// wireDispatch builds the dispatch service (accepts messages: the messages
// API on a.api, and the pages' double opt-in mails) and, in roles that run
// the worker, the dispatcher with its task handler on a.asynqMux. It adds to
// the worker's asynq configuration: the retry delays (a provider's
// Retry-After, else asynq's exponential back-off with jitter) and a one-second
// check for due scheduled and retried tasks (asynq's default is 5 s, which
// would delay every send_at by up to that).
func (a *app) wireDispatch() error {
	log := a.log.With("component", "dispatch")
	svc, err := msgdispatch.NewService(msgdispatch.ServiceOptions{
		Store: a.store, Catalog: a.catalog, Client: a.asynqClient,
		Inspector: asynq.NewInspectorFromRedisClient(a.rdb), // shares rdb: never closed on its own
		Queues:    a.queues, Settings: a.cfg.Dispatch, MaxRetry: a.cfg.Worker.MaxRetry,
		RecordTTL: a.cfg.Core.RecordTTL, Region: a.cfg.Core.DefaultRegion, Log: log,
	})
	if err != nil {
		return err
	}
	a.messages = svc
	(&api.Messages{Service: svc, MaxBody: a.cfg.HTTP.MaxBody, Log: log}).Routes(a.api)

	if !a.role.worker {
		return nil
	}
	d, err := msgdispatch.New(msgdispatch.Options{
		Store: a.store, Catalog: a.catalog, Renderer: a.renderer, Senders: a.senders,
		RecordTTL: a.cfg.Core.RecordTTL, SendTimeout: a.cfg.Dispatch.SendTimeout, Log: log,
	})
	if err != nil {
		return err
	}
	a.dispatcher = d
	a.asynqMux.Use(queue.LogOutcome(a.log.With("component", "worker")))
	a.asynqMux.Handle(queue.TypeDeliver, queue.NewDeliverHandler(d, log))
	a.asynqConfig = append(a.asynqConfig, func(c *asynq.Config) {
		c.RetryDelayFunc = queue.RetryDelay(nil)
		if c.DelayedTaskCheckInterval == 0 {
			c.DelayedTaskCheckInterval = time.Second
		}
	})
	return nil
}
