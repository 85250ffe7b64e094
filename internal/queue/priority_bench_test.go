package queue_test

import (
	"context"
	"encoding/binary"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/redistest"
)

// BenchmarkInvoiceBehindCampaign measures what the README's queue-priority
// choice rests on: a campaign backlog of 5000 marketing tasks is draining
// (each task takes 2 ms, as a send to a provider would) when a burst of 300
// invoices arrives. It reports how long the burst takes to drain and the
// invoices' enqueue-to-start latency, with strict priority and with weights
// 6-3-1. Run it with -benchtime 1x: each iteration is one whole scenario.
//
//	go test -run '^$' -bench InvoiceBehindCampaign -benchtime 1x ./internal/queue
func BenchmarkInvoiceBehindCampaign(b *testing.B) {
	for _, strict := range []bool{true, false} {
		name := "weighted-6-3-1"
		if strict {
			name = "strict"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				drain, p50, p99 := invoiceScenario(b, strict)
				b.ReportMetric(float64(drain.Milliseconds()), "burst-drain-ms")
				b.ReportMetric(float64(p50.Microseconds())/1000, "invoice-p50-ms")
				b.ReportMetric(float64(p99.Microseconds())/1000, "invoice-p99-ms")
			}
		})
	}
}

func invoiceScenario(b *testing.B, strict bool) (drain, p50, p99 time.Duration) {
	const backlog, burst = 5000, 300
	rdb, _ := redistest.Client(b)
	qs := queue.Queues{Suffix: "-" + redistest.Queue(b, "prio")}
	client := asynq.NewClientFromRedisClient(rdb)
	b.Cleanup(func() { _ = queue.Purge(context.Background(), rdb, qs) })
	ctx := context.Background()
	for range backlog {
		if _, err := client.EnqueueContext(ctx, asynq.NewTask("campaign:noop", nil), asynq.Queue(qs.Name(message.Marketing))); err != nil {
			b.Fatal(err)
		}
	}
	var mu sync.Mutex
	var lat []time.Duration
	var last time.Time
	cfg := queue.ServerConfig(qs, 10, 10*time.Millisecond, nil, slog.New(slog.DiscardHandler))
	cfg.StrictPriority = strict
	srv := asynq.NewServerFromRedisClient(rdb, cfg)
	h := asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error {
		if t.Type() == "invoice:noop" {
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(t.Payload())))
			mu.Lock()
			lat = append(lat, time.Since(sent))
			last = time.Now()
			mu.Unlock()
		}
		time.Sleep(2 * time.Millisecond)
		return nil
	})
	if err := srv.Start(h); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	time.Sleep(200 * time.Millisecond) // the campaign is draining
	start := time.Now()
	for range burst {
		p := make([]byte, 8)
		binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
		if _, err := client.EnqueueContext(ctx, asynq.NewTask("invoice:noop", p), asynq.Queue(qs.Name(message.Transactional))); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n == burst {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d invoices ran within a minute", n, burst)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	return last.Sub(start), lat[len(lat)/2], lat[len(lat)*99/100]
}
