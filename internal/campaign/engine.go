package campaign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // recipients' zones must resolve even on hosts without a zone database

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/render"
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

// Renderer renders one message (render.Renderer).
type Renderer interface {
	Render(req render.Request) (render.Content, error)
}

// Options are the Engine's dependencies.
type Options struct {
	Log       *slog.Logger
	Store     *store.Store
	Catalog   *policy.Catalog
	Renderer  Renderer
	Senders   map[message.Channel]channels.Sender
	Client    *asynq.Client    // enqueues campaign tasks
	Inspector *asynq.Inspector // cancel removes queued tasks
	Config    config.Campaigns
	Now       func() time.Time // default time.Now
	// Priority, if set, holds campaign sends while transactional tasks of
	// the same process run (see Priority).
	Priority *Priority
}

// Engine creates and steers campaigns (the API side) and runs their tasks
// (the worker side). It is safe for concurrent use.
type Engine struct {
	log      *slog.Logger
	st       *store.Store
	cat      *policy.Catalog
	render   Renderer
	senders  map[message.Channel]channels.Sender
	client   *asynq.Client
	insp     *asynq.Inspector
	cfg      config.Campaigns
	now      func() time.Time
	limiter  *redis_rate.Limiter
	zones    *recipient.Zones
	defQuiet QuietHours
	prio     *Priority

	mu    sync.Mutex
	plans map[string]*plan
}

// New returns an Engine.
func New(o Options) (*Engine, error) {
	if o.Log == nil || o.Store == nil || o.Catalog == nil || o.Client == nil {
		return nil, errors.New("campaign: Log, Store, Catalog and Client are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	zone, err := time.LoadLocation(o.Config.DefaultZone)
	if err != nil {
		return nil, fmt.Errorf("campaign: default time zone: %w", err)
	}
	q, err := ParseQuietHours(o.Config.QuietStart, o.Config.QuietEnd)
	if err != nil {
		return nil, fmt.Errorf("campaign: default quiet hours: %w", err)
	}
	return &Engine{
		log: o.Log.With("component", "campaign"), st: o.Store, cat: o.Catalog, render: o.Renderer,
		senders: o.Senders, client: o.Client, insp: o.Inspector, cfg: o.Config, now: o.Now,
		limiter: redis_rate.NewLimiter(o.Store.Redis()), zones: recipient.NewZones(zone), defQuiet: q,
		plans: map[string]*plan{}, prio: o.Priority,
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
		RetryDelayFunc: func(n int, err error, t *asynq.Task) time.Duration {
			if errors.Is(err, errPaused) {
				return e.cfg.PausePoll
			}
			return min(asynq.DefaultRetryDelayFunc(n, err, t), time.Minute)
		},
		ShutdownTimeout: 10 * time.Second,
		Logger:          logger,
	}
}

// MessageID is the message id of a campaign's message to a recipient. It is
// derived, not drawn, so a message sent again after a crash carries the same
// id and Message-ID header.
func MessageID(campaignID string, rid message.RecipientID) string {
	h := sha256.Sum256([]byte(campaignID + "\x00" + string(rid)))
	return "cm." + campaignID + "." + hex.EncodeToString(h[:10])
}

// plan is what every recipient of a campaign shares, worked out once per process.
type plan struct {
	c           store.Campaign
	typ         policy.TypeSpec
	known       bool
	channels    []message.Channel
	advertising bool
	capMax      int
	capWindow   time.Duration
	sendAt      SendAt
	quiet       QuietHours
	throttle    int
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
	p = &plan{c: c, channels: c.Channels, throttle: c.Throttle}
	p.typ, p.known = e.cat.Type(c.Type)
	if len(p.channels) == 0 {
		p.channels = p.typ.Channels
	}
	if len(p.channels) == 0 {
		// An unknown type: decide on e-mail, which denies with unknown_type.
		p.channels = []message.Channel{message.Email}
	}
	p.advertising = p.typ.Advertising || c.Class == message.Marketing
	p.capMax, p.capWindow = e.cat.FrequencyCap()
	if p.sendAt, err = ParseSendAt(c.SendAt, c.CreatedAt); err != nil {
		return nil, "", fmt.Errorf("campaign %s: send_at: %w", id, err)
	}
	if p.quiet, err = ParseQuietHours(c.QuietStart, c.QuietEnd); err != nil {
		p.quiet = e.defQuiet
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
		asynq.TaskID("campaign:"+id+":start"), asynq.ProcessAt(at), asynq.MaxRetry(50), asynq.Retention(0))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("campaign %s: enqueue start: %w", id, err)
	}
	return nil
}

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
	names, err := e.st.ChunkNames(ctx, p.Campaign, 0)
	if err != nil {
		return err
	}
	if err := e.enqueueChunks(ctx, p.Campaign, 0, names); err != nil {
		return err
	}
	e.log.InfoContext(ctx, "campaign started", "campaign_id", p.Campaign, "chunks", len(names))
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
		owner := fmt.Sprintf("c%d", p.Index)
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
		res, err := e.process(ctx, pl, "l", ids)
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
	return e.st.ReleaseCampaign(ctx, id, e.cfg.RecordTTL)
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
func (e *Engine) process(ctx context.Context, p *plan, owner string, ids []message.RecipientID) (result, error) {
	jobs := make(chan job, batchSize)
	outs := make(chan store.Finished, batchSize)
	var werr error
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		werr = e.writeOutcomes(ctx, p.c.ID, outs)
	}()
	var wg sync.WaitGroup
	for range e.cfg.Senders {
		wg.Go(func() {
			for j := range jobs {
				e.prio.wait(ctx)
				outs <- e.deliver(ctx, p, j)
			}
		})
	}
	res, ferr := e.feed(ctx, p, owner, dedupe(ids), jobs)
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
func (e *Engine) feed(ctx context.Context, p *plan, owner string, ids []message.RecipientID, jobs chan<- job) (result, error) {
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
			case owner == "l":
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
			if p.advertising {
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
func (e *Engine) writeOutcomes(ctx context.Context, id string, outs <-chan store.Finished) error {
	wctx := context.WithoutCancel(ctx)
	var errs []error
	buf := make([]store.Finished, 0, flushBatch)
	flush := func() {
		if len(buf) == 0 {
			return
		}
		fctx, cancel := context.WithTimeout(wctx, 10*time.Second)
		defer cancel()
		if err := e.st.WriteOutcomes(fctx, id, buf); err != nil {
			errs = append(errs, err)
		}
		buf = buf[:0]
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case f, ok := <-outs:
			if !ok {
				flush()
				return errors.Join(errs...)
			}
			if f.Outcome.Status == 0 && f.Due.IsZero() {
				continue // left pending for the next run
			}
			if len(buf) == 0 {
				timer.Reset(flushEvery)
			}
			buf = append(buf, f)
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

// deliver decides, renders and sends one recipient's message, and returns its
// outcome or delay. A zero Finished (Status 0, no Due) means "leave it
// pending": the task is being stopped and the next run will take it.
func (e *Engine) deliver(ctx context.Context, p *plan, j job) store.Finished {
	now := e.now()
	rid := j.claim.Recipient
	snap := j.snap
	loc := e.zones.Of(snap.Recipient)
	base := store.Outcome{Recipient: rid, Origin: j.claim.Origin, Attempts: j.claim.Attempts, Catalog: e.cat.Version()}
	wait := func(due time.Time, retry bool) store.Finished {
		return store.Finished{Outcome: base, Due: due, Retry: retry}
	}

	// A local send time not reached yet in the recipient's zone.
	if p.sendAt.Local {
		if due := p.sendAt.DueIn(loc, p.c.CreatedAt); due.After(now) {
			return wait(due, false)
		}
	}

	// The legal check, now: the first allowed channel in order of preference.
	var first, d policy.Decision
	var ch message.Channel
	for i, c := range p.channels {
		f := snap.Facts(p.c.Type, c, now, loc)
		dc := policy.Decide(e.cat, f)
		if i == 0 {
			first = dc
		}
		if dc.Allowed {
			d, ch = dc, c
			break
		}
	}
	if !d.Allowed {
		o := base
		o.Status, o.Channel, o.Basis, o.Reason, o.DecidedAt, o.DoneAt = store.OutcomeSuppressed,
			first.Channel, first.Basis, first.Reason, first.DecidedAt, now
		if o.Channel == "" {
			o.Channel = p.channels[0]
		}
		o.Rule = shortRule(first.Rule, p.c.Type, o.Channel)
		if o.Reason == "" {
			o.Reason = policy.UnknownType
		}
		return store.Finished{Outcome: o}
	}

	// Quiet hours: advertising on a phone waits until they end.
	if p.advertising && ch.Phone() {
		if end, quiet := p.quiet.Until(now, loc); quiet {
			return wait(end, false)
		}
	}

	o := base
	o.Channel, o.Basis, o.Reason, o.Rule, o.DecidedAt = ch, d.Basis, d.Reason, shortRule(d.Rule, p.c.Type, ch), d.DecidedAt
	if o.DecidedAt.IsZero() {
		o.DecidedAt = now
	}
	if d.CatalogVersion != "" {
		o.Catalog = d.CatalogVersion
	}
	fail := func(class string) store.Finished {
		o.Status, o.ErrorClass, o.DoneAt = store.OutcomeFailed, class, e.now()
		return store.Finished{Outcome: o}
	}
	sender := e.senders[ch]
	if sender == nil {
		return fail("no_sender")
	}
	msgID := MessageID(p.c.ID, rid)
	r := snap.Recipient
	content, err := e.render.Render(render.Request{
		MessageID: msgID, Type: p.c.Type, Channel: ch, Locale: p.c.Locale, RecipientLocale: r.Locale,
		Recipient: rid, Profile: r.Profile(), Data: p.c.Data, Decision: d,
	})
	if err != nil {
		e.log.WarnContext(ctx, "campaign render failed", "campaign_id", p.c.ID, "recipient_id", rid, "err", err)
		return fail("render")
	}
	receipt, err := sender.Send(ctx, channels.Outbound{
		MessageID: msgID, Type: string(p.c.Type), Class: string(p.c.Class), Locale: content.Locale,
		To: r.Address(ch), Subject: content.Subject, Text: content.Text, HTML: content.HTML,
		UnsubscribeURL: content.UnsubscribeURL, UnsubscribeMailto: content.UnsubscribeMailto, ListID: content.ListID,
		ContentSID: content.ContentSID, ContentVariables: content.ContentVariables, SMSFallback: d.SMSFallback,
	})
	if err != nil {
		if ctx.Err() != nil {
			return store.Finished{} // stopping: maybe sent, maybe not; the next run decides again
		}
		return e.failed(ctx, p, rid, ch, err, o, fail, wait)
	}
	o.Status, o.DoneAt, o.ProviderID = store.OutcomeDelivered, e.now(), shortProviderID(receipt.ProviderID, msgID)
	return store.Finished{Outcome: o, Advertising: p.advertising && p.capMax > 0, Window: p.capWindow}
}

// shortRule drops the "<type>/<channel>/" every rule id of the campaign
// starts with; fullRule puts it back.
func shortRule(rule string, t message.Type, ch message.Channel) string {
	return strings.TrimPrefix(rule, string(t)+"/"+string(ch)+"/")
}

func fullRule(rule string, t message.Type, ch message.Channel) string {
	if rule == "" || strings.Contains(rule, "/") {
		return rule
	}
	return string(t) + "/" + string(ch) + "/" + rule
}

// shortProviderID keeps only what follows the message id when the provider
// id starts with it (the SMTP Message-ID is "<message id>@<domain>").
func shortProviderID(pid, msgID string) string {
	if rest, ok := strings.CutPrefix(pid, msgID); ok {
		return "=" + rest
	}
	return pid
}

func fullProviderID(pid, msgID string) string {
	if rest, ok := strings.CutPrefix(pid, "="); ok {
		return msgID + rest
	}
	return pid
}

// failed classifies a send error: permanent ones fail at once (a hard bounce
// also suppresses the address, a provider STOP records an objection, as for
// single messages), retryable ones wait on their own until the attempts run out.
func (e *Engine) failed(ctx context.Context, p *plan, rid message.RecipientID, ch message.Channel, err error,
	o store.Outcome, fail func(string) store.Finished, wait func(time.Time, bool) store.Finished) store.Finished {
	var pe *channels.ProviderError
	if errors.As(err, &pe) {
		o.ProviderID = ""
	}
	switch {
	case errors.Is(err, channels.ErrHardBounce):
		if serr := e.st.SuppressAddress(ctx, rid, ch, "hard_bounce"); serr != nil {
			e.log.ErrorContext(ctx, "suppress after hard bounce", "recipient_id", rid, "err", serr)
		}
		return fail("hard_bounce")
	case errors.Is(err, channels.ErrUnsubscribed):
		ev := consent.Event{Kind: consent.Object, Purpose: consent.Advertising, Channel: string(ch),
			At: e.now(), Source: consent.SMSKeyword, RecordedBy: "campaign " + p.c.ID}
		if _, aerr := e.st.AppendConsent(ctx, rid, ev); aerr != nil {
			e.log.ErrorContext(ctx, "record provider opt-out", "recipient_id", rid, "err", aerr)
		}
		return fail("unsubscribed")
	case errors.Is(err, channels.ErrInvalidAddress):
		return fail("invalid_address")
	case channels.IsPermanent(err):
		return fail("permanent")
	}
	attempts := o.Attempts + 1
	if attempts >= e.cfg.MaxAttempts {
		return fail("retries_exhausted")
	}
	delay := e.cfg.RetryBase << min(attempts-1, 10)
	if after, ok := channels.RetryAfter(err); ok && after > delay {
		delay = after
	}
	e.log.InfoContext(ctx, "campaign send will be retried", "campaign_id", p.c.ID, "recipient_id", rid,
		"channel", ch, "attempt", attempts, "err", err)
	return wait(e.now().Add(delay), true)
}
