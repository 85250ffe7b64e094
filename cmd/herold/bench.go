package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/campaign"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/delivery"
	msgdispatch "github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

const benchAbout = "Measures what `herold serve` does on this machine, against the Redis of HEROLD_REDIS_URL\n" +
	"and an SMTP sink in a process of its own (`herold sink`, loopback), with the settings serve\n" +
	"reads (HEROLD_* and the flags below) except those it names as replaced. It prints, in order:\n" +
	"(1) the bare-send limit: pre-rendered campaign e-mails through the same e-mail adapter and\n" +
	"pool to the same sink; (2) the rate of a campaign of -n recipients end to end and (3) its\n" +
	"ratio to (1); (4) CPU ms per message of Herold, the sink and Redis; (5) where Herold's CPU\n" +
	"goes (render, MIME, SMTP, Redis, GC, …) from a CPU profile of the campaign; (7) invoice\n" +
	"latency while the campaign drains and idle; (8) Redis bytes per queued and delivered\n" +
	"recipient; (9) peak RSS; and raw asynq as a footnote. Everything is bounded by -n, the\n" +
	"counts and --timeout; it uses its own key prefix and queues and deletes them afterwards."

// benchOptions are the knobs of `herold bench`.
type benchOptions struct {
	n             int // campaign audience
	bare          int // messages per bare-send run
	noop          int
	invoiceRate   int
	invoiceWindow time.Duration
	timeout       time.Duration
	cpuProfile    string
	batch         int // invoices of the batch road's run; 0: skip it
}

func benchCommand(ctx context.Context, inv *invocation, args []string) error {
	fs := flag.NewFlagSet("herold bench", flag.ContinueOnError)
	o := benchOptions{}
	fs.IntVar(&o.n, "n", 100_000, "campaign audience in recipients, mixed consent (1-2000000)")
	fs.IntVar(&o.bare, "bare", 20_000, "messages of each of the two bare-send runs (1-1000000)")
	fs.IntVar(&o.noop, "noop", 30_000, "no-op tasks for the raw asynq footnote (1-1000000)")
	fs.IntVar(&o.invoiceRate, "invoice-rate", 20, "invoice e-mails per second while their latency is measured (1-1000)")
	fs.DurationVar(&o.invoiceWindow, "invoice-window", 10*time.Second, "how long invoices are measured with no campaign running (1s-10m)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long (at most 4h)")
	fs.IntVar(&o.batch, "batch", 100_000, "invoices of the billing run through POST /v1/messages/batch (0-1000000; 0: skip)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "also write the CPU profile of the campaign to this file, and of the batch road to FILE.batch (go tool pprof)")
	var cfg config.Config
	config.RegisterFlags(&cfg, fs)
	if err := parseFlags(fs, inv, args, benchAbout, ""); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErrorf("herold bench: unexpected argument %q", fs.Arg(0))
	case o.n < 1 || o.n > 2_000_000:
		return usageErrorf("herold bench: -n must be 1-2000000, got %d", o.n)
	case o.bare < 1 || o.bare > 1_000_000:
		return usageErrorf("herold bench: --bare must be 1-1000000, got %d", o.bare)
	case o.noop < 1 || o.noop > 1_000_000:
		return usageErrorf("herold bench: --noop must be 1-1000000, got %d", o.noop)
	case o.batch < 0 || o.batch > 1_000_000:
		return usageErrorf("herold bench: --batch must be 0-1000000, got %d", o.batch)
	case o.invoiceRate < 1 || o.invoiceRate > 1000:
		return usageErrorf("herold bench: --invoice-rate must be 1-1000, got %d", o.invoiceRate)
	case o.invoiceWindow < time.Second || o.invoiceWindow > 10*time.Minute:
		return usageErrorf("herold bench: --invoice-window must be 1s-10m, got %s", o.invoiceWindow)
	case o.timeout <= 0 || o.timeout > 4*time.Hour:
		return usageErrorf("herold bench: --timeout must be positive and at most 4h, got %s", o.timeout)
	}
	if err := config.Load(&cfg, inv.getenv, fs); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := slog.New(slog.NewTextHandler(inv.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return runBench(ctx, inv.stdout, inv.stderr, log, cfg, o)
}

// bench is one run of `herold bench`: its phases fill report, which is
// printed at the end, figure by figure.
type bench struct {
	o        benchOptions
	progress io.Writer
	log      *slog.Logger
	rdb      redis.UniversalClient
	sink     *sinkProc
	run      *toolRun
	lat      *latencies
	tag      string
	key      string // the API key of the run's HTTP side
	// campaignID is the campaign run, for what it keeps afterwards.
	campaignID string
	report     benchReport
}

func runBench(ctx context.Context, out, progress io.Writer, log *slog.Logger, base config.Config, o benchOptions) (err error) {
	b := &bench{o: o, progress: progress, log: log, lat: newLatencies(), tag: runTag()}
	r := &b.report
	r.machine = machineLine()
	r.loadBefore = loadAverage()
	if b.rdb, err = app.Connect(ctx, base); err != nil {
		return err
	}
	defer b.rdb.Close()
	r.redis = redisVersion(ctx, b.rdb)

	// ---- the sink, in a process of its own (it ends with this one)
	if b.sink, err = startSink(ctx, progress, o.timeout+time.Minute); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.sink.Close()) }()

	// ---- Herold as `herold serve` builds it, to the sink; the deliveries
	// of invoices are timed as they leave the sender.
	if b.key, err = apikey.Generate(); err != nil {
		return err
	}
	b.run, err = startToolRun(ctx, base, b.rdb, toolRunOptions{name: "bench",
		role: app.Role{Name: "bench", HTTP: true, Worker: true}, from: "news@example.com",
		apiKeys:  "bench:" + b.key + ":send:invoice",
		sinkHost: b.sink.Host, sinkPort: b.sink.Port,
		wrap: func(ch message.Channel, s channels.Sender) channels.Sender {
			return channels.SenderFunc(func(ctx context.Context, m channels.Outbound) (channels.Receipt, error) {
				rc, err := s.Send(ctx, m)
				if err == nil && m.Class == string(message.Transactional) {
					b.lat.done(m.MessageID, time.Now())
				}
				return rc, err
			})
		}}, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.run.Close(context.WithoutCancel(ctx))) }()
	r.overrides = b.run.Overrides
	c := b.run.app.Config
	r.sizing = fmt.Sprintf("HEROLD_SMTP_POOL_SIZE=%d (in effect %d) HEROLD_CAMPAIGN_WORKERS=%d HEROLD_CAMPAIGN_SENDERS=%d HEROLD_CAMPAIGN_CHUNK_SIZE=%d HEROLD_WORKER_CONCURRENCY=%d",
		c.SMTP.PoolSize, c.SMTPPoolSize(), c.Campaigns.Workers, c.Campaigns.Senders, c.Campaigns.ChunkSize, c.Worker.Concurrency)
	fmt.Fprintf(progress, "herold bench: %s\n  %s\n", r.machine, r.sizing)

	for _, phase := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"seed recipients", b.seed},
		{"invoices with no campaign", b.idleInvoices},
		{"bare send", func(ctx context.Context) error { return b.bareSend(ctx, &r.bare[0]) }},
		{"campaign", b.campaign},
		{"bare send again", func(ctx context.Context) error { return b.bareSend(ctx, &r.bare[1]) }},
		{"batch road", b.batchRoad},
		{"Redis memory", b.memory},
		{"raw asynq", b.rawAsynq},
	} {
		t0 := time.Now()
		fmt.Fprintf(progress, "  %s …\n", phase.name)
		if err := phase.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", phase.name, err)
		}
		fmt.Fprintf(progress, "  %s: %s (peak RSS so far %s)\n", phase.name, time.Since(t0).Round(time.Millisecond), peakRSS())
		if phase.name == "bare send again" {
			// The campaign's figure: the batch road after it holds its
			// client's bodies and up to eight batches of 1,000 at once.
			r.rss = peakRSS()
		}
	}
	r.loadAfter = loadAverage()
	r.rssAll = peakRSS()
	r.print(out, o)
	return nil
}

// ---- the report

// benchReport is what the phases measured.
type benchReport struct {
	machine, redis        string
	loadBefore, loadAfter string
	sizing                string
	overrides             []override
	seedTime              time.Duration

	bare     [2]sendRun // before and after the campaign
	campaign campaignRun
	batch    batchRun
	shares   cpuShares
	profErr  error

	idle, busy               []time.Duration
	idleMissing, busyMissing int

	queuedPerRecipient float64
	queuedDetail       string
	keptPerDelivered   float64
	keptDetail         string
	rss                string // peak RSS through the campaign
	rssAll             string // and at the end, the batch road included
	raw                float64
	invoiceRate, noopN int
}

// sendRun is one measured stretch of sending: how many messages in what
// time, and the CPU time Herold, the sink and Redis spent on them.
type sendRun struct {
	messages     int64 // what Herold sent (bare send) or delivered (campaign)
	elapsed      time.Duration
	herold, sink cpuTime
	sinkMessages int64         // what the sink got meanwhile (invoices included)
	redisCPU     time.Duration // Redis server, all its clients; -1: unknown
}

func (s sendRun) rate() float64 { return float64(s.messages) / s.elapsed.Seconds() }

// perMessage is d per message the sink received.
func (s sendRun) perMessage(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond) / float64(max(s.sinkMessages, 1))
}

// campaignRun is the campaign's send run with its counters.
type campaignRun struct {
	sendRun
	audience, chunks int64
	suppressed       map[string]int64
	failed           map[string]int64
}

func (r *benchReport) bareMean() float64 { return (r.bare[0].rate() + r.bare[1].rate()) / 2 }

// figures are the report's lines in order. Each is one small function of
// the report; a new figure is a field the phases fill and one entry here.
func (r *benchReport) figures() []func(io.Writer) {
	return []func(io.Writer){
		r.figBareSend, r.figCampaign, r.figRatio, r.figCPU, r.figShares,
		r.figBatchRoad, r.figInvoices, r.figRedisMemory, r.figRSS, r.figRawAsynq,
	}
}

func (r *benchReport) print(w io.Writer, o benchOptions) {
	fmt.Fprintf(w, "herold bench: %s; Redis %s; load average %s before, %s after\n", r.machine, r.redis, r.loadBefore, r.loadAfter)
	fmt.Fprintf(w, "    sizing (as herold serve reads it): %s\n", r.sizing)
	var envs []string
	for _, ov := range r.overrides {
		envs = append(envs, ov.env)
	}
	fmt.Fprintf(w, "    replaced for the bench: %s; the sink is `herold sink` in its own process\n", strings.Join(envs, ", "))
	fmt.Fprintf(w, "    audience %d (70%% customers by legitimate interest, 10%% objected, 10%% prospects without and 10%% with consent), seeded in %s\n",
		o.n, r.seedTime.Round(time.Millisecond))
	for _, f := range r.figures() {
		f(w)
	}
}

func (r *benchReport) figBareSend(w io.Writer) {
	fmt.Fprintf(w, "(1) bare send (pre-rendered campaign e-mails, same adapter, pool and sink): %.0f msgs/s before the campaign, %.0f after, mean %.0f; Herold %.3f ms CPU/msg, sink %.3f\n",
		r.bare[0].rate(), r.bare[1].rate(), r.bareMean(), r.bare[0].perMessage(r.bare[0].herold.total()), r.bare[0].perMessage(r.bare[0].sink.total()))
}

func (r *benchReport) figCampaign(w io.Writer) {
	c := r.campaign
	fmt.Fprintf(w, "(2) campaign of %d recipients end to end: %.0f msgs/s (%d delivered in %s; %.0f recipients/s decided); suppressed %v, failed %v\n",
		c.audience, c.rate(), c.messages, c.elapsed.Round(time.Millisecond), float64(c.audience)/c.elapsed.Seconds(), c.suppressed, c.failed)
}

func (r *benchReport) figRatio(w io.Writer) {
	c := r.campaign.rate()
	fmt.Fprintf(w, "(3) campaign ÷ bare send: %.2f (%.2f against the run before, %.2f against the one after) (target ≥ 0.9)\n",
		c/r.bareMean(), c/r.bare[0].rate(), c/r.bare[1].rate())
}

func (r *benchReport) figCPU(w io.Writer) {
	c := r.campaign
	redisCPU := "unknown"
	if c.redisCPU >= 0 {
		redisCPU = fmt.Sprintf("%.3f", c.perMessage(c.redisCPU))
	}
	fmt.Fprintf(w, "(4) CPU per message during the campaign: Herold %.3f ms (user %.3f, system %.3f) (target ≤ 0.12), sink %.3f ms, Redis server %s ms; %d messages at the sink\n",
		c.perMessage(c.herold.total()), c.perMessage(c.herold.user), c.perMessage(c.herold.system), c.perMessage(c.sink.total()), redisCPU, c.sinkMessages)
}

func (r *benchReport) figShares(w io.Writer) {
	if r.profErr != nil {
		fmt.Fprintf(w, "(5) where Herold's CPU goes: no profile (%v)\n", r.profErr)
		return
	}
	per := r.campaign.perMessage(r.campaign.herold.total())
	var parts []string
	for _, b := range buckets() {
		parts = append(parts, fmt.Sprintf("%s %.1f%% (%.3f ms/msg)", b.name, 100*r.shares.share(b.name), per*r.shares.share(b.name)))
	}
	fmt.Fprintf(w, "(5) where Herold's CPU goes (CPU profile of the campaign, %.1f s sampled): %s; allocating (runtime.mallocgc, inside the above) %.1f%% (targets: render ≤ 0.02 ms/msg, GC < 3%%)\n",
		time.Duration(r.shares.total).Seconds(), strings.Join(parts, ", "), 100*float64(r.shares.alloc)/float64(max(r.shares.total, 1)))
}

func (r *benchReport) figInvoices(w io.Writer) {
	q := func(ds []time.Duration, p float64) time.Duration {
		return percentile(ds, p).Round(100 * time.Microsecond)
	}
	fmt.Fprintf(w, "(7) invoice enqueue → sent at %d/s: while the campaign drains p50 %s p99 %s (n=%d, lost %d); idle p50 %s p99 %s (n=%d, lost %d) (targets p99 ≤ 50 ms / ≤ 30 ms)\n",
		r.invoiceRate, q(r.busy, 0.5), q(r.busy, 0.99), len(r.busy), r.busyMissing, q(r.idle, 0.5), q(r.idle, 0.99), len(r.idle), r.idleMissing)
}

func (r *benchReport) figRedisMemory(w io.Writer) {
	fmt.Fprintf(w, "(8) Redis per queued recipient: %.1f B (%s) (target ≤ 16 B); kept per delivered recipient: %.0f B (%s) (target ≤ 200 B)\n",
		r.queuedPerRecipient, r.queuedDetail, r.keptPerDelivered, r.keptDetail)
}

func (r *benchReport) figRSS(w io.Writer) {
	fmt.Fprintf(w, "(9) peak RSS of the Herold process (VmHWM) through the campaign: %s (target < 100 MiB with -n 1000000); %s at the end, with the batch road\n", r.rss, r.rssAll)
}

func (r *benchReport) figRawAsynq(w io.Writer) {
	fmt.Fprintf(w, "    footnote: raw asynq, %d no-op tasks at concurrency 10: %.0f tasks/s; the campaign's messages/s are %.2f of it\n",
		r.noopN, r.raw, r.campaign.rate()/r.raw)
}

// ---- the phases

// benchInvoiceCustomers receive the invoices whose latency is measured.
const benchInvoiceCustomers = 20

func (b *bench) seed(ctx context.Context) error {
	t0 := time.Now()
	if err := benchRecipients(ctx, b.run.app.Store, b.o.n); err != nil {
		return err
	}
	b.report.seedTime = time.Since(t0)
	return nil
}

func (b *bench) idleInvoices(ctx context.Context) error {
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- submitInvoices(ctx, b.run.app.Messages, b.lat, b.o.invoiceRate, stop) }()
	select {
	case <-time.After(b.o.invoiceWindow):
	case <-ctx.Done():
	}
	close(stop)
	if err := <-done; err != nil {
		return err
	}
	waitQuiet(ctx, b.lat)
	b.report.idle, b.report.idleMissing = b.lat.take()
	b.report.invoiceRate = b.o.invoiceRate
	return nil
}

// measure runs f and returns the CPU time of this process, of the sink and
// of Redis while it ran, and what the sink received.
func (b *bench) measure(ctx context.Context, f func() error) (sendRun, error) {
	var s sendRun
	h0, err := processCPU()
	if err != nil {
		return s, err
	}
	k0, err := b.sink.Stats()
	if err != nil {
		return s, err
	}
	r0, rok := redisCPU(ctx, b.rdb)
	t0 := time.Now()
	if err := f(); err != nil {
		return s, err
	}
	s.elapsed = time.Since(t0)
	h1, err := processCPU()
	if err != nil {
		return s, err
	}
	k1, err := b.sink.Stats()
	if err != nil {
		return s, err
	}
	s.herold, s.sink, s.sinkMessages = h1.sub(h0), k1.CPU.sub(k0.CPU), k1.Messages-k0.Messages
	s.redisCPU = -1
	if r1, ok := redisCPU(ctx, b.rdb); ok && rok {
		s.redisCPU = r1 - r0
	}
	return s, nil
}

// bareSend sends b.o.bare pre-rendered campaign e-mails through the
// e-mail adapter Herold built (its pool) to the sink, from as many
// goroutines as the campaign sends with (at least twice the pool), and
// records the run.
func (b *bench) bareSend(ctx context.Context, into *sendRun) error {
	a := b.run.app
	if a.Senders.Email == nil {
		return errors.New("e-mail has no SMTP sender")
	}
	samples, err := b.samples(ctx)
	if err != nil {
		return err
	}
	par := max(2*a.Config.SMTPPoolSize(), a.Config.Campaigns.Workers*a.Config.Campaigns.Senders)
	var sent atomic.Int64
	run, err := b.measure(ctx, func() error {
		var next atomic.Int64
		var wg sync.WaitGroup
		var once sync.Once
		var firstErr error
		for range par {
			wg.Go(func() {
				for i := next.Add(1); i <= int64(b.o.bare) && ctx.Err() == nil; i = next.Add(1) {
					m := samples[int(i)%len(samples)]
					m.MessageID = "bare-" + b.tag + "-" + strconv.FormatInt(i, 10)
					m.To = "kunde" + strconv.FormatInt(i, 10) + "@example.com"
					if _, err := a.Senders.Email.Send(ctx, m); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					sent.Add(1)
				}
			})
		}
		wg.Wait()
		return cmp.Or(firstErr, ctx.Err())
	})
	run.messages = sent.Load()
	*into = run
	return err
}

// samples renders the campaign's e-mail for up to 64 of its recipients the
// way a campaign does (the one attempt, with templates prepared once), to a
// sender that only keeps what it is given.
func (b *bench) samples(ctx context.Context) ([]channels.Outbound, error) {
	a := b.run.app
	var mu sync.Mutex
	var out []channels.Outbound
	keep := channels.SenderFunc(func(_ context.Context, m channels.Outbound) (channels.Receipt, error) {
		mu.Lock()
		out = append(out, m)
		mu.Unlock()
		return channels.Receipt{Provider: "bench"}, nil
	})
	d, err := delivery.New(delivery.Options{Catalog: a.Catalog, Renderer: a.Renderer, Feedback: a.Feedback,
		Zones: a.Delivery.Zones(), Senders: map[message.Channel]channels.Sender{message.Email: keep}})
	if err != nil {
		return nil, err
	}
	var ids []message.RecipientID
	for i := range min(b.o.n, 80) {
		ids = append(ids, message.RecipientID("b"+strconv.Itoa(i)))
	}
	snaps, err := a.Store.LoadFactsBatchSince(ctx, ids, a.Catalog.FrequencyCountSince(time.Now()))
	if err != nil {
		return nil, err
	}
	spec := benchCampaignSpec("bench-" + b.tag)
	spec.Prepared = d.Prepare(spec)
	for _, snap := range snaps {
		spec.MessageID = store.CampaignMessageID(spec.CampaignID, snap.ID)
		d.Attempt(ctx, spec, snap)
	}
	if len(out) == 0 {
		return nil, errors.New("no recipient of the audience may be sent the campaign's e-mail")
	}
	return out, nil
}

func benchCampaignSpec(id string) delivery.Spec {
	return delivery.Spec{Type: "promo_offer", Class: message.Marketing, Channels: []message.Channel{message.Email},
		Data: map[string]map[string]any{"offer": benchOffer()}, CampaignID: id}
}

// campaign creates the campaign to start later, uploads its audience
// (streamed), measures what it keeps queued, then starts it and measures
// it to the end, with invoices at a steady rate all along and a CPU
// profile of this process.
func (b *bench) campaign(ctx context.Context) error {
	a, r := b.run.app, &b.report
	id, err := campaign.NewID()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	spec := benchCampaignSpec(id)
	if err := a.Campaigns.Create(ctx, store.Campaign{ID: id, Name: "bench", Type: spec.Type, Class: spec.Class,
		Channels: spec.Channels, Data: spec.Data, CreatedAt: now, StartAt: now.Add(time.Hour)}, nil); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		for i := range b.o.n {
			fmt.Fprintf(bw, "{\"recipient_id\":\"b%d\"}\n", i)
		}
		pw.CloseWithError(bw.Flush())
	}()
	if _, err := a.Campaigns.Upload(ctx, id, pr, campaign.NDJSON); err != nil {
		return fmt.Errorf("upload audience: %w", err)
	}
	mem, err := a.Store.CampaignMemory(ctx, id)
	if err != nil {
		return err
	}

	stop := make(chan struct{})
	invoices := make(chan error, 1)
	go func() { invoices <- submitInvoices(ctx, a.Messages, b.lat, b.o.invoiceRate, stop) }()
	defer func() {
		if stop != nil {
			close(stop)
			<-invoices
		}
	}()
	var prof bytes.Buffer
	if err := pprof.StartCPUProfile(&prof); err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	profiling := true
	defer func() {
		if profiling {
			pprof.StopCPUProfile()
		}
	}()
	campaignQueue := a.Config.Campaigns.Queue + a.Queues.Suffix
	var taskBytes int64
	var status store.CampaignStatus
	run, err := b.measure(ctx, func() error {
		if err := a.Campaigns.StartNow(ctx, id); err != nil {
			return err
		}
		last := time.Now()
		for {
			var err error
			if status, err = a.Campaigns.Status(ctx, id); err != nil {
				return err
			}
			if taskBytes == 0 && status.Counters.Chunks > 0 {
				// asynq's key of a task (its internal/base layout).
				taskBytes = memoryUsage(ctx, b.rdb, "asynq:{"+campaignQueue+"}:t:"+fmt.Sprintf("campaign:%s:chunk:%d", id, status.Counters.Chunks-1))
			}
			if status.State.Final() {
				return nil
			}
			if time.Since(last) > 5*time.Second {
				c := status.Counters
				fmt.Fprintf(b.progress, "    … %d of %d done\n", c.Audience-c.Queued, c.Audience)
				last = time.Now()
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("campaign did not finish: %w", ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	pprof.StopCPUProfile()
	profiling = false
	close(stop)
	stop = nil
	if err := errors.Join(err, <-invoices); err != nil {
		return err
	}
	waitQuiet(ctx, b.lat)
	r.busy, r.busyMissing = b.lat.take()
	c := status.Counters
	r.campaign = campaignRun{sendRun: run, audience: c.Audience, chunks: c.Chunks, suppressed: c.Suppressed, failed: c.Failed}
	r.campaign.messages = c.Delivered
	r.shares, r.profErr = attribute(prof.Bytes())
	if b.o.cpuProfile != "" {
		if err := os.WriteFile(b.o.cpuProfile, prof.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if taskBytes == 0 {
		taskBytes = 700 // a chunk task already ran: 625 B per task plus the payload
	}
	r.queuedPerRecipient = float64(mem.Queued+taskBytes*c.Chunks) / float64(c.Audience)
	r.queuedDetail = fmt.Sprintf("audience chunks %d B + %d chunk tasks × %d B", mem.Queued, c.Chunks, taskBytes)
	b.campaignID = id
	return nil
}

// memory measures what the finished campaign keeps.
func (b *bench) memory(ctx context.Context) error {
	r := &b.report
	kept, err := keptBytes(ctx, b.run.app.Store, b.campaignID, b.o.n)
	if err != nil {
		return err
	}
	delivered := max(r.campaign.messages, 1)
	r.keptPerDelivered = float64(kept) / float64(delivered)
	r.keptDetail = fmt.Sprintf("%d B for %d delivered; %.0f B per recipient with an outcome", kept, r.campaign.messages, float64(kept)/float64(r.campaign.audience))
	return nil
}

func (b *bench) rawAsynq(ctx context.Context) error {
	a := b.run.app
	wcfg := queue.ServerConfig(a.Queues, 10, 50*time.Millisecond, nil, b.log)
	wcfg.ShutdownTimeout = 10 * time.Second
	raw, err := asynqBaseline(ctx, b.rdb, a.Client, wcfg, queue.Queues{Suffix: a.Queues.Suffix + "-raw"}, loadParams{n: b.o.noop, producers: 8})
	b.report.raw, b.report.noopN = raw, b.o.noop
	return err
}

// ---- recipients and invoices

// benchRecipients stores the audience b0 … b(n-1) with mixed consent, and
// the invoice customers inv0 …, from 32 goroutines.
func benchRecipients(ctx context.Context, st *store.Store, n int) error {
	past := time.Now().Add(-30 * 24 * time.Hour)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	total := int64(n + benchInvoiceCustomers)
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= total || ctx.Err() != nil {
					return
				}
				if err := benchRecipient(ctx, st, int(i), n, past); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return cmp.Or(firstErr, ctx.Err())
}

func benchRecipient(ctx context.Context, st *store.Store, i, n int, past time.Time) error {
	id := "b" + strconv.Itoa(i)
	in := recipient.Input{Kind: "customer", Salutation: "Frau", FirstName: "Erika", LastName: "Mustermann", Locale: "de",
		Emails:   []recipient.EmailInput{{Address: fmt.Sprintf("kunde%d@example.com", i), CollectedInSale: true}},
		Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}}
	var ev *consent.Event
	if i >= n {
		id = "inv" + strconv.Itoa(i-n)
	} else {
		switch i % 10 {
		case 7: // objected to advertising
			ev = &consent.Event{Kind: consent.Object, Purpose: consent.Advertising, Channel: consent.AllChannels}
		case 8: // prospect without consent
			in.Kind, in.Contract = "prospect", nil
		case 9: // prospect with consent by e-mail
			in.Kind, in.Contract = "prospect", nil
			ev = &consent.Event{Kind: consent.Grant, Purpose: consent.Advertising, Channel: string(message.Email)}
		}
	}
	r, err := recipient.Parse(id, in, "DE")
	if err != nil {
		return fmt.Errorf("bench recipient %s: %w", id, err)
	}
	if _, _, err := st.PutRecipient(ctx, r); err != nil {
		return fmt.Errorf("bench recipient %s: %w", id, err)
	}
	if ev != nil {
		ev.At, ev.Source, ev.Text = past, consent.WebForm, "Ja, ich möchte Angebote per E-Mail erhalten."
		if _, err := st.AppendConsent(ctx, r.ID, *ev); err != nil {
			return fmt.Errorf("bench recipient %s: %w", id, err)
		}
	}
	return nil
}

func benchOffer() map[string]any {
	return map[string]any{"title": "Allnet Flat 40 GB", "price": 24.99, "regular_price": 29.99, "data_volume_gb": 40,
		"valid_until": "2026-12-31", "url": "https://www.example.com/angebot/allnet-40"}
}

// latencies collects enqueue-to-sent times of invoice messages.
type latencies struct {
	mu        sync.Mutex
	submitted map[string]time.Time
	delivered map[string]time.Time
}

func newLatencies() *latencies {
	return &latencies{submitted: map[string]time.Time{}, delivered: map[string]time.Time{}}
}

func (l *latencies) sent(id string, at time.Time) {
	l.mu.Lock()
	l.submitted[id] = at
	l.mu.Unlock()
}

func (l *latencies) done(id string, at time.Time) {
	l.mu.Lock()
	l.delivered[id] = at
	l.mu.Unlock()
}

// take returns the latencies of the messages both submitted and delivered,
// and how many submitted ones are still missing; it forgets them all.
func (l *latencies) take() (ds []time.Duration, missing int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, t0 := range l.submitted {
		if t1, ok := l.delivered[id]; ok {
			ds = append(ds, t1.Sub(t0))
		} else {
			missing++
		}
	}
	clear(l.submitted)
	clear(l.delivered)
	slices.Sort(ds)
	return ds, missing
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// submitInvoices submits invoice e-mails at rate per second until stop.
func submitInvoices(ctx context.Context, svc *msgdispatch.Service, lat *latencies, rate int, stop <-chan struct{}) error {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		t0 := time.Now()
		acc, err := svc.Submit(ctx, msgdispatch.Submission{
			Type: "invoice", RecipientID: message.RecipientID("inv" + strconv.Itoa(i%benchInvoiceCustomers)),
			Channels: []message.Channel{message.Email},
			Data: map[string]map[string]any{"invoice": {
				"number": fmt.Sprintf("RE-2026-11-%06d", i), "period": "November 2026", "amount": 29.98, "currency": "EUR",
				"due_date": "2026-12-03", "direct_debit": true, "url": "https://service.example.com/rechnungen/" + strconv.Itoa(i),
			}},
		})
		if err != nil {
			return fmt.Errorf("submit invoice: %w", err)
		}
		lat.sent(acc.ID, t0)
	}
}

// waitQuiet gives the last invoices up to five seconds to be delivered.
func waitQuiet(ctx context.Context, lat *latencies) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		lat.mu.Lock()
		missing := len(lat.submitted) - len(lat.delivered)
		lat.mu.Unlock()
		if missing <= 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- Redis and the machine

func memoryUsage(ctx context.Context, rdb redis.UniversalClient, key string) int64 {
	n, err := rdb.MemoryUsage(ctx, key, 0).Result()
	if err != nil {
		return 0
	}
	return n
}

// keptBytes adds up what a finished campaign keeps: its spec, counters,
// chunk list and outcomes, and the frequency-cap entries of its recipients
// (measured on a sample of them and scaled up).
func keptBytes(ctx context.Context, st *store.Store, id string, n int) (int64, error) {
	mem, err := st.CampaignMemory(ctx, id)
	if err != nil {
		return 0, err
	}
	const sample = 2000
	step := max(1, n/sample)
	var ids []message.RecipientID
	for i := 0; i < n; i += step {
		ids = append(ids, message.RecipientID("b"+strconv.Itoa(i)))
	}
	adv, err := st.AdvertisingMemory(ctx, ids)
	if err != nil {
		return 0, err
	}
	return mem.Kept + adv*int64(n)/int64(max(len(ids), 1)), nil
}

// redisInfo returns the fields of an INFO section.
func redisInfo(ctx context.Context, rdb redis.UniversalClient, section string) map[string]string {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for line := range strings.SplitSeq(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}

func redisVersion(ctx context.Context, rdb redis.UniversalClient) string {
	return cmp.Or(redisInfo(ctx, rdb, "server")["redis_version"], "?")
}

// redisCPU is the CPU time the Redis server has used (INFO cpu), for all
// its clients: meaningful when the bench has the server to itself.
func redisCPU(ctx context.Context, rdb redis.UniversalClient) (time.Duration, bool) {
	info := redisInfo(ctx, rdb, "cpu")
	u, err1 := strconv.ParseFloat(info["used_cpu_user"], 64)
	s, err2 := strconv.ParseFloat(info["used_cpu_sys"], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration((u + s) * float64(time.Second)), true
}

// machineLine describes the machine: CPUs, CPU model, OS, Go.
func machineLine() string {
	model := "CPU model unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// loadAverage is the 1-, 5- and 15-minute load average (Linux), or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// peakRSS reads the process's high-water mark of resident memory (Linux).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown (no /proc)"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
			}
		}
	}
	return "unknown"
}
