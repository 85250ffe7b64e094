package main

import (
	"github.com/heroldhq/herold/channels/setup"
	"github.com/heroldhq/herold/internal/api"
)

// wireChannels builds one sender per channel (SMTP, Twilio, or the outbox
// folder for a channel without a provider, said at start-up), rate-limited
// through the shared Redis, and registers Twilio's webhooks on a.mux. They
// check their own signatures, so they need no API key.
func (a *app) wireChannels() error {
	chans, err := setup.Build(a.cfg, a.rdb, a.log.With("component", "channels"))
	if err != nil {
		return err
	}
	a.closers = append(a.closers, chans.Close)
	a.senders = chans.Senders
	(&api.Webhooks{
		AuthToken: a.cfg.Twilio.AuthToken, PublicURL: a.cfg.HTTP.PublicURL,
		Statuses: a.store, OptOuts: a.store, Log: a.log.With("component", "webhooks"),
	}).Routes(a.mux)
	return nil
}
