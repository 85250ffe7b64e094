package scaletest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redisconn"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/store"
)

// invoiceRate is how many invoices per second the producer posts while the
// primary dies.
const invoiceRate = 40

// While invoices stream in at a steady rate through a `herold api` process,
// the Redis primary is SIGKILLed and the sentinels promote one of its two
// replicas. With HEROLD_REDIS_MIN_REPLICAS_ACK=1 every invoice that was
// answered 202 is delivered afterwards: none is lost with the primary.
// During the switch the API answers 503 with Retry-After, never 500; the
// producer retries with the same idempotency key. The API and the two
// `herold worker` processes find the new primary by themselves (nobody
// restarts them).
func TestSentinelFailoverLosesNoAcceptedInvoice(t *testing.T) {
	t.Parallel()
	tp := redistest.StartSentinel(t, 2)
	rdb, prefix := redistest.ClientFor(t, tp.URL)
	sink, got := countingSink(t)
	env := heroldEnv(t, tp.URL, prefix, sink)
	env["HEROLD_REDIS_MIN_REPLICAS_ACK"] = "1"
	env["HEROLD_REDIS_ACK_TIMEOUT"] = "500ms"
	ctx := t.Context()

	// The invoice customer, confirmed by both replicas before anything else.
	st := store.New(rdb, prefix, store.WithSalt(salt))
	r, err := recipient.Parse("k-1", recipient.Input{Kind: "customer", LastName: "Berg",
		Emails: []recipient.EmailInput{{Address: "berg@example.de"}}, Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.PutRecipient(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := redisconn.NewDurability(config.Redis{MinReplicasAck: 2, AckTimeout: 2 * time.Second, KeyPrefix: prefix}).Sync(ctx, rdb); err != nil {
		t.Fatal(err)
	}

	api := startHerold(t, "api", "api", env)
	workers := []*proc{startHerold(t, "worker-1", "worker", env), startHerold(t, "worker-2", "worker", env)}

	// ---- the producer: invoice i is posted at its tick and retried with the
	// same idempotency key after every 503 until it is accepted.
	p := &producer{api: api, client: &http.Client{Timeout: 30 * time.Second}, accepted: map[int]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second / invoiceRate)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			wg.Go(func() { p.post(t, i) })
		}
	})
	waitAccepted := func(n int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for p.acceptedCount() < n {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("only %d invoices accepted after %s, want %d", p.acceptedCount(), within, n)
			}
			time.Sleep(10 * time.Millisecond) // polling the producer's count
		}
	}
	waitAccepted(3*invoiceRate, 20*time.Second) // steady for about 3 seconds

	oldPrimary, err := tp.PrimaryPort(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tp.Kill(t, oldPrimary)
	killed := time.Now()
	p.mark(killed)
	// Until the switch is over and invoices go through again for 3 seconds.
	waitAccepted(p.acceptedCount()+3*invoiceRate, 60*time.Second)
	for !p.recoveredFor(3 * time.Second) {
		if p.noFailureSince(killed, 20*time.Second) || time.Since(killed) > 90*time.Second {
			break // reported below
		}
		time.Sleep(10 * time.Millisecond) // polling the producer's state
	}
	close(stop)
	wg.Wait()
	if now, err := tp.PrimaryPort(ctx); err != nil || now == oldPrimary {
		t.Fatalf("the sentinels name primary %d (%v), the dead one", now, err)
	}

	// ---- every accepted invoice arrives, through the same worker processes.
	accepted := p.ids()
	deadline := time.Now().Add(60 * time.Second)
	var lost []string
	for {
		_, byMsg, _ := got.snapshot()
		lost = lost[:0]
		for _, id := range accepted {
			if byMsg[id] == 0 {
				lost = append(lost, id)
			}
		}
		if len(lost) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the sink
	}
	_, byMsg, total := got.snapshot()
	dups := 0
	for _, id := range accepted {
		dups += max(byMsg[id]-1, 0)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(lost) > 0 {
		t.Errorf("%d of %d accepted invoices were never delivered: %.10v", len(lost), len(accepted), lost)
	}
	if len(p.bad) > 0 {
		t.Errorf("%d answers were neither 202 nor 503 with Retry-After: %.5v", len(p.bad), p.bad)
	}
	if p.unavailable == 0 {
		t.Error("no request was answered 503 while the primary was gone: the switch was not observed")
	}
	for _, w := range append(workers, api) {
		if !w.running() {
			t.Errorf("%s exited", w.name)
		}
	}
	t.Logf("Sentinel failover (SIGKILL of the primary on port %d, 2 replicas, HEROLD_REDIS_MIN_REPLICAS_ACK=1) at %d invoices/s: "+
		"accepted %d, delivered %d (lost %d, %d delivered twice, %d messages at the sink); %d answers 503, none 500; "+
		"unavailable for %.1fs (first to last failed request after the kill); slowest answer %s",
		oldPrimary, invoiceRate, len(accepted), len(accepted)-len(lost), len(lost), dups, total, p.unavailable,
		p.lastFail.Sub(p.firstFail).Seconds(), p.slowest.Round(time.Millisecond))
}

// producer posts invoices like a billing system: each with an idempotency
// key of its own, retried after a 503 until accepted.
type producer struct {
	api    *proc
	client *http.Client

	mu          sync.Mutex
	accepted    map[int]string // invoice number → message id
	unavailable int            // 503 answers
	bad         []string       // answers that are neither 202 nor a proper 503
	killed      time.Time
	firstFail   time.Time // after the kill
	lastFail    time.Time
	slowest     time.Duration
}

func (p *producer) post(t *testing.T, i int) {
	body := map[string]any{"type": "invoice", "recipient_id": "k-1", "channels": []string{"email"},
		"data": map[string]any{"invoice": map[string]any{"number": fmt.Sprintf("RE-%06d", i), "period": "November 2026",
			"amount": 29.98, "currency": "EUR", "due_date": "2026-12-03", "url": "https://example.com/r"}}}
	key := fmt.Sprintf("inv-%06d", i)
	for try := 0; try < 300; try++ {
		start := time.Now()
		resp, out, err := p.api.call(t, p.client, "POST", "/v1/messages", body, "Idempotency-Key", key)
		took := time.Since(start)
		p.mu.Lock()
		p.slowest = max(p.slowest, took)
		switch {
		case err != nil:
			p.bad = append(p.bad, fmt.Sprintf("%s: %v", key, err))
		case resp.StatusCode == http.StatusAccepted:
			var acc struct{ ID string }
			_ = json.Unmarshal(out, &acc)
			p.accepted[i] = acc.ID
			p.mu.Unlock()
			return
		case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
			p.unavailable++
			if !p.killed.IsZero() {
				if p.firstFail.IsZero() {
					p.firstFail = start
				}
				p.lastFail = start.Add(took)
			}
		default:
			p.bad = append(p.bad, fmt.Sprintf("%s: %d %s", key, resp.StatusCode, out))
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		time.Sleep(200 * time.Millisecond) // the producer's retry pace (it may wait less than Retry-After)
	}
}

func (p *producer) mark(killed time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = killed
}

func (p *producer) acceptedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.accepted)
}

// recoveredFor reports whether requests failed after the kill and none has
// failed for d since.
func (p *producer) recoveredFor(d time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.lastFail.IsZero() && time.Since(p.lastFail) > d
}

// noFailureSince reports whether no request has failed in the d since t.
func (p *producer) noFailureSince(t time.Time, d time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastFail.IsZero() && time.Since(t) > d
}

func (p *producer) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.accepted))
	for _, id := range p.accepted {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
