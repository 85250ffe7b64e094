package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/config"
)

// benchAudienceOptions are the knobs of `herold bench-audience`.
type benchAudienceOptions struct {
	recipients int // in total
	withEvents int // of them imported with two consent events each
	runs       int // segment and dry-run measurements
	timeout    time.Duration
	cpuProfile string
}

// The expressions measured: the acceptance segment (profile, attributes and
// the policy's reachable), and everybody (the dry run's audience).
const (
	benchSegment  = "kind = customer and locale = de and attributes.product in [dsl] and reachable(promo_offer, email)"
	benchEveryone = "kind = customer or kind = prospect"
)

func benchAudienceCommand(ctx context.Context, inv *invocation, args []string) error {
	fs := flag.NewFlagSet("herold bench-audience", flag.ContinueOnError)
	o := benchAudienceOptions{}
	fs.IntVar(&o.recipients, "recipients", 1_000_000, "recipients to import (in total)")
	fs.IntVar(&o.withEvents, "with-events", 200_000, "of them, imported with two consent events each")
	fs.IntVar(&o.runs, "runs", 2, "how often the segment and the dry run are measured")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	about := "Measure the audience side on this machine against local Redis (HEROLD_REDIS_URL), through the HTTP\n" +
		"API of an in-process Herold, as `herold import` and a marketing team use it: the import rate without\n" +
		"and with consent events (`herold import`'s own code), a segment evaluated over every recipient\n" +
		"(time and the peak RSS of the process while it runs) and the dry run of a campaign to all of them.\n" +
		"It uses its own key prefix and deletes its keys afterwards."
	if err := parseFlags(fs, inv, args, about, ""); err != nil {
		return err
	}
	if o.recipients < 1 || o.withEvents < 0 || o.withEvents > o.recipients || o.runs < 1 {
		return usageErrorf("herold bench-audience: want --recipients ≥ 1, 0 ≤ --with-events ≤ --recipients, --runs ≥ 1")
	}
	var base config.Config
	if err := config.Load(&base, inv.getenv, nil); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := slog.New(slog.NewTextHandler(inv.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return runBenchAudience(ctx, inv.stdout, log, base, o)
}

func runBenchAudience(ctx context.Context, out io.Writer, log *slog.Logger, base config.Config, o benchAudienceOptions) (err error) {
	rdb, err := app.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer rdb.Close()
	secret, err := apikey.Generate()
	if err != nil {
		return err
	}
	base.HTTP.MaxBody = 1 << 20 // import requests of 20,000 lines
	run, err := startToolRun(ctx, base, rdb, toolRunOptions{name: "bench-audience", role: app.Role{Name: "bench-audience", HTTP: true},
		apiKeys: "bench:" + secret + ":*", smtpPool: 1, from: "news@example.com"}, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, run.Close(context.WithoutCancel(ctx))) }()
	fmt.Fprintf(out, "herold bench-audience: %d CPUs (shared with whatever else runs), %s/%s, %s; Redis %s; %d recipients, %d with two consent events\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), redisVersion(ctx, rdb), o.recipients, o.withEvents)
	mem0 := redisUsedMemory(ctx, rdb)
	api := &benchAPI{base: run.base, key: secret, c: &http.Client{Timeout: 10 * time.Minute}}

	// ---- (1) import, through the API, as `herold import` sends it
	plain := o.recipients - o.withEvents
	rate := func(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
	cpu := newCPUMeter(ctx, rdb)
	if plain > 0 {
		d, sum, err := api.importGenerated(ctx, 0, plain, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "(1) import without consent events: %d recipients in %s = %.0f recipients/s (target ≥ 20,000/s); rejected %d; %s\n",
			sum.Accepted, d.Round(time.Millisecond), rate(sum.Accepted, d), sum.Rejected, cpu.since(sum.Accepted))
	}
	if o.withEvents > 0 {
		d, sum, err := api.importGenerated(ctx, plain, o.withEvents, true)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "(2) import with two consent events each: %d recipients, %d events in %s = %.0f recipients/s (target ≥ 10,000/s); rejected %d; %s\n",
			sum.Accepted, sum.Events, d.Round(time.Millisecond), rate(sum.Accepted, d), sum.Rejected, cpu.since(sum.Accepted))
	}
	mem1 := redisUsedMemory(ctx, rdb)
	if mem0 >= 0 && mem1 >= 0 {
		fmt.Fprintf(out, "    Redis used memory: +%.0f MiB for %d recipients (%.0f B each: profile, ledger, indexes)\n",
			float64(mem1-mem0)/(1<<20), o.recipients, float64(mem1-mem0)/float64(o.recipients))
	}

	// ---- (3) a segment over everybody
	segID, err := api.createSegment(ctx, "bench: DSL customers, de, reachable by e-mail", benchSegment)
	if err != nil {
		return err
	}
	for i := range o.runs {
		var res struct {
			Count, Scanned int
		}
		cpu := newCPUMeter(ctx, rdb)
		d, rss, err := measured(func() error { return api.do(ctx, "GET", "/v1/segments/"+segID+"/count", nil, &res) })
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "(3) segment %q over %d recipients, run %d: %d members in %s (target ≤ 15 s per million); peak RSS of this process while it ran %s (target < 100 MiB); %s\n",
			benchSegment, res.Scanned, i+1, res.Count, d.Round(time.Millisecond), rss, cpu.since(res.Scanned))
	}

	// ---- (4) the dry run of a campaign to everybody
	allID, err := api.createSegment(ctx, "bench: everybody", benchEveryone)
	if err != nil {
		return err
	}
	var camp struct{ ID string }
	if err := api.do(ctx, "POST", "/v1/campaigns", map[string]any{"name": "bench dry run", "type": "promo_offer", "channels": []string{"email"},
		"draft": true, "segment": allID, "data": map[string]any{"offer": benchOffer()}}, &camp); err != nil {
		return err
	}
	for i := range o.runs {
		var rep struct {
			Audience, Allowed int64
			Suppressed        map[string]int64
		}
		cpu := newCPUMeter(ctx, rdb)
		d, rss, err := measured(func() error { return api.do(ctx, "POST", "/v1/campaigns/"+camp.ID+"/dry-run", nil, &rep) })
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "(4) dry run of a promo_offer e-mail campaign to everybody, run %d: %d recipients decided in %s (target ≤ 30 s per million): allowed %d, suppressed %v; peak RSS %s; %s\n",
			i+1, rep.Audience, d.Round(time.Millisecond), rep.Allowed, rep.Suppressed, rss, cpu.since(int(rep.Audience)))
	}
	return nil
}

// measured runs fn and returns how long it took and the process's peak RSS
// while it ran (the high-water mark is reset first, where Linux allows it).
func measured(fn func() error) (time.Duration, string, error) {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // resets VmHWM
	t0 := time.Now()
	err := fn()
	return time.Since(t0), peakRSS(), err
}

// cpuMeter reads the CPU time this process and Redis have used, so a
// figure can be given per recipient: on a machine shared with others the
// wall-clock rate swings, the CPU per recipient much less.
type cpuMeter struct {
	ctx          context.Context
	rdb          redis.UniversalClient
	self, server time.Duration
}

func newCPUMeter(ctx context.Context, rdb redis.UniversalClient) *cpuMeter {
	m := &cpuMeter{ctx: ctx, rdb: rdb}
	m.self, m.server = selfCPU(), serverCPU(ctx, rdb)
	return m
}

// since returns the CPU used since the meter was made (or last read) per n
// items, for this process and for Redis, and starts again.
func (m *cpuMeter) since(n int) string {
	self, server := selfCPU(), serverCPU(m.ctx, m.rdb)
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(max(n, 1)))
	}
	out := fmt.Sprintf("CPU per recipient: herold %s (API server and client), redis %s", per(self-m.self), per(server-m.server))
	m.self, m.server = self, server
	return out
}

// selfCPU is this process's CPU time so far (0 where it cannot be read).
func selfCPU() time.Duration {
	c, err := processCPU()
	if err != nil {
		return 0
	}
	return c.total()
}

// serverCPU is the Redis server's CPU time so far (0 where it cannot be read).
func serverCPU(ctx context.Context, rdb redis.UniversalClient) time.Duration {
	d, _ := redisCPU(ctx, rdb)
	return d
}

func redisUsedMemory(ctx context.Context, rdb redis.UniversalClient) int64 {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// benchAPI calls the run's HTTP API.
type benchAPI struct {
	base, key string
	c         *http.Client
}

func (a *benchAPI) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (a *benchAPI) createSegment(ctx context.Context, name, expr string) (string, error) {
	var seg struct{ ID string }
	err := a.do(ctx, "POST", "/v1/segments", map[string]string{"name": name, "expression": expr}, &seg)
	return seg.ID, err
}

// importGenerated imports n generated recipients, from index first on,
// through `herold import`'s code (20,000 lines per request, two at once),
// and returns how long it took.
func (a *benchAPI) importGenerated(ctx context.Context, first, n int, events bool) (time.Duration, importSummary, error) {
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Go(func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		for i := first; i < first+n; i++ {
			benchProfileLine(bw, i, events)
		}
		pw.CloseWithError(bw.Flush())
	})
	t0 := time.Now()
	sum, err := runImport(ctx, a.c, importOptions{base: a.base, key: a.key, format: "ndjson", batch: 20_000, parallel: 2}, pr,
		func(int64, importSummary) {})
	d := time.Since(t0)
	pr.CloseWithError(io.ErrClosedPipe)
	wg.Wait()
	return d, sum, err
}

// benchProfileLine writes recipient i of the benchmark population: 80 %
// customers (60 % of their addresses from a sale), 70 % German, a product
// mix, a tariff; with events, an advertising grant by e-mail and an
// objection by SMS, or a newsletter signup and its confirmation.
func benchProfileLine(w *bufio.Writer, i int, events bool) {
	kind, contract := "customer", `,"contract":{"started_at":"2024-01-01"}`
	if i%5 == 4 {
		kind, contract = "prospect", ""
	}
	locale := "de"
	if i%10 >= 7 {
		locale = "en"
	}
	products := [...]string{`["dsl"]`, `["dsl","tv"]`, `["mobile"]`, `["fiber","tv"]`}
	fmt.Fprintf(w, `{"id":"a%07d","kind":%q,"salutation":"Frau","first_name":"Erika","last_name":"Mustermann","locale":%q,`+
		`"emails":[{"address":"kunde%d@example.com","collected_in_sale":%t}],"mobile":{"number":"+49151%08d"}%s,`+
		`"attributes":{"product":%s,"tariff":"L","lines":%d}`,
		i, kind, locale, i, i%5 < 3, i%100_000_000, contract, products[i%len(products)], 1+i%3)
	if events {
		if i%2 == 0 {
			fmt.Fprint(w, `,"consents":[{"kind":"grant","purpose":"advertising","channel":"email","at":"2026-01-05T10:00:00Z","source":"web_form","ip":"203.0.113.7","text":"Ja, ich möchte Angebote per E-Mail erhalten.","text_version":"offers-v2"},`+
				`{"kind":"object","purpose":"advertising","channel":"sms","at":"2026-02-01T09:00:00Z","source":"sms_keyword","text":"STOP"}]`)
		} else {
			fmt.Fprint(w, `,"consents":[{"kind":"doi_request","purpose":"newsletter:news","channel":"email","at":"2026-01-05T10:00:00Z","source":"web_form","ip":"203.0.113.7","text":"Ja, ich möchte den Newsletter erhalten.","text_version":"news-v1"},`+
				`{"kind":"doi_confirm","purpose":"newsletter:news","channel":"email","at":"2026-01-05T10:05:00Z","source":"email","ip":"203.0.113.7"}]`)
		}
	}
	fmt.Fprint(w, "}\n")
}
