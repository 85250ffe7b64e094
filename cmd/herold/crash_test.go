package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/campaign"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/store"
)

// TestWorkerKilledMidCampaignAndInvoiceStream is the crash test of issue
// 14: a real `herold worker` process, built from this package, is SIGKILLed
// while it sends a campaign and a stream of invoices to a counting SMTP
// sink, and a second worker is started. Every recipient must get the mail,
// at most the messages in flight at the kill twice, the campaign's counters
// must add up, and what was in flight must be delivered again within 60 s
// (defect 4: it took 95-105 s). The recovery times are printed.
func TestWorkerKilledMidCampaignAndInvoiceStream(t *testing.T) {
	t.Parallel()
	bin := buildHerold(t)
	const (
		nInvoices = 400
		nCampaign = 1200
		key       = "hrld_crash_admin"
	)
	h := apptest.New(t, apptest.Options{Role: app.Role{Name: "api", HTTP: true}, Env: map[string]string{
		"HEROLD_API_KEYS": "admin:" + key + ":*",
	}})
	// Each message takes a moment at the sink, so that some are always in
	// flight when the worker dies.
	h.SMTP.SetDelay(20 * time.Millisecond)
	ctx := t.Context()
	for i := range nInvoices {
		putCustomer(t, h.Store, fmt.Sprintf("inv-%04d", i))
	}
	audience := make([]string, nCampaign)
	for i := range nCampaign {
		audience[i] = fmt.Sprintf("cmp-%04d", i)
		putCustomer(t, h.Store, audience[i])
	}
	api := &crashAPI{t: t, url: h.URL, key: key}
	campBody, _ := json.Marshal(map[string]any{"name": "Winter", "type": "promo_offer", "channels": []string{"email"},
		"audience": audience, "data": map[string]any{"offer": map[string]any{"title": "Allnet Flat 40 GB", "price": 24.99,
			"valid_until": "2026-12-31", "url": "https://www.example.com/angebot/allnet-40"}}})
	var created struct{ ID string }
	api.post("/v1/campaigns", campBody, http.StatusCreated, &created)

	env := h.Env()
	for k := range env {
		if strings.HasPrefix(k, "HEROLD_TWILIO_") || strings.HasPrefix(k, "HEROLD_SMS_FROM_") {
			delete(env, k) // the Twilio fake answers in-process only; this test sends e-mail
		}
	}
	for k, v := range map[string]string{
		"HEROLD_REDIS_URL":            redistest.URL(),
		"HEROLD_HTTP_ADDR":            "127.0.0.1:0",
		"HEROLD_LOG_LEVEL":            "info",
		"HEROLD_WORKER_CONCURRENCY":   "8",
		"HEROLD_WORKER_RECOVER_EVERY": "1s",
		"HEROLD_SMTP_POOL_SIZE":       "8",
		"HEROLD_CAMPAIGN_CHUNK_SIZE":  "100",
		"HEROLD_CAMPAIGN_WORKERS":     "2",
		"HEROLD_CAMPAIGN_SENDERS":     "4",
		"HEROLD_SHUTDOWN_GRACE":       "5s",
	} {
		env[k] = v
	}
	first := startWorker(t, bin, env, "worker-1")

	// The invoice stream: one invoice every few milliseconds, going on
	// while the worker is dead, as a billing run does.
	var mu sync.Mutex
	invoices := map[string]string{} // message id → recipient id
	var posted []string             // message ids in the order posted
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		for i := range nInvoices {
			rid := fmt.Sprintf("inv-%04d", i)
			body, _ := json.Marshal(map[string]any{"type": "invoice", "recipient_id": rid, "channels": []string{"email"},
				"data": map[string]any{"invoice": map[string]any{"number": fmt.Sprintf("RE-%04d", i), "period": "November 2026",
					"amount": 29.98, "due_date": "2026-12-03", "url": "https://service.example.com/r/1"}}})
			var acc struct{ ID string }
			if !api.tryPost("/v1/messages", body, http.StatusAccepted, &acc) {
				return
			}
			mu.Lock()
			invoices[acc.ID] = rid
			posted = append(posted, acc.ID)
			mu.Unlock()
			time.Sleep(15 * time.Millisecond)
		}
	}()

	// Kill it once both are well under way, at a moment an invoice is
	// being sent.
	waitUntil(t, 2*time.Minute, "the worker to be mid-campaign and mid-invoice-stream", func() bool {
		c := perRecipient(h)
		return countPrefix(c, "inv-") >= nInvoices/5 && countPrefix(c, "cmp-") >= nCampaign/5
	})
	deadline := time.Now().Add(30 * time.Second)
	for !invoiceSending(t, h.Store, &mu, &posted) {
		if time.Now().After(deadline) {
			t.Fatal("no invoice was being sent for 30 s")
		}
	}
	first.kill(t)
	killedAt := time.Now()
	// Every message the dead worker was writing has ended at the sink.
	waitUntil(t, 30*time.Second, "the sink to see the dead worker's connections close", func() bool { return h.SMTP.Sessions() == 0 })

	// In flight at the kill: sent (at the sink) but not recorded as
	// delivered; and what a worker had taken on (sending, claimed).
	sentAtKill := perRecipient(h)
	mu.Lock()
	ids := make(map[string]string, len(invoices))
	for id, rid := range invoices {
		ids[id] = rid
	}
	mu.Unlock()
	var invSending []string
	invInFlight := 0
	for id, rid := range ids {
		rec, err := h.Store.GetMessage(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status == store.StatusSending {
			invSending = append(invSending, id)
		}
		if sentAtKill[rid+"@example.com"] > 0 && rec.Status != store.StatusDelivered {
			invInFlight++
		}
	}
	outcomes := campaignOutcomes(t, h.Campaigns, created.ID)
	var campClaimed []string
	campInFlight := 0
	for _, a := range audience {
		st := outcomes[a]
		if st == "sending" {
			campClaimed = append(campClaimed, a)
		}
		if sentAtKill[a+"@example.com"] > 0 && st != "delivered" {
			campInFlight++
		}
	}
	if len(campClaimed) == 0 {
		t.Fatal("no campaign recipient was claimed when the worker died: the kill came too late to test anything")
	}

	startWorker(t, bin, env, "worker-2")
	var invRecovered, campRecovered time.Duration
	waitUntil(t, 3*time.Minute, "every invoice and the campaign to be delivered", func() bool {
		if invRecovered == 0 && allStatus(t, h.Store, invSending, store.StatusDelivered) {
			invRecovered = time.Since(killedAt)
		}
		if campRecovered == 0 && allOutcome(t, h.Campaigns, created.ID, campClaimed, "delivered") {
			campRecovered = time.Since(killedAt)
		}
		select {
		case <-streamDone:
		default:
			return false
		}
		st, err := h.Campaigns.Status(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		c := perRecipient(h)
		return invRecovered > 0 && campRecovered > 0 && st.State == store.CampaignDone &&
			countPrefix(c, "inv-") == nInvoices && countPrefix(c, "cmp-") == nCampaign
	})
	allDone := time.Since(killedAt)

	got := perRecipient(h)
	invDup, campDup := 0, 0
	for i := range nInvoices {
		if n := got[fmt.Sprintf("inv-%04d@example.com", i)]; n > 1 {
			invDup++
		}
	}
	for _, a := range audience {
		if n := got[a+"@example.com"]; n > 1 {
			campDup++
		}
	}
	if invDup > invInFlight {
		t.Errorf("%d invoices went out twice, more than the %d in flight at the kill", invDup, invInFlight)
	}
	if campDup > campInFlight {
		t.Errorf("%d campaign recipients got the mail twice, more than the %d in flight at the kill", campDup, campInFlight)
	}
	// Every invoice sent twice says so in its record.
	for id, rid := range invoices {
		if got[rid+"@example.com"] < 2 {
			continue
		}
		rec, err := h.Store.GetMessage(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Attempts) == 0 || !rec.Attempts[len(rec.Attempts)-1].PossibleDuplicate {
			t.Errorf("invoice %s went out twice, but its attempts %+v do not say possible_duplicate", id, rec.Attempts)
		}
	}
	st, err := h.Campaigns.Status(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := st.Counters
	sum := c.Delivered + c.Duplicates + c.Queued + c.Canceled
	for _, n := range c.Suppressed {
		sum += n
	}
	for _, n := range c.Failed {
		sum += n
	}
	if c.Audience != nCampaign || c.Delivered != nCampaign || sum != c.Audience {
		t.Errorf("campaign counters %+v: want %d delivered, adding up to the audience", c, nCampaign)
	}
	for name, d := range map[string]time.Duration{"invoices": invRecovered, "campaign": campRecovered} {
		if d > 60*time.Second {
			t.Errorf("%s in flight at the kill were delivered again after %.1f s, more than 60 s", name, d.Seconds())
		}
	}
	t.Logf("crash recovery: invoices in flight delivered again %.1f s after the SIGKILL, campaign recipients %.1f s; everything delivered after %.1f s",
		invRecovered.Seconds(), campRecovered.Seconds(), allDone.Seconds())
	t.Logf("in flight at the kill (sent, not recorded): invoices %d, campaign %d; sent twice: invoices %d, campaign %d; taken on: %d invoices sending, %d campaign recipients claimed",
		invInFlight, campInFlight, invDup, campDup, len(invSending), len(campClaimed))
}

// buildHerold builds this command into a temporary folder, with the race
// detector when the test runs with it (which also reuses its build cache).
func buildHerold(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herold")
	args := []string{"build", "-o", bin}
	if raceBuild {
		args = append(args, "-race")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		gotool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	cmd := exec.CommandContext(t.Context(), gotool, append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// worker is a `herold worker` child process.
type worker struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startWorker runs `herold worker` with env and waits until it is ready.
// Its log goes to a file in the test's temporary folder, shown on failure.
func startWorker(t *testing.T, bin string, env map[string]string, name string) *worker {
	t.Helper()
	cmd := exec.Command(bin, "worker")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &worker{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(w.done)
		defer logFile.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Bytes()
			logFile.Write(append(line, '\n'))
			if bytes.Contains(line, []byte(`"msg":"herold ready"`)) {
				once.Do(func() { close(ready) })
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-w.done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-w.done
			}
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("%s log (tail):\n%s", name, b)
		}
	})
	select {
	case <-ready:
	case <-w.done:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("%s exited before it was ready:\n%s", name, b)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s not ready after 60s", name)
	}
	return w
}

// kill ends the worker with SIGKILL, as the kernel's OOM killer or a lost
// machine does: no shutdown, no requeue, leases left to run out.
func (w *worker) kill(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-w.done
}

type crashAPI struct {
	t        *testing.T
	url, key string
}

func (a *crashAPI) tryPost(path string, body []byte, want int, out any) bool {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, a.url+path, bytes.NewReader(body))
	if err != nil {
		a.t.Error(err)
		return false
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Errorf("POST %s: %v", path, err)
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		a.t.Errorf("POST %s: %d %s, want %d", path, resp.StatusCode, b, want)
		return false
	}
	if err := json.Unmarshal(b, out); err != nil {
		a.t.Errorf("POST %s: %v", path, err)
		return false
	}
	return true
}

func (a *crashAPI) post(path string, body []byte, want int, out any) {
	a.t.Helper()
	if !a.tryPost(path, body, want, out) {
		a.t.FailNow()
	}
}

// putCustomer stores a customer whose address came from a sale: invoices
// (contract) and offers by e-mail (legitimate interest) may reach it.
func putCustomer(t *testing.T, st *store.Store, id string) {
	t.Helper()
	r, err := recipient.Parse(id, recipient.Input{Kind: "customer", Locale: "de",
		Emails:   []recipient.EmailInput{{Address: id + "@example.com", CollectedInSale: true}},
		Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.PutRecipient(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}

// perRecipient counts the mails the sink accepted per address.
func perRecipient(h *apptest.Herold) map[string]int {
	out := map[string]int{}
	for _, m := range h.SMTP.Mails() {
		for _, to := range m.To {
			out[to]++
		}
	}
	return out
}

func countPrefix(m map[string]int, prefix string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

func campaignOutcomes(t *testing.T, e *campaign.Engine, id string) map[string]string {
	t.Helper()
	out := map[string]string{}
	cursor := ""
	for {
		list, next, err := e.Outcomes(t.Context(), id, cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list {
			out[string(o.RecipientID)] = o.Status
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

// invoiceSending reports whether one of the invoices posted last is being sent.
func invoiceSending(t *testing.T, st *store.Store, mu *sync.Mutex, posted *[]string) bool {
	t.Helper()
	mu.Lock()
	last := (*posted)[max(0, len(*posted)-3):]
	mu.Unlock()
	for _, id := range last {
		rec, err := st.GetMessage(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status == store.StatusSending {
			return true
		}
	}
	return false
}

func allStatus(t *testing.T, st *store.Store, ids []string, want store.MessageStatus) bool {
	t.Helper()
	for _, id := range ids {
		rec, err := st.GetMessage(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != want {
			return false
		}
	}
	return true
}

func allOutcome(t *testing.T, e *campaign.Engine, id string, rids []string, want string) bool {
	t.Helper()
	out := campaignOutcomes(t, e, id)
	for _, r := range rids {
		if out[r] != want {
			return false
		}
	}
	return true
}

// waitUntil polls cond until it holds; a test that needs longer than
// within has hung.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
