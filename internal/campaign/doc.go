// Package campaign sends one message type to a large audience: in chunks,
// with the full legal check for every recipient at the moment of sending,
// throttled, in each recipient's local time and outside quiet hours, with
// counters and a compact, provable outcome per recipient.
//
// # Why chunks
//
// asynq processes at most about 5k tasks/s on two cores, whatever the task
// does (one serial dequeue per task). One task per recipient would cap a
// campaign below that before any real work. So the audience is stored as
// chunks of ids (about 10 B per recipient) and one asynq task carries one
// chunk. A chunk task claims its recipients a batch at a time (one Lua call
// that also checks the campaign's state), loads their facts in one pipeline
// (store.LoadFactsBatch), decides each with policy.Decide, renders and sends
// them over the pooled senders with bounded concurrency, and writes outcomes
// in batches, one Lua script each.
//
// # Why not the dispatcher's per-message path
//
// dispatch keeps a JSON record per message (request, every decision with its
// evidence, attempts) and writes it with a compare-and-set per state change:
// several hundred bytes and several round trips per message. A campaign keeps
// one compact outcome per recipient instead (status, channel, basis, reason,
// rule, catalog version, times, provider id: about 100 B, the rest of the
// Decision is fixed by the catalog and rebuilt on read) and writes it in
// batches. The decision, rendering and sending are the same functions the
// dispatcher uses: policy.Decide, render.Renderer and the channels.Senders.
//
// # Exactly once, as far as it goes
//
// A recipient's outcome entry is also its sent mark: a chunk claims a
// recipient by writing a pending mark, and a retried chunk skips everyone with
// a final outcome. After a crash only the messages that were being sent (and
// whose outcome was not written yet) go out again, with the same message id
// (derived from campaign and recipient) and so the same Message-ID header.
//
// # Waiting recipients
//
// Recipients that must wait — quiet hours, a local send time not reached in
// their zone, a retryable provider error — go into the campaign's "later"
// sorted set, each on its own; a sweep task takes them when due. Nobody else
// in the chunk waits for them.
//
// # Priority
//
// Campaign tasks have a queue of their own, served by a separate asynq server
// with few workers (HEROLD_CAMPAIGN_WORKERS) and bounded sends per chunk
// (HEROLD_CAMPAIGN_SENDERS), so the message worker's slots stay free for
// transactional mail.
package campaign
