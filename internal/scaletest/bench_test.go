package scaletest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redisconn"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/store"
)

// benchAudience is the campaign of BenchmarkCampaignWorkerProcesses.
const benchAudience = 20_000

// BenchmarkCampaignWorkerProcesses runs a campaign of 20,000 e-mails through
// `herold worker` processes, 1 and 2 of them, on one Redis (the test Redis,
// HEROLD_TEST_REDIS_URL) and on a Redis Cluster of 3 primaries and 3 replicas
// of its own, and reports recipients per second from creation to done and
// what Redis did per recipient: commands and client bytes (in + out) on the
// primaries (INFO stats). On a 2-core machine, where the workers, Redis and
// the SMTP sink share the cores, a second worker process shows what a
// process costs, not how Herold scales.
//
//	go test -run '^$' -bench CampaignWorkerProcesses -benchtime 1x ./internal/scaletest
func BenchmarkCampaignWorkerProcesses(b *testing.B) {
	topologies := []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"single", func(*testing.B) string { return redistest.URL() }},
		{"cluster", func(b *testing.B) string { return redistest.StartCluster(b).URL }},
	}
	for _, tp := range topologies {
		b.Run(tp.name, func(b *testing.B) {
			url := tp.url(b)
			for _, n := range []int{1, 2} {
				b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
					for range b.N { // one campaign each; run with -benchtime 1x
						campaignRun(b, url, n)
					}
				})
			}
		})
	}
}

// campaignRun seeds benchAudience recipients, starts an API process and
// workers worker processes, and measures one campaign to all of them.
func campaignRun(b *testing.B, url string, workers int) {
	b.StopTimer()
	rdb, prefix := redistest.ClientFor(b, url)
	sink, got := countingSink(b)
	env := heroldEnv(b, url, prefix, sink)
	env["HEROLD_SMTP_FROM"] = "angebote@example.com"
	env["HEROLD_SMTP_POOL_SIZE"] = "8"
	b.Cleanup(func() { purge(rdb, env) })
	api := startHerold(b, "api", "api", env)
	seed(b, api, benchAudience)
	var procs []*proc
	for i := range workers {
		procs = append(procs, startHerold(b, fmt.Sprintf("worker-%d", i+1), "worker", env))
	}
	ids := make([]string, benchAudience)
	for i := range ids {
		ids[i] = audienceID(i)
	}
	client := &http.Client{Timeout: time.Minute}
	before, cpu0 := redisStats(b, rdb), cpuOf(procs...)
	b.StartTimer()
	start := time.Now()
	id := createCampaign(b, api, client, ids)
	view := waitDone(b, api, client, id, 10*time.Minute)
	elapsed := time.Since(start)
	b.StopTimer()
	after, cpu := redisStats(b, rdb), cpuOf(procs...)-cpu0
	if view.Counters.Delivered != benchAudience || got.recipients() != benchAudience {
		b.Fatalf("delivered %d, sink reached %d, want %d", view.Counters.Delivered, got.recipients(), benchAudience)
	}
	cmds := float64(after.commands-before.commands) / benchAudience
	bytes := float64(after.bytes-before.bytes) / benchAudience
	workerCPU := float64(cpu.Microseconds()) / benchAudience
	redisCPU := float64((after.cpu - before.cpu).Microseconds()) / benchAudience
	b.ReportMetric(benchAudience/elapsed.Seconds(), "recipients/s")
	b.ReportMetric(cmds, "redis-cmds/recipient")
	b.ReportMetric(bytes, "redis-bytes/recipient")
	b.ReportMetric(workerCPU, "worker-cpu-µs/recipient")
	b.ReportMetric(redisCPU, "redis-cpu-µs/recipient")
	b.Logf("%d recipients, %d worker process(es), %d primaries: %s = %.0f recipients/s; per recipient: Redis %.1f commands, %.0f bytes, %.0f µs CPU; workers %.0f µs CPU",
		benchAudience, workers, after.primaries, elapsed.Round(10*time.Millisecond), benchAudience/elapsed.Seconds(), cmds, bytes, redisCPU, workerCPU)
}

// BenchmarkMessagesRedisCost posts invoices to one `herold api` process, one
// `herold worker` delivers them, and it reports Redis commands and client
// bytes per message from POST to delivered, on one Redis
// (HEROLD_TEST_REDIS_URL), with HEROLD_REDIS_MIN_REPLICAS_ACK 0.
func BenchmarkMessagesRedisCost(b *testing.B) {
	const n = 2000
	for range b.N { // run with -benchtime 1x
		b.StopTimer()
		rdb, prefix := redistest.Client(b)
		sink, got := countingSink(b)
		env := heroldEnv(b, redistest.URL(), prefix, sink)
		b.Cleanup(func() { purge(rdb, env) })
		putInvoiceCustomer(b, store.New(rdb, prefix, store.WithSalt(salt)))
		api := startHerold(b, "api", "api", env)
		worker := startHerold(b, "worker", "worker", env)
		client := &http.Client{Timeout: time.Minute}
		before, apiCPU0, workerCPU0 := redisStats(b, rdb), cpuOf(api), cpuOf(worker)
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 8 {
			wg.Go(func() {
				for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
					resp, body, err := api.call(b, client, "POST", "/v1/messages", invoice(i), "Idempotency-Key", "inv-"+strconv.Itoa(i))
					if err != nil || resp.StatusCode != http.StatusAccepted {
						b.Errorf("POST /v1/messages: %v %v %s", err, status(resp), body)
						return
					}
				}
			})
		}
		wg.Wait()
		for deadline := time.Now().Add(2 * time.Minute); got.count() < n; {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d invoices delivered after 2 minutes", got.count(), n)
			}
			time.Sleep(10 * time.Millisecond) // polling the sink
		}
		elapsed := time.Since(start)
		b.StopTimer()
		// The worker records each delivery after the send: give the last
		// records a moment, so their writes are counted.
		time.Sleep(200 * time.Millisecond)
		after := redisStats(b, rdb)
		apiCPU := float64((cpuOf(api) - apiCPU0).Microseconds()) / n
		workerCPU := float64((cpuOf(worker) - workerCPU0).Microseconds()) / n
		redisCPU := float64((after.cpu - before.cpu).Microseconds()) / n
		cmds := float64(after.commands-before.commands) / n
		bytes := float64(after.bytes-before.bytes) / n
		b.ReportMetric(n/elapsed.Seconds(), "messages/s")
		b.ReportMetric(cmds, "redis-cmds/message")
		b.ReportMetric(bytes, "redis-bytes/message")
		b.ReportMetric(apiCPU, "api-cpu-µs/message")
		b.ReportMetric(workerCPU, "worker-cpu-µs/message")
		b.ReportMetric(redisCPU, "redis-cpu-µs/message")
		b.Logf("%d invoices, API → queue → worker → SMTP: %.0f messages/s; per message: Redis %.1f commands, %.0f bytes, %.0f µs CPU; API %.0f µs CPU, worker %.0f µs CPU",
			n, n/elapsed.Seconds(), cmds, bytes, redisCPU, apiCPU, workerCPU)
	}
}

// BenchmarkAcceptWithReplicaAck measures what HEROLD_REDIS_MIN_REPLICAS_ACK=1
// costs a producer: the latency of POST /v1/messages (202) and of POST
// /v1/recipients/{id}/consents (201) on a `herold api` process over
// Sentinel with one replica on loopback, with 0 and 1 replicas to wait
// for, serial and with 8 requests at once. It reports the median and the
// 99th percentile.
func BenchmarkAcceptWithReplicaAck(b *testing.B) {
	tp := redistest.StartSentinel(b, 1)
	for _, ack := range []string{"0", "1"} {
		b.Run("ack="+ack, func(b *testing.B) {
			rdb, prefix := redistest.ClientFor(b, tp.URL)
			sink, _ := countingSink(b)
			env := heroldEnv(b, tp.URL, prefix, sink)
			env["HEROLD_REDIS_MIN_REPLICAS_ACK"] = ack
			putInvoiceCustomer(b, store.New(rdb, prefix, store.WithSalt(salt)))
			api := startHerold(b, "api", "api", env) // no worker: what is measured is the answer
			client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			var seq atomic.Int64
			requests := []struct {
				name string
				do   func() (*http.Response, []byte, error)
				want int
			}{
				{"message", func() (*http.Response, []byte, error) {
					i := int(seq.Add(1))
					return api.call(b, client, "POST", "/v1/messages", invoice(i), "Idempotency-Key", "inv-"+strconv.Itoa(i))
				}, http.StatusAccepted},
				{"consent", func() (*http.Response, []byte, error) {
					return api.call(b, client, "POST", "/v1/recipients/k-1/consents", map[string]any{
						"kind": "grant", "purpose": "survey", "channel": "email", "source": "web_form", "text": "Ja, Umfragen per E-Mail."})
				}, http.StatusCreated},
			}
			for _, r := range requests {
				for _, par := range []int{1, 8} {
					b.Run(fmt.Sprintf("%s/parallel=%d", r.name, par), func(b *testing.B) {
						var mu sync.Mutex
						var lat []time.Duration
						one := func() bool {
							t0 := time.Now()
							resp, body, err := r.do()
							d := time.Since(t0)
							if err != nil || resp.StatusCode != r.want {
								b.Errorf("%s: %v %v %s", r.name, err, status(resp), body)
								return false
							}
							mu.Lock()
							lat = append(lat, d)
							mu.Unlock()
							return true
						}
						if par == 1 {
							for b.Loop() {
								if !one() {
									return
								}
							}
						} else {
							// RunParallel starts parallelism × GOMAXPROCS goroutines.
							b.SetParallelism(max(1, par/runtime.GOMAXPROCS(0)))
							b.RunParallel(func(pb *testing.PB) {
								for pb.Next() {
									if !one() {
										return
									}
								}
							})
						}
						slices.Sort(lat)
						if len(lat) > 0 {
							b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
							b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
						}
					})
				}
			}
		})
	}
}

func invoice(i int) map[string]any {
	return map[string]any{"type": "invoice", "recipient_id": "k-1", "channels": []string{"email"},
		"data": map[string]any{"invoice": map[string]any{"number": fmt.Sprintf("RE-%06d", i), "period": "November 2026",
			"amount": 29.98, "currency": "EUR", "due_date": "2026-12-03", "url": "https://example.com/r"}}}
}

func putInvoiceCustomer(b *testing.B, st *store.Store) {
	b.Helper()
	r, err := recipient.Parse("k-1", recipient.Input{Kind: "customer", LastName: "Berg",
		Emails: []recipient.EmailInput{{Address: "berg@example.de"}}, Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}}, "DE")
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := st.PutRecipient(context.Background(), r); err != nil {
		b.Fatal(err)
	}
}

// createCampaign creates a promo_offer campaign to ids (inline up to 10,000,
// the rest uploaded) and returns its id.
func createCampaign(t testing.TB, api *proc, client *http.Client, ids []string) string {
	t.Helper()
	inline := ids[:min(len(ids), 10_000)]
	resp, body, err := api.call(t, client, "POST", "/v1/campaigns", map[string]any{
		"name": "Herbst", "type": "promo_offer", "channels": []string{"email"},
		"data": map[string]any{"offer": map[string]any{"title": "Allnet Flat 40 GB", "price": 24.99, "regular_price": 29.99,
			"data_volume_gb": 40, "valid_until": "2026-12-31", "url": "https://www.example.com/angebot"}},
		"audience": inline,
	})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/campaigns: %v %v %s", err, status(resp), body)
	}
	var camp struct{ ID string }
	if err := json.Unmarshal(body, &camp); err != nil {
		t.Fatal(err)
	}
	if rest := ids[len(inline):]; len(rest) > 0 {
		resp, body, err = api.call(t, client, "POST", "/v1/campaigns/"+camp.ID+"/audience",
			`{"recipient_id":"`+strings.Join(rest, "\"}\n{\"recipient_id\":\"")+`"}`+"\n")
		if err != nil || resp.StatusCode/100 != 2 {
			t.Fatalf("upload the audience: %v %v %s", err, status(resp), body)
		}
	}
	return camp.ID
}

// waitDone polls the campaign until it is done.
func waitDone(t testing.TB, api *proc, client *http.Client, id string, within time.Duration) campaignView {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, body, err := api.call(t, client, "GET", "/v1/campaigns/"+id, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET campaign: %v %v %s", err, status(resp), body)
		}
		var v campaignView
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if v.State == "done" {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign still %s after %s: %+v", v.State, within, v.Counters)
		}
		time.Sleep(50 * time.Millisecond) // polling the campaign's state
	}
}

// stats is what the primaries have done so far.
type stats struct {
	commands, bytes int64
	cpu             time.Duration // used_cpu_user + used_cpu_sys
	primaries       int
}

// redisStats sums INFO stats over the primaries: commands processed and
// the bytes clients sent and received (replication traffic is counted
// apart by Redis 7 and left out).
func redisStats(t testing.TB, rdb redis.UniversalClient) stats {
	t.Helper()
	var mu sync.Mutex
	var s stats
	err := redisconn.ForEachPrimary(context.Background(), rdb, func(ctx context.Context, node *redis.Client) error {
		info, err := node.Info(ctx, "stats", "cpu").Result()
		if err != nil {
			return err
		}
		var cmds, in, out int64
		var cpu float64
		for line := range strings.Lines(info) {
			k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "total_commands_processed":
				cmds = n
			case "total_net_input_bytes":
				in = n
			case "total_net_output_bytes":
				out = n
			case "used_cpu_user", "used_cpu_sys":
				f, _ := strconv.ParseFloat(v, 64)
				cpu += f
			}
		}
		mu.Lock()
		defer mu.Unlock()
		s.commands += cmds
		s.bytes += in + out
		s.cpu += time.Duration(cpu * float64(time.Second))
		s.primaries++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// purge deletes the queues of a run on a Redis the benchmark shares.
func purge(rdb redis.UniversalClient, env map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = queue.Purge(ctx, rdb, queue.Queues{Suffix: env["HEROLD_QUEUE_SUFFIX"]}, "campaigns"+env["HEROLD_QUEUE_SUFFIX"])
}
