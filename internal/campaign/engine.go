package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	_ "time/tzdata" // recipients' zones must resolve even on hosts without a zone database

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/delivery"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/metrics"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// Task types of the campaign queue.
const (
	TypeStart = "campaign:start" // fan-out: enqueue one chunk task per chunk
	TypeChunk = "campaign:chunk" // send one chunk
	TypeLater = "campaign:later" // send the recipients of the later set that are due
)

// batchSize is how many recipients a chunk claims and loads facts for at a
// time: small enough that facts are fresh when the message goes out (a
// withdrawal stops the message if it arrived before its batch was loaded),
// large enough that the round trips do not show.
const batchSize = 100

// sweepLease is how long a sweep holds recipients it took from the later set;
// if its worker dies they are due again after it.
const sweepLease = 2 * time.Minute

// errPaused ends a task of a paused (or not yet started) campaign. It is not
// a failure: the task comes back after HEROLD_CAMPAIGN_PAUSE_POLL and goes on
// when the campaign runs again, so resume needs no re-enqueueing.
var errPaused = errors.New("campaign paused")

// Options are the Engine's dependencies.
type Options struct {
	Log       *slog.Logger
	Store     *store.Store
	Delivery  *delivery.Deliverer // the one attempt, with its catalog, clock and zones
	Client    *asynq.Client       // enqueues campaign tasks
	Inspector *asynq.Inspector    // cancel removes queued tasks
	Config    config.Campaigns
	// Priority, if set, holds campaign sends while transactional tasks of
	// the same process run (see Priority).
	Priority *Priority
	// Events hears the campaign's recipients' outcomes (in batches) and its
	// state changes; nil: none.
	Events events.Publisher
	// Metrics counts the recipients that reach a state, per written batch;
	// nil: none.
	Metrics *metrics.Metrics
}

// Engine creates and steers campaigns (the API side) and runs their tasks
// (the worker side). It is safe for concurrent use.
type Engine struct {
	log     *slog.Logger
	st      *store.Store
	core    *delivery.Deliverer
	cat     *policy.Catalog
	zones   *recipient.Zones
	client  *asynq.Client
	insp    *asynq.Inspector
	cfg     config.Campaigns
	limiter *redis_rate.Limiter
	prio    *Priority
	events  events.Publisher
	metrics *metrics.Metrics

	mu    sync.Mutex
	plans map[string]*plan
}

// New returns an Engine.
func New(o Options) (*Engine, error) {
	if o.Log == nil || o.Store == nil || o.Delivery == nil || o.Client == nil {
		return nil, errors.New("campaign: Log, Store, Delivery and Client are required")
	}
	if o.Events == nil {
		o.Events = events.Nop{}
	}
	return &Engine{
		log: o.Log, st: o.Store, core: o.Delivery, cat: o.Delivery.Catalog(), zones: o.Delivery.Zones(),
		client: o.Client, insp: o.Inspector, cfg: o.Config,
		limiter: redis_rate.NewLimiter(o.Store.Redis()), plans: map[string]*plan{}, prio: o.Priority,
		events: o.Events, metrics: o.Metrics,
	}, nil
}

// Register adds the campaign task handlers to mux.
func (e *Engine) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeStart, e.handleStart)
	mux.HandleFunc(TypeChunk, e.handleChunk)
	mux.HandleFunc(TypeLater, e.handleLater)
}

// ServerConfig returns the asynq settings of the campaign worker: its own
// queue, few workers, and paused tasks that wait without counting as failures.
func (e *Engine) ServerConfig(logger asynq.Logger) asynq.Config {
	return asynq.Config{
		Queues:                   map[string]int{e.cfg.Queue: 1},
		Concurrency:              e.cfg.Workers,
		TaskCheckInterval:        100 * time.Millisecond,
		DelayedTaskCheckInterval: time.Second,
		IsFailure:                func(err error) bool { return !errors.Is(err, errPaused) },
		// A chunk whose worker died (lease expired) runs again at once: it
		// skips everyone it finished and resends only what was in flight.
		RetryDelayFunc: queue.LeaseExpiredNow(func(n int, err error, t *asynq.Task) time.Duration {
			if errors.Is(err, errPaused) {
				return e.cfg.PausePoll
			}
			return min(asynq.DefaultRetryDelayFunc(n, err, t), time.Minute)
		}),
		ShutdownTimeout: 10 * time.Second,
		Logger:          logger,
	}
}

// now is the delivery core's clock.
func (e *Engine) now() time.Time { return e.core.Now() }

// plan is what every recipient of a campaign shares, worked out once per process.
type plan struct {
	c         store.Campaign
	spec      delivery.Spec // MessageID is set per recipient
	capWindow time.Duration
	sendAt    SendAt
	throttle  int
}

func (e *Engine) plan(ctx context.Context, id string) (*plan, store.CampaignState, error) {
	e.mu.Lock()
	p := e.plans[id]
	e.mu.Unlock()
	if p != nil {
		st, err := e.st.CampaignState(ctx, id)
		return p, st, err
	}
	c, st, err := e.st.Campaign(ctx, id)
	if err != nil {
		return nil, "", err
	}
	p = &plan{c: c, throttle: c.Throttle}
	p.spec = delivery.Spec{Type: c.Type, Class: c.Class, Channels: c.Channels, Data: c.Data, Locale: c.Locale, CampaignID: c.ID}
	p.spec.Prepared = e.core.Prepare(p.spec) // every recipient shares the campaign's compiled templates
	if c.QuietStart != "" || c.QuietEnd != "" {
		// The campaign's own quiet hours hold its phone messages on top of
		// the catalog's (which the policy applies to every message).
		q, err := policy.ParseQuietHours(c.QuietStart, c.QuietEnd)
		if err != nil {
			return nil, "", fmt.Errorf("campaign %s: quiet hours: %w", id, err)
		}
		p.spec.Quiet = []policy.QuietRule{{Channels: message.ChannelsOf(message.MobileNumber), Window: q}}
	}
	_, p.capWindow = e.cat.FrequencyCap()
	if p.sendAt, err = ParseSendAt(c.SendAt, c.CreatedAt); err != nil {
		return nil, "", fmt.Errorf("campaign %s: send_at: %w", id, err)
	}
	e.mu.Lock()
	if len(e.plans) > 256 {
		clear(e.plans)
	}
	e.plans[id] = p
	e.mu.Unlock()
	return p, st, nil
}

func (e *Engine) forget(id string) {
	e.mu.Lock()
	delete(e.plans, id)
	e.mu.Unlock()
}

// ---- tasks

type startPayload struct {
	Campaign string `json:"c"`
}

type chunkPayload struct {
	Campaign string `json:"c"`
	Index    int64  `json:"i"`
	Name     string `json:"n"`
}

func (e *Engine) enqueueStart(ctx context.Context, id string, at time.Time) error {
	b, _ := json.Marshal(startPayload{id})
	_, err := e.client.EnqueueContext(ctx, asynq.NewTask(TypeStart, b), asynq.Queue(e.cfg.Queue),
		asynq.TaskID(startTaskID(id)), asynq.ProcessAt(at), asynq.MaxRetry(50), asynq.Retention(0))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("campaign %s: enqueue start: %w", id, err)
	}
	return nil
}

func startTaskID(id string) string { return "campaign:" + id + ":start" }

func chunkTaskID(id string, index int64) string {
	return fmt.Sprintf("campaign:%s:chunk:%d", id, index)
}

// enqueueChunks enqueues the chunk tasks of names, the first at index first.
// A chunk enqueued twice is one task (task id), and a chunk that ran before
// skips everyone it finished.
func (e *Engine) enqueueChunks(ctx context.Context, id string, first int64, names []string) error {
	for i, name := range names {
		idx := first + int64(i)
		b, _ := json.Marshal(chunkPayload{Campaign: id, Index: idx, Name: name})
		_, err := e.client.EnqueueContext(ctx, asynq.NewTask(TypeChunk, b), asynq.Queue(e.cfg.Queue),
			asynq.TaskID(chunkTaskID(id, idx)), asynq.MaxRetry(50), asynq.Retention(0), asynq.Timeout(6*time.Hour))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("campaign %s: enqueue chunk %d: %w", id, idx, err)
		}
	}
	return nil
}

// ensureSweep makes sure a sweep of the later set runs at `at` (tasks are
// unique per second, so many chunks asking for the same time make one).
func (e *Engine) ensureSweep(ctx context.Context, id string, at time.Time) error {
	if now := e.now(); at.Before(now) {
		at = now
	}
	// asynq schedules by whole seconds and may run a task up to a second
	// before `at`: round up, so the sweep never finds its recipients not yet
	// due (and then, as the running task, could not schedule itself again).
	if sec := at.Truncate(time.Second); sec.Before(at) {
		at = sec.Add(time.Second)
	}
	b, _ := json.Marshal(startPayload{id})
	taskID := fmt.Sprintf("campaign:%s:later:%d", id, at.Unix())
	_, err := e.client.EnqueueContext(ctx, asynq.NewTask(TypeLater, b), asynq.Queue(e.cfg.Queue),
		asynq.TaskID(taskID), asynq.ProcessAt(at), asynq.MaxRetry(50), asynq.Retention(0), asynq.Timeout(6*time.Hour))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("campaign %s: schedule sweep: %w", id, err)
	}
	if err == nil {
		if err := e.st.AddSweep(ctx, id, taskID); err != nil {
			return err
		}
	}
	return nil
}

func decodePayload(t *asynq.Task, v any) error {
	if err := json.Unmarshal(t.Payload(), v); err != nil {
		return fmt.Errorf("decode %s: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	return nil
}

// handleStart starts a scheduled campaign and enqueues its chunks. Run again
// (a retry after a crash) it enqueues what is missing.
func (e *Engine) handleStart(ctx context.Context, t *asynq.Task) error {
	var p startPayload
	if err := decodePayload(t, &p); err != nil {
		return err
	}
	_, cur, err := e.st.TransitionCampaign(ctx, p.Campaign, store.CampaignRunning, e.now(), store.CampaignScheduled)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	switch cur {
	case store.CampaignDone, store.CampaignCanceled:
		return nil
	case store.CampaignPaused:
		if started, err := e.st.CampaignStarted(ctx, p.Campaign); err != nil || !started {
			return errors.Join(err, errPaused)
		}
	}
	if err := e.evaluateSegment(ctx, p.Campaign); err != nil { // draft.go: a segment's snapshot joins the audience
		return err
	}
	names, err := e.st.ChunkNames(ctx, p.Campaign, 0)
	if err != nil {
		return err
	}
	if err := e.enqueueChunks(ctx, p.Campaign, 0, names); err != nil {
		return err
	}
	e.log.InfoContext(ctx, "campaign started", "campaign_id", p.Campaign, "chunks", len(names))
	e.tell(ctx, events.CampaignStarted, p.Campaign, nil)
	return e.checkDone(ctx, p.Campaign, -1)
}

func (e *Engine) handleChunk(ctx context.Context, t *asynq.Task) error {
	var p chunkPayload
	if err := decodePayload(t, &p); err != nil {
		return err
	}
	pl, ok, err := e.running(ctx, p.Campaign)
	if !ok {
		return err
	}
	done, err := e.st.ChunkDone(ctx, p.Campaign, p.Index)
	if err != nil {
		return err
	}
	if !done {
		ids, err := e.st.ChunkRecipients(ctx, p.Campaign, p.Name)
		if err != nil {
			return err
		}
		owner := store.ChunkOwner(p.Index)
		res, err := e.process(ctx, pl, owner, ids)
		if err != nil {
			return err
		}
		if res.dups > 0 {
			if err := e.st.SetDuplicates(ctx, p.Campaign, owner, res.dups); err != nil {
				return err
			}
		}
		if err := e.sweepLater(ctx, p.Campaign); err != nil {
			return err
		}
		if stop, err := stopFor(res.state); stop {
			return err
		}
	}
	return e.checkDone(ctx, p.Campaign, p.Index)
}

// running returns the plan of campaign id when its tasks should work now.
// Otherwise ok is false and err is what the task returns: nil when the
// campaign is gone, done or canceled, errPaused when it waits.
func (e *Engine) running(ctx context.Context, id string) (pl *plan, ok bool, err error) {
	pl, st, err := e.plan(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if stop, err := stopFor(st); stop {
		return nil, false, err
	}
	return pl, true, nil
}

// stopFor says whether a task must stop in state st, and with what.
func stopFor(st store.CampaignState) (bool, error) {
	switch st {
	case store.CampaignRunning:
		return false, nil
	case store.CampaignPaused, store.CampaignScheduled:
		return true, errPaused
	}
	return true, nil // done, canceled, or gone
}

// sweepLater schedules a sweep for the earliest waiting recipient.
func (e *Engine) sweepLater(ctx context.Context, id string) error {
	at, ok, err := e.st.NextDue(ctx, id)
	if err != nil || !ok {
		return err
	}
	return e.ensureSweep(ctx, id, at)
}

func (e *Engine) handleLater(ctx context.Context, t *asynq.Task) error {
	var p startPayload
	if err := decodePayload(t, &p); err != nil {
		return err
	}
	pl, ok, err := e.running(ctx, p.Campaign)
	if !ok {
		return err
	}
	for {
		ids, err := e.st.LeaseDue(ctx, p.Campaign, e.now(), sweepLease, e.cfg.ChunkSize)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			break
		}
		res, err := e.process(ctx, pl, store.SweepOwner(), ids)
		if err != nil {
			return err
		}
		if len(res.stale) > 0 {
			if err := e.st.DropLater(ctx, p.Campaign, res.stale); err != nil {
				return err
			}
		}
		if res.state != store.CampaignRunning {
			if err := e.st.ReleaseDue(ctx, p.Campaign, e.now(), res.unsent); err != nil {
				return err
			}
			_, err := stopFor(res.state)
			return err
		}
	}
	if err := e.sweepLater(ctx, p.Campaign); err != nil {
		return err
	}
	return e.checkDone(ctx, p.Campaign, -1)
}

// checkDone marks chunk index finished (index < 0: none) and, when the
// campaign is done, drops what it no longer needs.
func (e *Engine) checkDone(ctx context.Context, id string, index int64) error {
	done, err := e.st.FinishChunk(ctx, id, index, e.now())
	if err != nil || !done {
		return err
	}
	e.forget(id)
	e.log.InfoContext(ctx, "campaign done", "campaign_id", id)
	var counts *events.CampaignCounts
	if st, err := e.st.CampaignStatus(ctx, id); err == nil {
		c := st.Counters
		counts = &events.CampaignCounts{Audience: c.Audience, Delivered: c.Delivered, Suppressed: total(c.Suppressed),
			Failed: total(c.Failed)}
	}
	e.tell(ctx, events.CampaignDone, id, counts)
	return e.st.ReleaseCampaign(ctx, id, e.cfg.RecordTTL)
}

// tell publishes a campaign's state change, with an id derived from the
// campaign, so a task run again tells receivers once.
func (e *Engine) tell(ctx context.Context, t events.Type, id string, counts *events.CampaignCounts) {
	typ := ""
	if c, _, err := e.st.Campaign(ctx, id); err == nil {
		typ = string(c.Type)
	}
	ev := events.CampaignEvent(t, e.now(), id, typ, counts)
	ev.ID = events.DerivedID(t, id)
	if err := e.events.Publish(context.WithoutCancel(ctx), ev); err != nil {
		e.log.WarnContext(ctx, "publish campaign event", "campaign_id", id, "type", t, "err", err)
	}
}

func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// ---- one batch of recipients

type job struct {
	claim store.Claim
	snap  recipient.Snapshot
}

type result struct {
	state store.CampaignState // the state that stopped feeding; running when all went
	dups  int
	stale []message.RecipientID // sweep: in the later set but already finished
	// unsent are the claims a stopped sweep did not hand out (it puts them back).
	unsent []store.Claim
}

// process sends to ids as owner: claim a batch, load its facts, hand it to
// the senders, and so on; outcomes are written as they come. It returns when
// every claimed recipient has an outcome, a delay, or (ctx canceled) is left
// pending for the next run.
func (e *Engine) process(ctx context.Context, p *plan, owner store.Owner, ids []message.RecipientID) (result, error) {
	jobs := make(chan job, batchSize)
	outs := make(chan outcome, batchSize)
	var werr error
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		werr = e.writeOutcomes(ctx, p.c, outs)
	}()
	var wg sync.WaitGroup
	for range e.cfg.Senders {
		wg.Go(func() {
			// One recorder per sender, reused: each outcome is copied to
			// the writer before the next attempt starts.
			rec := &outcomeRecorder{e: e, p: p}
			for j := range jobs {
				e.prio.wait(ctx)
				e.deliver(ctx, p, j, rec, outs)
			}
		})
	}
	uniq := dedupe(ids)
	res, ferr := e.feed(ctx, p, owner, uniq, jobs)
	res.dups += len(ids) - len(uniq) // an id twice in one chunk is a duplicate too, so the counters add up
	close(jobs)
	wg.Wait()
	close(outs)
	<-wdone
	return res, errors.Join(ferr, werr)
}

func dedupe(ids []message.RecipientID) []message.RecipientID {
	seen := make(map[message.RecipientID]struct{}, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}

// feed claims and loads batches and hands them to the senders.
func (e *Engine) feed(ctx context.Context, p *plan, owner store.Owner, ids []message.RecipientID, jobs chan<- job) (result, error) {
	res := result{state: store.CampaignRunning}
	for start := 0; start < len(ids); {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n := min(batchSize, len(ids)-start)
		if p.throttle > 0 {
			var st store.CampaignState
			var err error
			n, st, err = e.throttle(ctx, p, n)
			if err != nil {
				return res, err
			}
			if st != store.CampaignRunning {
				res.state = st
				res.unsent = unclaimed(ids[start:])
				return res, nil
			}
		}
		batch := ids[start : start+n]
		st, claims, err := e.st.ClaimRecipients(ctx, p.c.ID, owner, batch)
		if err != nil {
			return res, err
		}
		if st != store.CampaignRunning {
			res.state = st
			res.unsent = unclaimed(ids[start:])
			return res, nil
		}
		mine := make([]store.Claim, 0, len(claims))
		for _, c := range claims {
			switch {
			case c.Claimed:
				mine = append(mine, c)
			case owner.Sweep():
				res.stale = append(res.stale, c.Recipient)
			case c.Origin != owner:
				res.dups++
			}
		}
		if len(mine) > 0 {
			rids := make([]message.RecipientID, len(mine))
			for i, c := range mine {
				rids[i] = c.Recipient
			}
			var since time.Time
			if t, ok := e.cat.Type(p.c.Type); ok && t.Advertising {
				since = e.cat.FrequencyCountSince(e.now())
			}
			// One pipeline: profiles, ledgers and frequency-cap counts.
			snaps, err := e.st.LoadFactsBatchSince(ctx, rids, since)
			if err != nil {
				return res, err
			}
			for i, c := range mine {
				j := job{claim: c, snap: snaps[i]}
				select {
				case jobs <- j:
				case <-ctx.Done():
					return res, ctx.Err()
				}
			}
		}
		start += n
	}
	return res, nil
}

func unclaimed(ids []message.RecipientID) []store.Claim {
	out := make([]store.Claim, len(ids))
	for i, id := range ids {
		out[i] = store.Claim{Recipient: id}
	}
	return out
}

// throttle waits until the campaign's rate allows at least one message and
// returns how many of want may go now. It looks at the state while it waits,
// so a pause is not held up by a slow throttle.
func (e *Engine) throttle(ctx context.Context, p *plan, want int) (int, store.CampaignState, error) {
	key := e.st.ThrottleKey(p.c.ID)
	// An even rate: the burst is one second's worth, not a whole minute's.
	limit := redis_rate.Limit{Rate: p.throttle, Period: time.Minute, Burst: max(1, p.throttle/60)}
	for {
		r, err := e.limiter.AllowAtMost(ctx, key, limit, want)
		if err != nil {
			return 0, "", fmt.Errorf("campaign %s: throttle: %w", p.c.ID, err)
		}
		if r.Allowed > 0 {
			return r.Allowed, store.CampaignRunning, nil
		}
		wait := min(max(r.RetryAfter, 10*time.Millisecond), e.cfg.PausePoll)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return 0, "", ctx.Err()
		}
		st, err := e.st.CampaignState(ctx, p.c.ID)
		if err != nil {
			return 0, "", err
		}
		if st != store.CampaignRunning {
			return 0, st, nil
		}
	}
}

// flushEvery bounds how long a sent message's outcome waits in memory before
// it is written: what a crash can make a chunk send twice is the messages in
// flight plus those of the last few milliseconds.
const (
	flushEvery = 5 * time.Millisecond
	flushBatch = 128
)

// writeOutcomes writes outcomes in batches: up to flushBatch at a time, and
// none older than flushEvery. Outcomes of messages already sent are written
// even if ctx ends (shutdown): otherwise a restart would send them again.
//
// The events of the outcomes go out after their batch is written, in one
// call, so a campaign of a million makes a call per batch, not per recipient.
func (e *Engine) writeOutcomes(ctx context.Context, c store.Campaign, outs <-chan outcome) error {
	wctx := context.WithoutCancel(ctx)
	var errs []error
	buf := make([]store.Finished, 0, flushBatch)
	var evs []events.Event
	flush := func() {
		if len(buf) == 0 {
			return
		}
		fctx, cancel := context.WithTimeout(wctx, 10*time.Second)
		defer cancel()
		if err := e.st.WriteOutcomes(fctx, c, buf); err != nil {
			errs = append(errs, err)
			buf, evs = buf[:0], evs[:0]
			return
		}
		if e.metrics != nil {
			var n [256]int
			for _, f := range buf {
				if f.Due.IsZero() {
					n[f.Outcome.Status]++
				} else {
					n[store.OutcomeWaiting]++
				}
			}
			for _, s := range []store.OutcomeStatus{store.OutcomeDelivered, store.OutcomeSuppressed, store.OutcomeFailed, store.OutcomeWaiting} {
				e.metrics.CampaignRecipients(s.String(), n[s])
			}
		}
		if len(evs) > 0 {
			if err := e.events.Publish(fctx, evs...); err != nil {
				e.log.WarnContext(fctx, "publish campaign delivery events", "campaign_id", c.ID, "events", len(evs), "err", err)
			}
		}
		buf, evs = buf[:0], evs[:0]
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case o, ok := <-outs:
			if !ok {
				flush()
				return errors.Join(errs...)
			}
			f := o.f
			if f.Outcome.Status == 0 && f.Due.IsZero() {
				continue // left pending for the next run
			}
			if len(buf) == 0 {
				timer.Reset(flushEvery)
			}
			buf = append(buf, f)
			evs = append(evs, o.events...)
			if len(buf) == flushBatch {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// ---- one recipient

// deliver makes the attempt for one recipient of the campaign (after its
// local send time, if the campaign has one) and hands its outcome to the
// outcome writer: the campaign's way of recording, compact and in batches.
func (e *Engine) deliver(ctx context.Context, p *plan, j job, rec *outcomeRecorder, outs chan<- outcome) {
	base := store.Outcome{Recipient: j.claim.Recipient, Origin: j.claim.Origin, Attempts: j.claim.Attempts, Catalog: e.cat.Version()}
	// A local send time not reached yet in the recipient's zone.
	if p.sendAt.Local {
		if due := p.sendAt.DueIn(e.zones.Of(j.snap.Recipient), p.c.CreatedAt); due.After(e.now()) {
			outs <- outcome{f: store.Finished{Outcome: base, Due: due}}
			return
		}
	}
	spec := p.spec
	spec.MessageID = store.CampaignMessageID(p.c.ID, j.claim.Recipient)
	spec.LastTry = base.Attempts+1 >= e.cfg.MaxAttempts
	rec.base, rec.out = base, outcome{}
	_, _ = e.core.Run(ctx, spec, j.snap, rec)
	outs <- rec.out
}

// outcome is one recipient's compact outcome (or delay) with the events to
// tell once it is written.
type outcome struct {
	f      store.Finished
	events []events.Event
}

// outcomeRecorder is the campaign's way of recording an attempt: it keeps
// the compact outcome and its event for the batched writer.
type outcomeRecorder struct {
	e    *Engine
	p    *plan
	base store.Outcome
	out  outcome
}

func (r *outcomeRecorder) Record(ctx context.Context, _ delivery.Spec, res delivery.Result) error {
	r.out.f = r.e.finished(ctx, r.p, r.base, res)
	return nil
}

func (r *outcomeRecorder) Events(evs ...events.Event) { r.out.events = append(r.out.events, evs...) }

// finished turns an attempt's result into the recipient's compact outcome or
// delay. A zero Finished (Status 0, no Due) means "leave it pending": the
// task is being stopped and the next run will take it. Retryable errors wait
// in the later set on their own; the attempt that has no retry left fails
// (delivery.Spec.LastTry).
func (e *Engine) finished(ctx context.Context, p *plan, base store.Outcome, res delivery.Result) store.Finished {
	wait := func(due time.Time, retry bool) store.Finished {
		return store.Finished{Outcome: base, Due: due, Retry: retry}
	}
	d := res.Decision
	o := base
	o.Channel, o.Basis, o.Reason, o.Rule, o.DecidedAt, o.DoneAt = res.Channel, d.Basis, d.Reason, d.Rule, res.At, res.DoneAt
	if d.CatalogVersion != "" {
		o.Catalog = d.CatalogVersion
	}
	switch res.Status {
	case delivery.Suppressed:
		o.Status = store.OutcomeSuppressed
		if o.Channel == "" {
			o.Channel = message.Email // an unknown type names no channel
		}
		if o.Reason == "" {
			o.Reason = policy.UnknownType
		}
		return store.Finished{Outcome: o}
	case delivery.Held:
		return wait(res.NotBefore, false)
	case delivery.Delivered:
		// Attempts counts every try, this one included, as a message
		// record's attempts do: base.Attempts are the tries that failed before.
		o.Status, o.ProviderID, o.Attempts = store.OutcomeDelivered, res.Receipt.ProviderID, base.Attempts+1
		return store.Finished{Outcome: o, Advertising: res.Advertising, Window: p.capWindow}
	case delivery.Failed:
		if res.Class == delivery.ClassRender {
			e.log.WarnContext(ctx, "campaign render failed", "campaign_id", p.c.ID, "recipient_id", base.Recipient, "err", res.Err)
		}
		o.Status, o.ErrorClass, o.Attempts = store.OutcomeFailed, res.Class, base.Attempts+1
		return store.Finished{Outcome: o}
	case delivery.Retry:
		attempts := base.Attempts + 1
		delay := e.cfg.RetryBase << min(attempts-1, 10)
		delay = max(delay, res.RetryAfter)
		e.log.InfoContext(ctx, "campaign send will be retried", "campaign_id", p.c.ID, "recipient_id", base.Recipient,
			"channel", res.Channel, "attempt", attempts, "class", res.Class, "err", delivery.SafeError(res.Err))
		return wait(e.now().Add(delay), true)
	}
	return store.Finished{} // Interrupted: maybe sent, maybe not; the next run decides again
}
