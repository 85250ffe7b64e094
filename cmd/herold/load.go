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
	return runLoad(ctx, inv.stdout, log, s, loadParams{n: *n, producers: *producers, concurrency: *concurrency, smtpPool: *smtpPool, recipients: *recipients, baseline: *baseline})
}

type loadParams struct {
	n, producers, concurrency, smtpPool, recipients int
	baseline                                        bool
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
	fmt.Fprintf(out, "herold load: %d invoice e-mails to %d recipients, %d producers, worker concurrency %d, %d SMTP connections\n",
		p.n, p.recipients, p.producers, p.concurrency, p.smtpPool)
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: p.producers}, Timeout: 30 * time.Second}
	var next, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range p.producers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(p.n) || ctx.Err() != nil {
					return
				}
				if err := postInvoice(ctx, httpc, run.base, keySecret, fmt.Sprintf("load-%d", int(i)%p.recipients), int(i)); err != nil {
					failed.Add(1)
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

func postInvoice(ctx context.Context, c *http.Client, base, key, rid string, i int) error {
	body, err := json.Marshal(map[string]any{
		"type": "invoice", "recipient_id": rid, "channels": []string{"email"},
		"data": map[string]any{"invoice": map[string]any{
			"number": fmt.Sprintf("RE-2026-11-%06d", i), "period": "November 2026", "amount": 29.98, "currency": "EUR",
			"due_date": "2026-12-03", "direct_debit": true, "url": "https://service.example.com/rechnungen/" + fmt.Sprint(i),
		}},
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/messages", bytes.NewReader(body))
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
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST /v1/messages: %d %s", resp.StatusCode, b)
	}
	return nil
}
