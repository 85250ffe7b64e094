package scaletest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/store"
)

// campaignAudience is the size of the cluster campaign.
const campaignAudience = 20_000

// A 20,000-recipient campaign on a Redis Cluster (3 primaries, 3 replicas),
// driven by three `herold worker` processes, one of which is SIGKILLed
// midway while it sends (and replaced by a new one, as a supervisor would):
// every recipient gets the offer, and exactly once, except those the dead
// worker had sent but not yet recorded (they are sent again, with the same
// Message-ID, when asynq hands its chunks to the other workers); the
// campaign's counters add up to the audience.
func TestCampaignOnClusterSurvivesAWorkerCrash(t *testing.T) {
	t.Parallel()
	tp := redistest.StartCluster(t)
	rdb, prefix := redistest.ClientFor(t, tp.URL)
	sink, got := countingSink(t)
	// The kill must find chunks sending: a campaign of 20,000 may otherwise
	// finish before 40 % of it is counted on a fast machine. 3 ms per mail
	// on 12 connections bounds it to 4,000/s, at least 5 s in all.
	sink.SetDelay(3 * time.Millisecond)
	env := heroldEnv(t, tp.URL, prefix, sink)
	env["HEROLD_REDIS_MIN_REPLICAS_ACK"] = "1" // every primary has its replica
	env["HEROLD_SMTP_FROM"] = "angebote@example.com"
	// Chunks that take seconds: asynq's server list, by which the worker to
	// kill is chosen, is up to 5s old.
	env["HEROLD_CAMPAIGN_CHUNK_SIZE"] = "4000"
	st := store.New(rdb, prefix, store.WithSalt(salt))
	ctx := t.Context()
	api := startHerold(t, "api", "api", env)

	// ---- the audience: customers whose address was collected in a sale,
	// whom an e-mail offer may reach on legitimate interest.
	start := time.Now()
	seed(t, api, campaignAudience)
	t.Logf("seeded %d recipients on the cluster in %s", campaignAudience, time.Since(start).Round(time.Millisecond))

	workers := make([]*proc, 3)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { workers[i] = startHerold(t, fmt.Sprintf("worker-%d", i+1), "worker", env) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// ---- the campaign: half the audience inline, the other half uploaded
	// while it already runs.
	client := &http.Client{Timeout: time.Minute}
	ids := make([]string, campaignAudience)
	for i := range ids {
		ids[i] = audienceID(i)
	}
	half := campaignAudience / 2
	runStart := time.Now()
	resp, body, err := api.call(t, client, "POST", "/v1/campaigns", map[string]any{
		"name": "Herbst", "type": "promo_offer", "channels": []string{"email"},
		"data": map[string]any{"offer": map[string]any{"title": "Allnet Flat 40 GB", "price": 24.99, "regular_price": 29.99,
			"data_volume_gb": 40, "valid_until": "2026-12-31", "url": "https://www.example.com/angebot"}},
		"audience": ids[:half],
	})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/campaigns: %v %v %s", err, status(resp), body)
	}
	var camp struct{ ID string }
	if err := json.Unmarshal(body, &camp); err != nil {
		t.Fatal(err)
	}
	resp, body, err = api.call(t, client, "POST", "/v1/campaigns/"+camp.ID+"/audience",
		`{"recipient_id":"`+strings.Join(ids[half:], "\"}\n{\"recipient_id\":\"")+`"}`+"\n")
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("upload the second half: %v %v %s", err, status(resp), body)
	}

	// ---- midway, SIGKILL a worker that is sending.
	for got.recipients() < campaignAudience*2/5 {
		if time.Since(runStart) > 3*time.Minute {
			t.Fatalf("only %d recipients reached after 3 minutes", got.recipients())
		}
		time.Sleep(10 * time.Millisecond) // polling the sink's count
	}
	victim, chunks := sendingWorker(t, rdb, workers, env["HEROLD_QUEUE_SUFFIX"])
	victim.kill(t)
	killedAt := time.Now()
	atKill, _, _ := got.snapshot()
	// It died in the middle of a chunk: one of those it ran is not done.
	interrupted := 0
	for _, c := range chunks {
		if done, err := st.ChunkDone(ctx, camp.ID, c); err != nil {
			t.Fatal(err)
		} else if !done {
			interrupted++
		}
	}
	if interrupted == 0 {
		t.Fatalf("%s ran chunks %v, all done when it was killed: nothing was interrupted", victim.name, chunks)
	}
	pending := map[string]bool{} // claimed by a chunk, no outcome yet
	c, _, err := st.Campaign(ctx, camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	for cursor := uint64(0); ; {
		page, next, err := st.CampaignOutcomes(ctx, c, cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page {
			if o.Status == store.OutcomePending {
				pending[string(o.Recipient)] = true
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	// In flight: claimed, its outcome not written (pending). Those the sink
	// had counted at the kill were sent already; the others may have been
	// too, because a mail the dead worker had written into its socket
	// reaches the sink's count only after the kill, when the sink reads it.
	// Either may go out once more; a recipient with an outcome never may.
	inFlight := map[string]bool{}
	sentAtKill := 0
	for id := range pending {
		inFlight[address(id)] = true
		if atKill[address(id)] > 0 {
			sentAtKill++
		}
	}

	// ---- a supervisor (systemd's Restart=, Kubernetes) starts a new worker
	// in its place. asynq hands the dead worker's chunk tasks to whichever
	// worker's recoverer first sees their lease (30s) expired for 30s more:
	// the new one's runs at its start and then each minute, so about a
	// minute after the kill.
	replacement := startHerold(t, "worker-4", "worker", env)
	workers = append(workers, replacement)

	// ---- they finish, the dead one's chunks included.
	var view campaignView
	for {
		resp, body, err := api.call(t, client, "GET", "/v1/campaigns/"+camp.ID, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET campaign: %v %v %s", err, status(resp), body)
		}
		if err := json.Unmarshal(body, &view); err != nil {
			t.Fatal(err)
		}
		if view.State == "done" {
			break
		}
		if time.Since(killedAt) > 4*time.Minute {
			t.Fatalf("campaign still %s 4 minutes after the kill: %+v", view.State, view.Counters)
		}
		time.Sleep(100 * time.Millisecond) // polling the campaign's state
	}
	elapsed := time.Since(runStart)
	byRcpt, _, total := got.snapshot()

	var missing, dups, dupsInFlight []string
	for _, id := range ids {
		switch n := byRcpt[address(id)]; {
		case n == 0:
			missing = append(missing, id)
		case n > 1:
			dups = append(dups, id)
			if n == 2 && inFlight[address(id)] {
				dupsInFlight = append(dupsInFlight, id)
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d recipients never got the offer: %.10v", len(missing), missing)
	}
	if len(dups) != len(dupsInFlight) {
		t.Errorf("%d recipients got the offer more than once, only %d of them once more and pending (claimed, no outcome) when the worker died: %.10v",
			len(dups), len(dupsInFlight), dups)
	}
	if len(byRcpt) != campaignAudience || total != campaignAudience+len(dups) {
		t.Errorf("sink: %d messages to %d addresses, want %d addresses and %d messages", total, len(byRcpt), campaignAudience, campaignAudience+len(dups))
	}
	cn := view.Counters
	if cn.Audience != campaignAudience || cn.Delivered != campaignAudience || sum(cn.Suppressed)+sum(cn.Failed) != 0 ||
		cn.Queued != 0 || cn.ChunksDone != cn.Chunks {
		t.Errorf("counters %+v, want all %d delivered, none queued, every chunk done", cn, campaignAudience)
	}
	for _, w := range workers {
		if w != victim && !w.running() {
			t.Errorf("%s exited", w.name)
		}
	}
	t.Logf("campaign of %d on a 3+3 cluster, 3 worker processes, %s SIGKILLed (and replaced) after %d recipients: done in %s (%s after the kill); "+
		"sink got %d messages: duplicates %d, all of them in flight at the kill (pending %d, in %d interrupted chunks, %d of them at the sink already)",
		campaignAudience, victim.name, len(atKill), elapsed.Round(100*time.Millisecond), time.Since(killedAt).Round(100*time.Millisecond),
		total, len(dups), len(pending), interrupted, sentAtKill)
}

type campaignView struct {
	State    string                 `json:"state"`
	Counters store.CampaignCounters `json:"counters"`
}

func audienceID(i int) string  { return fmt.Sprintf("s%05d", i) }
func address(id string) string { return id + "@kunden.example.com" }
func sum(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func status(resp *http.Response) any {
	if resp == nil {
		return "no answer"
	}
	return resp.StatusCode
}

// seed creates customers s00000 … with an active contract and an address
// collected in a sale, through PUT /v1/recipients of api from 16 clients
// at once (in the herold process rather than in this test's: under the race
// detector the store's work costs several times its CPU here).
func seed(t testing.TB, api *proc, n int) {
	t.Helper()
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				id := audienceID(i)
				resp, body, err := api.call(t, client, "PUT", "/v1/recipients/"+id, map[string]any{
					"kind": "customer", "salutation": "Frau", "last_name": "Berg", "locale": "de",
					"emails":   []any{map[string]any{"address": address(id), "collected_in_sale": true}},
					"contract": map[string]any{"started_at": "2024-01-01"}})
				if err != nil || resp.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("seed %s: %v %v %s", id, err, status(resp), body)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// sendingWorker returns a worker process that runs chunk tasks of the
// campaign queue, as asynq's server list says (written by each server every
// 5s), and the indexes of those chunks.
func sendingWorker(t *testing.T, rdb redis.UniversalClient, workers []*proc, suffix string) (*proc, []int64) {
	t.Helper()
	insp := asynq.NewInspectorFromRedisClient(rdb) // shares rdb: not closed
	deadline := time.Now().Add(30 * time.Second)
	for {
		servers, err := insp.Servers()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			for _, w := range workers {
				if s.PID != w.cmd.Process.Pid {
					continue
				}
				var chunks []int64
				for _, a := range s.ActiveWorkers {
					if _, n, ok := strings.Cut(a.TaskID, ":chunk:"); ok && a.Queue == "campaigns"+suffix {
						if i, err := strconv.ParseInt(n, 10, 64); err == nil {
							chunks = append(chunks, i)
						}
					}
				}
				if len(chunks) > 0 {
					return w, chunks
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no worker process runs a chunk task")
		}
		time.Sleep(50 * time.Millisecond) // asynq's server list is refreshed every few seconds
	}
}
