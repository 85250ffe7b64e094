package main

import (
	"bufio"
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
	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/campaign"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/consent"
	msgdispatch "github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// benchOptions are the knobs of `herold bench`.
type benchOptions struct {
	audience      int
	noop          int
	invoiceRate   int
	invoiceWindow time.Duration
	chunk         int
	workers       int
	senders       int
	smtpPool      int
	timeout       time.Duration
	cpuProfile    string
}

func benchCommand(ctx context.Context, inv *invocation, args []string) error {
	fs := flag.NewFlagSet("herold bench", flag.ContinueOnError)
	o := benchOptions{}
	fs.IntVar(&o.audience, "audience", 100_000, "campaign audience (recipients, mixed consent)")
	fs.IntVar(&o.noop, "noop", 30_000, "no-op tasks for the raw asynq figure")
	fs.IntVar(&o.invoiceRate, "invoice-rate", 20, "invoice e-mails per second while measuring their latency")
	fs.DurationVar(&o.invoiceWindow, "invoice-window", 10*time.Second, "how long invoices are measured with no campaign running")
	fs.IntVar(&o.chunk, "chunk", 500, "recipients per chunk task")
	fs.IntVar(&o.workers, "workers", 2, "chunk tasks at once")
	fs.IntVar(&o.senders, "senders", 8, "sends at once per chunk task")
	fs.IntVar(&o.smtpPool, "smtp-pool", 8, "SMTP connections to the sink")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the campaign run to this file")
	about := "Measure Herold on this machine against local Redis (HEROLD_REDIS_URL) with an in-process SMTP sink:\n" +
		"raw asynq throughput, end-to-end campaign throughput and their ratio, invoice latency with and\n" +
		"without a campaign draining, Redis memory per queued and per delivered recipient, peak RSS.\n" +
		"It uses its own key prefix and queue names and deletes them afterwards."
	if err := parseFlags(fs, inv, args, about, ""); err != nil {
		return err
	}
	if o.audience < 1 || o.noop < 1 || o.invoiceRate < 1 || o.chunk < 1 || o.workers < 1 || o.senders < 1 || o.smtpPool < 1 {
		return usageErrorf("herold bench: --audience, --noop, --invoice-rate, --chunk, --workers, --senders and --smtp-pool must be positive")
	}
	var base config.Config
	if err := config.Load(&base, inv.getenv, nil); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := slog.New(slog.NewTextHandler(inv.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return runBench(ctx, inv.stdout, log, base, o)
}

// latencies collects enqueue-to-delivered times of invoice messages.
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

func runBench(ctx context.Context, out io.Writer, log *slog.Logger, base config.Config, o benchOptions) (err error) {
	rdb, err := app.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer rdb.Close()
	fmt.Fprintf(out, "herold bench: %d CPUs, %s/%s, %s; Redis %s; audience %d\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), redisVersion(ctx, rdb), o.audience)

	// ---- Herold as `herold worker` builds it, e-mail to an SMTP sink; the
	// deliveries of invoices are timed as they leave the sender.
	lat := newLatencies()
	run, err := startToolRun(ctx, base, rdb, toolRunOptions{name: "bench",
		role: app.Role{Name: "bench", Worker: true}, smtpPool: o.smtpPool, from: "news@example.com",
		adjust: func(c *config.Config) {
			c.Campaigns.ChunkSize, c.Campaigns.Workers, c.Campaigns.Senders = o.chunk, o.workers, o.senders
			c.Campaigns.MaxUpload, c.Dispatch.SendHorizon = 1<<40, 720*time.Hour
		},
		wrap: func(ch message.Channel, s channels.Sender) channels.Sender {
			return channels.SenderFunc(func(ctx context.Context, m channels.Outbound) (channels.Receipt, error) {
				r, err := s.Send(ctx, m)
				if err == nil && m.Class == string(message.Transactional) {
					lat.done(m.MessageID, time.Now())
				}
				return r, err
			})
		}}, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, run.Close(context.WithoutCancel(ctx))) }()
	a, sink := run.app, run.sink

	// ---- (1) raw asynq: no-op tasks with the worker's settings
	wcfg := queue.ServerConfig(a.Queues, 10, 50*time.Millisecond, nil, log)
	wcfg.ShutdownTimeout = 10 * time.Second
	raw, err := asynqBaseline(ctx, rdb, a.Client, wcfg, queue.Queues{Suffix: a.Queues.Suffix + "-raw"}, loadParams{n: o.noop, producers: 8})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "(1) raw asynq, %d no-op tasks, concurrency 10: %.0f tasks/s\n", o.noop, raw)

	// ---- recipients: invoice customers and the campaign audience
	t0 := time.Now()
	if err := benchRecipients(ctx, a.Store, o.audience); err != nil {
		return err
	}
	fmt.Fprintf(out, "    seeded %d recipients in %s (70%% customers by legitimate interest, 10%% objected, 10%% prospects without and 10%% with consent)\n",
		o.audience+benchInvoiceCustomers, time.Since(t0).Round(time.Millisecond))

	// ---- (4b) invoice latency with no campaign
	stopIdle := make(chan struct{})
	idleDone := make(chan error, 1)
	go func() { idleDone <- submitInvoices(ctx, a.Messages, lat, o.invoiceRate, stopIdle) }()
	select {
	case <-time.After(o.invoiceWindow):
	case <-ctx.Done():
	}
	close(stopIdle)
	if err := <-idleDone; err != nil {
		return err
	}
	waitQuiet(ctx, lat)
	idle, idleMissing := lat.take()

	// ---- the campaign: created to start later, its audience uploaded
	// (streamed) and its queued memory measured, then started now.
	id, err := campaign.NewID()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if err := a.Campaigns.Create(ctx, store.Campaign{ID: id, Name: "bench", Type: "promo_offer", Class: message.Marketing,
		Channels: []message.Channel{message.Email}, Data: map[string]map[string]any{"offer": benchOffer()},
		CreatedAt: now, StartAt: now.Add(time.Hour)}, nil); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		for i := range o.audience {
			fmt.Fprintf(bw, "{\"recipient_id\":\"b%d\"}\n", i)
		}
		pw.CloseWithError(bw.Flush())
	}()
	t0 = time.Now()
	rep, err := a.Campaigns.Upload(ctx, id, pr, campaign.NDJSON)
	if err != nil {
		return fmt.Errorf("upload audience: %w", err)
	}
	fmt.Fprintf(out, "    uploaded %d ids (NDJSON, streamed) in %s\n", rep.Accepted, time.Since(t0).Round(time.Millisecond))
	mem, err := a.Store.CampaignMemory(ctx, id)
	if err != nil {
		return err
	}

	// ---- (2) run it, with invoices at a steady rate all along
	stopBusy := make(chan struct{})
	busyDone := make(chan error, 1)
	go func() { busyDone <- submitInvoices(ctx, a.Messages, lat, o.invoiceRate, stopBusy) }()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			close(stopBusy)
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			close(stopBusy)
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	if err := a.Campaigns.StartNow(ctx, id); err != nil {
		close(stopBusy)
		return err
	}
	campaignQueue := a.Config.Campaigns.Queue + a.Queues.Suffix
	taskBytes := int64(0)
	var status store.CampaignStatus
	lastPrint := time.Now()
	for {
		if status, err = a.Campaigns.Status(ctx, id); err != nil {
			close(stopBusy)
			return err
		}
		if taskBytes == 0 && status.Counters.Chunks > 0 {
			// asynq's key of a task (its internal/base layout).
			taskBytes = memoryUsage(ctx, rdb, "asynq:{"+campaignQueue+"}:t:"+fmt.Sprintf("campaign:%s:chunk:%d", id, status.Counters.Chunks-1))
		}
		if status.State.Final() {
			break
		}
		if time.Since(lastPrint) > 5*time.Second {
			c := status.Counters
			fmt.Fprintf(out, "    … %d of %d done (%s)\n", c.Audience-c.Queued, c.Audience, time.Since(start).Round(time.Second))
			lastPrint = time.Now()
		}
		select {
		case <-ctx.Done():
			close(stopBusy)
			return fmt.Errorf("campaign did not finish: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	close(stopBusy)
	if err := <-busyDone; err != nil {
		return err
	}
	waitQuiet(ctx, lat)
	busy, busyMissing := lat.take()
	c := status.Counters
	rate := float64(c.Audience) / elapsed.Seconds()
	fmt.Fprintf(out, "(2) campaign end to end: %d recipients in %s = %.0f recipients/s (fan-out, facts, policy, render, send, record)\n",
		c.Audience, elapsed.Round(time.Millisecond), rate)
	fmt.Fprintf(out, "    delivered %d, suppressed %v, failed %v; SMTP sink got %d messages in total\n",
		c.Delivered, c.Suppressed, c.Failed, sink.Count())
	// asynq's figure swings with whatever else the machine does: measure it
	// again right after the campaign and compare with the mean of both.
	raw2, err := asynqBaseline(ctx, rdb, a.Client, wcfg, queue.Queues{Suffix: a.Queues.Suffix + "-raw2"}, loadParams{n: o.noop, producers: 8})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "(1) raw asynq again after the campaign: %.0f tasks/s; mean %.0f tasks/s\n", raw2, (raw+raw2)/2)
	fmt.Fprintf(out, "(3) ratio (2)/(1): %.2f against the mean (%.2f against the first, %.2f against the second) (target ≥ 0.8)\n",
		rate/((raw+raw2)/2), rate/raw, rate/raw2)
	fmt.Fprintf(out, "(4) invoice enqueue → delivered at %d/s: while the campaign drains p50 %s p99 %s (n=%d, lost %d); no campaign p50 %s p99 %s (n=%d, lost %d) (target p99 < 250ms)\n",
		o.invoiceRate, percentile(busy, 0.5).Round(100*time.Microsecond), percentile(busy, 0.99).Round(100*time.Microsecond), len(busy), busyMissing,
		percentile(idle, 0.5).Round(100*time.Microsecond), percentile(idle, 0.99).Round(100*time.Microsecond), len(idle), idleMissing)

	// ---- (5) memory: what a queued recipient costs, what stays per delivered one
	if taskBytes == 0 {
		taskBytes = 700 // a chunk task already ran: PERF.md's 625 B per task plus the payload
	}
	queued := float64(mem.Queued+taskBytes*c.Chunks) / float64(c.Audience)
	kept, err := keptBytes(ctx, a.Store, id, o.audience)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "(5) Redis per queued recipient: %.1f B (audience chunks %d B + %d chunk tasks × %d B) (target < 200 B)\n",
		queued, mem.Queued, c.Chunks, taskBytes)
	fmt.Fprintf(out, "    Redis kept per delivered recipient: %.0f B (%d B for %d delivered; %.0f B per recipient with an outcome) (target < 400 B)\n",
		float64(kept)/float64(max(c.Delivered, 1)), kept, c.Delivered, float64(kept)/float64(c.Audience))
	fmt.Fprintf(out, "(6) peak RSS of this process: %s (target < 300 MiB with --audience 1000000)\n", peakRSS())
	return nil
}

// benchInvoiceCustomers receive the invoices whose latency is measured.
const benchInvoiceCustomers = 20

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

func redisVersion(ctx context.Context, rdb redis.UniversalClient) string {
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return "?"
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "?"
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
