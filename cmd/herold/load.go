package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

const loadAbout = "Pushes N invoice e-mails through the whole pipeline — HTTP API (auth, validation,\n" +
	"record, enqueue) → asynq → worker (facts, policy, render) → the real SMTP adapter → an\n" +
	"in-process go-smtp sink — against the Redis of HEROLD_REDIS_URL, and prints messages/s.\n" +
	"Herold is built as `herold serve` builds it, from the same HEROLD_* settings.\n" +
	"It writes only under a fresh key prefix and fresh queue names, and deletes them after."

// loadCommand is `herold load`.
func loadCommand(ctx context.Context, inv *invocation, args []string) error {
	fs := flag.NewFlagSet("herold load", flag.ContinueOnError)
	n := fs.Int("n", 2000, "messages to send (1-100000)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	producers := fs.Int("producers", 8, "parallel HTTP clients posting messages")
	concurrency := fs.Int("concurrency", 0, "worker concurrency (default HEROLD_WORKER_CONCURRENCY)")
	smtpPool := fs.Int("smtp-pool", 8, "SMTP connections of the worker")
	recipients := fs.Int("recipients", 500, "distinct recipients the messages go to")
	batch := fs.Int("batch", 0, "post the messages in batches of this many to POST /v1/messages/batch (1-1000; 0: one POST /v1/messages each)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run (from the first POST to the last delivery) to this file (go tool pprof)")
	baseline := fs.Bool("baseline", true, "first push N no-op tasks through asynq alone, for the ratio (PERF.md: compare ratios within one run)")
	if err := parseFlags(fs, inv, args, loadAbout, ""); err != nil {
		return err
	}
	switch {
	case *n < 1 || *n > 100000:
		return usageErrorf("herold load: -n must be 1-100000, got %d", *n)
	case *producers < 1 || *producers > 256:
		return usageErrorf("herold load: -producers must be 1-256, got %d", *producers)
	case *recipients < 1 || *recipients > 100000:
		return usageErrorf("herold load: -recipients must be 1-100000, got %d", *recipients)
	case *batch < 0 || *batch > 1000:
		return usageErrorf("herold load: -batch must be 0-1000, got %d", *batch)
	case *timeout <= 0 || *timeout > time.Hour:
		return usageErrorf("herold load: -timeout must be positive and at most 1h")
	}
	var s config.Config
	if err := config.Load(&s, inv.getenv, nil); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if *concurrency <= 0 {
		*concurrency = s.Worker.Concurrency
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	log := slog.New(slog.NewTextHandler(inv.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return runLoad(ctx, inv.stdout, log, s, loadParams{n: *n, producers: *producers, concurrency: *concurrency, smtpPool: *smtpPool, recipients: *recipients, batch: *batch, baseline: *baseline, cpuProfile: *cpuProfile})
}

type loadParams struct {
	n, producers, concurrency, smtpPool, recipients int
	batch                                           int // messages per POST /v1/messages/batch; 0: single POSTs
	baseline                                        bool
	cpuProfile                                      string
}

func runLoad(ctx context.Context, out io.Writer, log *slog.Logger, s config.Config, p loadParams) (err error) {
	s.Worker.Concurrency = p.concurrency
	rdb, err := app.Connect(ctx, s)
	if err != nil {
		return err
	}
	defer rdb.Close()

	// ---- Herold as `herold serve` builds it, with e-mail to an SMTP sink
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	keySecret := hex.EncodeToString(secret)
	run, err := startToolRun(ctx, s, rdb, toolRunOptions{name: "load",
		role:    app.Role{Name: "load", HTTP: true, Worker: true},
		apiKeys: "load:" + keySecret + ":send:invoice", smtpPool: p.smtpPool, from: "rechnung@example.com"}, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, run.Close(context.WithoutCancel(ctx))) }()
	sink := run.sink

	// ---- Baseline: the same number of no-op tasks through asynq alone
	var raw float64
	if p.baseline {
		wcfg := queue.ServerConfig(run.app.Queues, p.concurrency, s.Worker.TaskCheckInterval, nil, log)
		wcfg.ShutdownTimeout = 10 * time.Second
		if raw, err = asynqBaseline(ctx, rdb, run.app.Client, wcfg, queue.Queues{Suffix: run.app.Queues.Suffix + "-raw"}, p); err != nil {
			return err
		}
	}

	// ---- Recipients: customers with a running contract
	if err := loadRecipients(ctx, run.app.Store, p.recipients); err != nil {
		return err
	}

	// ---- Push
	road := "one POST /v1/messages each"
	calls, per := p.n, 1
	if p.batch > 0 {
		road = fmt.Sprintf("POST /v1/messages/batch of %d", p.batch)
		calls, per = (p.n+p.batch-1)/p.batch, p.batch
	}
	fmt.Fprintf(out, "herold load: %d invoice e-mails to %d recipients (%s), %d producers, worker concurrency %d, %d SMTP connections\n",
		p.n, p.recipients, road, p.producers, p.concurrency, p.smtpPool)
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: p.producers}, Timeout: 30 * time.Second}
	var next, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	if p.cpuProfile != "" {
		f, err := os.Create(p.cpuProfile)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var wg sync.WaitGroup
	for range p.producers {
		wg.Go(func() {
			for {
				c := int(next.Add(1) - 1)
				if c >= calls || ctx.Err() != nil {
					return
				}
				from, to := c*per, min((c+1)*per, p.n)
				if err := postInvoices(ctx, httpc, run.base, keySecret, p, from, to); err != nil {
					failed.Add(int64(to - from))
					errOnce.Do(func() { firstErr = err })
				}
			}
		})
	}
	wg.Wait()
	accepted := time.Since(start)
	if firstErr != nil {
		return fmt.Errorf("%d of %d POSTs failed, the first: %w", failed.Load(), p.n, firstErr)
	}
	fmt.Fprintf(out, "accepted  %6d in %8s  %8.0f messages/s (API → record → enqueue)\n", p.n, accepted.Round(time.Millisecond), float64(p.n)/accepted.Seconds())

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for sink.Count() < p.n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out: %d of %d delivered to the SMTP sink", sink.Count(), p.n)
		case <-tick.C:
		}
	}
	total := time.Since(start)
	rate := float64(p.n) / total.Seconds()
	fmt.Fprintf(out, "delivered %6d in %8s  %8.0f messages/s end to end (API → asynq → policy → render → SMTP)\n",
		p.n, total.Round(time.Millisecond), rate)
	if raw > 0 {
		fmt.Fprintf(out, "raw asynq %6d no-op tasks       %8.0f tasks/s; the pipeline reaches %.2f of it\n", p.n, raw, rate/raw)
	}
	return nil
}

// asynqBaseline enqueues n no-op tasks and processes them with the worker's
// settings, and returns tasks/s from the first enqueue to the last done.
func asynqBaseline(ctx context.Context, rdb redis.UniversalClient, client *asynq.Client, wcfg asynq.Config, qs queue.Queues, p loadParams) (float64, error) {
	defer func() { _ = queue.Purge(context.WithoutCancel(ctx), rdb, qs) }()
	var done atomic.Int64
	wcfg.Queues = qs.Priorities()
	srv := asynq.NewServerFromRedisClient(rdb, wcfg)
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { done.Add(1); return nil })); err != nil {
		return 0, fmt.Errorf("baseline worker: %w", err)
	}
	defer srv.Shutdown()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for range p.producers {
		wg.Go(func() {
			for next.Add(1) <= int64(p.n) && ctx.Err() == nil {
				t := asynq.NewTask("load:noop", []byte(`{"id":"msg_aaaaaaaaaaaaaaaaaaaaaaaaaa"}`))
				if _, err := client.EnqueueContext(ctx, t, asynq.Queue(qs.Name(message.Transactional))); err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, fmt.Errorf("baseline enqueue: %w", firstErr)
	}
	for done.Load() < int64(p.n) {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("baseline timed out: %d of %d tasks done", done.Load(), p.n)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return float64(p.n) / time.Since(start).Seconds(), nil
}

// loadRecipients stores customers load-0 … load-(n-1), pipelined in batches.
func loadRecipients(ctx context.Context, st *store.Store, n int) error {
	for i := range n {
		r, err := recipient.Parse(fmt.Sprintf("load-%d", i), recipient.Input{
			Kind: "customer", Salutation: "Frau", FirstName: "Erika", LastName: "Mustermann", Locale: "de",
			Emails:   []recipient.EmailInput{{Address: fmt.Sprintf("kunde%d@example.com", i)}},
			Contract: &recipient.ContractInput{StartedAt: "2024-01-01"},
		}, "DE")
		if err != nil {
			return fmt.Errorf("load recipient %d: %w", i, err)
		}
		if _, _, err := st.PutRecipient(ctx, r); err != nil {
			return fmt.Errorf("load recipient %d: %w", i, err)
		}
	}
	return nil
}

// invoiceBody is message i of a load run, to recipient load-(i mod recipients).
func invoiceBody(i, recipients int) map[string]any {
	return map[string]any{
		"type": "invoice", "recipient_id": fmt.Sprintf("load-%d", i%recipients), "channels": []string{"email"},
		"data": map[string]any{"invoice": map[string]any{
			"number": fmt.Sprintf("RE-2026-11-%06d", i), "period": "November 2026", "amount": 29.98, "currency": "EUR",
			"due_date": "2026-12-03", "direct_debit": true, "url": "https://service.example.com/rechnungen/" + fmt.Sprint(i),
		}},
	}
}

// postInvoices posts messages from … to-1: one POST /v1/messages, or one
// batch with p.batch set; every message must be accepted.
func postInvoices(ctx context.Context, c *http.Client, base, key string, p loadParams, from, to int) error {
	path, want := "/v1/messages", http.StatusAccepted
	var v any = invoiceBody(from, p.recipients)
	if p.batch > 0 {
		msgs := make([]any, 0, to-from)
		for i := from; i < to; i++ {
			msgs = append(msgs, invoiceBody(i, p.recipients))
		}
		path, v = "/v1/messages/batch", map[string]any{"messages": msgs}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return nil
}
