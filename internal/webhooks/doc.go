// Package webhooks delivers Herold's events to producers' HTTP endpoints,
// signed as the Standard Webhooks specification says
// (https://www.standardwebhooks.com): headers webhook-id, webhook-timestamp
// and webhook-signature, "v1," and the base64 HMAC-SHA256 of
// "<id>.<timestamp>.<body>" under the endpoint's whsec_ secret. During a
// secret rotation the previous secret signs too, space-separated.
//
// # The road of an event
//
// Hub.Publish (the send path calls it) appends each event to the outbox of
// every enabled endpoint subscribed to its type, in one MULTI/EXEC pipeline,
// and marks the endpoint due. With no subscribed endpoint it reads only the
// in-memory endpoint list. Hub.Run (in every worker process) takes due
// endpoints within their rate limit (GCRA in Redis, shared by all processes),
// cuts a delivery of up to batch_size events from the outbox (one Lua
// script, atomic with Publish) and enqueues one asynq task per delivery on
// its own queue. The task posts the body: one event object, or a JSON array
// for endpoints with batch_size > 1. A 2xx answer delivers it; anything else
// is retried with exponential back-off (HEROLD_WEBHOOKS_RETRY_BASE doubling
// up to HEROLD_WEBHOOKS_RETRY_MAX, or the receiver's Retry-After) until
// HEROLD_WEBHOOKS_MAX_AGE after the first attempt, then marked failed. The
// webhook-id is the delivery id, the same on every retry and replay, so
// receivers deduplicate by it: delivery is at least once.
//
// So a campaign of a million recipients is a million events in outboxes,
// delivered at the endpoint's rate in batches, never a million calls at once.
//
// # Targets
//
// Unless HEROLD_WEBHOOKS_ALLOW_PRIVATE is set, a URL must be https and may
// not name a loopback, private or link-local address or a local host name,
// and the address actually dialled is checked again (DNS rebinding).
// Redirects are not followed and no proxy from the environment is used.
//
// # Keys
//
// Every key shares the hash tag {wh}, so scripts over an outbox, the due
// set and a delivery run on one Redis Cluster slot:
//
//	<prefix>{wh}:endpoints      hash endpoint id → JSON Endpoint (with secrets)
//	<prefix>{wh}:version        counter, bumped on every endpoint change
//	<prefix>{wh}:due            sorted set endpoint id → when it may be called next (unix ms)
//	<prefix>{wh}:q:<endpoint>   list of event JSON waiting for the endpoint
//	<prefix>{wh}:d:<delivery>   hash e (endpoint), s (state), c (created), f (first attempt), b (body), r (replays); TTL HEROLD_WEBHOOKS_LOG_TTL
//	<prefix>{wh}:da:<delivery>  list of attempt JSON, newest first, the last 20; same TTL
//	<prefix>{wh}:dl:<endpoint>  sorted set of the endpoint's last HEROLD_WEBHOOKS_LOG_SIZE deliveries
//	<prefix>{wh}:unsent         sorted set of deliveries cut but not yet enqueued (crash recovery)
//	rate:<prefix>{wh}:rate:<endpoint>  the endpoint's rate limit (redis_rate)
//
// Secrets are stored as they are: an HMAC needs the key itself. Protect the
// Redis like the other secrets it holds.
package webhooks
