package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// batchRun is the batch road's figure: a billing run of invoices posted in
// batches of a thousand, from the first POST until the sink has them all.
type batchRun struct {
	sendRun
	invoices   int
	accepted   time.Duration // until the last batch was answered
	unreadable int           // records GET could not read back
	skipped    bool
}

// benchBatchSize is what a billing system posts per call: the most the
// batch road takes.
const benchBatchSize = 1000

// batchRoad posts b.o.batch invoices to POST /v1/messages/batch, four calls
// at a time (eight calls at once), and waits for the sink to have them; then every record must read back.
func (b *bench) batchRoad(ctx context.Context) error {
	r := &b.report.batch
	if b.o.batch == 0 {
		r.skipped = true
		return nil
	}
	r.invoices = b.o.batch
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	ids := make([]string, b.o.batch)
	calls := (b.o.batch + benchBatchSize - 1) / benchBatchSize
	k0, err := b.sink.Stats()
	if err != nil {
		return err
	}
	// The bodies are encoded before the clock starts: the client shares
	// Herold's process, and its JSON encoding is not Herold's cost.
	bodies := make([][]byte, calls)
	for c := range bodies {
		if bodies[c], err = batchBody(c*benchBatchSize, min((c+1)*benchBatchSize, b.o.batch)); err != nil {
			return err
		}
	}
	stopProfile := func() {}
	if b.o.cpuProfile != "" {
		f, err := os.Create(b.o.cpuProfile + ".batch")
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("CPU profile: %w", err)
		}
		stopProfile = sync.OnceFunc(pprof.StopCPUProfile)
		defer stopProfile()
	}
	run, err := b.measure(ctx, func() error {
		t0 := time.Now()
		var next atomic.Int64
		var first error
		var once sync.Once
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					c := int(next.Add(1) - 1)
					if c >= calls || ctx.Err() != nil {
						return
					}
					from, to := c*benchBatchSize, min((c+1)*benchBatchSize, b.o.batch)
					if err := b.postBatch(ctx, client, bodies[c], from, to, ids); err != nil {
						once.Do(func() { first = err })
						return
					}
				}
			})
		}
		wg.Wait()
		if first != nil {
			return first
		}
		r.accepted = time.Since(t0)
		for ctx.Err() == nil {
			k, err := b.sink.Stats()
			if err != nil {
				return err
			}
			if k.Messages-k0.Messages >= int64(b.o.batch) {
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	stopProfile()
	r.sendRun = run
	r.messages = int64(b.o.batch)
	r.unreadable = b.unreadable(ctx, ids)
	return nil
}

// batchBody is the body of one batch: invoices from … to-1.
func batchBody(from, to int) ([]byte, error) {
	msgs := make([]any, 0, to-from)
	for i := from; i < to; i++ {
		msgs = append(msgs, map[string]any{
			"type": "invoice", "recipient_id": "inv" + strconv.Itoa(i%benchInvoiceCustomers), "channels": []string{"email"},
			"idempotency_key": "bench-invoice-" + strconv.Itoa(i),
			"data": map[string]any{"invoice": map[string]any{
				"number": fmt.Sprintf("RE-2026-12-%07d", i), "period": "Dezember 2026", "amount": 29.98, "currency": "EUR",
				"due_date": "2026-12-30", "direct_debit": true, "url": "https://service.example.com/rechnungen/" + strconv.Itoa(i),
			}},
		})
	}
	return json.Marshal(map[string]any{"messages": msgs})
}

// postBatch posts body, the invoices from … to-1, and keeps their ids.
func (b *bench) postBatch(ctx context.Context, c *http.Client, body []byte, from, to int, ids []string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.run.base+"/v1/messages/batch", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST /v1/messages/batch: %d %.300s", resp.StatusCode, raw)
	}
	var ans struct {
		Results []struct {
			ID string `json:"id"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || len(ans.Results) != to-from {
		return fmt.Errorf("POST /v1/messages/batch: %d results for %d messages (%v)", len(ans.Results), to-from, err)
	}
	for j, res := range ans.Results {
		ids[from+j] = res.ID
	}
	return nil
}

// unreadable counts the records of ids that do not read back as delivered.
func (b *bench) unreadable(ctx context.Context, ids []string) int {
	var bad atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				rec, err := b.run.app.Store.GetMessage(ctx, ids[i])
				if err != nil || rec.Status != "delivered" {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(bad.Load())
}

// figBatchRoad is the batch road's figure: the billing run's rate against
// the campaign's of the same run (target ≥ 0.8).
func (r *benchReport) figBatchRoad(w io.Writer) {
	c := r.batch
	if c.skipped {
		fmt.Fprintln(w, "(6) batch road: skipped (--batch 0)")
		return
	}
	redisCPU := "unknown"
	if c.redisCPU >= 0 {
		redisCPU = fmt.Sprintf("%.3f", c.perMessage(c.redisCPU))
	}
	fmt.Fprintf(w, "(6) batch road: %d invoices in batches of %d through POST /v1/messages/batch: %.0f msgs/s end to end (accepted in %s), %.2f of the campaign's rate (target ≥ 0.8); CPU per message: Herold %.3f ms, sink %.3f ms, Redis server %s ms; %d records not readable as delivered\n",
		c.invoices, benchBatchSize, c.rate(), c.accepted.Round(time.Millisecond), c.rate()/r.campaign.rate(),
		c.perMessage(c.herold.total()), c.perMessage(c.sink.total()), redisCPU, c.unreadable)
}
